"""Fixtures for the Terraform suites: the terraform binary, a CLI config that installs
the AWS provider from the local mirror (no registry, no network), and the Lambda zips
the configuration packages, and the state machine definitions rendered from the real
templates with the real template variables. Where terraform or the mirror is missing,
every test that needs them skips and says why."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from deployment.asl_render import RenderError, render_definitions
from tests.support.builds import BuildError, build_lambda_zips, write_terraform_cli_config
from tests.terraform.helpers import TERRAFORM_DIR, explain, run_terraform


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
    try:
        write_terraform_cli_config(cli_config)
    except BuildError as exc:
        pytest.skip(f"no Terraform provider mirror: {str(exc).splitlines()[-1]}")
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
    return build_lambda_zips(tmp_path_factory.mktemp("lambda-zips"))


@pytest.fixture(scope="session")
def root_env(terraform_env: dict[str, str], lambda_zips: Path) -> dict[str, str]:
    """Environment in which the root module has been initialised from the mirror."""
    env = {**terraform_env, "TF_VAR_lambda_artifacts_dir": str(lambda_zips)}
    result = run_terraform(["init", "-backend=false", "-input=false"], TERRAFORM_DIR, env)
    assert result.returncode == 0, explain(result)
    return env


@pytest.fixture(scope="session")
def terraform_test_results(root_env) -> dict[str, subprocess.CompletedProcess[str]]:
    """`terraform test` of every suite in terraform/tests/, run once per session and
    shared by the tests that read its outcome (suites pass, AWS rules hold)."""
    suites = sorted(p.name for p in (TERRAFORM_DIR / "tests").glob("*.tftest.hcl"))
    return {
        suite: run_terraform(["test", f"-filter=tests/{suite}"], TERRAFORM_DIR, root_env)
        for suite in suites
    }


@pytest.fixture(scope="session")
def state_machine_definitions(
    terraform_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict[str, str]]:
    """{target: {state machine: definition JSON}}: every definition workflow.tf deploys,
    rendered by terraform from the real templates through workflow.tf's own locals, for
    the AWS and the local-cloud variables (deployment/asl_render.py, which the state
    machine drawings use too)."""
    try:
        return render_definitions(tmp_path_factory.mktemp("render-asl"), terraform_env)
    except RenderError as exc:
        pytest.fail(str(exc))
