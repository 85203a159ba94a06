"""The export on the real CIFAR-100 subset from ../shared/data (800 train, 200 test)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from etl.archive import CifarArchive, read_archive
from etl.export import run
from etl.manifest import Manifest

SHARED_SHA256 = "d8f3fc2746b19f796eca7ae2001682ffd5c5b2e4818ca913bfed4ee40794ad5f"


@pytest.fixture(scope="module")
def source(shared_archive: Path) -> CifarArchive:
    return read_archive(shared_archive, progress=False)


@pytest.fixture(scope="module")
def export(shared_archive: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Manifest]:
    out = tmp_path_factory.mktemp("shared") / "cifar"
    return out, run(shared_archive, out)


def lst(out: Path, split: str) -> list[list[str]]:
    return [line.split("\t") for line in (out / f"{split}.lst").read_text().splitlines()]


def test_real_pickles_load_through_the_restricted_unpickler(source: CifarArchive) -> None:
    assert len(source.fine_label_names) == 100
    assert source.train.data.shape == (800, 3072) and source.train.data.dtype == np.uint8
    assert source.test.data.shape == (200, 3072)


def test_counts_per_split_and_class(export: tuple[Path, Manifest]) -> None:
    out, manifest = export

    assert manifest.counts["train"] == {
        "total": 800,
        "per_class": {"bicycle": 400, "motorcycle": 400},
    }
    assert manifest.counts["test"] == {
        "total": 200,
        "per_class": {"bicycle": 100, "motorcycle": 100},
    }
    assert len(list((out / "train").glob("*.png"))) == 800
    assert len(list((out / "test").glob("*.png"))) == 200


def test_classes_follow_fine_labels_even_where_file_names_disagree(
    export: tuple[Path, Manifest], source: CifarArchive
) -> None:
    out, _ = export
    by_name = dict(zip(source.train.filenames, source.train.fine_labels.tolist(), strict=True))
    rows = lst(out, "train")
    # bike_s_* names occur in both classes: only fine_labels can tell them apart.
    bike_classes = {int(cls) for _, cls, rel in rows if rel.startswith("bike_s_")}
    assert bike_classes == {0, 1}
    for _, cls, rel in rows:
        assert int(cls) == {8: 0, 48: 1}[by_name[rel]]


@pytest.mark.parametrize("split", ["train", "test"])
def test_every_png_equals_its_source_row(export, source: CifarArchive, split: str) -> None:
    out, _ = export
    part = source.train if split == "train" else source.test
    rows = dict(zip(part.filenames, part.data, strict=True))
    for _, _, rel in lst(out, split):
        pixels = np.asarray(Image.open(out / split / rel).convert("RGB"))
        np.testing.assert_array_equal(pixels, rows[rel].reshape(3, 32, 32).transpose(1, 2, 0))


def test_lst_indices_run_from_zero_in_order(export: tuple[Path, Manifest]) -> None:
    out, _ = export

    assert [int(i) for i, _, _ in lst(out, "train")] == list(range(800))
    assert [int(i) for i, _, _ in lst(out, "test")] == list(range(200))


def test_manifest_records_the_archive_and_file_checksums(export, shared_archive: Path) -> None:
    out, manifest = export
    on_disk = json.loads((out / "manifest.json").read_text())

    assert on_disk["source"]["sha256"] == SHARED_SHA256
    md5 = hashlib.md5(shared_archive.read_bytes()).hexdigest()
    assert on_disk["source"]["md5"] == md5 and on_disk["source"]["official"] is False
    assert len(on_disk["files"]) == 1000
    for rel, digest in on_disk["files"].items():
        assert hashlib.sha256((out / rel).read_bytes()).hexdigest() == digest
    assert Manifest.from_json((out / "manifest.json").read_text()) == manifest


def test_manifest_pixel_stats_are_plausible_for_photos(export: tuple[Path, Manifest]) -> None:
    _, manifest = export
    stats = manifest.pixel_stats

    assert stats["split"] == "train"
    assert all(0.3 < m < 0.7 for m in stats["channel_mean"])
    assert all(0.1 < s < 0.4 for s in stats["channel_std"])
    assert 0.3 < stats["brightness_mean"] < 0.7
    # Pixels within an image vary more than the images' mean brightness does.
    assert stats["brightness_std"] > stats["image_brightness_std"] > 0
