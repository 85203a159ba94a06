"""boto3 clients, created once per cold start and only when a function first needs one."""

from __future__ import annotations

import functools
from typing import Any

from common.errors import ImageNotFoundError, UnsupportedImageError

_NOT_FOUND = {"NoSuchKey", "NoSuchBucket", "404", "NotFound"}
# Without s3:ListBucket, S3 answers 403 for a missing key too.
_FORBIDDEN = {"AccessDenied", "403"}


@functools.cache
def client(
    service: str,
    *,
    connect_timeout: float | None = None,
    read_timeout: float | None = None,
    max_attempts: int | None = None,
) -> Any:
    """A plain boto3 client; endpoints come from the AWS_ENDPOINT_URL* variables, not code.

    boto3 is imported here rather than at module top so that a function that never
    calls AWS on its happy path (filter_low_confidence) does not pay for it at cold start.
    """
    import boto3
    from botocore.config import Config

    options: dict[str, Any] = {}
    if connect_timeout is not None:
        options["connect_timeout"] = connect_timeout
    if read_timeout is not None:
        options["read_timeout"] = read_timeout
    if max_attempts is not None:
        options["retries"] = {"mode": "standard", "total_max_attempts": max_attempts}
    return boto3.client(service, config=Config(**options) if options else None)


def read_object(bucket: str, key: str, max_bytes: int, limit: str) -> bytes:
    """The object's bytes, refusing to download anything larger than max_bytes.

    `limit` names the limit in the error (e.g. "limit (MAX_IMAGE_BYTES)").
    """
    from botocore.exceptions import ClientError

    try:
        response = client("s3").get_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in _NOT_FOUND:
            raise ImageNotFoundError(f"s3://{bucket}/{key} does not exist ({code})") from None
        if code in _FORBIDDEN:
            raise ImageNotFoundError(
                f"s3://{bucket}/{key} does not exist or this function may not read it ({code})"
            ) from None
        raise
    with response["Body"] as body:
        if response["ContentLength"] > max_bytes:
            raise UnsupportedImageError(
                f"s3://{bucket}/{key} is {response['ContentLength']} bytes, "
                f"over the {max_bytes}-byte {limit}"
            )
        return body.read()
