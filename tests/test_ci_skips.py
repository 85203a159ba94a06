"""Under CI=true a skip is a failure (tests/support/ci_policy.py); locally it stays a skip."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SUITE = """
import pytest

missing = pytest.importorskip("no_such_module_for_the_ci_policy_test")
"""
TESTS = """
import shutil

import pytest


@pytest.mark.skipif(shutil.which("no-such-tool") is None, reason="no-such-tool is not installed")
def test_needs_a_tool():
    pass


def test_skips_at_run_time():
    pytest.skip("the provider mirror is missing")


@pytest.mark.xfail(reason="known", strict=True)
def test_expected_failure():
    assert False


def test_passes():
    pass
"""


def run_pytest(tmp_path: Path, ci: str | None, source: str = TESTS) -> subprocess.CompletedProcess:
    (tmp_path / "test_suite.py").write_text(source)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    env["PYTHONPATH"] = str(REPO_ROOT)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.support.ci_policy", "-p", "no:terraform",
         "-p", "no:cacheprovider", "-q", "-rA", str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_under_ci_every_skip_fails_with_its_reason(tmp_path):
    ran = run_pytest(tmp_path, "true")

    assert ran.returncode == 1, ran.stdout
    # a skip at setup (skipif, a fixture that skips) is reported as an error
    assert "1 failed, 1 passed, 1 xfailed, 1 error" in ran.stdout, ran.stdout
    assert "no-such-tool is not installed" in ran.stdout
    assert "the provider mirror is missing" in ran.stdout
    assert "CI=true: a skip is a failure" in ran.stdout


def test_under_ci_a_module_that_skips_when_imported_is_an_error(tmp_path):
    ran = run_pytest(tmp_path, "true", SUITE)

    assert ran.returncode != 0, ran.stdout
    assert "1 error" in ran.stdout, ran.stdout
    assert "CI=true: a skip is a failure" in ran.stdout
    assert "no_such_module_for_the_ci_policy_test" in ran.stdout


@pytest.mark.parametrize("ci", [None, "false", "0"])
def test_outside_ci_a_skip_stays_a_skip(tmp_path, ci):
    ran = run_pytest(tmp_path, ci)

    assert ran.returncode == 0, ran.stdout
    assert "1 passed, 2 skipped, 1 xfailed" in ran.stdout, ran.stdout
