"""The training data's pixel statistics that captured inputs are compared against.

Read from the ETL's `manifest.json`, the model artifact's `metadata.json`, or a
`model.tar.gz` holding that `metadata.json` (local path or s3:// URI). The statistics
object is the first of these keys present: `pixel_stats` (the ETL's manifest),
`training_statistics` (training/'s metadata.json), `pixel_statistics`; with
`channel_mean` and `channel_std` (or `mean`/`std`, `pixel_mean`/`pixel_std`; per
channel, R G B, across all pixels), optionally `brightness_mean` / `brightness_std`
(per-pixel BT.601 luma) and `scale` (the ETL's "0..1 (pixel value / 255)", or 1 or 255).
Class names come from `classes` or `class_names`.
"""

from __future__ import annotations

import io
import json
import math
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from monitoring.pixels import LUMA_WEIGHTS

STATS_KEYS = ("pixel_stats", "training_statistics", "pixel_statistics")
# training/ records brightness_std across images (spread of per-image means), not across
# pixels; shifts are in per-pixel std units, so that one is not used (see parse_reference).
PER_IMAGE_BRIGHTNESS_STD = frozenset({"training_statistics"})
MAX_REFERENCE_BYTES = 64 * 1024 * 1024
MAX_ARTIFACT_BYTES = 1024 * 1024 * 1024


class DriftReferenceError(ValueError):
    """The drift reference cannot be read or has no usable pixel statistics."""


@dataclass(frozen=True)
class DriftReference:
    channel_mean: np.ndarray  # (3,), 0-1
    channel_std: np.ndarray  # (3,), 0-1, per pixel
    brightness_mean: float
    brightness_std: float
    class_names: tuple[str, ...] | None
    source: str

    def to_json(self) -> dict:
        return {
            "source": self.source,
            "channel_mean": [round(float(v), 6) for v in self.channel_mean],
            "channel_std": [round(float(v), 6) for v in self.channel_std],
            "brightness_mean": round(self.brightness_mean, 6),
            "brightness_std": round(self.brightness_std, 6),
        }


def reference_from_images(images: np.ndarray, source: str = "images") -> DriftReference:
    """The reference for uint8 images (N x H x W x 3): what the ETL records, for tests."""
    pixels = images.reshape(-1, 3).astype(np.float64) / 255.0
    luma = pixels @ LUMA_WEIGHTS
    return DriftReference(
        channel_mean=pixels.mean(axis=0),
        channel_std=pixels.std(axis=0),
        brightness_mean=float(luma.mean()),
        brightness_std=float(luma.std()),
        class_names=None,
        source=source,
    )


def _vector(stats: dict, names: tuple[str, ...], where: str) -> np.ndarray:
    for name in names:
        if name in stats:
            value = stats[name]
            if (
                isinstance(value, list)
                and len(value) == 3
                and all(isinstance(v, int | float) and math.isfinite(v) for v in value)
            ):
                return np.array(value, dtype=np.float64)
            raise DriftReferenceError(f"{where}: {name} must be a list of 3 numbers (R, G, B)")
    raise DriftReferenceError(f"{where}: pixel statistics lack {names[0]!r}")


def _scalar(stats: dict, name: str) -> float | None:
    value = stats.get(name)
    if isinstance(stats.get("brightness"), dict):
        value = stats["brightness"].get(name.removeprefix("brightness_"), value)
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def _scale(value: object, mean: np.ndarray) -> float | None:
    """The pixel range the statistics are on: a number, or text like the ETL's
    "0..1 (pixel value / 255)"; absent, means above 1 can only be on the 0-255 scale."""
    if value is None:
        return 255.0 if mean.max() > 1.0 else 1.0
    if isinstance(value, str):
        text = value.replace(" ", "")
        return 255.0 if text.startswith("0..255") else 1.0 if text.startswith("0..1") else None
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return None


