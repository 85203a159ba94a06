"""Reads and validates a CIFAR-100 python archive in one streaming pass.

The gzip stream is decompressed once, front to back (tar's random access would
decompress it again per member), while the raw bytes are hashed for the manifest.
Every member goes through the restricted unpickler, whatever the archive's checksum.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import re
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from deployment.progress import progress_bar
from etl.errors import CorruptArchiveError, InvalidDataError, MissingMemberError
from etl.unpickle import load_restricted

TOP_DIR = "cifar-100-python"
MEMBERS = ("meta", "train", "test")
PIXELS = 32 * 32 * 3
# CIFAR file names are like `bike_s_000021.png`; anything with a separator or a
# leading dot could escape the output folder, so such names are refused.
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,200}\.png")
_CHUNK = 1 << 20
# The official train member is 155 MB; a far larger one is a decompression bomb.
MAX_MEMBER_BYTES = 1 << 30


@dataclass(frozen=True)
class Split:
    """One split as stored: rows of R, G, B planes, fine labels, file names."""

    name: str
    data: np.ndarray  # uint8 (N, 3072)
    fine_labels: np.ndarray  # int64 (N,)
    filenames: list[str]

    def __len__(self) -> int:
        return len(self.filenames)


@dataclass(frozen=True)
class CifarArchive:
    fine_label_names: list[str]
    train: Split
    test: Split
    sha256: str
    md5: str
    size: int


class _HashingReader:
    """Passes reads through while hashing them and advancing a progress bar."""

    def __init__(self, raw: IO[bytes], bar: Any) -> None:
        self._raw = raw
        self._bar = bar
        self.sha256 = hashlib.sha256()
        self.md5 = hashlib.md5()  # noqa: S324 - the official archive is published with its MD5
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        chunk = self._raw.read(n)
        self.sha256.update(chunk)
        self.md5.update(chunk)
        self.size += len(chunk)
        self._bar.update(len(chunk))
        return chunk

    def drain(self) -> None:
        while self.read(_CHUNK):
            pass


def read_archive(path: Path, *, progress: bool = True) -> CifarArchive:
    """Load and validate meta, train and test from the CIFAR-100 archive at `path`."""
    total = path.stat().st_size
    with (
        path.open("rb") as raw,
        progress_bar(
            total=total, unit="B", unit_scale=True, desc="read", disable=not progress
        ) as bar,
    ):
        reader = _HashingReader(raw, bar)
        try:
            with gzip.GzipFile(fileobj=reader, mode="rb") as gz:  # type: ignore[arg-type]
                members = _load_members(gz, path.name)
                # Reading to the end makes gzip check its CRC and length trailer,
                # which catches corruption the deflate stream itself may not.
                while gz.read(_CHUNK):
                    pass
        except (OSError, EOFError, zlib.error, tarfile.TarError) as exc:
            raise CorruptArchiveError(
                f"{path.name} is not a readable .tar.gz (truncated or corrupt: {_first_line(exc)})"
            ) from exc
        reader.drain()
    names = _fine_label_names(members["meta"], f"{path.name}:meta")
    return CifarArchive(
        fine_label_names=names,
        train=_split(members["train"], "train", len(names), path.name),
        test=_split(members["test"], "test", len(names), path.name),
        sha256=reader.sha256.hexdigest(),
        md5=reader.md5.hexdigest(),
        size=reader.size,
    )


def _load_members(gz: IO[bytes], archive_name: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    seen: list[str] = []
    with tarfile.open(fileobj=gz, mode="r|", bufsize=_CHUNK) as tar:
        for info in tar:
            name = info.name.removeprefix("./")
            seen.append(name)
            top, _, base = name.partition("/")
            if top != TOP_DIR or base not in MEMBERS or not info.isfile():
                continue
            if base in found:
                raise InvalidDataError(f"{archive_name}: member {name} occurs twice")
            if info.size > MAX_MEMBER_BYTES:
                raise InvalidDataError(
                    f"{archive_name}: member {name} is {info.size} bytes, more than "
                    f"{MAX_MEMBER_BYTES} (CIFAR-100's largest is 155 MB)"
                )
            file = tar.extractfile(info)
            assert file is not None  # isfile() above
            found[base] = load_restricted(_guarded(file, archive_name), f"{archive_name}:{name}")
    missing = [m for m in MEMBERS if m not in found]
    if missing:
        listed = ", ".join(seen[:5]) + (", ..." if len(seen) > 5 else "") or "nothing"
        raise MissingMemberError(
            f"{archive_name} lacks {', '.join(f'{TOP_DIR}/{m}' for m in missing)} "
            f"(it holds: {listed}); is it the CIFAR-100 python archive?"
        )
    return found


class _GuardedRaw(io.RawIOBase):
    """A member's stream whose read errors say the archive is broken, not the pickle."""

    def __init__(self, file: IO[bytes], archive_name: str) -> None:
        self._file = file
        self._archive_name = archive_name

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            # At most a chunk per call: tarfile would otherwise assemble a whole 150 MB
            # member in temporary copies before handing it over.
            return self._file.readinto(memoryview(buffer)[:_CHUNK])  # type: ignore[attr-defined]
        except (OSError, EOFError, zlib.error, tarfile.TarError) as exc:
            raise CorruptArchiveError(
                f"{self._archive_name} is not a readable .tar.gz "
                f"(truncated or corrupt: {_first_line(exc)})"
            ) from exc


