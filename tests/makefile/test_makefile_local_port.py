"""Every make target that reaches the local cloud goes to the one on LOCAL_PORT, so two
local clouds side by side never change each other's resources (`make -n` prints the
commands a target would run without running them)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def dry_run(*args: str) -> str:
    if shutil.which("make") is None:
        pytest.fail("make is not installed")
    result = subprocess.run(
        ["make", "-n", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("target", ["apply", "plan", "destroy"])
def test_terraform_targets_point_the_provider_at_local_port(target: str):
    commands = dry_run(target, "LOCAL_PORT=4577", "TARGET=local")

    [terraform] = [line for line in commands.splitlines() if f" {target} " in f"{line} "]
    assert "-var=aws_endpoint_url=http://127.0.0.1:4577" in terraform
    assert terraform.index("environments/local.tfvars") < terraform.index("aws_endpoint_url")


def test_classify_asks_the_local_cloud_on_local_port():
    commands = dry_run("classify", "LOCAL_PORT=4577", "IMAGES=a.png")

    assert "--port 4577" in commands


def test_aws_target_has_no_local_endpoint():
    commands = dry_run("plan", "TARGET=aws")

    assert "aws_endpoint_url" not in commands and "local.tfvars" not in commands
