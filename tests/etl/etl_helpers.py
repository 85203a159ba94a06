"""Helpers the ETL tests share (a module, not a conftest, so tests can import it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from etl.synthetic import FINE_LABEL_NAMES

BICYCLE = FINE_LABEL_NAMES.index("bicycle")  # 8
MOTORCYCLE = FINE_LABEL_NAMES.index("motorcycle")  # 48
APPLE = FINE_LABEL_NAMES.index("apple")
WHALE = FINE_LABEL_NAMES.index("whale")


@dataclass
class Generated:
    path: Path
    train: dict[bytes, Any]
    test: dict[bytes, Any]


@dataclass
class CliResult:
    code: int
    out: str
    err: str


def assert_one_line_error(result: CliResult, *fragments: str) -> None:
    assert result.code != 0
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("error: "), lines[0]
    assert "Traceback" not in result.err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