def _guarded(file: IO[bytes], archive_name: str) -> IO[bytes]:
    # Buffered, so the unpickler's many small reads stay in C.
    return io.BufferedReader(_GuardedRaw(file, archive_name), buffer_size=_CHUNK)


def _as_str_dict(obj: Any, where: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise InvalidDataError(f"{where}: expected a dict, got {type(obj).__name__}")
    return {k.decode("latin-1") if isinstance(k, bytes) else str(k): v for k, v in obj.items()}


def _require(d: dict[str, Any], keys: tuple[str, ...], where: str) -> None:
    missing = [k for k in keys if k not in d]
    if missing:
        raise InvalidDataError(f"{where}: missing key(s) {', '.join(missing)}")


def _text(value: Any, where: str) -> str:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidDataError(f"{where}: {value[:40]!r} is not UTF-8 text") from exc
    if isinstance(value, str):
        return value
    raise InvalidDataError(f"{where}: expected text, got {type(value).__name__}")


def _fine_label_names(obj: Any, where: str) -> list[str]:
    meta = _as_str_dict(obj, where)
    _require(meta, ("fine_label_names",), where)
    raw = meta["fine_label_names"]
    if not isinstance(raw, list) or not raw:
        raise InvalidDataError(f"{where}: fine_label_names must be a non-empty list")
    names = [_text(v, f"{where}: fine_label_names") for v in raw]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InvalidDataError(f"{where}: fine_label_names repeats {', '.join(duplicates)}")
    return names


def _split(obj: Any, split: str, n_classes: int, archive_name: str) -> Split:
    where = f"{archive_name}:{TOP_DIR}/{split}"
    d = _as_str_dict(obj, where)
    _require(d, ("data", "fine_labels", "filenames"), where)
    data = d["data"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2:
        got = (
            f"{data.dtype} array of shape {data.shape}"
            if isinstance(data, np.ndarray)
            else type(data).__name__
        )
        raise InvalidDataError(f"{where}: data must be a uint8 array (N, {PIXELS}), got {got}")
    if data.shape[1] != PIXELS:
        raise InvalidDataError(
            f"{where}: data rows must hold {PIXELS} values (32x32 RGB), got shape {data.shape}"
        )
    n = data.shape[0]
    labels = _labels(d["fine_labels"], where, n_classes)
    filenames = d["filenames"]
    if not isinstance(filenames, list):
        raise InvalidDataError(f"{where}: filenames must be a list")
    if len(labels) != n or len(filenames) != n:
        raise InvalidDataError(
            f"{where}: lengths differ: data has {n} rows, fine_labels {len(labels)}, "
            f"filenames {len(filenames)}"
        )
    names = [_text(f, f"{where}: filenames") for f in filenames]
    for name in names:
        if not _SAFE_NAME.fullmatch(name):
            raise InvalidDataError(f"{where}: file name {name!r} is not a plain .png file name")
    return Split(name=split, data=data, fine_labels=labels, filenames=names)


def _labels(raw: Any, where: str, n_classes: int) -> np.ndarray:
    if not isinstance(raw, list | np.ndarray):
        raise InvalidDataError(f"{where}: fine_labels must be a list of ints")
    if isinstance(raw, list) and not all(type(v) is int for v in raw):
        raise InvalidDataError(f"{where}: fine_labels must hold only ints")
    labels = np.asarray(raw, dtype=np.int64) if len(raw) else np.zeros(0, np.int64)
    if isinstance(raw, np.ndarray) and (raw.ndim != 1 or raw.dtype.kind not in "iu"):
        raise InvalidDataError(f"{where}: fine_labels must be a 1-D integer array")
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise InvalidDataError(
            f"{where}: fine_labels must lie in 0..{n_classes - 1}, "
            f"found {labels.min()}..{labels.max()}"
        )
    return labels


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
