"""Fixtures for the ETL suites: CIFAR-format archives built here, and a CLI runner."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from etl.cli import main
from etl.synthetic import random_split, write_archive
from tests.etl.etl_helpers import APPLE, BICYCLE, MOTORCYCLE, WHALE, CliResult, Generated


@pytest.fixture
def generated(tmp_path: Path) -> Generated:
    """A small archive with the two default classes and two others, to test filtering."""
    rng = np.random.default_rng(7)
    train = random_split(
        rng, {BICYCLE: 6, MOTORCYCLE: 5, APPLE: 4, WHALE: 3}, "training batch 1 of 1"
    )
    test = random_split(rng, {BICYCLE: 2, MOTORCYCLE: 3, APPLE: 2}, "testing batch 1 of 1")
    path = write_archive(tmp_path / "cifar-100-python.tar.gz", train, test)
    return Generated(path, train, test)


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """Runs the CLI's main() in this process and captures what it prints."""

    def run(*argv: str | Path) -> CliResult:
        code = main(["--quiet", *map(str, argv)])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run
