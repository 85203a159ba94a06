"""One JSON object per log line, carrying the function name and the request id."""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
_function: contextvars.ContextVar[str | None] = contextvars.ContextVar("function", default=None)


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line; `extra={"fields": {...}}` adds structured fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "function": _function.get(),
            "request_id": _request_id.get(),
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update(fields)
        if record.exc_info and record.exc_info[0] is not None:
            line["exception_type"] = record.exc_info[0].__name__
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure_logging(level: int = logging.INFO) -> logging.Logger:
    """Puts the JSON formatter on the root logger's handlers.

    The Lambda runtime installs its own handler on the root logger; reusing it keeps
    the runtime's routing to CloudWatch and only changes the format.
    """
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler(sys.stderr))
    for handler in root.handlers:
        handler.setFormatter(JsonFormatter())
    root.setLevel(level)
    # botocore logs at DEBUG on every call; keep it out of the function's logs.
    logging.getLogger("botocore").setLevel(logging.WARNING)
    return root


@contextmanager
def log_context(function: str, request_id: str | None) -> Iterator[None]:
    """Tags every log line inside the block with the function name and request id."""
    function_token = _function.set(function)
    request_token = _request_id.set(request_id)
    try:
        yield
    finally:
        _request_id.reset(request_token)
        _function.reset(function_token)
