"""Every state machine definition the deployment creates passes asl-validator (the npm
package, pinned in scripts/asl/package-lock.json, installed by `make asl-validator`, which
`make test` runs): the definitions are rendered by terraform from the real templates with
workflow.tf's own template variables, for the AWS and the local-cloud variables.

asl-validator checks what the States Language specification asks beyond JSON schema,
among it that state names are unique across the whole state machine, Map item processors
included (https://states-language.net/spec.html#states-fields), which AWS enforces when
it creates the state machine and moto's interpreter does not.

Without node or the validator these tests skip with the reason; under CI=true they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from deployment.asl_render import RENDER_TARGETS, deployed_definitions
from tests.terraform.helpers import REPO_ROOT

pytestmark = pytest.mark.terraform

ASL_DIR = REPO_ROOT / "scripts" / "asl"
VALIDATE = ASL_DIR / "validate.js"


def unavailable(reason: str) -> None:
    """Skips with the reason; fails instead under CI, where the check must run."""
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        pytest.fail(f"CI=true and {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def asl_validator(tmp_path_factory: pytest.TempPathFactory):
    """Runs scripts/asl/validate.js on {name: definition JSON}; returns its report,
    {name: [{"code", "message"}]}, and its exit code."""
    node = shutil.which("node")
    if node is None:
        unavailable("node is not on PATH: install Node.js 18+ and run `make asl-validator`")
    lock = json.loads((ASL_DIR / "package-lock.json").read_text(encoding="utf-8"))
    pinned = lock["packages"]["node_modules/asl-validator"]["version"]
    installed = ASL_DIR / "node_modules" / "asl-validator" / "package.json"
    if not installed.is_file():
        unavailable("asl-validator is not installed: run `make asl-validator` (npm ci)")
    version = json.loads(installed.read_text(encoding="utf-8"))["version"]
    assert version == pinned, (
        f"scripts/asl/node_modules has asl-validator {version}, the lock pins {pinned}: "
        "run `make asl-validator`"
    )
    work = tmp_path_factory.mktemp("asl-validator")

    def validate(definitions: dict[str, str]) -> tuple[dict[str, list[dict]], int]:
        files = {}
        for name, definition in definitions.items():
            files[name] = work / f"{name}.json"
            files[name].write_text(definition, encoding="utf-8")
        result = subprocess.run(
            [node, str(VALIDATE), *map(str, files.values())],
            cwd=ASL_DIR,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode in (0, 1), f"validate.js failed:\n{result.stdout}\n{result.stderr}"
        report = json.loads(result.stdout)
        assert report["validator"] == f"asl-validator {pinned}", report["validator"]
        by_file = report["results"]
        return {name: by_file[str(path)] for name, path in files.items()}, result.returncode

    return validate


@pytest.mark.parametrize("target", sorted(RENDER_TARGETS))
def test_every_deployed_definition_passes_asl_validator(
    target: str, state_machine_definitions: dict[str, dict[str, str]], asl_validator
):
    definitions = state_machine_definitions[target]
    deployed = sorted(name.removesuffix("_definition") for name in deployed_definitions())
    assert sorted(definitions) == deployed

    errors, exit_code = asl_validator(definitions)

    assert errors == {name: [] for name in definitions}, json.dumps(errors, indent=2)
    assert exit_code == 0


def _two_maps(first_inner: str, second_inner: str) -> str:
    """Two Map states in a row, each running a one-state item processor."""

    def map_state(inner: str, after: dict) -> dict:
        processor = {"StartAt": inner, "States": {inner: {"Type": "Pass", "End": True}}}
        return {"Type": "Map", "ItemsPath": "$.items", "ItemProcessor": processor, **after}

    return json.dumps(
        {
            "StartAt": "First",
            "States": {
                "First": map_state(first_inner, {"ResultPath": "$.first", "Next": "Second"}),
                "Second": map_state(second_inner, {"ResultPath": "$.second", "End": True}),
            },
        }
    )


def test_asl_validator_rejects_a_state_name_used_in_two_map_states(asl_validator):
    errors, exit_code = asl_validator(
        {"duplicate": _two_maps("Work", "Work"), "distinct": _two_maps("WorkA", "WorkB")}
    )

    assert errors["distinct"] == []
    assert [e["code"] for e in errors["duplicate"]] == ["DUPLICATE_STATE_NAMES"]
    assert errors["duplicate"][0]["message"].endswith(": Work")
    assert exit_code == 1


def test_asl_validator_install_is_pinned():
    manifest = json.loads((ASL_DIR / "package.json").read_text(encoding="utf-8"))
    lock = json.loads((ASL_DIR / "package-lock.json").read_text(encoding="utf-8"))
    pin = manifest["dependencies"]["asl-validator"]

    assert pin[0].isdigit(), f"asl-validator must be pinned exactly, not {pin!r}"
    assert lock["packages"]["node_modules/asl-validator"]["version"] == pin
    assert "node_modules/" in Path(REPO_ROOT / ".gitignore").read_text(encoding="utf-8").split()
