"""The state machine definitions, rendered by Terraform's templatefile exactly as the
deployment renders them, parse in moto's ASL interpreter: the local cloud runs the same
definitions as AWS."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import TERRAFORM_DIR

pytestmark = pytest.mark.terraform

asl_parser = pytest.importorskip(
    "moto.stepfunctions.parser.asl.parse.asl_parser", reason="moto's ASL parser is not installed"
)


@pytest.fixture(scope="module")
def definitions(state_machine_definitions: dict[str, dict[str, str]]) -> dict[str, str]:
    """Both definitions with the local cloud's variables, rendered by terraform from the
    real templates through workflow.tf's locals (conftest.py, state_machine_definitions)."""
    return state_machine_definitions["local"]


@pytest.mark.parametrize("name", ["single_image", "batch"])
def test_definition_parses_in_moto_interpreter(name: str, definitions: dict[str, str]):
    program, _ = asl_parser.AmazonStateLanguageParser.parse(definitions[name])

    assert type(program).__name__ == "Program"


def test_batch_item_processor_is_the_same_for_list_and_prefix(definitions: dict[str, str]):
    states = json.loads(definitions["batch"])["States"]
    inline = states["ClassifyEachImage"]["ItemProcessor"]
    distributed = states["ClassifyEachObjectUnderPrefix"]["ItemProcessor"]

    assert inline["ProcessorConfig"] == {"Mode": "INLINE"}
    assert distributed["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    assert inline["States"] == distributed["States"]


def test_rendered_templates_hold_no_unrendered_placeholder(definitions: dict[str, str]):
    leftovers = {name: "${" in text for name, text in definitions.items()}

    assert leftovers == {"single_image": False, "batch": False}


def test_templates_type_no_arn_by_hand():
    for template in Path(TERRAFORM_DIR / "templates").glob("*.asl.json.tftpl"):
        text = template.read_text(encoding="utf-8")

        assert "arn:aws" not in text, f"{template.name} has a hand-typed ARN"
