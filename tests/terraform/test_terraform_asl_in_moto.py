"""The state machine definitions, rendered by Terraform's templatefile exactly as the
deployment renders them, pass the local cloud's definition check (moto's ASL parser plus
AWS's semantic rules): the local cloud runs the same definitions as AWS."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.terraform.helpers import TERRAFORM_DIR

pytestmark = pytest.mark.terraform

stepfunctions_api = pytest.importorskip(
    "localcloud.stepfunctions_api", reason="the local cloud's dependencies are not installed"
)


@pytest.fixture(scope="module")
def definitions(state_machine_definitions: dict[str, dict[str, str]]) -> dict[str, str]:
    """Both definitions with the local cloud's variables, rendered by terraform from the
    real templates through workflow.tf's locals (conftest.py, state_machine_definitions)."""
    return state_machine_definitions["local"]


@pytest.mark.parametrize("name", ["single_image", "batch"])
def test_definition_passes_the_local_clouds_check(name: str, definitions: dict[str, str]):
    diagnostics = stepfunctions_api.diagnose_definition(definitions[name])

    assert diagnostics == []


def test_both_batch_maps_run_the_same_item_steps_under_their_own_names(definitions):
    states = json.loads(definitions["batch"])["States"]
    processors = {
        prefix: states[name]["ItemProcessor"]
        for prefix, name in (
            ("List", "ClassifyEachImage"),
            ("Prefix", "ClassifyEachObjectUnderPrefix"),
        )
    }

    for processor in processors.values():
        assert processor["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    unprefixed = {
        prefix: json.dumps(p["States"]).replace(f'"{prefix}', '"')
        for prefix, p in processors.items()
    }
    assert unprefixed["List"] == unprefixed["Prefix"]
    assert not set(processors["List"]["States"]) & set(processors["Prefix"]["States"])


def test_rendered_templates_hold_no_unrendered_placeholder(definitions: dict[str, str]):
    leftovers = {name: "${" in text for name, text in definitions.items()}

    assert leftovers == {"single_image": False, "batch": False}


def test_templates_type_no_arn_by_hand():
    for template in Path(TERRAFORM_DIR / "templates").glob("*.asl.json.tftpl"):
        text = template.read_text(encoding="utf-8")

        assert "arn:aws" not in text, f"{template.name} has a hand-typed ARN"
