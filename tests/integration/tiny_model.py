"""A tiny, hand-built ONNX model packed like the real artifact, for local-cloud tests.

Its probabilities follow the image's colour: logits = [k * mean(red), k * mean(blue)],
so a red image is confidently class 0, a blue one class 1 and a grey one 50/50. Tests
get a confident and a low-confidence input without training anything; the artifact
still serves through the project's real code/inference.py.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper
from PIL import Image

from training import artifact

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARPNESS = 20.0


def _graph() -> onnx.ModelProto:
    weights = np.array([[SHARPNESS, 0.0], [0.0, 0.0], [0.0, SHARPNESS]], dtype=np.float32)
    nodes = [
        helper.make_node("ReduceMean", ["image"], ["means"], axes=[2, 3], keepdims=0),
        helper.make_node("MatMul", ["means", "weights"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "colour",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, 32, 32])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 2])],
        [helper.make_tensor("weights", TensorProto.FLOAT, [3, 2], weights.flatten())],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)


def build_artifact(out_dir: Path) -> Path:
    """Writes out_dir/model.tar.gz (model.onnx, metadata.json, code/inference.py)."""
    model_dir = out_dir / "model"
    (model_dir / "code").mkdir(parents=True, exist_ok=True)
    onnx.save(_graph(), model_dir / "model.onnx")
    metadata = {
        "class_names": ["bicycle", "motorcycle"],
        "input_size": [32, 32],
        "normalization": {"mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]},
    }
    (model_dir / "metadata.json").write_text(json.dumps(metadata))
    shutil.copyfile(REPO_ROOT / "training" / "inference.py", model_dir / "code" / "inference.py")
    return artifact.pack(model_dir, out_dir / "model.tar.gz")


def solid_png(rgb: tuple[int, int, int], size: int = 32) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), rgb).save(buffer, format="PNG")
    return buffer.getvalue()


RED = (255, 0, 0)  # class 0 with probability ~1
GREY = (128, 128, 128)  # 50/50: below any threshold
