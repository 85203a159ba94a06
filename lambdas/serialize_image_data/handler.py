"""serialize_image_data: reads an image from S3, checks it, returns it base64-encoded.

In:  {"s3_bucket": str, "s3_key": str}
Out: the event plus "content_type" and either "image_data" (base64) or, when the
     payload would be too large for Step Functions, "image_s3_uri" of the original.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from common import config as env
from common.aws import client, read_object
from common.entry import entry_point
from common.errors import UnsupportedImageError
from common.events import require_bucket, require_key
from common.images import content_type

FUNCTION = "serialize_image_data"
DEFAULT_MAX_IMAGE_BYTES = 5 * 1024 * 1024
# Step Functions allows 256 KiB per state input/output; a quarter of it stays free for
# what the states add around the payload (ResultPath merges, the other fields).
INLINE_PAYLOAD_LIMIT = 192 * 1024


@dataclass(frozen=True)
class Config:
    alert_topic_arn: str
    max_image_bytes: int


def load_config(environ: Mapping[str, str]) -> Config:
    return Config(
        alert_topic_arn=env.alert_topic_arn(environ),
        max_image_bytes=env.positive_int(environ, "MAX_IMAGE_BYTES", DEFAULT_MAX_IMAGE_BYTES),
    )


CONFIG = env.load_once(load_config, os.environ)
# Every invocation reads S3: make the (cached) client at cold start, outside the handler.
client("s3")


def serialize(event: dict[str, Any], config: Config) -> dict[str, Any]:
    bucket, key = require_bucket(event), require_key(event)
    data = read_object(bucket, key, config.max_image_bytes, "limit (MAX_IMAGE_BYTES)")
    try:
        kind = content_type(data)
    except UnsupportedImageError as exc:
        raise UnsupportedImageError(f"s3://{bucket}/{key}: {exc}") from None
    inline = {**event, "content_type": kind, "image_data": base64.b64encode(data).decode("ascii")}
    inline.pop("image_s3_uri", None)
    # ASCII-escaped JSON is never shorter than the UTF-8 Step Functions counts.
    if len(json.dumps(inline)) <= INLINE_PAYLOAD_LIMIT:
        return inline
    by_reference = {k: v for k, v in inline.items() if k != "image_data"}
    return {**by_reference, "image_s3_uri": f"s3://{bucket}/{key}"}


@entry_point(FUNCTION, CONFIG)
def lambda_handler(event: dict[str, Any], config: Config, context: Any) -> dict[str, Any]:
    return serialize(event, config)
