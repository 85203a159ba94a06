"""A hand-built ONNX model in the real artifact layout, shared by the suites that need a
model without training one (monitoring, local cloud).

Its logits are sharpness x (mean red, mean blue) of the image scaled to [0, 1]: reddish
images lean to class 0, bluish ones to class 1, grey is 50/50. It serves through the
project's real training/inference.py, copied in as code/inference.py.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

REPO_ROOT = Path(__file__).resolve().parents[2]
CLASS_NAMES = ["bicycle", "motorcycle"]


def colour_graph(sharpness: float) -> onnx.ModelProto:
    weights = np.array([[sharpness, 0.0], [0.0, 0.0], [0.0, sharpness]], dtype=np.float32)
    nodes = [
        helper.make_node("ReduceMean", ["image"], ["means"], axes=[2, 3], keepdims=0),
        helper.make_node("MatMul", ["means", "weights"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "red_or_blue",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, 32, 32])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 2])],
        [helper.make_tensor("weights", TensorProto.FLOAT, [3, 2], weights.flatten())],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)


def build_model_dir(root: Path, sharpness: float) -> Path:
    """root/model with model.onnx, metadata.json and code/inference.py, as in model.tar.gz."""
    model_dir = root / "model"
    (model_dir / "code").mkdir(parents=True, exist_ok=True)
    onnx.save(colour_graph(sharpness), model_dir / "model.onnx")
    metadata = {
        "class_names": CLASS_NAMES,
        "input_size": [32, 32],
        "normalization": {"mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]},
    }
    (model_dir / "metadata.json").write_text(json.dumps(metadata))
    shutil.copyfile(REPO_ROOT / "training" / "inference.py", model_dir / "code" / "inference.py")
    return model_dir
