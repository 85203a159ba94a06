"""A reader never sees a half-written .lst or manifest.json: a write that fails part way
leaves the previous file whole, or no file at all.

The failure is injected at the OS boundary only: the ETL CLI runs in a subprocess whose
file size limit (RLIMIT_FSIZE) lets the small PNGs through and stops the larger file part
way, as a full disk would (Python ignores SIGXFSZ, so the write fails with EFBIG).
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from etl.synthetic import random_split, write_archive
from tests.etl.etl_helpers import BICYCLE, MOTORCYCLE

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    """400 train images of noise: PNGs of ~3.2 KB, train.lst ~9 KB, manifest.json ~43 KB."""
    rng = np.random.default_rng(11)
    train = random_split(rng, {BICYCLE: 200, MOTORCYCLE: 200}, "training batch 1 of 1")
    test = random_split(rng, {BICYCLE: 20, MOTORCYCLE: 20}, "testing batch 1 of 1")
    return write_archive(tmp_path_factory.mktemp("archive") / "cifar.tar.gz", train, test)


def run_etl(archive: Path, out: Path, max_file_bytes: int | None = None):
    def limit_file_size() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_file_bytes, max_file_bytes))

    return subprocess.run(
        [sys.executable, "-m", "etl", "--quiet", "--source", str(archive), "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
        preexec_fn=limit_file_size if max_file_bytes else None,
    )  # fmt: skip


def largest_png(out: Path) -> int:
    return max(p.stat().st_size for p in out.rglob("*.png"))


def leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.rglob("*.tmp"))


def test_a_list_rewrite_that_fails_part_way_leaves_the_previous_list_whole(archive, tmp_path):
    out = tmp_path / "out"
    assert run_etl(archive, out).returncode == 0
    before = (out / "train.lst").read_bytes()
    limit = len(before) * 2 // 3
    assert largest_png(out) < limit, "the limit must stop train.lst, not a PNG"

    failed = run_etl(archive, out, max_file_bytes=limit)

    assert failed.returncode != 0
    assert "cannot write" in failed.stderr and "train.lst" in failed.stderr
    assert (out / "train.lst").read_bytes() == before
    assert leftovers(out) == []
    assert not (out / "manifest.json").exists()


def test_a_manifest_that_cannot_be_written_whole_is_not_there_at_all(archive, tmp_path):
    complete = tmp_path / "complete"
    assert run_etl(archive, complete).returncode == 0
    manifest_size = (complete / "manifest.json").stat().st_size
    limit = manifest_size // 2
    assert (complete / "train.lst").stat().st_size < limit, "the limit must stop the manifest"
    out = tmp_path / "out"

    failed = run_etl(archive, out, max_file_bytes=limit)

    assert failed.returncode != 0
    assert "cannot write" in failed.stderr and "manifest.json" in failed.stderr
    assert not (out / "manifest.json").exists()
    assert leftovers(out) == []
    assert (out / "train.lst").read_bytes() == (complete / "train.lst").read_bytes()


def test_writes_are_atomic_when_the_temporary_directory_is_another_file_system(
    run_cli, generated, tmp_path, monkeypatch
):
    """A rename is atomic only within one file system (rename(2) fails with EXDEV across
    them), so the temporary file is made beside its target, not in TMPDIR (often a tmpfs)."""
    out = tmp_path / "out"
    with tempfile.TemporaryDirectory(dir="/dev/shm") as other:
        assert os.stat(other).st_dev != os.stat(tmp_path).st_dev, "needs /dev/shm as a tmpfs"
        monkeypatch.setattr(tempfile, "tempdir", other)

        result = run_cli("--source", generated.path, "--out", out)

        assert result.code == 0, result.err
        assert os.listdir(other) == []
    assert (out / "manifest.json").is_file() and (out / "train.lst").is_file()
    assert leftovers(out) == []
