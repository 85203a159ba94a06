"""The ETL as a function: archive -> PNGs, .lst files and manifest.json in a folder.

`run()` is the API other parts call; the CLI is a thin layer over it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

from etl.archive import CifarArchive, read_archive
from etl.errors import OutputNotWritableError
from etl.labels import DEFAULT_LABELS, resolve_labels
from etl.manifest import MANIFEST_NAME, Manifest, write_atomic
from etl.pixel_stats import PixelStatsBuilder
from etl.selection import Selection, select
from etl.source import OFFICIAL_MD5, resolve_source
from etl.writer import write_list, write_split

log = logging.getLogger("etl")


def run(
    source: str | Path,
    out: str | Path,
    labels: Sequence[str] = DEFAULT_LABELS,
    *,
    cache_dir: Path | None = None,
    progress: bool = False,
) -> Manifest:
    """Export the `labels` classes of the CIFAR-100 archive at `source` (path or URL) to `out`.

    Everything is read and validated before the first file is written; manifest.json is
    written last, so a folder without it is incomplete. Raises `EtlError` subclasses.
    """
    out = Path(out)
    check_writable(out)
    archive = read_archive(
        resolve_source(str(source), cache_dir, progress=progress), progress=progress
    )
    classes = list(labels)
    fine_ids = resolve_labels(classes, archive.fine_label_names)
    selections = [select(s, fine_ids, classes) for s in (archive.train, archive.test)]
    return export(archive, selections, classes, fine_ids, out, str(source), progress=progress)


def export(
    archive: CifarArchive,
    selections: list[Selection],
    classes: list[str],
    fine_ids: list[int],
    out: Path,
    source: str,
    *,
    progress: bool,
) -> Manifest:
    _start(out)
    files: dict[str, str] = {}
    lists: dict[str, str] = {}
    stats = PixelStatsBuilder()
    for split, selection in zip((archive.train, archive.test), selections, strict=True):
        split_stats = stats if split.name == "train" else None
        files.update(write_split(out, split, selection, split_stats, progress=progress))
        lists[f"{split.name}.lst"] = write_list(out, selection)
    manifest = Manifest(
        classes=classes,
        fine_label_ids=fine_ids,
        source={
            "uri": source,
            "size": archive.size,
            "sha256": archive.sha256,
            "md5": archive.md5,
            "official": archive.md5 == OFFICIAL_MD5,
        },
        counts={s.split: {"total": len(s), "per_class": s.counts(classes)} for s in selections},
        lists=lists,
        files=files,
        pixel_stats=stats.build("train").to_json(),
    )
    try:
        write_atomic(out / MANIFEST_NAME, manifest.to_json().encode())
    except OSError as exc:
        raise OutputNotWritableError(f"cannot write {out / MANIFEST_NAME}: {exc}") from exc
    return manifest


def check_writable(out: Path) -> None:
    """Fail before any long work if `out` cannot become a writable folder."""
    if out.exists() and not out.is_dir():
        raise OutputNotWritableError(f"output {out} exists and is not a folder")
    probe = out
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise OutputNotWritableError(f"cannot create output folder {out}: {probe} is not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise OutputNotWritableError(
            f"output folder {out} is not writable (no write access to {probe})"
        )


def _start(out: Path) -> None:
    # A previous manifest would make a half-rewritten folder look complete: it goes first.
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / MANIFEST_NAME).unlink(missing_ok=True)
    except OSError as exc:
        raise OutputNotWritableError(f"cannot write to {out}: {exc.strerror or exc}") from exc
