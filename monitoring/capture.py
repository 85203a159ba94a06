"""SageMaker data capture: the one writer and reader of its JSON-lines format.

A capture object holds one JSON record per line (DESIGN.md section 4, "Data capture"):

    {"captureData": {"endpointInput": {...}, "endpointOutput": {...}},
     "eventMetadata": {"eventId": "...", "inferenceTime": "2026-01-01T00:00:00Z"},
     "eventVersion": "0"}

Objects live at ``<prefix>/<endpoint>/<variant>/yyyy/mm/dd/hh/<mm-ss-mmm>-<uuid>.jsonl``.
The local cloud writes with `capture_record` and `capture_object_key`; the report reads
with `iter_capture_lines` and `parse_capture_line`.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum

CAPTURE_EVENT_VERSION = "0"
# A line longer than this is not a capture record (images are capped at 5 MiB, so a
# record is under ~7 MiB); reading it whole would let one bad file exhaust memory.
MAX_LINE_BYTES = 64 * 1024 * 1024

_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


class CaptureFormatError(ValueError):
    """A capture line is not a record in SageMaker's capture format."""


class NonJsonOutputError(CaptureFormatError):
    """The record is well formed but the endpoint's output is not JSON probabilities."""


class MissingOutputError(CaptureFormatError):
    """The record holds no endpoint output (capture configured for inputs only)."""


class LineStatus(Enum):
    COMPLETE = "complete"  # ended with a newline
    UNTERMINATED = "unterminated"  # last line of an object, no newline after it
    OVERSIZED = "oversized"  # longer than MAX_LINE_BYTES; its content was dropped


@dataclass(frozen=True)
class CapturedInference:
    """One decoded capture record."""

    event_id: str
    inference_time: datetime
    input_content_type: str | None
    input_body: bytes | None
    probabilities: tuple[float, ...]

    @property
    def confidence(self) -> float:
        return max(self.probabilities)

    @property
    def predicted_index(self) -> int:
        return max(range(len(self.probabilities)), key=self.probabilities.__getitem__)


# ---------------------------------------------------------------------------- writing


def _encode(body: bytes | str, content_type: str) -> tuple[str, str]:
    """Returns (encoding, data) the way SageMaker stores a payload of this content type."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    raw = body.encode("utf-8") if isinstance(body, str) else body
    if media_type in ("application/json", "application/jsonlines", "text/csv"):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            return ("CSV" if media_type == "text/csv" else "JSON"), text
    return "BASE64", base64.b64encode(raw).decode("ascii")


def format_inference_time(when: datetime) -> str:
    """SageMaker's inferenceTime: UTC, second resolution. Naive datetimes are taken as UTC."""
    return _as_utc(when).strftime(_TIME_FORMAT)


def capture_record(
    input_body: bytes,
    input_content_type: str,
    output_body: str,
    output_content_type: str,
    *,
    event_id: str,
    inference_time: datetime,
) -> dict:
    """One capture record (a JSON-serialisable dict) for one request and its response."""
    if not event_id:
        raise ValueError("event_id must be a non-empty string")
    in_encoding, in_data = _encode(input_body, input_content_type)
    out_encoding, out_data = _encode(output_body, output_content_type)
    return {
        "captureData": {
            "endpointInput": {
                "observedContentType": input_content_type,
                "mode": "INPUT",
                "data": in_data,
                "encoding": in_encoding,
            },
            "endpointOutput": {
                "observedContentType": output_content_type,
                "mode": "OUTPUT",
                "data": out_data,
                "encoding": out_encoding,
            },
        },
        "eventMetadata": {
            "eventId": event_id,
            "inferenceTime": format_inference_time(inference_time),
        },
        "eventVersion": CAPTURE_EVENT_VERSION,
    }


def capture_line(record: dict) -> bytes:
    """A record as one line of a capture object (compact JSON and a newline)."""
    return json.dumps(record, separators=(",", ":")).encode("utf-8") + b"\n"


def capture_object_key(prefix: str, endpoint: str, variant: str, when: datetime, uuid: str) -> str:
    """`<prefix>/<endpoint>/<variant>/yyyy/mm/dd/hh/<mm-ss-mmm>-<uuid>.jsonl`.

    `prefix` is a key prefix inside the bucket (no `s3://`, no bucket; may be empty).
    Naive datetimes are taken as UTC.
    """
    for name, value in (("endpoint", endpoint), ("variant", variant), ("uuid", uuid)):
        if not value or "/" in value:
            raise ValueError(f"{name} must be a non-empty name without '/', got {value!r}")
    if prefix.startswith("s3://"):
        raise ValueError(f"prefix is a key prefix inside the bucket, not a URI: {prefix!r}")
    t = _as_utc(when)
    parts = [
        prefix.strip("/"),
        endpoint,
        variant,
        t.strftime("%Y/%m/%d/%H"),
        f"{t:%M-%S}-{t.microsecond // 1000:03d}-{uuid}.jsonl",
    ]
    return "/".join(p for p in parts if p)


