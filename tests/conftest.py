"""Fixtures every suite shares: the real CIFAR-100 subset from ../shared/data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Under CI=true a skip is a failure (tests/support/ci_policy.py).
from tests.support.ci_policy import pytest_make_collect_report, pytest_runtest_makereport
from tests.support.xdist_folders import FolderScheduling, start_order

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_ARCHIVE = Path(
    os.environ.get(
        "SCONES_SHARED_ARCHIVE",
        REPO_ROOT.parent / "shared" / "data" / "cifar-100-scones-dev.tar.gz",
    )
)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """Under pytest-xdist (`make test`), each tests/ folder runs in one worker."""
    return FolderScheduling(config, log)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest folders first, so that the others fill in around them (stable order
    within a folder)."""
    items.sort(key=lambda item: start_order(item.nodeid))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared_archive() -> Path:
    """The real CIFAR-100 subset (bicycle + motorcycle, 800 train / 200 test)."""
    if not SHARED_ARCHIVE.is_file():
        pytest.fail(
            f"the real CIFAR-100 subset is missing at {SHARED_ARCHIVE}; "
            "set SCONES_SHARED_ARCHIVE to its path"
        )
    return SHARED_ARCHIVE


__all__ = ["pytest_make_collect_report", "pytest_runtest_makereport"]
