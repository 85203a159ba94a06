"""The local cloud is as strict as AWS: payload limits, Lambda timeouts, runtimes.

AWS pages this checks:
- Step Functions "Step Functions service quotas" (docs.aws.amazon.com/step-functions/latest/
  dg/service-quotas.html): 256 KiB maximum input or output size for a task, state or
  execution; beyond it the state fails with States.DataLimitExceeded.
- Step Functions API reference "StartExecution": `input` has "Length Constraints: Maximum
  length of 262144" (bytes in UTF-8 encoding).
- Lambda "Lambda quotas" (docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html):
  invocation payload (request and response) 6 MB for synchronous invocations; Lambda API
  reference "Invoke" errors: RequestTooLargeException (code RequestEntityTooLargeException,
  HTTP 413) "The request payload exceeded the Invoke request body JSON input quota".
- Lambda "Configure Lambda function timeout" / runtime environment variables
  (docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html): AWS_EXECUTION_ENV is
  `AWS_Lambda_<runtime>`, e.g. AWS_Lambda_python3.13.
"""

from __future__ import annotations

import json
import re

import pytest
from botocore.exceptions import ClientError

from tests.support.localcloud_harness import wait_for_execution, zip_source

pytestmark = pytest.mark.integration

HANDLER = """
import os
import time


def lambda_handler(event, context):
    if "sleep" in event:
        time.sleep(event["sleep"])
    if "big" in event:
        return "A" * event["big"]
    return {"execution_env": os.environ.get("AWS_EXECUTION_ENV")}
"""


@pytest.fixture(scope="module")
def limits_function(local_cloud, lambda_role) -> str:
    local_cloud.client("lambda").create_function(
        FunctionName="limits",
        Runtime="python3.13",
        Role=lambda_role,
        Handler="limits_handler.lambda_handler",
        Code={"ZipFile": zip_source({"limits_handler.py": HANDLER})},
        Timeout=1,
        MemorySize=128,
    )
    return "limits"


def invoke(local_cloud, payload: dict | bytes) -> tuple[dict, object]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    response = local_cloud.client("lambda").invoke(FunctionName="limits", Payload=body)
    return response, json.loads(response["Payload"].read())


def run_machine(local_cloud, lambda_role, name: str, states: dict, execution_input: dict) -> dict:
    sfn = local_cloud.client("stepfunctions")
    arn = sfn.create_state_machine(name=name, definition=json.dumps(states), roleArn=lambda_role)[
        "stateMachineArn"
    ]
    started = sfn.start_execution(stateMachineArn=arn, input=json.dumps(execution_input))
    return wait_for_execution(sfn, started["executionArn"])


def invoke_machine(local_cloud, function_name: str) -> dict:
    arn = local_cloud.client("lambda").get_function(FunctionName=function_name)["Configuration"][
        "FunctionArn"
    ]
    return {
        "StartAt": "Call",
        "States": {
            "Call": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": arn, "Payload.$": "$"},
                "End": True,
            }
        },
    }


def test_a_state_output_over_256_kib_fails_the_execution(local_cloud, lambda_role):
    states = {
        "StartAt": "Double",
        "States": {
            "Double": {"Type": "Pass", "Parameters": {"a.$": "$.s", "b.$": "$.s"}, "End": True}
        },
    }

    execution = run_machine(local_cloud, lambda_role, "too-big-pass", states, {"s": "x" * 150_000})

    assert execution["status"] == "FAILED"
    assert execution["error"] == "States.DataLimitExceeded"


def test_start_execution_refuses_an_input_over_262144_bytes(local_cloud, lambda_role):
    sfn = local_cloud.client("stepfunctions")
    states = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    arn = sfn.create_state_machine(
        name="input-limit", definition=json.dumps(states), roleArn=lambda_role
    )["stateMachineArn"]
    at_limit = json.dumps({"s": "x" * (262144 - 9)})
    assert len(at_limit.encode()) == 262144

    sfn.start_execution(stateMachineArn=arn, input=at_limit)
    with pytest.raises(ClientError) as refused:
        sfn.start_execution(stateMachineArn=arn, input=json.dumps({"s": "x" * 262144}))

    assert refused.value.response["Error"]["Code"] == "InvalidExecutionInput"


def test_invoke_refuses_a_request_over_6_mb(local_cloud, limits_function):
    with pytest.raises(ClientError) as refused:
        invoke(local_cloud, json.dumps({"pad": "x" * 6291456}).encode())

    error = refused.value.response
    assert error["Error"]["Code"] == "RequestEntityTooLargeException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert "6291456 bytes" in error["Error"]["Message"]


def test_a_response_over_6_mb_is_a_function_error(local_cloud, limits_function):
    response, payload = invoke(local_cloud, {"big": 7_000_000})

    assert response["FunctionError"] == "Unhandled"
    assert payload == {
        "errorType": "Function.ResponseSizeTooLarge",
        "errorMessage": "Response payload size exceeded maximum allowed payload size "
        "(6291556 bytes).",
    }


def test_a_response_over_6_mb_fails_the_lambda_invoke_task(
    local_cloud, lambda_role, limits_function
):
    states = invoke_machine(local_cloud, limits_function)

    execution = run_machine(local_cloud, lambda_role, "too-big-lambda", states, {"big": 7_000_000})

    assert execution["status"] == "FAILED"
    assert execution["error"] == "Function.ResponseSizeTooLarge"


def test_a_handler_past_its_timeout_is_reported_as_aws_does(local_cloud, limits_function):
    response, payload = invoke(local_cloud, {"sleep": 3})

    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Sandbox.Timedout"
    assert re.fullmatch(
        r"RequestId: [0-9a-f-]{36} Error: Task timed out after 1\.00 seconds",
        payload["errorMessage"],
    )


def test_a_timed_out_handler_fails_the_lambda_invoke_task(
    local_cloud, lambda_role, limits_function
):
    states = invoke_machine(local_cloud, limits_function)

    execution = run_machine(local_cloud, lambda_role, "timed-out-lambda", states, {"sleep": 3})

    assert execution["status"] == "FAILED"
    assert execution["error"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in json.loads(execution["cause"])["errorMessage"]


@pytest.mark.parametrize("runtime", ["python3.12", "python3.13"])
def test_the_execution_env_names_the_configured_runtime(local_cloud, lambda_role, runtime):
    client = local_cloud.client("lambda")
    name = f"runtime-{runtime.replace('.', '-')}"
    client.create_function(
        FunctionName=name,
        Runtime=runtime,
        Role=lambda_role,
        Handler="limits_handler.lambda_handler",
        Code={"ZipFile": zip_source({"limits_handler.py": HANDLER})},
        Timeout=5,
    )

    response = client.invoke(FunctionName=name, Payload=b"{}")

    assert "FunctionError" not in response
    assert json.loads(response["Payload"].read()) == {"execution_env": f"AWS_Lambda_{runtime}"}
