"""`make browser` under CI=true fails loudly when it cannot install Chromium; locally it
says the screenshot test will skip. The target runs with a PATH that has no chromium and
an apt-get that fails (the recipe uses `id`, `apt-get` and bash builtins only)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_chromium(tmp_path: Path) -> Path:
    """A bin folder with `id` and an `apt-get` that fails, as on a machine without a mirror."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "id").symlink_to(shutil.which("id"))
    apt = bin_dir / "apt-get"
    apt.write_text("#!/bin/sh\necho 'E: Unable to locate package chromium' >&2\nexit 100\n")
    apt.chmod(0o755)
    return bin_dir


def make_browser(bin_dir: Path, ci: str | None) -> subprocess.CompletedProcess:
    if shutil.which("make") is None:
        pytest.fail("make is not installed")
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PATH"] = str(bin_dir)
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [shutil.which("make"), "--no-print-directory", "browser"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


@pytest.mark.parametrize("ci", ["true", "1", "TRUE"])
def test_under_ci_a_chromium_that_cannot_be_installed_fails_the_target(no_chromium, ci):
    ran = make_browser(no_chromium, ci)

    assert ran.returncode != 0
    assert "CI=true: chromium" in ran.stderr


@pytest.mark.parametrize("ci", [None, "false", "0"])
def test_outside_ci_a_missing_chromium_is_a_notice(no_chromium, ci):
    ran = make_browser(no_chromium, ci)

    assert ran.returncode == 0, ran.stderr
    assert "the screenshot test will skip" in ran.stdout
