"""Step Functions on the local cloud: executions really run, errors keep their names."""

from __future__ import annotations

import json

import pytest

from tests.support.localcloud_harness import wait_for_execution

pytestmark = pytest.mark.integration


def definition(function_arn: str) -> str:
    return json.dumps(
        {
            "StartAt": "Probe",
            "States": {
                "Probe": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::lambda:invoke",
                    "Parameters": {"FunctionName": function_arn, "Payload.$": "$"},
                    "OutputPath": "$.Payload",
                    "End": True,
                }
            },
        }
    )


@pytest.fixture(scope="module")
def probe_machine(local_cloud, probe_function, lambda_role) -> str:
    arn = local_cloud.client("lambda").get_function(FunctionName=probe_function)["Configuration"][
        "FunctionArn"
    ]
    return local_cloud.client("stepfunctions").create_state_machine(
        name="probe-machine", definition=definition(arn), roleArn=lambda_role, publish=True
    )["stateMachineArn"]


def test_execution_runs_the_lambda_and_succeeds(local_cloud, probe_machine):
    sfn = local_cloud.client("stepfunctions")

    arn = sfn.start_execution(stateMachineArn=probe_machine, input='{"echo": "through sfn"}')
    execution = wait_for_execution(sfn, arn["executionArn"])

    assert execution["status"] == "SUCCEEDED"
    assert json.loads(execution["output"])["echo"] == "through sfn"


def test_handler_error_name_becomes_the_execution_error(local_cloud, probe_machine):
    sfn = local_cloud.client("stepfunctions")

    arn = sfn.start_execution(stateMachineArn=probe_machine, input='{"raise": "too unsure"}')
    execution = wait_for_execution(sfn, arn["executionArn"])

    assert execution["status"] == "FAILED"
    assert execution["error"] == "ThresholdNotMetError"
    assert json.loads(execution["cause"])["errorMessage"] == "too unsure"


def test_executions_without_a_name_get_distinct_arns(local_cloud, probe_machine):
    sfn = local_cloud.client("stepfunctions")

    first = sfn.start_execution(stateMachineArn=probe_machine, input="{}")["executionArn"]
    second = sfn.start_execution(stateMachineArn=probe_machine, input="{}")["executionArn"]

    assert first != second


def test_validate_definition_accepts_a_valid_one(local_cloud, probe_function):
    sfn = local_cloud.client("stepfunctions")
    valid = definition("arn:aws:lambda:us-east-1:123456789012:function:probe")

    result = sfn.validate_state_machine_definition(definition=valid)

    assert result["result"] == "OK"
    assert result["diagnostics"] == []


def test_validate_definition_reports_an_invalid_one(local_cloud):
    sfn = local_cloud.client("stepfunctions")

    result = sfn.validate_state_machine_definition(definition='{"StartAt": "Nowhere"}')

    assert result["result"] == "FAIL"
    assert result["diagnostics"][0]["severity"] == "ERROR"


def test_list_state_machine_versions_lists_published_versions(local_cloud, probe_machine):
    sfn = local_cloud.client("stepfunctions")

    versions = sfn.list_state_machine_versions(stateMachineArn=probe_machine)

    assert [v["stateMachineVersionArn"] for v in versions["stateMachineVersions"]] == [
        f"{probe_machine}:1"
    ]
