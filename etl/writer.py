"""Writes one split's PNGs and its .lst file."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from deployment.progress import progress_bar
from etl.archive import Split
from etl.errors import OutputNotWritableError
from etl.manifest import write_atomic
from etl.pixel_stats import PixelStatsBuilder
from etl.selection import Selection

_CHUNK_ROWS = 512
# Pillow releases the GIL while it compresses, so a few threads overlap encoding with
# file writes without the cost of processes.
WORKERS = min(4, os.cpu_count() or 1)


def rows_to_hwc(rows: np.ndarray) -> np.ndarray:
    """CIFAR rows (N, 3072) of R, G, B planes -> (N, 32, 32, 3) images."""
    return rows.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)


def png_bytes(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buffer, format="PNG")
    return buffer.getvalue()


def write_split(
    out: Path,
    split: Split,
    selection: Selection,
    stats: PixelStatsBuilder | None,
    *,
    progress: bool,
) -> dict[str, str]:
    """Write the selection's PNGs under `out/<split>/`; return {relative path: sha256}."""
    folder = out / split.name
    _prepare(folder, set(selection.names))
    digests: list[str] = []
    with (
        ThreadPoolExecutor(WORKERS) as pool,
        progress_bar(
            total=len(selection), unit="img", desc=f"write {split.name}", disable=not progress
        ) as bar,
    ):
        for chunk_digests in pool.map(
            lambda chunk: _write_chunk(folder, split, selection, chunk, stats),
            _chunks(len(selection)),
        ):
            digests.extend(chunk_digests)
            bar.update(len(chunk_digests))
    return {f"{split.name}/{name}": d for name, d in zip(selection.names, digests, strict=True)}


def write_list(out: Path, selection: Selection) -> str:
    """Write `<split>.lst` (index, class index, path in the channel); return its sha256."""
    lines = (
        f"{i}\t{c}\t{name}\n"
        for i, (c, name) in enumerate(zip(selection.class_index, selection.names, strict=True))
    )
    data = "".join(lines).encode()
    try:
        write_atomic(out / f"{selection.split}.lst", data)
    except OSError as exc:
        raise OutputNotWritableError(f"cannot write {out / selection.split}.lst: {exc}") from exc
    return hashlib.sha256(data).hexdigest()


def _chunks(n: int) -> Iterator[range]:
    for start in range(0, n, _CHUNK_ROWS):
        yield range(start, min(start + _CHUNK_ROWS, n))


def _write_chunk(
    folder: Path, split: Split, selection: Selection, chunk: range, stats: PixelStatsBuilder | None
) -> list[str]:
    rows = split.data[selection.rows[chunk.start : chunk.stop]]
    if stats is not None:
        stats.add_planes(rows.reshape(-1, 3, 1024))
    digests = []
    for image, name in zip(
        rows_to_hwc(rows), selection.names[chunk.start : chunk.stop], strict=True
    ):
        data = png_bytes(image)
        path = folder / name
        try:
            path.write_bytes(data)
        except OSError as exc:
            raise OutputNotWritableError(f"cannot write {path}: {exc.strerror or exc}") from exc
        digests.append(hashlib.sha256(data).hexdigest())
    return digests


def _prepare(folder: Path, keep: set[str]) -> None:
    """Create the split folder and drop PNGs a previous export left that this one lacks."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for entry in folder.iterdir():
            if entry.suffix == ".png" and entry.name not in keep and entry.is_file():
                entry.unlink()
    except OSError as exc:
        raise OutputNotWritableError(f"cannot write to {folder}: {exc.strerror or exc}") from exc
