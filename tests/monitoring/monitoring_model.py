"""A tiny hand-built ONNX model in the project's artifact layout, served through the
real training/inference.py, so captures hold what the real handler answers.

Its logits are SHARPNESS x (mean red, mean blue) of the normalised image: reddish
images lean to class 0, bluish ones to class 1, and the confidence spreads across the
threshold on real CIFAR-100 photos. `expected_probabilities` computes the same thing
with numpy, independently of ONNX Runtime and the handler.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import numpy as np

from tests.support import colour_model
from tests.training.training_mutmut import load_inference

SHARPNESS = 25.0


def build_model_dir(root: Path) -> Path:
    """model.onnx, metadata.json and code/inference.py, as in model.tar.gz."""
    return colour_model.build_model_dir(root, SHARPNESS)


def load_handler(model_dir: Path) -> ModuleType:
    """code/inference.py imported from the model directory, as a serving container does."""
    return load_inference(model_dir)


def expected_probabilities(image: np.ndarray) -> np.ndarray:
    means = image.reshape(-1, 3).astype(np.float64).mean(axis=0) / 255
    logits = SHARPNESS * np.array([means[0], means[2]])
    exp = np.exp(logits - logits.max())
    return exp / exp.sum()