def _class_names(doc: dict) -> tuple[str, ...] | None:
    classes = doc.get("classes", doc.get("class_names"))
    if not isinstance(classes, list) or not classes:
        return None
    names = [c.get("name") if isinstance(c, dict) else c for c in classes]
    return tuple(str(n) for n in names) if all(isinstance(n, str) for n in names) else None


def parse_reference(doc: object, source: str) -> DriftReference:
    """A DriftReference from a parsed manifest.json or metadata.json."""
    if not isinstance(doc, dict):
        raise DriftReferenceError(f"{source}: not a JSON object")
    key = next((k for k in STATS_KEYS if isinstance(doc.get(k), dict)), None)
    stats = doc[key] if key else None
    if stats is None:
        raise DriftReferenceError(
            f"{source}: no pixel statistics (expected a {STATS_KEYS[0]!r} object)"
        )
    mean = _vector(stats, ("channel_mean", "mean", "pixel_mean"), source)
    std = _vector(stats, ("channel_std", "std", "pixel_std"), source)
    scale = _scale(stats.get("scale"), mean)
    if scale is None:
        raise DriftReferenceError(f"{source}: scale must be 1, 255, '0..1' or '0..255'")
    mean, std = mean / scale, std / scale
    if (std <= 0).any() or (mean < 0).any() or (mean > 1).any():
        raise DriftReferenceError(
            f"{source}: pixel mean must be within the pixel range, std above 0"
        )
    brightness = _scalar(stats, "brightness_mean")
    brightness_std = None if key in PER_IMAGE_BRIGHTNESS_STD else _scalar(stats, "brightness_std")
    return DriftReference(
        channel_mean=mean,
        channel_std=std,
        brightness_mean=float(mean @ LUMA_WEIGHTS) if brightness is None else brightness / scale,
        # Without a recorded luma std, the weighted channel std bounds it from above,
        # which makes the brightness shift read low rather than raise false alarms.
        brightness_std=(
            float(std @ LUMA_WEIGHTS) if brightness_std is None else brightness_std / scale
        ),
        class_names=_class_names(doc),
        source=source,
    )


def _metadata_from_tar(data: bytes, source: str) -> object:
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
            for member in tar:
                if member.isfile() and Path(member.name).name == "metadata.json":
                    handle = tar.extractfile(member)
                    if handle is not None and member.size <= MAX_REFERENCE_BYTES:
                        return json.loads(handle.read())
    except (tarfile.TarError, OSError, json.JSONDecodeError) as exc:
        raise DriftReferenceError(f"{source}: unreadable model artifact ({exc})") from exc
    raise DriftReferenceError(f"{source}: model artifact has no metadata.json")


def _read_bytes(location: str, s3_client: object | None, limit: int) -> bytes:
    if location.startswith("s3://"):
        from botocore.exceptions import BotoCoreError, ClientError

        from monitoring.sources import parse_s3_uri

        bucket, key = parse_s3_uri(location)
        try:
            import boto3

            client = s3_client or boto3.client("s3")
            body = client.get_object(Bucket=bucket, Key=key)["Body"]
            return body.read(limit + 1)
        except (ClientError, BotoCoreError) as exc:
            raise DriftReferenceError(f"cannot read {location}: {exc}") from exc
    path = Path(location)
    if not path.is_file():
        raise DriftReferenceError(f"{location} does not exist")
    with open(path, "rb") as handle:
        return handle.read(limit + 1)


def load_reference(location: str, s3_client: object | None = None) -> DriftReference:
    """Loads manifest.json, metadata.json or model.tar.gz from a path or s3:// URI."""
    is_artifact = location.endswith((".tar.gz", ".tgz", ".tar"))
    limit = MAX_ARTIFACT_BYTES if is_artifact else MAX_REFERENCE_BYTES
    data = _read_bytes(location, s3_client, limit)
    if len(data) > limit:
        raise DriftReferenceError(f"{location} is larger than {limit} bytes")
    if is_artifact:
        return parse_reference(_metadata_from_tar(data, location), location)
    try:
        doc = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DriftReferenceError(f"{location} is not JSON ({exc.__class__.__name__})") from exc
    return parse_reference(doc, location)
