"""`terraform test`: the suites in terraform/tests/ run with the real AWS provider and
every resource overridden, so nothing reaches AWS. One more test breaks the workflow
on purpose and checks that the suite notices."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.terraform.helpers import REPO_ROOT, TERRAFORM_DIR, explain, run_terraform

pytestmark = [pytest.mark.terraform, pytest.mark.slow]

SUITES = sorted(p.name for p in (TERRAFORM_DIR / "tests").glob("*.tftest.hcl"))
SUMMARY = re.compile(r"Success! (\d+) passed, 0 failed\.")


@pytest.mark.parametrize("suite", SUITES)
def test_terraform_test_suite_passes(suite: str, terraform_test_results):
    result = terraform_test_results[suite]

    assert result.returncode == 0, explain(result)
    summary = SUMMARY.search(result.stdout)
    assert summary and int(summary.group(1)) > 0, explain(result)


def copy_configuration(destination: Path) -> Path:
    """terraform/ and the functions list it reads, without local state or caches."""
    shutil.copytree(
        TERRAFORM_DIR,
        destination / "terraform",
        ignore=shutil.ignore_patterns(".terraform", "*.tfstate*", "model.*.tfvars.json"),
    )
    (destination / "lambdas").mkdir()
    shutil.copy2(REPO_ROOT / "lambdas" / "functions.json", destination / "lambdas")
    return destination / "terraform"


def test_suite_fails_when_a_named_input_error_is_retried(root_env, tmp_path: Path):
    copy = copy_configuration(tmp_path)
    template = copy / "templates" / "single_image.asl.json.tftpl"
    text = template.read_text(encoding="utf-8")
    broken = text.replace(
        '"Retry": ${lambda_retry},',
        '"Retry": [{"ErrorEquals": ["ThresholdNotMetError"], "MaxAttempts": 3, "BackoffRate": 2}],',
        1,
    )
    assert broken != text, "the single image template no longer has the expected Retry line"
    template.write_text(broken, encoding="utf-8")
    env = {**root_env, "TF_DATA_DIR": str(tmp_path / ".terraform")}
    init = run_terraform(["init", "-backend=false", "-input=false"], copy, env)
    assert init.returncode == 0, explain(init)

    result = run_terraform(["test", "-filter=tests/deployment.tftest.hcl"], copy, env)

    assert result.returncode != 0, explain(result)
    assert "a Retry covers a named input error" in result.stdout + result.stderr, explain(result)
