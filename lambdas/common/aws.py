"""boto3 clients, created once per cold start and only when a function first needs one."""

from __future__ import annotations

import functools
from typing import Any


@functools.cache
def client(
    service: str, *, read_timeout: float | None = None, max_attempts: int | None = None
) -> Any:
    """A plain boto3 client; endpoints come from the AWS_ENDPOINT_URL* variables, not code.

    boto3 is imported here rather than at module top so that a function that never
    calls AWS on its happy path (filter_low_confidence) does not pay for it at cold start.
    """
    import boto3
    from botocore.config import Config

    options: dict[str, Any] = {}
    if read_timeout is not None:
        options["read_timeout"] = read_timeout
    if max_attempts is not None:
        options["retries"] = {"mode": "standard", "total_max_attempts": max_attempts}
    return boto3.client(service, config=Config(**options) if options else None)
