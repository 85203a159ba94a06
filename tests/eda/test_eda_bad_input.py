"""Bad input: one line `error: ...` naming what to do, exit 1 (2 for bad flags), no page."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.eda.eda_helpers import run_cli


@pytest.fixture
def export_copy(planted: Path, tmp_path: Path) -> Path:
    """A copy of a small real export this test may break."""
    return Path(shutil.copytree(planted, tmp_path / "cifar"))


def test_folder_without_manifest_says_run_make_etl_first(tmp_path: Path):
    (tmp_path / "cifar" / "train").mkdir(parents=True)

    page = run_cli("--data", tmp_path / "cifar", "--out", tmp_path / "eda.html")

    assert page.code == 1
    assert page.stderr.startswith("error: no manifest.json in")
    assert "run `make etl` first" in page.stderr
    assert not (tmp_path / "eda.html").exists()


def test_missing_folder_says_run_make_etl_first(tmp_path: Path):
    page = run_cli("--data", tmp_path / "absent", "--out", tmp_path / "eda.html")

    assert page.code == 1
    assert "run `make etl` first" in page.stderr


def test_unreadable_manifest_is_named(export_copy: Path, tmp_path: Path):
    (export_copy / "manifest.json").write_text("{not json")

    page = run_cli("--data", export_copy, "--out", tmp_path / "eda.html")

    assert page.code == 1
    assert "manifest.json is not an ETL manifest" in page.stderr


def test_missing_png_is_named(export_copy: Path, tmp_path: Path):
    name = (export_copy / "test.lst").read_text().splitlines()[3].split("\t")[2]
    (export_copy / "test" / name).unlink()

    page = run_cli("--data", export_copy, "--out", tmp_path / "eda.html")

    assert page.code == 1
    assert f"test/{name} (listed in test.lst) is missing" in page.stderr


def test_lists_that_disagree_with_the_manifest_are_refused(export_copy: Path, tmp_path: Path):
    manifest = json.loads((export_copy / "manifest.json").read_text())
    manifest["counts"]["train"]["per_class"]["bicycle"] += 1
    (export_copy / "manifest.json").write_text(json.dumps(manifest))

    page = run_cli("--data", export_copy, "--out", tmp_path / "eda.html")

    assert page.code == 1
    assert "do not match manifest.json's counts" in page.stderr


def test_unwritable_output_is_an_error(planted: Path, tmp_path: Path):
    (tmp_path / "taken").mkdir()

    page = run_cli("--data", planted, "--out", tmp_path / "taken", "--quiet")

    assert page.code == 1
    assert "cannot write" in page.stderr


@pytest.mark.parametrize(
    "flags", [["--threshold", "64"], ["--threshold", "-1"], ["--samples", "0"]]
)
def test_bad_flags_exit_2(planted: Path, tmp_path: Path, flags: list[str]):
    with pytest.raises(SystemExit) as exit_:
        run_cli("--data", planted, "--out", tmp_path / "eda.html", *flags)

    assert exit_.value.code == 2
