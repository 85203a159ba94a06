"""serialize_batch: writes a batch of S3 images as Batch Transform input (the offline path).

In:  {"images": [{"s3_bucket", "s3_key"}, ...]} or {"s3_bucket": str, "s3_prefix": str};
     optional "batch_id" ([A-Za-z0-9_-]{1,64}; default: time + random).
Out: {"batch_id", "images", "parts": [keys], "rejected", "results_uri"}.

Writes the batch manifest (transform/batches/<batch id>.json: its parts and the images
rejected here) first, then the parts, transform/input/<batch id>/part-<n>.jsonl: one
`{"key": "s3://bucket/key", "image": <base64>}` per line, at most TRANSFORM_PART_IMAGES
images or TRANSFORM_PART_MB MiB each. Each part's PUT starts one transform job
(start_transform_job). An image that cannot be read, is not a PNG/JPEG or whose line
would not fit one request (MaxPayloadInMB) is not sent: the manifest records it as an
error, and the batch's results document carries it, so every image has one outcome.
"""

from __future__ import annotations

import base64
import json
import os
import time
import uuid
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from common import config as env
from common import transform as layout
from common.aws import client, read_object
from common.entry import entry_point
from common.errors import (
    ConfigurationError,
    ExpectedError,
    InvalidEventError,
    UnsupportedImageError,
)
from common.events import require_bucket, require_key, require_object, require_string
from common.images import content_type

FUNCTION = "serialize_batch"
DEFAULT_MAX_IMAGE_BYTES = 5 * 1024 * 1024
DEFAULT_PART_IMAGES = 10_000
DEFAULT_PART_MB = 50
DEFAULT_MAX_PAYLOAD_MB = 6
MAX_BATCH_IMAGES = 100_000
MIB = 1024 * 1024
READERS = 16
MAX_CAUSE_CHARS = 500


@dataclass(frozen=True)
class Config:
    alert_topic_arn: str
    data_bucket: str
    max_image_bytes: int
    part_images: int
    part_bytes: int
    max_record_bytes: int


def load_config(environ: Mapping[str, str]) -> Config:
    payload_mb = env.positive_int(environ, "TRANSFORM_MAX_PAYLOAD_MB", DEFAULT_MAX_PAYLOAD_MB)
    part_mb = env.positive_int(environ, "TRANSFORM_PART_MB", DEFAULT_PART_MB)
    if part_mb < payload_mb:
        raise ConfigurationError(
            f"TRANSFORM_PART_MB ({part_mb}) must be at least TRANSFORM_MAX_PAYLOAD_MB "
            f"({payload_mb}): a part must hold the largest record"
        )
    return Config(
        alert_topic_arn=env.alert_topic_arn(environ),
        data_bucket=env.bucket_name(environ, "DATA_BUCKET"),
        max_image_bytes=env.positive_int(environ, "MAX_IMAGE_BYTES", DEFAULT_MAX_IMAGE_BYTES),
        part_images=env.positive_int(environ, "TRANSFORM_PART_IMAGES", DEFAULT_PART_IMAGES),
        part_bytes=part_mb * MIB,
        # MaxPayloadInMB must be >= the size of a single record (CreateTransformJob):
        # a larger line would fail the whole job, so it is rejected here instead.
        max_record_bytes=payload_mb * MIB,
    )


CONFIG = env.load_once(load_config, os.environ)


def requested_images(event: dict[str, Any]) -> list[tuple[str, str]]:
    """(bucket, key) of every image asked for, in order, each once."""
    if "images" in event:
        images = event["images"]
        if not isinstance(images, list) or not images:
            raise InvalidEventError("'images' must be a non-empty list of {s3_bucket, s3_key}")
        refs = []
        for index, item in enumerate(images):
            item = require_object(item, f"images[{index}]")
            refs.append((require_bucket(item), require_key(item)))
    elif "s3_prefix" in event:
        bucket, prefix = require_bucket(event), require_string(event, "s3_prefix")
        refs = [(bucket, key) for key in list_keys(bucket, prefix)]
        if not refs:
            raise InvalidEventError(f"no objects under s3://{bucket}/{prefix}")
    else:
        raise InvalidEventError("the event needs 'images' or 's3_bucket' and 's3_prefix'")
    unique = list(dict.fromkeys(refs))
    if len(unique) > MAX_BATCH_IMAGES:
        raise InvalidEventError(
            f"{len(unique)} images is over the {MAX_BATCH_IMAGES} one batch takes; split it"
        )
    return unique


def list_keys(bucket: str, prefix: str) -> Iterator[str]:
    for page in (
        client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    ):
        for obj in page.get("Contents", []):
            if not obj["Key"].endswith("/"):
                yield obj["Key"]


