"""Near-duplicates between train and test: a planted copy is found, unrelated pairs are not."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from etl.eda import HAMMING_THRESHOLD, analyse, hamming, phash, read_png
from tests.eda.conftest import PLANTED_NAME, PLANTED_TRAIN_INDEX, tiny_change
from tests.eda.eda_helpers import run_cli
from tests.support.cifar import load_split


def test_planted_copy_is_the_one_pair_found(planted: Path):
    eda = analyse(planted, threshold=HAMMING_THRESHOLD, samples=4, progress=False)

    found = [
        (eda.export.items["test"][p.test][0], eda.export.items["train"][p.train][0])
        for p in eda.pairs
    ]
    planted_train_name = eda.export.items["train"][PLANTED_TRAIN_INDEX][0]
    assert found == [(PLANTED_NAME, planted_train_name)]
    assert eda.pairs[0].distance <= HAMMING_THRESHOLD
    # The planted image is not a byte copy: the hash found it, not equality.
    assert not np.array_equal(
        read_png(planted / "test" / PLANTED_NAME),
        read_png(planted / "train" / planted_train_name),
    )


def test_unrelated_pair_is_not_a_near_duplicate(planted: Path):
    eda = analyse(planted, threshold=HAMMING_THRESHOLD, samples=4, progress=False)

    planted_test = [n for n, _ in eda.export.items["test"]].index(PLANTED_NAME)
    others = [i for i in range(len(eda.nearest)) if i != planted_test]
    assert (eda.nearest[others] > HAMMING_THRESHOLD).all()
    unrelated = hamming(eda.scans["test"].hashes[0], eda.scans["train"].hashes[0])
    assert unrelated > HAMMING_THRESHOLD


def test_page_shows_the_pair_side_by_side_and_its_count(planted: Path, tmp_path: Path):
    page = run_cli("--data", planted, "--out", tmp_path / "eda.html", "--quiet")

    section = page.html.split('id="near-duplicates"', 1)[1]
    assert page.code == 0, page.stderr
    assert re.search(r'<b id="pair-count">1</b> pairs', section)
    assert len(re.findall(r'<div class="pair"><img ', section)) == 1
    assert f"test/{PLANTED_NAME}" in section
    assert "near-duplicates: 1 train/test pairs" in page.stdout


def test_hash_tolerates_a_tiny_change_but_not_a_mirror(shared_archive: Path):
    images = load_split(shared_archive, "train")[0][:50]
    original, copy = phash(images), phash(np.stack([tiny_change(i) for i in images]))
    mirrored = phash(np.ascontiguousarray(images[:, :, ::-1]))

    assert (hamming(original, copy) <= HAMMING_THRESHOLD).all()
    assert (hamming(original, mirrored) > HAMMING_THRESHOLD).mean() > 0.9
