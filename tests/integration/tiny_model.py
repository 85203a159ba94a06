"""A tiny, hand-built ONNX model packed like the real artifact, for local-cloud tests.

Its probabilities follow the image's colour: logits = [k * mean(red), k * mean(blue)],
so a red image is confidently class 0, a blue one class 1 and a grey one 50/50. Tests
get a confident and a low-confidence input without training anything; the artifact
still serves through the project's real code/inference.py.
"""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from tests.support.colour_model import build_model_dir
from training import artifact

SHARPNESS = 20.0


def build_artifact(out_dir: Path) -> Path:
    """Writes out_dir/model.tar.gz (model.onnx, metadata.json, code/inference.py)."""
    return artifact.pack(build_model_dir(out_dir, SHARPNESS), out_dir / "model.tar.gz")


def solid_png(rgb: tuple[int, int, int], size: int = 32) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), rgb).save(buffer, format="PNG")
    return buffer.getvalue()


RED = (255, 0, 0)  # class 0 with probability ~1
GREY = (128, 128, 128)  # 50/50: below any threshold
