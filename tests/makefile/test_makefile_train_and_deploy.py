"""The Makefile's way to the trained model: apply/destroy through the progress wrapper,
FORCE=1 retrains only where reuse exists (local), deploy-model needs MODEL (`make -n`
prints the commands without running them)."""

from __future__ import annotations

import subprocess

from tests.makefile.test_makefile_local_port import REPO_ROOT, dry_run


def test_apply_and_destroy_run_terraform_through_the_progress_wrapper():
    for target in ("apply", "destroy"):
        commands = dry_run(target, "TARGET=local")

        assert f"-m deployment.terraform_progress -chdir=terraform {target} " in commands


def test_force_retrains_locally_and_is_not_passed_to_sagemaker():
    assert "--force" in dry_run("train", "FORCE=1")
    assert "--force" not in dry_run("train")
    assert "--force" not in dry_run("train", "TARGET=aws", "FORCE=1")


def test_deploy_model_passes_the_artifact_and_target():
    commands = dry_run("deploy-model", "MODEL=build/training/x/model.tar.gz", "TARGET=aws")

    assert '-m training deploy "build/training/x/model.tar.gz" --target aws' in commands


def test_deploy_model_without_model_says_how_to_call_it():
    result = subprocess.run(
        ["make", "--no-print-directory", "deploy-model"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip

    assert result.returncode == 2
    assert "usage: make deploy-model MODEL=build/training/<job>/model.tar.gz" in result.stdout
