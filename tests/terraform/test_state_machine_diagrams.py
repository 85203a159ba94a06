"""docs/state-machines.md is drawn from the definitions the deployment creates: it fails
when a template (or workflow.tf's locals) changes and `make diagrams` was not run; and
the drawing of a definition shows its transitions, choices, catches and Map states."""

from __future__ import annotations

import json

import pytest

from deployment.asl_diagram import DOC, document, mermaid

RULE = {"Variable": "$.n", "NumericGreaterThan": 0}


@pytest.mark.terraform
def test_the_drawings_are_those_of_the_rendered_templates(state_machine_definitions):
    expected = document(state_machine_definitions["aws"])

    assert DOC.read_text(encoding="utf-8") == expected, (
        f"{DOC.name} is not what the templates give: run `make diagrams` and commit it"
    )


def test_a_definition_is_drawn_with_its_choices_catches_and_map():
    definition = {
        "StartAt": "Check",
        "States": {
            "Check": {"Type": "Choice", "Choices": [{**RULE, "Next": "Each"}], "Default": "No"},
            "Each": {
                "Type": "Map",
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED"},
                    "StartAt": "Work",
                    "States": {"Work": {"Type": "Pass", "End": True}},
                },
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "No"}],
                "End": True,
            },
            "No": {"Type": "Fail", "Error": "Nope"},
        },
    }

    lines = mermaid(definition).splitlines()

    assert lines[:14] == [
        "stateDiagram-v2",
        "    [*] --> s_Check",
        '    state "Check" as s_Check',
        "    s_Check --> s_Each : $.n > 0",
        "    s_Check --> s_No : otherwise",
        '    state "Each (Distributed Map)" as s_Each {',
        "        [*] --> s_Work",
        '        state "Work" as s_Work',
        "        s_Work --> [*]",
        "    }",
        "    s_Each --> [*]",
        "    s_Each --> s_No : catch States.ALL",
        '    state "No" as s_No',
        "    s_No --> [*]",
    ]
    assert "    class s_Check choice" in lines
    assert "    class s_No fail" in lines


def test_every_state_of_a_template_change_shows_in_the_drawing():
    single = {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}
    changed = {
        "StartAt": "A",
        "States": {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Succeed"}},
    }

    before = document({"m": json.dumps(single)})
    after = document({"m": json.dumps(changed)})

    assert before != after
    assert '    state "B" as s_B' in after
    assert "    s_A --> s_B" in after
