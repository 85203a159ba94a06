"""Turns the configured label names into CIFAR-100 fine label ids, in class order."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from etl.errors import LabelSelectionError

DEFAULT_LABELS: tuple[str, ...] = ("bicycle", "motorcycle")


def parse_labels(text: str) -> list[str]:
    """Split a comma-separated `--labels` value; blanks around names are ignored."""
    names = [part.strip() for part in text.split(",")]
    if any(not name for name in names):
        raise LabelSelectionError(
            f"--labels {text!r} has an empty name; use e.g. bicycle,motorcycle"
        )
    return names


def resolve_labels(requested: Sequence[str], fine_label_names: Sequence[str]) -> list[int]:
    """Fine label id of each requested name; position in `requested` is the class index."""
    if len(requested) < 2:
        raise LabelSelectionError(
            f"need at least two label names to tell apart, got {len(requested)}: "
            f"{', '.join(requested) or 'none'}"
        )
    duplicates = sorted({n for n in requested if list(requested).count(n) > 1})
    if duplicates:
        raise LabelSelectionError(f"label name(s) given more than once: {', '.join(duplicates)}")
    index = {name: i for i, name in enumerate(fine_label_names)}
    unknown = [n for n in requested if n not in index]
    if unknown:
        raise LabelSelectionError("; ".join(_unknown(n, fine_label_names) for n in unknown))
    return [index[n] for n in requested]


def _unknown(name: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    hint = f"did you mean {', '.join(close)}?" if close else "see the archive's fine_label_names"
    return f"unknown label {name!r} ({hint})"
