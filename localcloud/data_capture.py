"""Data capture objects in SageMaker's layout, through monitoring's one writer.

SageMaker buffers capture records and writes a JSON-lines object every few minutes; a
`CaptureWriter` does the same on a smaller scale, so that captured data does not cost
the server an S3 object per request (a moto object is ~3 KB of bookkeeping besides its
body, and bodies under moto's key buffer size stay in memory: that was ~7 KB per
request, without bound). One writer per endpoint variant:

- a request's record goes into the open batch; the batch is written as one object
  when no other invocation of the variant is in flight (so a caller that waits for
  each answer, as the tests do, finds its record in S3 as soon as the call returns),
  when it holds `MAX_BATCH_BYTES` or `MAX_BATCH_RECORDS`, or when it is older than
  `MAX_BATCH_AGE_S` (a background flusher), and when the endpoint stops;
- under steady concurrent load objects are `MAX_BATCH_BYTES` large, above the key
  buffer size the server sets (server.py), so their bodies live in temporary files.

Every record is written exactly once: a batch leaves the buffer only to be written,
and a failed write is logged with the number of records it held.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
import weakref
from collections.abc import Callable
from datetime import UTC, datetime

from monitoring.capture import capture_line, capture_object_key, capture_record

LOG = logging.getLogger(__name__)
_MODE_KEYS = {"Input": "endpointInput", "Output": "endpointOutput"}
MAX_BATCH_BYTES = int(os.environ.get("LOCALCLOUD_CAPTURE_BATCH_BYTES", str(1024 * 1024)))
MAX_BATCH_RECORDS = int(os.environ.get("LOCALCLOUD_CAPTURE_BATCH_RECORDS", "2000"))
MAX_BATCH_AGE_S = float(os.environ.get("LOCALCLOUD_CAPTURE_BATCH_AGE", "1"))


def split_destination(destination_uri: str) -> tuple[str, str]:
    if not destination_uri.startswith("s3://"):
        raise ValueError(f"DestinationS3Uri must be an s3:// URI, got {destination_uri!r}")
    bucket, _, prefix = destination_uri[5:].partition("/")
    return bucket, prefix


def capture_line_for(
    request: tuple[bytes, str],
    response: tuple[bytes, str],
    modes: set[str],
    inference_id: str | None = None,
    when: datetime | None = None,
) -> bytes:
    """One request's record, as a JSON line, with only `modes` kept.

    `inference_id` (InvokeEndpoint's InferenceId) goes into `eventMetadata.inferenceId`,
    as SageMaker adds it to the captured data.
    """
    record = capture_record(
        request[0],
        request[1],
        response[0].decode("utf-8", errors="replace"),
        response[1],
        event_id=str(uuid.uuid4()),
        inference_time=when or datetime.now(UTC),
    )
    if inference_id:
        record["eventMetadata"]["inferenceId"] = inference_id
    for mode, field in _MODE_KEYS.items():
        if mode not in modes:
            record["captureData"].pop(field, None)
    return capture_line(record)


def capture_object(
    destination_uri: str,
    endpoint: str,
    variant: str,
    request: tuple[bytes, str],
    response: tuple[bytes, str],
    modes: set[str],
    inference_id: str | None = None,
) -> tuple[str, str, bytes]:
    """(bucket, key, body) of a capture object holding one request's record."""
    bucket, prefix = split_destination(destination_uri)
    when = datetime.now(UTC)
    body = capture_line_for(request, response, modes, inference_id, when)
    return bucket, capture_object_key(prefix, endpoint, variant, when, str(uuid.uuid4())), body


class CaptureWriter:
    """One variant's capture batches: records in, JSON-lines objects out (see above)."""

    def __init__(
        self,
        destination_uri: str,
        endpoint: str,
        variant: str,
        put: Callable[[str, str, bytes], None],
    ) -> None:
        self.bucket, self.prefix = split_destination(destination_uri)
        self.endpoint, self.variant, self._put = endpoint, variant, put
        self._lock = threading.Lock()
        self._lines: list[bytes] = []
        self._bytes = 0
        self._opened: datetime | None = None
        self._opened_at = 0.0
        self._in_flight = 0
        self.records_written = 0
        self.objects_written = 0
        _writers.add(self)
        _ensure_flusher()

    def begin(self) -> None:
        """An invocation of the variant started (its record, if any, comes with `end`)."""
        with self._lock:
            self._in_flight += 1

    def end(self, line: bytes | None) -> None:
        """The invocation ended, with its record (None: failed, or not sampled)."""
        with self._lock:
            self._in_flight -= 1
            if line is not None:
                if not self._lines:
                    self._opened, self._opened_at = datetime.now(UTC), time.monotonic()
                self._lines.append(line)
                self._bytes += len(line)
            full = self._bytes >= MAX_BATCH_BYTES or len(self._lines) >= MAX_BATCH_RECORDS
            batch = self._take() if self._lines and (self._in_flight <= 0 or full) else None
        self._write(batch)

    def flush(self, older_than: float = 0.0) -> None:
        with self._lock:
            stale = self._lines and time.monotonic() - self._opened_at >= older_than
            batch = self._take() if stale else None
        self._write(batch)

    def close(self) -> None:
        self.flush()
        _writers.discard(self)

    def _take(self) -> tuple[datetime, list[bytes]]:
        batch = (self._opened or datetime.now(UTC), self._lines)
        self._lines, self._bytes, self._opened = [], 0, None
        return batch

    def _write(self, batch: tuple[datetime, list[bytes]] | None) -> None:
        if batch is None:
            return
        when, lines = batch
        key = capture_object_key(self.prefix, self.endpoint, self.variant, when, str(uuid.uuid4()))
        try:
            self._put(self.bucket, key, b"".join(lines))
        except Exception:
            LOG.exception(
                "data capture: %d records of %s/%s could not be written to s3://%s/%s",
                len(lines),
                self.endpoint,
                self.variant,
                self.bucket,
                key,
            )
            return
        with self._lock:
            self.records_written += len(lines)
            self.objects_written += 1


_writers: weakref.WeakSet[CaptureWriter] = weakref.WeakSet()
_flusher: dict[str, threading.Thread] = {}
_flusher_lock = threading.Lock()


def _flush_stale() -> None:
    while True:
        time.sleep(max(MAX_BATCH_AGE_S / 2, 0.05))
        for writer in list(_writers):
            writer.flush(older_than=MAX_BATCH_AGE_S)


def _ensure_flusher() -> None:
    with _flusher_lock:
        if "thread" not in _flusher:
            _flusher["thread"] = threading.Thread(
                target=_flush_stale, name="capture-flusher", daemon=True
            )
            _flusher["thread"].start()
