"""Finds the archive: a local path, or a URL downloaded once into a cache.

Downloads go to `<name>.part` and resume from its size with an HTTP Range request
(after an interruption in this run or an earlier one); the file gets its final name
only once it is complete and, for the official archive, its MD5 matches.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

from deployment.progress import progress_bar
from etl.errors import ChecksumMismatchError, DownloadError, SourceNotFoundError

OFFICIAL_URL = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
OFFICIAL_MD5 = "eb9058c3a382ffc7106e4002c42a8d85"
KNOWN_MD5 = {OFFICIAL_URL: OFFICIAL_MD5}

_CHUNK = 1 << 16
log = logging.getLogger("etl")


class _Interrupted(Exception):
    """The transfer stopped part way; the .part file keeps what arrived."""


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "scones"


def is_url(source: str) -> bool:
    return urlparse(source).scheme in ("http", "https")


def resolve_source(source: str, cache_dir: Path | None = None, *, progress: bool = True) -> Path:
    """Local path of the archive named by `source` (a path, or a URL to download)."""
    if is_url(source):
        return fetch(
            source,
            cache_dir or default_cache_dir(),
            expected_md5=KNOWN_MD5.get(source),
            progress=progress,
        )
    path = Path(source).expanduser()
    if not path.exists():
        raise SourceNotFoundError(f"source archive {source} does not exist")
    if not path.is_file():
        raise SourceNotFoundError(f"source archive {source} is not a file")
    return path


def cache_name(url: str) -> str:
    """File name in the cache: the URL's own name, prefixed by a hash unless official."""
    base = re.sub(r"[^A-Za-z0-9._-]", "_", Path(urlparse(url).path).name) or "archive"
    if url == OFFICIAL_URL:
        return base
    return f"{hashlib.sha256(url.encode()).hexdigest()[:12]}-{base}"


def fetch(
    url: str,
    cache_dir: Path,
    *,
    expected_md5: str | None = None,
    progress: bool = True,
    attempts: int = 3,
    timeout: float = 60.0,
) -> Path:
    """Download `url` into `cache_dir` unless it is already there; return its path."""
    target = cache_dir / cache_name(url)
    if target.is_file():
        if expected_md5 is None or file_md5(target) == expected_md5:
            log.info("using cached %s", target)
            return target
        log.info("cached %s has the wrong MD5; downloading again", target)
        target.unlink()
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"cannot create the cache folder {cache_dir}: {exc.strerror}") from exc
    part = target.with_name(target.name + ".part")
    for attempt in range(1, attempts + 1):
        try:
            _download(url, part, progress=progress, timeout=timeout)
            break
        except _Interrupted as exc:
            log.info(
                "download interrupted (%s); resuming (attempt %d of %d)", exc, attempt, attempts
            )
    else:
        raise DownloadError(
            f"download of {url} was interrupted {attempts} times; run again to resume from {part}"
        )
    if expected_md5 is not None:
        actual = file_md5(part)
        if actual != expected_md5:
            part.unlink()
            raise ChecksumMismatchError(
                f"{url} has MD5 {actual}, expected {expected_md5}; "
                "the download was discarded, run again"
            )
    os.replace(part, target)
    log.info("downloaded %s to %s", url, target)
    return target


def file_md5(path: Path) -> str:
    digest = hashlib.md5()  # noqa: S324 - the official archive is published with its MD5
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _download(url: str, part: Path, *, progress: bool, timeout: float) -> None:
    offset = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "scones-etl"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - scheme checked by is_url
    try:
        response = urllib.request.urlopen(request, timeout=timeout)  # noqa: S310
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:
            _range_not_satisfiable(exc, part, offset)
            return
        raise DownloadError(f"cannot download {url}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(f"cannot download {url}: {reason}") from exc
    with response:
        resumed = offset > 0 and response.status == 206
        if resumed:
            _check_content_range(response.headers.get("Content-Range", ""), offset, url)
        else:
            offset = 0  # the server sent the whole file: start over
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length is not None else None
        _copy(response, part, offset, total, progress, url)


def _copy(
    response: http.client.HTTPResponse,
    part: Path,
    offset: int,
    total: int | None,
    progress: bool,
    url: str,
) -> None:
    written = offset
    with (
        part.open("ab" if offset else "wb") as out,
        progress_bar(
            total=total,
            initial=offset,
            unit="B",
            unit_scale=True,
            desc=f"download {Path(urlparse(url).path).name}",
            disable=not progress,
        ) as bar,
    ):
        try:
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                written += len(chunk)
                bar.update(len(chunk))
        except (TimeoutError, http.client.HTTPException, ConnectionError) as exc:
            raise _Interrupted(f"{type(exc).__name__} after {written} bytes") from exc
    if total is not None and written < total:
        raise _Interrupted(f"connection closed after {written} of {total} bytes")


def _check_content_range(header: str, offset: int, url: str) -> None:
    match = re.fullmatch(r"bytes (\d+)-\d+/(\d+|\*)", header.strip())
    if not match or int(match.group(1)) != offset:
        raise DownloadError(f"{url}: server answered a resume with Content-Range {header!r}")


def _range_not_satisfiable(exc: urllib.error.HTTPError, part: Path, offset: int) -> None:
    # 416 with `bytes */<size>` equal to what we hold means the .part is already complete.
    match = re.fullmatch(r"bytes \*/(\d+)", (exc.headers.get("Content-Range") or "").strip())
    if match and int(match.group(1)) == offset:
        return
    part.unlink()
    raise _Interrupted("the partial download did not match the server's file; starting over")
