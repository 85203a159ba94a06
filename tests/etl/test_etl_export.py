"""The export on archives generated in the real format: selection, pixels, lists, manifest."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from etl.errors import OutputNotWritableError
from etl.export import run
from etl.synthetic import split_dict, write_archive
from tests.etl.etl_helpers import BICYCLE, MOTORCYCLE, Generated


def read_lst(path: Path) -> list[tuple[int, int, str]]:
    rows = []
    for line in path.read_text().splitlines():
        index, cls, rel = line.split("\t")
        rows.append((int(index), int(cls), rel))
    return rows


def test_only_selected_classes_are_exported(generated: Generated, tmp_path: Path) -> None:
    manifest = run(generated.path, tmp_path / "out")

    assert manifest.counts["train"] == {"total": 11, "per_class": {"bicycle": 6, "motorcycle": 5}}
    assert manifest.counts["test"] == {"total": 5, "per_class": {"bicycle": 2, "motorcycle": 3}}
    assert len(list((tmp_path / "out/train").glob("*.png"))) == 11
    assert len(list((tmp_path / "out/test").glob("*.png"))) == 5


def test_class_index_follows_the_configured_label_order(generated: Generated, tmp_path: Path):
    run(generated.path, tmp_path / "out", ["motorcycle", "bicycle"])

    labels = generated.train[b"fine_labels"]
    names = [n.decode() for n in generated.train[b"filenames"]]
    expected = {n: 0 if lab == MOTORCYCLE else 1 for n, lab in zip(names, labels, strict=True)
                if lab in (BICYCLE, MOTORCYCLE)}  # fmt: skip
    got = {rel: cls for _, cls, rel in read_lst(tmp_path / "out/train.lst")}
    assert got == expected


def test_labels_come_from_fine_labels_not_file_names(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    data = rng.integers(0, 256, (4, 3072), dtype=np.uint8)
    # File names that claim the opposite class, as `bike_s_*` does in the real data.
    train = split_dict(data, [BICYCLE, MOTORCYCLE, BICYCLE, MOTORCYCLE],
                       ["motorbike_s_1.png", "bicycle_s_2.png", "motorbike_s_3.png",
                        "bicycle_s_4.png"], "training batch 1 of 1")  # fmt: skip
    test = split_dict(data[:2], [MOTORCYCLE, BICYCLE], ["bicycle_s_5.png", "motorbike_s_6.png"],
                      "testing batch 1 of 1")  # fmt: skip
    archive = write_archive(tmp_path / "a.tar.gz", train, test)

    run(archive, tmp_path / "out")

    assert read_lst(tmp_path / "out/train.lst") == [
        (0, 0, "motorbike_s_1.png"),
        (1, 1, "bicycle_s_2.png"),
        (2, 0, "motorbike_s_3.png"),
        (3, 1, "bicycle_s_4.png"),
    ]
    assert read_lst(tmp_path / "out/test.lst") == [
        (0, 1, "bicycle_s_5.png"),
        (1, 0, "motorbike_s_6.png"),
    ]


@pytest.mark.parametrize("split", ["train", "test"])
def test_png_pixels_equal_the_source_rows(generated: Generated, tmp_path: Path, split: str):
    run(generated.path, tmp_path / "out")

    source = generated.train if split == "train" else generated.test
    rows = {n.decode(): row for n, row in zip(source[b"filenames"], source[b"data"], strict=True)}
    for _, _, rel in read_lst(tmp_path / f"out/{split}.lst"):
        with Image.open(tmp_path / "out" / split / rel) as image:
            assert image.format == "PNG" and image.mode == "RGB" and image.size == (32, 32)
            pixels = np.asarray(image)
        planes = rows[rel].reshape(3, 32, 32)
        np.testing.assert_array_equal(pixels, planes.transpose(1, 2, 0))


def test_lst_lines_are_index_class_and_channel_relative_path(generated: Generated, tmp_path):
    run(generated.path, tmp_path / "out")

    text = (tmp_path / "out/train.lst").read_text()
    lines = text.splitlines()
    assert text.endswith("\n") and len(lines) == 11
    for i, line in enumerate(lines):
        index, cls, rel = line.split("\t")
        assert index == str(i)
        assert cls in ("0", "1")
        assert "/" not in rel and (tmp_path / "out/train" / rel).is_file()


def test_manifest_checksums_match_the_written_files(generated: Generated, tmp_path: Path):
    out = tmp_path / "out"
    run(generated.path, out)

    manifest = json.loads((out / "manifest.json").read_text())
    on_disk = {p.relative_to(out).as_posix() for p in out.glob("*/*.png")}
    assert set(manifest["files"]) == on_disk
    for rel, digest in manifest["files"].items():
        assert hashlib.sha256((out / rel).read_bytes()).hexdigest() == digest
    for rel, digest in manifest["lists"].items():
        assert hashlib.sha256((out / rel).read_bytes()).hexdigest() == digest
    archive_bytes = generated.path.read_bytes()
    assert manifest["source"]["sha256"] == hashlib.sha256(archive_bytes).hexdigest()
    assert manifest["source"]["md5"] == hashlib.md5(archive_bytes).hexdigest()
    assert manifest["source"]["official"] is False
    assert manifest["classes"] == ["bicycle", "motorcycle"]
    assert manifest["fine_label_ids"] == [BICYCLE, MOTORCYCLE]


def test_manifest_pixel_stats_describe_the_train_selection(generated: Generated, tmp_path):
    manifest = run(generated.path, tmp_path / "out")

    keep = np.isin(generated.train[b"fine_labels"], [BICYCLE, MOTORCYCLE])
    planes = generated.train[b"data"][keep].reshape(-1, 3, 1024).astype(np.float64) / 255
    luma = 0.299 * planes[:, 0] + 0.587 * planes[:, 1] + 0.114 * planes[:, 2]
    stats = manifest.pixel_stats
    np.testing.assert_allclose(stats["channel_mean"], planes.mean(axis=(0, 2)), atol=1e-6)
    np.testing.assert_allclose(stats["channel_std"], planes.std(axis=(0, 2)), atol=1e-6)
    assert stats["brightness_mean"] == pytest.approx(luma.mean(), abs=1e-6)
    assert stats["brightness_std"] == pytest.approx(luma.std(), abs=1e-6)
    assert stats["image_brightness_std"] == pytest.approx(luma.mean(axis=1).std(), abs=1e-6)
    assert stats["images"] == keep.sum() == sum(stats["image_brightness_histogram"])


def test_same_input_gives_byte_identical_manifest(generated: Generated, tmp_path: Path):
    run(generated.path, tmp_path / "a")
    run(generated.path, tmp_path / "b")

    assert (tmp_path / "a/manifest.json").read_bytes() == (
        tmp_path / "b/manifest.json"
    ).read_bytes()


def test_repeated_file_names_get_unique_deterministic_names(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    data = rng.integers(0, 256, (3, 3072), dtype=np.uint8)
    train = split_dict(data, [BICYCLE, MOTORCYCLE, BICYCLE], ["same.png"] * 3, "t")
    test = split_dict(data[:2], [BICYCLE, MOTORCYCLE], ["same.png", "other.png"], "t")
    archive = write_archive(tmp_path / "a.tar.gz", train, test)

    run(archive, tmp_path / "out")

    names = [rel for _, _, rel in read_lst(tmp_path / "out/train.lst")]
    assert names == ["same.png", "same__1.png", "same__2.png"]
    for row, name in enumerate(names):
        pixels = np.asarray(Image.open(tmp_path / "out/train" / name))
        np.testing.assert_array_equal(pixels, data[row].reshape(3, 32, 32).transpose(1, 2, 0))


def test_a_write_failure_part_way_leaves_no_manifest(generated: Generated, tmp_path: Path):
    out = tmp_path / "out"
    run(generated.path, out)
    # A folder where the last test image goes makes that one write fail.
    last = (out / "test.lst").read_text().splitlines()[-1].split("\t")[2]
    (out / "test" / last).unlink()
    (out / "test" / last).mkdir()

    with pytest.raises(OutputNotWritableError, match=last):
        run(generated.path, out)

    assert not (out / "manifest.json").exists()


def test_rerun_after_a_failed_run_completes_the_folder(generated: Generated, tmp_path: Path):
    out = tmp_path / "out"
    first = run(generated.path, out)
    last = (out / "test.lst").read_text().splitlines()[-1].split("\t")[2]
    (out / "test" / last).unlink()
    (out / "test" / last).mkdir()
    with pytest.raises(OutputNotWritableError):
        run(generated.path, out)
    (out / "test" / last).rmdir()

    second = run(generated.path, out)

    assert second == first
    assert (out / "manifest.json").is_file()
    assert (out / "test" / last).is_file()


def test_rerun_with_other_labels_removes_images_of_the_old_selection(
    generated: Generated, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    run(generated.path, out)

    manifest = run(generated.path, out, ["apple", "bicycle"])

    on_disk = {p.relative_to(out).as_posix() for p in out.glob("*/*.png")}
    assert on_disk == set(manifest.files)
    assert manifest.counts["train"]["per_class"] == {"apple": 4, "bicycle": 6}


def test_export_creates_missing_parent_folders(generated: Generated, tmp_path: Path) -> None:
    run(generated.path, tmp_path / "a/b/c")

    assert (tmp_path / "a/b/c/manifest.json").is_file()
