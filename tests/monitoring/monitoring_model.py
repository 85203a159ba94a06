"""A tiny hand-built ONNX model in the project's artifact layout, served through the
real training/inference.py, so captures hold what the real handler answers.

Its logits are SHARPNESS x (mean red, mean blue) of the normalised image: reddish
images lean to class 0, bluish ones to class 1, and the confidence spreads across the
threshold on real CIFAR-100 photos. `expected_probabilities` computes the same thing
with numpy, independently of ONNX Runtime and the handler.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path
from types import ModuleType

import numpy as np
import onnx
from onnx import TensorProto, helper

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARPNESS = 25.0


def _graph() -> onnx.ModelProto:
    weights = np.array([[SHARPNESS, 0.0], [0.0, 0.0], [0.0, SHARPNESS]], dtype=np.float32)
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


def build_model_dir(root: Path) -> Path:
    """model.onnx, metadata.json and code/inference.py, as in model.tar.gz."""
    model_dir = root / "model"
    (model_dir / "code").mkdir(parents=True, exist_ok=True)
    onnx.save(_graph(), model_dir / "model.onnx")
    metadata = {
        "class_names": ["bicycle", "motorcycle"],
        "input_size": [32, 32],
        "normalization": {"mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]},
    }
    (model_dir / "metadata.json").write_text(json.dumps(metadata))
    shutil.copyfile(REPO_ROOT / "training" / "inference.py", model_dir / "code" / "inference.py")
    return model_dir


def load_handler(model_dir: Path) -> ModuleType:
    """code/inference.py imported from the model directory, as a serving container does."""
    spec = importlib.util.spec_from_file_location(
        "scones_served_inference", model_dir / "code" / "inference.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def expected_probabilities(image: np.ndarray) -> np.ndarray:
    means = image.reshape(-1, 3).astype(np.float64).mean(axis=0) / 255
    logits = SHARPNESS * np.array([means[0], means[2]])
    exp = np.exp(logits - logits.max())
    return exp / exp.sum()
