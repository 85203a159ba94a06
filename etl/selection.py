"""Picks the rows of the selected classes from a split and names their files."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from etl.archive import Split
from etl.errors import EmptySelectionError


@dataclass(frozen=True)
class Selection:
    """The rows of one split to export, in source order, with class index and file name."""

    split: str
    rows: np.ndarray  # indices into Split.data
    class_index: np.ndarray  # position of the row's label in the configured list
    names: list[str]  # unique within the split

    def __len__(self) -> int:
        return len(self.names)

    def counts(self, classes: Sequence[str]) -> dict[str, int]:
        per_class = np.bincount(self.class_index, minlength=len(classes))
        return {name: int(n) for name, n in zip(classes, per_class, strict=True)}


def select(split: Split, fine_ids: Sequence[int], classes: Sequence[str]) -> Selection:
    """Rows whose fine label is one of `fine_ids`; every class must have at least one."""
    lookup = np.full(max(int(split.fine_labels.max(initial=0)), *fine_ids) + 1, -1, np.int64)
    lookup[list(fine_ids)] = np.arange(len(fine_ids))
    class_of_row = lookup[split.fine_labels]
    rows = np.flatnonzero(class_of_row >= 0)
    class_index = class_of_row[rows]
    present = np.bincount(class_index, minlength=len(fine_ids))
    absent = [name for name, n in zip(classes, present, strict=True) if n == 0]
    if absent:
        raise EmptySelectionError(
            f"the {split.name} split has no images of {', '.join(absent)}; "
            "pick labels that the archive holds images for"
        )
    names = unique_names([split.filenames[r] for r in rows], rows)
    return Selection(split=split.name, rows=rows, class_index=class_index, names=names)


def unique_names(names: Sequence[str], rows: Sequence[int]) -> list[str]:
    """Keep each name once; later repeats get `__<source row>` so they stay deterministic."""
    repeated = {name for name, n in Counter(names).items() if n > 1}
    if not repeated:
        return list(names)
    used = set(names)
    seen: set[str] = set()
    result = []
    for name, row in zip(names, rows, strict=True):
        if name in repeated and name in seen:
            stem = name.removesuffix(".png")
            candidate = f"{stem}__{row}.png"
            suffix = 1
            while candidate in used:
                candidate = f"{stem}__{row}_{suffix}.png"
                suffix += 1
            used.add(candidate)
            name = candidate
        seen.add(name)
        result.append(name)
    return result
