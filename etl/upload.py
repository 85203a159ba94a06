"""Uploads an export folder to S3: concurrently, skipping unchanged objects, manifest last.

The client is the target's (deployment.target: the local cloud or AWS); the URI is a
deployment.s3uri.S3Uri.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from deployment.progress import progress_bar
from deployment.s3uri import S3Uri, S3UriError
from deployment.target import Target
from etl.errors import UploadError
from etl.manifest import MANIFEST_NAME, Manifest, load_manifest
from etl.source import file_md5

log = logging.getLogger("etl")
WORKERS = 16
_CONTENT_TYPES = {".png": "image/png", ".lst": "text/plain", ".json": "application/json"}
_DENIED = {"AccessDenied", "403", "AllAccessDisabled", "InvalidAccessKeyId",
           "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken"}  # fmt: skip
_MISSING_BUCKET = {"NoSuchBucket", "404"}
T = TypeVar("T")


@dataclass(frozen=True)
class UploadResult:
    bucket: str
    prefix: str
    uploaded: int
    skipped: int


def parse_upload_uri(uri: str) -> S3Uri:
    """The --upload destination, or an UploadError saying what it should look like."""
    try:
        return S3Uri.parse(uri, what="--upload")
    except S3UriError as exc:
        raise UploadError(str(exc)) from None


def upload(
    out: Path,
    s3_uri: str,
    *,
    target: str = "local",
    client: Any = None,
    workers: int = WORKERS,
    progress: bool = False,
) -> UploadResult:
    """Upload the export in `out` (as its manifest lists it) under `s3_uri` on the target
    (its client unless `client` is given)."""
    uri = parse_upload_uri(s3_uri)
    bucket, prefix = uri.bucket, uri.key
    manifest = _manifest(out)
    s3 = client or Target(target).client("s3", config=Config(max_pool_connections=workers))
    where = str(uri)
    remote = _call(lambda: _remote_etags(s3, bucket, uri.prefix), bucket, where)
    manifest_key = uri.join(MANIFEST_NAME).key
    manifest_changed = remote.get(manifest_key) != file_md5(out / MANIFEST_NAME)

    def send(rel: str) -> bool:
        return _call(
            lambda: _send(s3, out, rel, bucket, uri.join(rel).key, remote, manifest), bucket, where
        )

    others = manifest.paths()[:-1]
    if manifest_changed and manifest_key in remote:
        # The old manifest would describe a mix of old and new objects while they change.
        _call(lambda: s3.delete_object(Bucket=bucket, Key=manifest_key), bucket, where)
    uploaded = 0
    with (
        ThreadPoolExecutor(workers) as pool,
        progress_bar(
            total=len(others) + 1, unit="file", desc="upload", disable=not progress
        ) as bar,
    ):
        for sent in pool.map(send, others):
            uploaded += sent
            bar.update()
        uploaded += send(MANIFEST_NAME)  # only once everything it lists is in place
        bar.update()
    return UploadResult(bucket, prefix, uploaded, len(others) + 1 - uploaded)


def _manifest(out: Path) -> Manifest:
    try:
        return load_manifest(out)
    except FileNotFoundError as exc:
        raise UploadError(
            f"{out} has no {MANIFEST_NAME}: the export is incomplete, run it again"
        ) from exc
    except (OSError, ValueError, TypeError) as exc:
        raise UploadError(f"cannot read {out / MANIFEST_NAME}: {exc}") from exc


def _remote_etags(s3: Any, bucket: str, prefix: str) -> dict[str, str]:
    etags = {}
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    for page in pages:
        for obj in page.get("Contents", []):
            etags[obj["Key"]] = obj["ETag"].strip('"')
    return etags


def _send(
    s3: Any, out: Path, rel: str, bucket: str, key: str, remote: dict[str, str], manifest: Manifest
) -> bool:
    """Put one file unless S3 already holds the same bytes; True when it was sent."""
    path = out / rel
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UploadError(f"cannot read {path}: {exc.strerror}; run the export again") from exc
    sha256 = hashlib.sha256(data).hexdigest()
    expected = manifest.files.get(rel) or manifest.lists.get(rel)
    if expected is not None and sha256 != expected:
        raise UploadError(f"{path} does not match {MANIFEST_NAME}; run the export again")
    etag = remote.get(key)
    if etag is not None and _same(s3, bucket, key, etag, data, sha256):
        return False
    s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=data,
        ContentType=_CONTENT_TYPES.get(path.suffix, "application/octet-stream"),
        Metadata={"sha256": sha256},
    )
    return True


def _same(s3: Any, bucket: str, key: str, etag: str, data: bytes, sha256: str) -> bool:
    if "-" not in etag:  # a single-part upload's ETag is the MD5 of its bytes
        return etag == hashlib.md5(data).hexdigest()  # noqa: S324 - S3's ETag is MD5
    head = s3.head_object(Bucket=bucket, Key=key)
    return head.get("Metadata", {}).get("sha256") == sha256


def _call(action: Callable[[], T], bucket: str, where: str) -> T:
    """Run an S3 action, turning botocore's errors into one-line UploadErrors."""
    try:
        return action()
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        if code in _MISSING_BUCKET:
            raise UploadError(f"S3 bucket {bucket} does not exist") from exc
        if code in _DENIED:
            raise UploadError(
                f"access denied to {where} ({code}); check the credentials and that they "
                "allow s3:ListBucket, s3:PutObject, s3:GetObject and s3:DeleteObject there"
            ) from exc
        raise UploadError(
            f"S3 error at {where}: {code} {error.get('Message', '')}".strip()
        ) from exc
    except NoCredentialsError as exc:
        raise UploadError(
            "no AWS credentials found; configure a profile or AWS_* variables"
        ) from exc
    except BotoCoreError as exc:
        raise UploadError(f"S3 upload to {where} failed: {exc}") from exc
