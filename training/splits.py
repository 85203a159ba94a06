"""From the ETL's output to train.py's channels: the validation split carved from train.

The ETL writes `train/`, `test/`, `train.lst`, `test.lst` and `manifest.json`. Validation
is a stratified, seeded sample of the train list (test is never used for choices). The
carved lists refer to the same image folder, so no image is copied: train and validation
channels both point at `train/` with their own `.lst` channel, as the built-in
algorithm's train_lst / validation_lst channels do.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path


def class_names(classes: list) -> list[str]:
    """Class names from a manifest's `classes` (names, or objects with a `name`)."""
    return [c["name"] if isinstance(c, dict) else str(c) for c in classes]


class SplitError(ValueError):
    """The ETL output is incomplete or cannot be split as asked."""


@dataclass(frozen=True)
class EtlOutput:
    root: Path
    class_names: list[str]

    @classmethod
    def open(cls, root: Path) -> EtlOutput:
        required = ["manifest.json", "train.lst", "test.lst", "train", "test"]
        missing = [name for name in required if not (root / name).exists()]
        if missing:
            raise SplitError(
                f"{root} is not the ETL's output (missing {', '.join(missing)}): "
                "run `python -m etl --out DIR` and pass --channels DIR"
            )
        try:
            manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
            classes = manifest["classes"]
        except (json.JSONDecodeError, KeyError, TypeError):
            raise SplitError(f"{root / 'manifest.json'} has no 'classes' list") from None
        names = class_names(classes)
        if len(names) < 2:
            raise SplitError(f"{root / 'manifest.json'} lists fewer than 2 classes: {names}")
        return cls(root, names)

    def lines(self, split: str) -> list[str]:
        text = (self.root / f"{split}.lst").read_text(encoding="utf-8")
        return [line for line in text.splitlines() if line.strip()]


def carve_validation(lines: list[str], fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """Stratified split of `.lst` lines: (train, validation), each in the original order."""
    if not 0 < fraction < 1:
        raise SplitError(f"validation fraction must be in (0, 1), got {fraction}")
    by_class: dict[str, list[int]] = {}
    for position, line in enumerate(lines):
        fields = line.split("\t")
        if len(fields) != 3:
            raise SplitError(f"not a .lst line (3 tab-separated fields): {line!r}")
        by_class.setdefault(fields[1], []).append(position)
    rng = random.Random(seed)  # noqa: S311 (a reproducible split, not a secret)
    held_out: set[int] = set()
    for label in sorted(by_class):
        positions = by_class[label]
        count = round(len(positions) * fraction)
        if count == 0 or count == len(positions):
            raise SplitError(f"class {label} has {len(positions)} images: too few to split")
        held_out.update(rng.sample(positions, count))
    train = [line for i, line in enumerate(lines) if i not in held_out]
    validation = [line for i, line in enumerate(lines) if i in held_out]
    return train, validation


def write_lst(folder: Path, name: str, lines: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.lst"
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def stage_channels(etl: EtlOutput, work: Path, fraction: float, seed: int) -> dict[str, str]:
    """Write the carved lists under `work`; return train.py's SM_CHANNEL_* variables."""
    train, validation = carve_validation(etl.lines("train"), fraction, seed)
    lists = {"train": train, "validation": validation, "test": etl.lines("test")}
    env = {}
    for channel, lines in lists.items():
        images = etl.root / ("test" if channel == "test" else "train")
        lst_folder = work / f"{channel}_lst"
        write_lst(lst_folder, channel, lines)
        env[f"SM_CHANNEL_{channel.upper()}"] = str(images)
        env[f"SM_CHANNEL_{channel.upper()}_LST"] = str(lst_folder)
    return env
