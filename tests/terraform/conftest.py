"""Fixtures for the Terraform suites: the terraform binary, a CLI config that installs
the AWS provider from the local mirror (no registry, no network), and the Lambda zips
the configuration packages. Where terraform or the mirror is missing, every test that
needs them skips and says why."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
TERRAFORM_DIR = REPO_ROOT / "terraform"
COLOURED_COMMANDS = frozenset({"init", "validate", "test", "plan", "apply", "destroy", "output"})


def run_terraform(
    args: list[str], cwd: Path, env: dict[str, str], timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """Runs terraform (without colour where the command takes the flag)."""
    flags = ["-no-color"] if args[0] in COLOURED_COMMANDS else []
    return subprocess.run(
        ["terraform", *args, *flags],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def explain(result: subprocess.CompletedProcess[str]) -> str:
    """The end of a failed command's output, for assertion messages."""
    return f"exit {result.returncode}\n{result.stdout[-6000:]}\n{result.stderr[-4000:]}"


@pytest.fixture(scope="session")
def terraform_bin() -> str:
    path = shutil.which("terraform")
    if path is None:
        pytest.skip("terraform is not on PATH: the Terraform suites cannot run")
    return path


@pytest.fixture(scope="session")
def terraform_env(terraform_bin: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for terraform: the generated CLI config, a private data dir, no
    workspace or variables inherited from the caller's shell."""
    work = tmp_path_factory.mktemp("terraform")
    cli_config = work / "terraformrc"
    result = subprocess.run(
        [sys.executable, "scripts/terraform_cli_config.py", "--out", str(cli_config)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        pytest.skip(f"no Terraform provider mirror: {result.stderr.strip()}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_VAR_", "TF_WORKSPACE"))}
    env.update(
        TF_CLI_CONFIG_FILE=str(cli_config),
        TF_DATA_DIR=str(work / "data"),
        TF_IN_AUTOMATION="1",
        TF_INPUT="0",
        CHECKPOINT_DISABLE="1",
    )
    return env


@pytest.fixture(scope="session")
def lambda_zips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real deployment packages, built by the project's own builder."""
    out = tmp_path_factory.mktemp("lambda-zips")
    result = subprocess.run(
        [sys.executable, "lambdas/build.py", "--out", str(out)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, f"lambdas/build.py failed:\n{result.stdout}\n{result.stderr}"
    return out


@pytest.fixture(scope="session")
def root_env(terraform_env: dict[str, str], lambda_zips: Path) -> dict[str, str]:
    """Environment in which the root module has been initialised from the mirror."""
    env = {**terraform_env, "TF_VAR_lambda_artifacts_dir": str(lambda_zips)}
    result = run_terraform(["init", "-backend=false", "-input=false"], TERRAFORM_DIR, env)
    assert result.returncode == 0, explain(result)
    return env
