"""Scores images through a model artifact's own code/inference.py, as its endpoint would.

The demo and the integration tests use it to pick real images on each side of the
workflow's threshold; the handler is loaded by training.artifact.load_inference.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from training.artifact import load_inference


@dataclass(frozen=True)
class ScoredImage:
    path: Path
    label: str
    confidence: float


def score_images(model_dir: Path, images: list[Path]) -> list[ScoredImage]:
    """Each PNG's predicted label and confidence through model_fn/input_fn/predict_fn."""
    inference = load_inference(model_dir)  # this artifact's own copy, never a cached one
    model = inference.model_fn(str(model_dir))
    classes = json.loads((model_dir / "metadata.json").read_text())["class_names"]
    scored = []
    for path in images:
        batch = inference.input_fn(path.read_bytes(), "image/png")
        probabilities = inference.predict_fn(batch, model)[0]
        best = int(probabilities.argmax())
        scored.append(ScoredImage(path, classes[best], float(probabilities[best])))
    return scored