def batch_id_of(event: dict[str, Any]) -> str:
    if "batch_id" not in event:
        return time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + uuid.uuid4().hex[:12]
    batch_id = require_string(event, "batch_id")
    if not layout.BATCH_ID.match(batch_id):
        raise InvalidEventError(f"'batch_id' must match [A-Za-z0-9_-]{{1,64}}: {batch_id[:80]!r}")
    return batch_id


def record_line(bucket: str, key: str, config: Config) -> bytes:
    """One JSON line for the image, or a named error if it cannot be sent."""
    data = read_object(bucket, key, config.max_image_bytes, "limit (MAX_IMAGE_BYTES)")
    try:
        content_type(data)
    except UnsupportedImageError as exc:
        raise UnsupportedImageError(f"s3://{bucket}/{key}: {exc}") from None
    image = base64.b64encode(data).decode("ascii")
    line = json.dumps({"key": f"s3://{bucket}/{key}", "image": image}).encode() + b"\n"
    if len(line) > config.max_record_bytes:
        raise UnsupportedImageError(
            f"s3://{bucket}/{key}: its transform record is {len(line)} bytes, over "
            f"MaxPayloadInMB ({config.max_record_bytes // MIB} MiB)"
        )
    return line


def rejected(bucket: str, key: str, error: ExpectedError) -> dict[str, Any]:
    cause = str(error)[:MAX_CAUSE_CHARS]
    return {
        "s3_bucket": bucket,
        "s3_key": key,
        "status": "error",
        "error": {"Error": type(error).__name__, "Cause": cause},
    }


def parts_of(lines: list[bytes], config: Config) -> list[bytes]:
    parts: list[bytes] = []
    current: list[bytes] = []
    size = 0
    for line in lines:
        if current and (len(current) >= config.part_images or size + len(line) > config.part_bytes):
            parts.append(b"".join(current))
            current, size = [], 0
        current.append(line)
        size += len(line)
    if current:
        parts.append(b"".join(current))
    return parts


def serialize_batch(event: dict[str, Any], config: Config) -> dict[str, Any]:
    batch_id = batch_id_of(event)
    refs = requested_images(event)

    def read(ref: tuple[str, str]) -> bytes | dict[str, Any]:
        try:
            return record_line(*ref, config)
        except ExpectedError as exc:
            return rejected(*ref, exc)

    with ThreadPoolExecutor(READERS) as pool:
        outcomes = list(pool.map(read, refs))
    lines = [o for o in outcomes if isinstance(o, bytes)]
    errors = [o for o in outcomes if isinstance(o, dict)]
    parts = parts_of(lines, config)
    part_keys = [layout.input_key(batch_id, n) for n in range(len(parts))]
    s3 = client("s3")
    manifest = {
        "batch_id": batch_id,
        "images": len(refs),
        "parts": part_keys,
        "rejected": errors,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    # The manifest first: a part's job may finish before the next part is written.
    s3.put_object(
        Bucket=config.data_bucket,
        Key=layout.manifest_key(batch_id),
        Body=json.dumps(manifest).encode(),
        ContentType="application/json",
    )
    for key, body in zip(part_keys, parts, strict=True):
        s3.put_object(
            Bucket=config.data_bucket, Key=key, Body=body, ContentType=layout.CONTENT_TYPE
        )
    if not parts:
        # Nothing to transform: no job will ever write an output, so the results
        # document is written here (evaluate_transform_output's shape).
        write_rejected_only(batch_id, refs, errors, config)
    return {
        "batch_id": batch_id,
        "images": len(refs),
        "parts": part_keys,
        "rejected": len(errors),
        "results_uri": f"s3://{config.data_bucket}/{layout.results_key(batch_id)}",
    }


def write_rejected_only(
    batch_id: str, refs: list[tuple[str, str]], errors: list[dict[str, Any]], config: Config
) -> None:
    document = {
        "batch_id": batch_id,
        "status": "completed",
        "total": len(refs),
        "passed": 0,
        "low_confidence": 0,
        "error": len(errors),
        "jobs": [],
        "results": sorted(errors, key=lambda r: (r["s3_bucket"], r["s3_key"])),
    }
    client("s3").put_object(
        Bucket=config.data_bucket,
        Key=layout.results_key(batch_id),
        Body=json.dumps(document, indent=1).encode(),
        ContentType="application/json",
    )


# Its caller (make classify MODE=transform) gets a named error back synchronously; other
# errors alert.
@entry_point(FUNCTION, CONFIG)
def lambda_handler(event: dict[str, Any], config: Config, context: Any) -> dict[str, Any]:
    return serialize_batch(event, config)
