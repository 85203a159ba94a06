"""Validation of the fields of incoming events, with InvalidEventError naming the field."""

from __future__ import annotations

import re
from typing import Any

from common.errors import InvalidEventError

# botocore rejects other characters client-side with ParamValidationError; catching
# them here gives the named error instead.
_BUCKET = re.compile(r"^[A-Za-z0-9._-]{3,255}$")
_MAX_KEY_BYTES = 1024


def require_object(event: Any, what: str = "the event") -> dict[str, Any]:
    if not isinstance(event, dict):
        raise InvalidEventError(f"{what} must be a JSON object, got {type(event).__name__}")
    return event


def require_string(event: dict[str, Any], field: str) -> str:
    if field not in event:
        raise InvalidEventError(f"the event has no {field!r} field")
    value = event[field]
    if not isinstance(value, str):
        raise InvalidEventError(f"{field!r} must be a string, got {type(value).__name__}")
    if not value.strip():
        raise InvalidEventError(f"{field!r} must not be empty")
    return value


def require_bucket(event: dict[str, Any], field: str = "s3_bucket") -> str:
    value = require_string(event, field)
    if not _BUCKET.match(value):
        raise InvalidEventError(f"{field!r} is not a valid S3 bucket name: {value[:80]!r}")
    return value


def require_key(event: dict[str, Any], field: str = "s3_key") -> str:
    value = require_string(event, field)
    if len(value.encode("utf-8")) > _MAX_KEY_BYTES or value.endswith("/"):
        raise InvalidEventError(f"{field!r} is not an S3 object key: {value[:80]!r}")
    return value


def parse_s3_uri(uri: str, field: str) -> tuple[str, str]:
    """Splits `s3://bucket/key` into bucket and key."""
    bucket, sep, key = uri.removeprefix("s3://").partition("/")
    if not uri.startswith("s3://") or not sep or not _BUCKET.match(bucket) or not key:
        raise InvalidEventError(f"{field!r} must be an s3://bucket/key URI, got {uri[:120]!r}")
    return bucket, key


def input_reference(event: Any) -> dict[str, str]:
    """The fields that identify what a handler was working on, for alerts and logs.

    Only short string identifiers: never image bytes, whatever the event holds.
    """
    if not isinstance(event, dict):
        return {}
    records = event.get("Records")
    if isinstance(records, list) and records and isinstance(records[0], dict):
        s3 = records[0].get("s3") if isinstance(records[0].get("s3"), dict) else {}
        bucket = s3.get("bucket") if isinstance(s3.get("bucket"), dict) else {}
        obj = s3.get("object") if isinstance(s3.get("object"), dict) else {}
        event = {"s3_bucket": bucket.get("name"), "s3_key": obj.get("key")}
    fields = ("s3_bucket", "s3_key", "s3_prefix", "execution_name")
    return {f: event[f][:1024] for f in fields if isinstance(event.get(f), str)}
