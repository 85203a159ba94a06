"""Where capture objects come from: an S3 prefix (AWS or the local cloud) or a directory.

Both list the objects of a time window by the yyyy/mm/dd/hh in their keys before
reading any, and read each object as a stream of byte chunks.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from deployment.s3uri import S3Uri, S3UriError
from deployment.target import Target
from monitoring.capture import hour_of_key

CHUNK_BYTES = 1024 * 1024
# SageMaker files a record under the hour its buffer was flushed, which can be a little
# after the record's inferenceTime: read one extra hour on each side of the window.
KEY_SLACK = timedelta(hours=1)


class SourceError(RuntimeError):
    """The capture location cannot be listed (missing bucket, no access, no connection)."""


class ObjectReadError(RuntimeError):
    """One capture object could not be read to its end."""


@dataclass(frozen=True)
class CaptureObject:
    key: str
    size: int


def key_in_window(key: str, since: datetime | None, until: datetime | None) -> bool:
    """Whether an object's key hour can hold records inside [since, until)."""
    hour = hour_of_key(key)
    if hour is None:
        return True  # not in SageMaker's layout: let the records' own times decide
    if since is not None and hour + timedelta(hours=1) + KEY_SLACK <= since:
        return False
    return not (until is not None and hour - KEY_SLACK >= until)


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """(bucket, key) of an s3://bucket/key URI, through deployment.s3uri; a SourceError
    otherwise (monitoring/reference.py reads its manifest location with it)."""
    try:
        parsed = S3Uri.parse(uri)
    except S3UriError as exc:
        raise SourceError(str(exc)) from None
    return parsed.bucket, parsed.key


class S3Source:
    """Capture objects under s3://bucket/prefix, read with the target's S3 client
    (deployment.target: the local cloud or AWS)."""

    def __init__(self, uri: str, client: object | None = None, target: str = "local") -> None:
        self.bucket, self.prefix = parse_s3_uri(uri)
        self.client = client or Target(target).client("s3")

    @property
    def description(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def list(self, since: datetime | None, until: datetime | None) -> list[CaptureObject]:
        from botocore.exceptions import BotoCoreError, ClientError

        prefix = self.prefix.rstrip("/") + "/" if self.prefix else ""
        found = []
        try:
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    if item["Key"].endswith(".jsonl") and key_in_window(item["Key"], since, until):
                        found.append(CaptureObject(item["Key"], int(item.get("Size", 0))))
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            raise SourceError(f"cannot list {self.description}: {code or exc}") from exc
        except BotoCoreError as exc:
            where = getattr(getattr(self.client, "meta", None), "endpoint_url", "AWS")
            raise SourceError(f"cannot list {self.description} at {where}: {exc}") from exc
        return sorted(found, key=lambda o: o.key)

    def has_any(self) -> bool:
        """Whether anything at all was captured here, in any window."""
        from botocore.exceptions import BotoCoreError, ClientError

        prefix = self.prefix.rstrip("/") + "/" if self.prefix else ""
        try:
            page = self.client.list_objects_v2(Bucket=self.bucket, Prefix=prefix, MaxKeys=1)
        except (ClientError, BotoCoreError) as exc:
            raise SourceError(f"cannot list {self.description}: {exc}") from exc
        return bool(page.get("KeyCount") or page.get("Contents"))

    def read(self, obj: CaptureObject) -> Iterator[bytes]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            body = self.client.get_object(Bucket=self.bucket, Key=obj.key)["Body"]
            yield from body.iter_chunks(chunk_size=CHUNK_BYTES)
        except (ClientError, BotoCoreError, OSError) as exc:
            raise ObjectReadError(f"{obj.key}: {exc}") from exc


class DirectorySource:
    """Capture files under a local directory (e.g. a copy made with `aws s3 sync`)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @property
    def description(self) -> str:
        return str(self.root)

    def list(self, since: datetime | None, until: datetime | None) -> list[CaptureObject]:
        if not self.root.is_dir():
            return []  # the endpoint has not captured anything yet
        found = []
        for path in self.root.rglob("*.jsonl"):
            key = path.relative_to(self.root).as_posix()
            if path.is_file() and key_in_window(key, since, until):
                found.append(CaptureObject(key, path.stat().st_size))
        return sorted(found, key=lambda o: o.key)

    def has_any(self) -> bool:
        return self.root.is_dir() and any(self.root.rglob("*.jsonl"))

    def read(self, obj: CaptureObject) -> Iterator[bytes]:
        try:
            with open(self.root / obj.key, "rb") as handle:
                while chunk := handle.read(CHUNK_BYTES):
                    yield chunk
        except OSError as exc:
            raise ObjectReadError(f"{obj.key}: {exc}") from exc
