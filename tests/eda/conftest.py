"""Fixtures for the EDA suite: real ETL exports of real CIFAR-100 images, and their pages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from etl.export import run
from etl.synthetic import split_dict, write_archive
from tests.eda.eda_helpers import Page, run_cli
from tests.support.cifar import load_split

# The planted near-duplicate: this train image, slightly changed, becomes a test image.
PLANTED_TRAIN_INDEX = 11
PLANTED_NAME = "planted_copy_of_train.png"


@pytest.fixture(scope="session")
def dev_export(shared_archive: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real subset (800 train / 200 test) through the project's ETL."""
    out = tmp_path_factory.mktemp("eda-dev") / "cifar"
    run(shared_archive, out)
    return out


@pytest.fixture(scope="session")
def dev_page(dev_export: Path, tmp_path_factory: pytest.TempPathFactory) -> Page:
    """The page on the real subset, with default flags, made once."""
    out = tmp_path_factory.mktemp("eda-page") / "eda.html"
    return run_cli("--data", dev_export, "--out", out, "--quiet")


def rows(images: np.ndarray) -> np.ndarray:
    """(N, 32, 32, 3) images -> CIFAR rows (N, 3072) of R, G, B planes."""
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2).reshape(len(images), -1))


def tiny_change(image: np.ndarray) -> np.ndarray:
    """What re-encoding does to a copy: every pixel a little brighter, a few by more."""
    changed = image.astype(int) + 3
    changed[::7, ::5] += 6
    return np.clip(changed, 0, 255).astype(np.uint8)


@pytest.fixture(scope="session")
def planted(shared_archive: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ETL export of 40 real train and 20 real test images, where test image 7 is
    replaced by a slightly changed copy of train image PLANTED_TRAIN_INDEX."""
    train, train_labels, train_names = load_split(shared_archive, "train")
    test, test_labels, test_names = load_split(shared_archive, "test")
    train, train_labels, train_names = train[:40], train_labels[:40], train_names[:40]
    test, test_labels, test_names = test[:20].copy(), test_labels[:20], test_names[:20]
    test[7] = tiny_change(train[PLANTED_TRAIN_INDEX])
    test_labels[7] = train_labels[PLANTED_TRAIN_INDEX]
    test_names[7] = PLANTED_NAME
    root = tmp_path_factory.mktemp("eda-planted")
    archive = write_archive(
        root / "cifar-100-python.tar.gz",
        split_dict(rows(train), train_labels, train_names, "training batch 1 of 1"),
        split_dict(rows(test), test_labels, test_names, "testing batch 1 of 1"),
    )
    run(archive, root / "cifar")
    return root / "cifar"
