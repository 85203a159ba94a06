"""`python -m etl` as a user runs it: a real process, its output, its exit code."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from etl.synthetic import random_split, write_archive

REPO = Path(__file__).resolve().parents[2]


def etl(*args: str | Path, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "etl", *map(str, args)],
        cwd=REPO, capture_output=True, text=True, timeout=300, **kwargs,
    )  # fmt: skip


def test_cli_prints_counts_and_where_it_wrote(shared_archive: Path, tmp_path: Path) -> None:
    result = etl("--source", shared_archive, "--out", tmp_path / "cifar")

    assert result.returncode == 0, result.stderr
    assert (
        f"train: 800 images (bicycle 400, motorcycle 400) in {tmp_path / 'cifar/train'}"
        in result.stdout
    )
    assert (
        f"test: 200 images (bicycle 100, motorcycle 100) in {tmp_path / 'cifar/test'}"
        in result.stdout
    )
    assert f"manifest: {tmp_path / 'cifar/manifest.json'}" in result.stdout


def test_cli_failure_is_one_line_without_traceback(tmp_path: Path) -> None:
    result = etl("--source", tmp_path / "missing.tar.gz", "--out", tmp_path / "out", "--quiet")

    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: source archive {tmp_path / 'missing.tar.gz'} does not exist"
    ]


def test_cli_requires_an_output_folder() -> None:
    result = etl("--source", "x.tar.gz")

    assert result.returncode == 2
    assert "--out" in result.stderr and "Traceback" not in result.stderr


def test_output_folder_without_write_permission_is_reported(
    shared_archive: Path, tmp_path: Path
) -> None:
    archive = shared_archive
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    # root writes through permissions, so as root the CLI runs without the capabilities
    # that let it (it stays root, so it can still read the checkout wherever it is).
    no_override = "-dac_override,-dac_read_search"
    prefix = (
        ["setpriv", f"--bounding-set={no_override}", f"--inh-caps={no_override}"]
        if os.geteuid() == 0
        else []
    )
    if prefix and shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv to drop privileges")

    result = subprocess.run(
        [*prefix, sys.executable, "-m", "etl", "--quiet",
         "--source", str(archive), "--out", str(locked / "out")],
        cwd=REPO, capture_output=True, text=True, timeout=120, env={**os.environ, "HOME": "/tmp"},
    )  # fmt: skip

    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines == [
        f"error: output folder {locked / 'out'} is not writable (no write access to {locked})"
    ]


@pytest.mark.slow
def test_killed_run_leaves_no_manifest_and_a_rerun_completes(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    train = random_split(rng, {8: 3000, 48: 3000, 0: 500}, "training batch 1 of 1")
    test = random_split(rng, {8: 100, 48: 100}, "testing batch 1 of 1")
    archive = write_archive(tmp_path / "big.tar.gz", train, test, compresslevel=1)
    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-m", "etl", "--source", str(archive), "--out", str(out), "--quiet"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not ((out / "train").is_dir() and any((out / "train").glob("*.png"))):
        assert process.poll() is None, "the run ended before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()

    assert not (out / "manifest.json").exists()
    assert len(list((out / "train").glob("*.png"))) < 6000

    rerun = etl("--source", archive, "--out", out, "--quiet")

    assert rerun.returncode == 0, rerun.stderr
    assert (out / "manifest.json").is_file()
    assert len(list((out / "train").glob("*.png"))) == 6000
