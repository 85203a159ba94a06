"""`python -m deployment.terraform_progress` with the real terraform binary, on the small
configuration the recorded streams came from (tests/deployment/terraform_recorded/):
progress and Terraform's summary on success, Terraform's error and exit status on
failure, short lines when the output goes to a file."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from deployment.progress import LOG_COLUMNS
from deployment.terraform_progress import run
from tests.terraform.helpers import REPO_ROOT, explain, run_terraform

pytestmark = pytest.mark.terraform

CONFIGURATION = REPO_ROOT / "tests" / "deployment" / "terraform_recorded" / "main.tf"


@pytest.fixture
def work(tmp_path: Path, terraform_env: dict[str, str]) -> tuple[Path, dict[str, str]]:
    """An initialised copy of the small configuration (terraform_data: no provider)."""
    shutil.copy(CONFIGURATION, tmp_path / "main.tf")
    env = {**terraform_env, "TF_DATA_DIR": str(tmp_path / ".terraform")}
    result = run_terraform(["init", "-input=false"], tmp_path, env)
    assert result.returncode == 0, explain(result)
    return tmp_path, env


def test_apply_then_destroy_show_resources_done_of_planned(work):
    folder, env = work
    applied, destroyed = io.StringIO(), io.StringIO()

    apply = run([f"-chdir={folder}", "apply"], env=env, out=applied)
    destroy = run([f"-chdir={folder}", "destroy"], env=env, out=destroyed)

    assert (apply.returncode, apply.planned, apply.done) == (0, 4, 4), applied.getvalue()
    assert apply.summary == "Apply complete! Resources: 4 added, 0 changed, 0 destroyed."
    assert "4/4 resources" in applied.getvalue()
    assert (destroy.returncode, destroy.done) == (0, 4), destroyed.getvalue()
    assert destroy.summary == "Destroy complete! Resources: 4 destroyed."


def test_a_failing_apply_exits_non_zero_with_terraforms_error_in_the_log(work):
    folder, env = work
    log = folder / "apply.log"

    with log.open("w") as out:
        result = subprocess.run(
            [sys.executable, "-m", "deployment.terraform_progress", f"-chdir={folder}",
             "apply", "-var=fail=true"],
            env=env, cwd=REPO_ROOT, stdout=out, stderr=subprocess.PIPE, text=True, timeout=300,
        )  # fmt: skip

    text = log.read_text()
    assert result.returncode == 1, text + result.stderr
    assert "Error: local-exec provisioner error" in text
    assert "exit status 3. Output: boom" in text
    assert "terraform apply failed (exit 1) after 4 of 5 planned changes" in text
    assert all(len(line) <= LOG_COLUMNS for line in text.splitlines()
               if not line.startswith(("$ ", "  "))), text  # fmt: skip
