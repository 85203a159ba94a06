"""scripts/terraform_cli_config.py: finds the provider mirror and writes the CLI config
that makes `terraform init` install from it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.terraform.helpers import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "scripts"))
import terraform_cli_config as cli_config

SCRIPT = REPO_ROOT / "scripts" / "terraform_cli_config.py"


def make_mirror(root: Path) -> Path:
    (root / "registry.terraform.io" / "hashicorp" / "aws" / "5.100.0" / "linux_amd64").mkdir(
        parents=True
    )
    return root


def test_mirror_named_by_environment_variable_comes_first(tmp_path: Path):
    mirror = make_mirror(tmp_path / "mine")

    candidates = cli_config.candidate_mirrors({"TF_PLUGIN_MIRROR": str(mirror), "HOME": "/none"})

    assert candidates[0] == mirror
    assert cli_config.find_mirror(candidates) == mirror.resolve()


def test_directory_without_the_aws_provider_is_not_a_mirror(tmp_path: Path):
    (tmp_path / "registry.terraform.io" / "hashicorp" / "random").mkdir(parents=True)

    with pytest.raises(cli_config.MirrorNotFoundError, match="no Terraform provider mirror"):
        cli_config.find_mirror([tmp_path])


def test_written_config_installs_from_the_mirror_only(tmp_path: Path):
    mirror = make_mirror(tmp_path / "mirror")
    out = tmp_path / "build" / "terraformrc"

    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--mirror", str(mirror), "--out", str(out)],
        capture_output=True,
        text=True,
    )

    assert result.returncode == 0, result.stderr
    text = out.read_text(encoding="utf-8")
    assert "filesystem_mirror" in text and f'path    = "{mirror.resolve()}"' in text
    assert "direct" not in text
    assert str(out) in result.stdout


def test_missing_mirror_fails_with_one_line_and_writes_nothing(tmp_path: Path):
    out = tmp_path / "terraformrc"

    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--mirror", str(tmp_path / "absent"), "--out", str(out)],
        capture_output=True,
        text=True,
    )

    assert result.returncode == 1
    assert result.stderr.startswith("error: no Terraform provider mirror")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
    assert not out.exists()
