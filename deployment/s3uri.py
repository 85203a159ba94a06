"""The one S3 URI type: `s3://bucket[/key]`, parsed, validated and formatted.

Every CLI and library outside the Lambda zips uses it (the zips keep their own parser in
lambdas/common/events.py: they must stay standalone).

    S3Uri.parse("s3://data/cifar/")           # S3Uri(bucket="data", key="cifar")
    S3Uri.parse("s3://data/a.png", object_key=True).key  # "a.png"; a bare bucket is refused
    str(S3Uri("data", "cifar").join("manifest.json"))    # "s3://data/cifar/manifest.json"
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SCHEME = "s3://"
# AWS's general purpose bucket names: 3-63 of a-z 0-9 . -, starting and ending alphanumeric.
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_MAX_KEY_BYTES = 1024


class S3UriError(ValueError):
    """Text that is not a usable S3 URI; the message quotes it and shows the right form."""


@dataclass(frozen=True)
class S3Uri:
    """A bucket and a key (an object's key or a prefix, without surrounding slashes)."""

    bucket: str
    key: str = ""

    def __post_init__(self) -> None:
        if not _BUCKET.match(self.bucket):
            raise S3UriError(
                f"{self.bucket!r} is not an S3 bucket name (3-63 characters: a-z, 0-9, '.', '-')"
            )
        if len(self.key.encode("utf-8")) > _MAX_KEY_BYTES:
            raise S3UriError(f"the key {self.key[:60]!r}... is longer than {_MAX_KEY_BYTES} bytes")

    @classmethod
    def parse(cls, text: str, *, object_key: bool = False, what: str = "") -> S3Uri:
        """`s3://bucket/prefix` (or, with object_key, `s3://bucket/key`: a key is required).

        `what` names the value in the error (e.g. `--upload`)."""
        form = "s3://bucket/key" if object_key else "s3://bucket/prefix"
        name = f"{what} " if what else ""
        if not isinstance(text, str) or not text.startswith(SCHEME):
            raise S3UriError(f"{name}{text!r} must look like {form}")
        bucket, _, key = text.removeprefix(SCHEME).partition("/")
        if not bucket:
            raise S3UriError(f"{name}{text!r} names no bucket; use {form}")
        key = key.strip("/")
        if object_key and not key:
            raise S3UriError(f"{name}{text!r} names no object; use {form}")
        try:
            return cls(bucket, key)
        except S3UriError as exc:
            raise S3UriError(f"{name}{text!r}: {exc}") from None

    @property
    def prefix(self) -> str:
        """The key as a listing prefix: `key/`, or "" for the whole bucket."""
        return f"{self.key}/" if self.key else ""

    def join(self, name: str) -> S3Uri:
        """The URI of `name` under this one (name is taken as is, slashes included)."""
        return S3Uri(self.bucket, f"{self.key}/{name}" if self.key else name)

    def __str__(self) -> str:
        return f"{SCHEME}{self.bucket}/{self.key}" if self.key else f"{SCHEME}{self.bucket}"
