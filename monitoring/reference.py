"""The training data's pixel statistics that captured inputs are compared against.

Read from the ETL's `manifest.json`, the model artifact's `metadata.json`, or a
`model.tar.gz` holding that `metadata.json` (local path or s3:// URI). Both documents
hold the same `pixel_stats` object, built by etl/pixel_stats.py and pinned in
CONTRACTS.md ("Drift statistics"); anything else is refused with what to re-run.
Class names come from `classes` (manifest) or `class_names` (metadata).
"""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from etl.pixel_stats import PixelStats, PixelStatsBuilder, PixelStatsError

STATS_KEY = "pixel_stats"
MAX_REFERENCE_BYTES = 64 * 1024 * 1024
MAX_ARTIFACT_BYTES = 1024 * 1024 * 1024


class DriftReferenceError(ValueError):
    """The drift reference cannot be read or has no usable pixel statistics."""


@dataclass(frozen=True)
class DriftReference:
    channel_mean: np.ndarray  # (3,), 0-1
    channel_std: np.ndarray  # (3,), 0-1, per pixel
    brightness_mean: float
    brightness_std: float  # per pixel
    class_names: tuple[str, ...] | None
    source: str

    @classmethod
    def from_stats(
        cls, stats: PixelStats, class_names: tuple[str, ...] | None, source: str
    ) -> DriftReference:
        return cls(
            channel_mean=np.array(stats.channel_mean, dtype=np.float64),
            channel_std=np.array(stats.channel_std, dtype=np.float64),
            brightness_mean=stats.brightness_mean,
            brightness_std=stats.brightness_std,
            class_names=class_names,
            source=source,
        )

    def to_json(self) -> dict:
        return {
            "source": self.source,
            "channel_mean": [round(float(v), 6) for v in self.channel_mean],
            "channel_std": [round(float(v), 6) for v in self.channel_std],
            "brightness_mean": round(self.brightness_mean, 6),
            "brightness_std": round(self.brightness_std, 6),
        }


def reference_from_images(images: np.ndarray, source: str = "images") -> DriftReference:
    """The reference for uint8 images (N x H x W x 3), built as the ETL and training do."""
    stats = PixelStatsBuilder().add_images(images).build(source)
    return DriftReference.from_stats(stats, None, source)


def _class_names(doc: dict) -> tuple[str, ...] | None:
    classes = doc.get("classes", doc.get("class_names"))
    if not isinstance(classes, list) or not classes:
        return None
    names = [c.get("name") if isinstance(c, dict) else c for c in classes]
    return tuple(str(n) for n in names) if all(isinstance(n, str) for n in names) else None


def _remedy(doc: dict) -> str:
    """What to re-run: the producer of this document."""
    if "class_names" in doc and "classes" not in doc:
        return (
            "retrain the model (`make train`) so its metadata.json carries them, "
            "or pass the ETL's manifest.json with --manifest"
        )
    return "re-run the ETL (`make etl`), which writes them into manifest.json"


def parse_reference(doc: object, source: str) -> DriftReference:
    """A DriftReference from a parsed manifest.json or metadata.json."""
    if not isinstance(doc, dict):
        raise DriftReferenceError(f"{source}: not a JSON object")
    if not isinstance(doc.get(STATS_KEY), dict):
        raise DriftReferenceError(
            f"{source}: no pixel statistics (no {STATS_KEY!r} object of the schema in "
            f"CONTRACTS.md): {_remedy(doc)}"
        )
    try:
        stats = PixelStats.from_json(doc[STATS_KEY])
    except PixelStatsError as exc:
        raise DriftReferenceError(
            f"{source}: {exc}; it was written before the drift statistics schema in "
            f"CONTRACTS.md: {_remedy(doc)}"
        ) from None
    return DriftReference.from_stats(stats, _class_names(doc), source)


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
