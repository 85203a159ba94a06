"""The build steps a deployment needs, run as the Makefile runs them: the Lambda zips
(lambdas/build.py) and the Terraform CLI config (scripts/terraform_cli_config.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


class BuildError(RuntimeError):
    """A build step failed; the message holds its output."""


def _run(script: str, out: Path, python: str) -> Path:
    result = subprocess.run(
        [python, script, "--out", str(out)], cwd=REPO_ROOT, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise BuildError(f"{script} failed:\n{result.stdout}\n{result.stderr.strip()}")
    return out


def build_lambda_zips(out: Path, python: str = sys.executable) -> Path:
    """build/lambdas-style zips in `out`, by the project's own builder."""
    return _run("lambdas/build.py", out, python)


def write_terraform_cli_config(out: Path, python: str = sys.executable) -> Path:
    """The CLI config that installs providers from the local mirror, written to `out`."""
    return _run("scripts/terraform_cli_config.py", out, python)
