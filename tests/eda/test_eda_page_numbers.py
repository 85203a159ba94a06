"""The page's numbers on the real subset, against the archive they came from."""

from __future__ import annotations

import base64
import json
import re
from collections import Counter
from pathlib import Path

import numpy as np

from etl.pixel_stats import PixelStatsBuilder
from tests.eda.eda_helpers import Page, number, run_cli, tables
from tests.support.cifar import CLASS_NAMES, load_split


def test_counts_table_matches_the_archive_labels(dev_page: Page, shared_archive: Path):
    expected = {
        split: Counter(CLASS_NAMES[label] for label in load_split(shared_archive, split)[1])
        for split in ("train", "test")
    }

    rows = {
        row["attrs"]["data-class"]: row["cells"]
        for row in tables(dev_page.html)["counts"]
        if "data-class" in row["attrs"]
    }

    assert dev_page.code == 0, dev_page.stderr
    for name in ("bicycle", "motorcycle"):
        train, test, both = (number(c) for c in rows[name][1:4])
        assert (train, test, both) == (
            expected["train"][name],
            expected["test"][name],
            expected["train"][name] + expected["test"][name],
        )
    assert [number(c) for c in rows["total"][1:4]] == [800, 200, 1000]


def test_class_statistics_match_the_builder_on_the_archive_pixels(
    dev_page: Page, shared_archive: Path
):
    images, labels, _ = load_split(shared_archive, "test")
    labels = np.array(labels)
    rows = {
        (row["attrs"]["data-class"], row["attrs"]["data-split"]): row["cells"]
        for row in tables(dev_page.html)["stats"][1:]
    }

    for fine_id, name in CLASS_NAMES.items():
        stats = PixelStatsBuilder().add_images(images[labels == fine_id]).build("test")
        cells = rows[(name, "test")]
        assert number(cells[2]) == stats.images
        assert cells[3] == f"{stats.brightness_mean:.4f}"
        assert cells[5] == f"{stats.channel_mean[0]:.4f} ± {stats.channel_std[0]:.4f}"


def test_train_statistics_are_the_manifest_pixel_stats(dev_page: Page, dev_export: Path):
    reference = json.loads((dev_export / "manifest.json").read_text())["pixel_stats"]
    cells = {
        (row["attrs"]["data-class"], row["attrs"]["data-split"]): row["cells"]
        for row in tables(dev_page.html)["stats"][1:]
    }[("all", "train")]

    assert number(cells[2]) == reference["images"]
    assert cells[3] == f"{reference['brightness_mean']:.4f}"
    assert cells[7] == (f"{reference['channel_mean'][2]:.4f} ± {reference['channel_std'][2]:.4f}")
    assert "equals the manifest" in dev_page.html


def test_page_is_self_contained_with_every_image_an_inline_png(dev_page: Page):
    html = dev_page.html
    sources = re.findall(r'<img [^>]*src="([^"]*)"', html)

    # 2 classes x 2 splits of samples, 3 charts, and at least one near-duplicate pair
    assert len(sources) >= 8
    for src in sources:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert not re.search(r"<link|<script|url\(|@import|https?://[^\s\"<]*\.(png|css|js)", html)


def test_cli_prints_the_counts_and_where_it_wrote_the_page(dev_page: Page, dev_export: Path):
    assert f"train: 800 images (bicycle 400, motorcycle 400) in {dev_export}" in dev_page.stdout
    assert f"wrote {dev_page.path} (" in dev_page.stdout
    assert dev_page.path.is_file()
    assert dev_page.stderr == ""  # --quiet


def test_progress_is_occasional_lines_when_not_a_terminal(dev_export: Path, tmp_path: Path):
    page = run_cli("--data", dev_export, "--out", tmp_path / "eda.html")

    lines = page.stderr.splitlines()
    assert any(line.startswith("read and hash train: 100%") and "800/800" in line for line in lines)
    assert any(line.startswith("read and hash test: 100%") and "200/200" in line for line in lines)
    assert "\r" not in page.stderr
    assert len(lines) <= 8  # deployment.progress: a few short lines per split in a log
