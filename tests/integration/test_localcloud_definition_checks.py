"""CreateStateMachine and ValidateStateMachineDefinition check definitions as AWS does.

AWS facts checked:
- Amazon States Language spec, "States": state names "MUST be unique within the scope of
  the whole state machine" (states-language.net/spec.html), so the same name in two Map
  ItemProcessors is a duplicate.
- CreateStateMachine answers InvalidDefinition "Invalid State Machine Definition:
  'DUPLICATE_STATE_NAME: Duplicate State name: ..." (reported from AWS CloudFormation in
  aws-cloudformation/cfn-lint#3616) and "MISSING_TRANSITION_TARGET: Missing 'Next' target:
  <name> at /States/<state>/Next" (reproduced against AWS in localstack/localstack#12487).
"""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.integration


def inner(name: str) -> dict:
    return {
        "ProcessorConfig": {"Mode": "INLINE"},
        "StartAt": name,
        "States": {name: {"Type": "Pass", "End": True}},
    }


DUPLICATE_IN_TWO_MAPS = {
    "StartAt": "First",
    "States": {
        "First": {"Type": "Map", "ItemProcessor": inner("Work"), "Next": "Second"},
        "Second": {"Type": "Map", "ItemProcessor": inner("Work"), "End": True},
    },
}

MISSING_TARGET = {
    "StartAt": "A",
    "States": {"A": {"Type": "Pass", "Next": "Nowhere"}, "B": {"Type": "Pass", "End": True}},
}


def test_create_refuses_a_state_name_used_in_two_map_states(local_cloud, lambda_role):
    sfn = local_cloud.client("stepfunctions")

    with pytest.raises(ClientError) as refused:
        sfn.create_state_machine(
            name="duplicate-names",
            definition=json.dumps(DUPLICATE_IN_TWO_MAPS),
            roleArn=lambda_role,
        )

    error = refused.value.response["Error"]
    assert error["Code"] == "InvalidDefinition"
    assert error["Message"].startswith(
        "Invalid State Machine Definition: 'DUPLICATE_STATE_NAME: Duplicate State name: Work"
    )
    assert "/States/Second/ItemProcessor/States/Work" in error["Message"]


def test_create_refuses_a_missing_transition_target(local_cloud, lambda_role):
    sfn = local_cloud.client("stepfunctions")

    with pytest.raises(ClientError) as refused:
        sfn.create_state_machine(
            name="missing-target", definition=json.dumps(MISSING_TARGET), roleArn=lambda_role
        )

    error = refused.value.response["Error"]
    assert error["Code"] == "InvalidDefinition"
    assert error["Message"] == (
        "Invalid State Machine Definition: 'MISSING_TRANSITION_TARGET: Missing 'Next' target: "
        'Nowhere at /States/A/Next, MISSING_TRANSITION_TARGET: State "B" is not reachable. '
        "at /States/B'"
    )


def test_validate_reports_the_same_diagnostics(local_cloud):
    sfn = local_cloud.client("stepfunctions")

    result = sfn.validate_state_machine_definition(definition=json.dumps(DUPLICATE_IN_TWO_MAPS))

    assert result["result"] == "FAIL"
    assert [d["code"] for d in result["diagnostics"]] == ["DUPLICATE_STATE_NAME"]
    assert result["diagnostics"][0]["location"] == "/States/Second/ItemProcessor/States/Work"
