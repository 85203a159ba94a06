"""Fixtures for the monitoring suite: real CIFAR-100 images and captures made from them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from etl.pixel_stats import PixelStatsBuilder
from tests.monitoring.monitoring_captures import (
    PREFIX,
    capture_objects,
    requests_from,
    write_objects,
)
from tests.monitoring.monitoring_run import Ran, make_report_args, run_cli
from tests.support.cifar import load_split


@pytest.fixture(scope="session")
def train_images(shared_archive: Path) -> np.ndarray:
    return load_split(shared_archive, "train")[0]


@pytest.fixture(scope="session")
def held_out_images(train_images: np.ndarray) -> np.ndarray:
    """Images the reference is NOT computed from (same distribution): the last 200."""
    return train_images[-200:]


@pytest.fixture(scope="session")
def reference_images(train_images: np.ndarray) -> np.ndarray:
    return train_images[:-200]


@pytest.fixture(scope="session")
def manifest_path(tmp_path_factory, reference_images: np.ndarray) -> Path:
    """A manifest.json with the training set's pixel statistics, as the ETL writes it."""
    path = tmp_path_factory.mktemp("manifest") / "manifest.json"
    stats = PixelStatsBuilder().add_images(reference_images).build("train")
    path.write_text(
        json.dumps({"classes": ["bicycle", "motorcycle"], "pixel_stats": stats.to_json()})
    )
    return path


@pytest.fixture(scope="session")
def requests(held_out_images: np.ndarray):
    """200 requests, 50 an hour from 09:00, probabilities by a fixed rule."""
    return requests_from(held_out_images)


@pytest.fixture(scope="session")
def capture_objects_200(requests) -> dict[str, bytes]:
    return capture_objects(requests)


@pytest.fixture(scope="session")
def capture_root(tmp_path_factory, capture_objects_200) -> Path:
    """A capture destination on disk in SageMaker's layout; pass it as --capture-dir."""
    root = tmp_path_factory.mktemp("capture")
    write_objects(root, capture_objects_200)
    return root / PREFIX


@pytest.fixture
def report_args(capture_root: Path, manifest_path: Path, tmp_path: Path) -> list[str]:
    """CLI arguments for a report on the 200 captured requests, written under tmp_path."""
    return make_report_args(capture_root, manifest_path, tmp_path)


@pytest.fixture(scope="session")
def default_report(capture_root: Path, manifest_path: Path, tmp_path_factory) -> Ran:
    """The report on the 200 captured requests with default flags, made once."""
    return run_cli(
        make_report_args(capture_root, manifest_path, tmp_path_factory.mktemp("default"))
    )