# ---------------------------------------------------------------------------- reading


def hour_of_key(key: str) -> datetime | None:
    """The UTC hour a capture object's key names (its yyyy/mm/dd/hh), or None."""
    parts = key.split("/")
    if len(parts) < 5:
        return None
    try:
        year, month, day, hour = (int(p) for p in parts[-5:-1])
        return datetime(year, month, day, hour, tzinfo=UTC)
    except ValueError:
        return None


def iter_capture_lines(chunks: Iterable[bytes]) -> Iterator[tuple[bytes, LineStatus]]:
    """Splits a stream of byte chunks into lines without holding more than one line.

    Blank lines are skipped. The last line is UNTERMINATED when the object does not
    end with a newline, which is how a truncated object shows.
    """
    pending = bytearray()
    oversized = False
    for chunk in chunks:
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            if end < 0:
                if not oversized:
                    pending += chunk[start:]
                    if len(pending) > MAX_LINE_BYTES:
                        oversized = True
                        pending.clear()
                break
            if oversized:
                yield b"", LineStatus.OVERSIZED
            else:
                pending += chunk[start:end]
                line = bytes(pending).strip()
                if len(pending) > MAX_LINE_BYTES:
                    yield b"", LineStatus.OVERSIZED
                elif line:
                    yield line, LineStatus.COMPLETE
            pending.clear()
            oversized = False
            start = end + 1
    if oversized:
        yield b"", LineStatus.OVERSIZED
    elif pending.strip():
        yield bytes(pending).strip(), LineStatus.UNTERMINATED


def _decode_payload(payload: object, what: str) -> tuple[str | None, bytes]:
    if not isinstance(payload, dict):
        raise CaptureFormatError(f"{what} is not an object")
    data = payload.get("data")
    encoding = str(payload.get("encoding", "")).upper()
    content_type = payload.get("observedContentType")
    if not isinstance(data, str):
        raise CaptureFormatError(f"{what}.data is not a string")
    if encoding == "BASE64":
        try:
            return content_type, base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise CaptureFormatError(f"{what}.data is not valid base64") from exc
    if encoding in ("JSON", "CSV"):
        return content_type, data.encode("utf-8")
    raise CaptureFormatError(f"{what}.encoding {encoding!r} is not BASE64, JSON or CSV")


def _parse_probabilities(body: bytes) -> tuple[float, ...]:
    try:
        value = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise NonJsonOutputError("endpoint output is not JSON") from exc
    # Batch transform's jsonlines shape: {"prediction": [...]}
    if isinstance(value, dict):
        value = value.get("prediction")
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(p, int | float) and not isinstance(p, bool) for p in value)
        or not all(math.isfinite(p) and 0.0 <= p <= 1.0 for p in value)
    ):
        raise NonJsonOutputError("endpoint output is not a list of class probabilities")
    return tuple(float(p) for p in value)


def parse_inference_time(text: object) -> datetime:
    if not isinstance(text, str):
        raise CaptureFormatError("eventMetadata.inferenceTime is missing")
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise CaptureFormatError(f"inferenceTime {text[:40]!r} is not ISO 8601") from exc
    return _as_utc(when)


def parse_capture_line(line: bytes) -> CapturedInference:
    """Decodes one capture line; raises CaptureFormatError (or NonJsonOutputError)."""
    try:
        record = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CaptureFormatError("line is not JSON") from exc
    if not isinstance(record, dict):
        raise CaptureFormatError("line is not a JSON object")
    capture = record.get("captureData")
    meta = record.get("eventMetadata")
    if not isinstance(capture, dict) or not isinstance(meta, dict):
        raise CaptureFormatError("captureData or eventMetadata is missing")
    when = parse_inference_time(meta.get("inferenceTime"))
    if "endpointOutput" not in capture:
        raise MissingOutputError("captureData.endpointOutput is missing")
    _, output = _decode_payload(capture["endpointOutput"], "endpointOutput")
    input_type, input_body = None, None
    # Capture can be configured for outputs only; such records still count.
    if "endpointInput" in capture:
        input_type, input_body = _decode_payload(capture["endpointInput"], "endpointInput")
    return CapturedInference(
        event_id=str(meta.get("eventId", "")),
        inference_time=when,
        input_content_type=input_type,
        input_body=input_body,
        probabilities=_parse_probabilities(output),
    )


def _as_utc(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
