"""`python -m workflow.classify`: bad requests end with one line and exit 2."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.localcloud_harness import REPO_ROOT, free_port

pytestmark = pytest.mark.integration


def classify(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "workflow.classify", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_missing_image_file_is_a_one_line_error(tmp_path):
    result = classify(str(tmp_path / "nope.png"))

    assert result.returncode == 2
    assert result.stderr.strip() == f"classify: {tmp_path / 'nope.png'}: no such file"


def test_malformed_s3_uri_is_a_one_line_error():
    result = classify("s3://bucket-only")

    assert result.returncode == 2
    assert "s3://bucket/key" in result.stderr
    assert "Traceback" not in result.stderr


def test_local_target_without_a_running_cloud_says_how_to_start_it(tmp_path):
    image = tmp_path / "a.png"
    image.write_bytes(b"\x89PNG")

    result = classify("--port", str(free_port()), str(image))

    assert result.returncode == 2
    assert "make local-up" in result.stderr
