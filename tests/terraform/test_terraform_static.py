"""The configuration is formatted, initialises from the provider mirror with no
network, and is valid: the root module and each module on its own."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.terraform.helpers import TERRAFORM_DIR, explain, run_terraform

pytestmark = pytest.mark.terraform

MODULES = sorted(p.name for p in (TERRAFORM_DIR / "modules").iterdir() if p.is_dir())


def test_terraform_files_are_formatted(terraform_env):
    command = ["fmt", "-check", "-recursive", "-diff", "."]

    result = run_terraform(command, TERRAFORM_DIR, terraform_env)

    assert result.returncode == 0, f"run `make fmt`:\n{explain(result)}"


def test_root_module_initialises_with_the_pinned_provider_from_the_mirror(root_env):
    result = run_terraform(["version", "-json"], TERRAFORM_DIR, root_env)

    assert result.returncode == 0, explain(result)
    selections = json.loads(result.stdout)["provider_selections"]
    assert selections == {"registry.terraform.io/hashicorp/aws": "5.100.0"}


def test_root_module_is_valid(root_env):
    result = run_terraform(["validate", "-json"], TERRAFORM_DIR, root_env)

    report = json.loads(result.stdout)
    assert report["valid"], json.dumps(report["diagnostics"], indent=2)
    assert report["warning_count"] == 0, json.dumps(report["diagnostics"], indent=2)


@pytest.mark.parametrize("module", MODULES)
def test_module_is_valid_on_its_own(module: str, terraform_env, tmp_path: Path):
    # A copy, so that init leaves no lock file or .terraform/ in the source tree.
    copy = tmp_path / module
    shutil.copytree(TERRAFORM_DIR / "modules" / module, copy)
    env = {**terraform_env, "TF_DATA_DIR": str(tmp_path / ".terraform")}

    init = run_terraform(["init", "-backend=false", "-input=false"], copy, env)
    assert init.returncode == 0, explain(init)
    result = run_terraform(["validate", "-json"], copy, env)

    report = json.loads(result.stdout)
    assert report["valid"], json.dumps(report["diagnostics"], indent=2)


@pytest.mark.parametrize("module", MODULES)
def test_module_documents_its_inputs(module: str):
    readme = (TERRAFORM_DIR / "modules" / module / "README.md").read_text(encoding="utf-8")
    variables = (TERRAFORM_DIR / "modules" / module / "variables.tf").read_text(encoding="utf-8")
    names = [line.split('"')[1] for line in variables.splitlines() if line.startswith("variable ")]

    missing = [name for name in names if f"`{name}`" not in readme]
    assert not missing, f"modules/{module}/README.md does not describe {missing}"
