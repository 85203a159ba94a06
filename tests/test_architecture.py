"""The architecture as checked contracts: import-linter's contracts in pyproject.toml hold,
and they do catch a forbidden import."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
PACKAGES = ("deployment", "etl", "training", "monitoring", "lambdas", "localcloud", "workflow")


def lint_imports(root: Path, *contracts: str) -> subprocess.CompletedProcess[str]:
    if not LINT_IMPORTS.is_file():
        pytest.fail(f"{LINT_IMPORTS} is missing: `make setup` installs import-linter (dev extra)")
    only = [item for contract in contracts for item in ("--contract", contract)]
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", *only],
        cwd=root,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=300,
    )


def copy_of_the_project(root: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(
            REPO_ROOT / package,
            root / package,
            ignore=shutil.ignore_patterns("__pycache__", "*.json", "*.md"),
        )
    shutil.copy(REPO_ROOT / "pyproject.toml", root / "pyproject.toml")
    return root


def test_the_import_contracts_hold():
    result = lint_imports(REPO_ROOT)

    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "injected", "contract"),
    [
        ("etl/upload.py", "import workflow.classify", "parts-without-emulator"),
        ("lambdas/summarize_batch/handler.py", "import deployment.s3uri", "lambdas-standalone"),
        ("localcloud/model_server.py", "import training.artifact", "emulator-only"),
        ("deployment/target.py", "import etl.upload", "layers"),
    ],
)
def test_a_forbidden_import_breaks_its_contract(tmp_path, module, injected, contract):
    root = copy_of_the_project(tmp_path / "changed")
    path = root / module
    path.write_text(path.read_text(encoding="utf-8") + f"\n{injected}  # injected\n")

    untouched = lint_imports(copy_of_the_project(tmp_path / "untouched"), contract)
    result = lint_imports(root, contract)

    assert untouched.returncode == 0, untouched.stdout[-4000:]
    assert result.returncode == 1, result.stdout[-4000:]
    assert "1 broken" in result.stdout
    assert injected.split()[1] in result.stdout  # the report names the forbidden import
