"""Code written for AWS runs unchanged on the local cloud (issue 15).

Functions here are written the way console users write them (one `lambda_function.py`,
`lambda_handler`, returning bytes, writing /tmp, reading `event['body']`), and the state
machine the way the console exports it (`arn:aws:states:::lambda:invoke`, `Payload.$`,
`OutputPath: $.Payload`, `ResultSelector`). Each expectation is AWS's documented one;
the page is named in each test.

The three workflow functions are written afresh from the Udacity starter's documented
behaviour: serializeImageData reads the image from S3 and returns base64 *bytes* in a
{'statusCode': 200, 'body': {...}} shape; the classifier decodes them and calls the
endpoint through boto3's 'runtime.sagemaker'; the filter raises when no inference meets
the threshold.
"""

from __future__ import annotations

import json
import sys
import threading
import uuid
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.integration.test_localcloud_sagemaker import create_endpoint, wait_for_status
from tests.integration.tiny_model import GREY, RED, build_artifact, solid_png
from tests.support.localcloud_harness import wait_for_execution, wait_until, zip_source

pytestmark = pytest.mark.integration

SERIALIZE = '''
import json
import boto3
import base64

s3 = boto3.client('s3')

def lambda_handler(event, context):
    """A function to serialize target data from S3"""
    key = event['s3_key']
    bucket = event['s3_bucket']
    s3.download_file(bucket, key, "/tmp/image.png")
    with open("/tmp/image.png", "rb") as f:
        image_data = base64.b64encode(f.read())
    print("Event:", event.keys())
    return {
        'statusCode': 200,
        'body': {
            "image_data": image_data,
            "s3_bucket": bucket,
            "s3_key": key,
            "inferences": []
        }
    }
'''

CLASSIFY = """
import json
import os
import base64
import boto3

ENDPOINT = os.environ["ENDPOINT"]
runtime = boto3.client('runtime.sagemaker')

def lambda_handler(event, context):
    image = base64.b64decode(event['body']['image_data'])
    response = runtime.invoke_endpoint(EndpointName=ENDPOINT, ContentType='image/png',
                                       Body=image)
    inferences = response['Body'].read().decode('utf-8')
    event['body']['inferences'] = json.loads(inferences)
    return {
        'statusCode': 200,
        'body': json.dumps(event['body'])
    }
"""

FILTER = """
import json

THRESHOLD = .93

def lambda_handler(event, context):
    body = json.loads(event['body']) if isinstance(event['body'], str) else event['body']
    inferences = body['inferences']
    meets_threshold = max(inferences) >= THRESHOLD
    if meets_threshold:
        pass
    else:
        raise Exception("THRESHOLD_CONFIDENCE_NOT_MET")
    return {
        'statusCode': 200,
        'body': json.dumps(body)
    }
"""

CUSTOM_ERROR = """
class ThresholdConfidenceNotMet(Exception):
    pass

def lambda_handler(event, context):
    raise ThresholdConfidenceNotMet("confidence 0.51 is below 0.93")
"""

BYTES_RESULT = """
import decimal

def lambda_handler(event, context):
    if event.get("raw"):
        return b"raw bytes"
    if event.get("undecodable"):
        return {"data": b"\\xff\\xfe"}
    return {"data": b"aGVsbG8=", "price": decimal.Decimal("1.10"), "text": "caf\\u00e9",
            "request_id": context.aws_request_id}
"""

ENVIRONMENT = """
import os
import sys
import tempfile
import time

def lambda_handler(event, context):
    if event.get("fill"):
        written = 0
        try:
            for n in range(100):
                with open(f"/tmp/chunk-{n}", "wb") as f:
                    f.write(b"\\0" * (64 * 1024 * 1024))
                written += 64
        except OSError as exc:
            return {"written_mb": written, "errno": exc.errno}
        return {"written_mb": written, "errno": None}
    marker = event.get("marker")
    if marker:
        with open("/tmp/" + marker, "w") as f:
            f.write(context.aws_request_id)
        time.sleep(event.get("sleep", 0))
    with open(os.path.join(os.environ["LAMBDA_TASK_ROOT"], "lambda_function.py")) as f:
        own_code = f.read(100)
    return {
        "tmp": sorted(os.listdir("/tmp")),
        "task_root": os.environ["LAMBDA_TASK_ROOT"],
        "cwd": os.getcwd(),
        "tempdir": tempfile.gettempdir(),
        "reads_own_code": "import os" in own_code,
        "python": "%d.%d" % sys.version_info[:2],
        "request_id": context.aws_request_id,
    }
"""


def create(local_cloud, role: str, name: str, source: str, **extra) -> str:
    client = local_cloud.client("lambda")
    extra.setdefault("Runtime", "python3.11")
    arn = client.create_function(
        FunctionName=name,
        Role=role,
        Handler="lambda_function.lambda_handler",
        Code={"ZipFile": zip_source({"lambda_function.py": source})},
        Timeout=30,
        MemorySize=128,
        **extra,
    )["FunctionArn"]
    return arn


def invoke(local_cloud, name: str, event: dict) -> tuple[dict, object]:
    response = local_cloud.client("lambda").invoke(FunctionName=name, Payload=json.dumps(event))
    body = response["Payload"].read()
    try:
        return response, json.loads(body)
    except ValueError:
        return response, body


def console_task(function_arn: str, nxt: str | None, **fields) -> dict:
    """A Task state as the console's Workflow Studio exports it."""
    state = {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"Payload.$": "$", "FunctionName": f"{function_arn}:$LATEST"},
        "Retry": [
            {
                "ErrorEquals": [
                    "Lambda.ServiceException",
                    "Lambda.AWSLambdaException",
                    "Lambda.SdkClientException",
                    "Lambda.TooManyRequestsException",
                ],
                "IntervalSeconds": 1,
                "MaxAttempts": 3,
                "BackoffRate": 2,
            }
        ],
        **fields,
    }
    state.update({"Next": nxt} if nxt else {"End": True})
    return state


def run_machine(local_cloud, role: str, definition: dict, payload: dict) -> dict:
    sfn = local_cloud.client("stepfunctions")
    arn = sfn.create_state_machine(
        name=f"conformance-{uuid.uuid4().hex[:8]}",
        definition=json.dumps(definition),
        roleArn=role.replace(":role/", ":role/sfn-"),
    )["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps(payload))
    return wait_for_execution(sfn, execution["executionArn"])


@pytest.fixture(scope="module")
def workflow(local_cloud, lambda_role, tmp_path_factory) -> dict:
    """The starter's three functions, the tiny colour model's endpoint, two images."""
    s3 = local_cloud.client("s3")
    s3.create_bucket(Bucket="conformance")
    s3.put_object(Bucket="conformance", Key="test/red.png", Body=solid_png(RED))
    s3.put_object(Bucket="conformance", Key="test/grey.png", Body=solid_png(GREY))
    tarball = build_artifact(tmp_path_factory.mktemp("conformance-model"))
    s3.put_object(Bucket="conformance", Key="model.tar.gz", Body=tarball.read_bytes())
    sagemaker = local_cloud.client("sagemaker")
    create_endpoint(sagemaker, "conformance", "s3://conformance/model.tar.gz")
    assert wait_for_status(sagemaker, "conformance")["EndpointStatus"] == "InService"
    return {
        "serialize": create(local_cloud, lambda_role, "serializeImageData", SERIALIZE),
        "classify": create(
            local_cloud,
            lambda_role,
            "classifier",
            CLASSIFY,
            Environment={"Variables": {"ENDPOINT": "conformance"}},
        ),
        "filter": create(local_cloud, lambda_role, "filterLowConfidence", FILTER),
    }


def console_definition(workflow: dict) -> dict:
    return {
        "Comment": "Scones Unlimited, as exported from the console",
        "StartAt": "serializeImageData",
        "States": {
            "serializeImageData": console_task(
                workflow["serialize"], "classifier", OutputPath="$.Payload"
            ),
            "classifier": console_task(
                workflow["classify"],
                "filterLowConfidence",
                ResultSelector={"statusCode.$": "$.Payload.statusCode", "body.$": "$.Payload.body"},
            ),
            "filterLowConfidence": console_task(workflow["filter"], None, OutputPath="$.Payload"),
        },
    }


def test_the_starter_workflow_passes_a_confident_image(local_cloud, lambda_role, workflow):
    # connect-lambda.html: the Payload field is parsed from escaped JSON to JSON; the
    # runtime's encoder turns the base64 bytes into a string (awslambdaric's marshaller).
    execution = run_machine(
        local_cloud,
        lambda_role,
        console_definition(workflow),
        {"s3_bucket": "conformance", "s3_key": "test/red.png", "image_data": ""},
    )
    assert execution["status"] == "SUCCEEDED", execution
    output = json.loads(execution["output"])
    assert output["statusCode"] == 200
    body = json.loads(output["body"])
    assert body["s3_key"] == "test/red.png"
    assert max(body["inferences"]) >= 0.93
    assert isinstance(body["image_data"], str)


def test_the_starter_workflow_fails_a_low_confidence_image(local_cloud, lambda_role, workflow):
    # connect-lambda.html: "If an exception is raised within the Lambda function, the Task
    # will fail"; the error is the exception's class and the cause the runtime's error
    # payload (errorMessage, errorType, requestId, stackTrace under /var/task).
    execution = run_machine(
        local_cloud,
        lambda_role,
        console_definition(workflow),
        {"s3_bucket": "conformance", "s3_key": "test/grey.png", "image_data": ""},
    )
    assert execution["status"] == "FAILED"
    assert execution["error"] == "Exception"
    cause = json.loads(execution["cause"])
    assert list(cause) == ["errorMessage", "errorType", "requestId", "stackTrace"]
    assert cause["errorMessage"] == "THRESHOLD_CONFIDENCE_NOT_MET"
    assert str(uuid.UUID(cause["requestId"])) == cause["requestId"]
    assert cause["stackTrace"][0].startswith('  File "/var/task/lambda_function.py", line ')


def test_lambda_invoke_result_has_the_sdk_metadata(local_cloud, lambda_role):
    # connect-lambda.html (optimized integration): the task result is the Invoke response
    # with ExecutedVersion, Payload, SdkHttpMetadata, SdkResponseMetadata and StatusCode.
    arn = create(local_cloud, lambda_role, "bytesForMetadata", BYTES_RESULT)
    definition = {"StartAt": "Invoke", "States": {"Invoke": console_task(arn, None)}}
    execution = run_machine(local_cloud, lambda_role, definition, {})
    assert execution["status"] == "SUCCEEDED", execution
    result = json.loads(execution["output"])
    assert list(result) == [
        "ExecutedVersion",
        "Payload",
        "SdkHttpMetadata",
        "SdkResponseMetadata",
        "StatusCode",
    ]
    assert result["ExecutedVersion"] == "$LATEST"
    assert result["StatusCode"] == 200
    request_id = result["Payload"]["request_id"]
    assert result["SdkResponseMetadata"] == {"RequestId": request_id}
    http = result["SdkHttpMetadata"]
    assert http["HttpStatusCode"] == 200
    assert http["HttpHeaders"]["X-Amz-Executed-Version"] == "$LATEST"
    assert http["HttpHeaders"]["x-amzn-RequestId"] == request_id
    assert http["HttpHeaders"]["Content-Type"] == "application/json"
    assert http["AllHttpHeaders"] == {k: [v] for k, v in http["HttpHeaders"].items()}


def test_bytes_in_a_result_become_strings_as_aws_marshals_them(local_cloud, lambda_role):
    # awslambdaric lambda_runtime_marshaller: simplejson (bytes decoded as UTF-8, Decimal
    # as its exact number, ensure_ascii before python3.12); a top-level bytes result is
    # the payload as it is; undecodable bytes are Runtime.MarshalError.
    create(local_cloud, lambda_role, "returnsBytes", BYTES_RESULT)
    response, payload = invoke(local_cloud, "returnsBytes", {})
    assert "FunctionError" not in response
    assert payload["data"] == "aGVsbG8=" and payload["text"] == "café"
    assert response["ResponseMetadata"]["RequestId"] == payload["request_id"]
    assert response["ExecutedVersion"] == "$LATEST"
    raw = local_cloud.client("lambda").invoke(FunctionName="returnsBytes", Payload=b'{"raw": 1}')
    assert raw["Payload"].read() == b"raw bytes"
    response, error = invoke(local_cloud, "returnsBytes", {"undecodable": True})
    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "Runtime.MarshalError"
    assert error["errorMessage"].startswith("Unable to marshal response: 'utf-8' codec")
    assert error["stackTrace"] == [] and error["requestId"]


def test_decimal_is_written_as_its_exact_number(local_cloud, lambda_role):
    # awslambdaric's Encoder: Decimal -> RawJSON(str(obj)).
    create(local_cloud, lambda_role, "returnsDecimal", BYTES_RESULT)
    response = local_cloud.client("lambda").invoke(FunctionName="returnsDecimal", Payload=b"{}")
    assert b'"price": 1.10' in response["Payload"].read()


def test_a_custom_exception_class_is_the_error_name(local_cloud, lambda_role):
    # connect-lambda.html + the runtime's make_error: errorType is the class name.
    arn = create(local_cloud, lambda_role, "raisesCustom", CUSTOM_ERROR)
    definition = {
        "StartAt": "Invoke",
        "States": {"Invoke": console_task(arn, None, OutputPath="$.Payload")},
    }
    execution = run_machine(local_cloud, lambda_role, definition, {"body": "{}"})
    assert execution["status"] == "FAILED"
    assert execution["error"] == "ThresholdConfidenceNotMet"
    cause = json.loads(execution["cause"])
    assert cause["errorType"] == "ThresholdConfidenceNotMet"
    assert cause["errorMessage"] == "confidence 0.51 is below 0.93"
    assert all("/var/task/" in line for line in cause["stackTrace"])
    assert not any("lambda-code" in line for line in cause["stackTrace"])


def test_task_root_and_tmp_are_the_lambda_paths(local_cloud, lambda_role):
    # "Using Lambda environment variables" (configuration-envvars.html): LAMBDA_TASK_ROOT
    # is /var/task, the function's code; /tmp is the writable ephemeral storage.
    marker = f"marker-{uuid.uuid4().hex}"
    create(local_cloud, lambda_role, "environmentProbe", ENVIRONMENT)
    _, result = invoke(local_cloud, "environmentProbe", {"marker": marker})
    assert result["task_root"] == "/var/task" and result["cwd"] == "/var/task"
    assert result["reads_own_code"] is True
    assert result["tempdir"] == "/tmp"
    assert marker in result["tmp"]
    assert not Path("/tmp", marker).exists(), "the function wrote to the host's /tmp"


def test_concurrent_environments_do_not_share_tmp(local_cloud, lambda_role):
    # "Lambda execution environments": each environment has its own /tmp.
    create(local_cloud, lambda_role, "tmpIsolation", ENVIRONMENT)
    results: dict[str, dict] = {}

    def run(marker: str) -> None:
        results[marker] = invoke(local_cloud, "tmpIsolation", {"marker": marker, "sleep": 1.5})[1]

    threads = [threading.Thread(target=run, args=(f"env-{n}",)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results["env-0"]["request_id"] != results["env-1"]["request_id"]
    assert "env-1" not in results["env-0"]["tmp"] and "env-0" in results["env-0"]["tmp"]
    assert "env-0" not in results["env-1"]["tmp"] and "env-1" in results["env-1"]["tmp"]


def test_tmp_is_limited_to_the_ephemeral_storage_size(local_cloud, lambda_role):
    # "Configure ephemeral storage for Lambda functions": 512 MB by default; a full /tmp
    # fails writes with ENOSPC (No space left on device).
    create(local_cloud, lambda_role, "fillsTmp", ENVIRONMENT, EphemeralStorage={"Size": 512})
    _, result = invoke(local_cloud, "fillsTmp", {"fill": True})
    assert result == {"written_mb": 512, "errno": 28}


def test_deprecated_and_unknown_runtimes_are_refused(local_cloud, lambda_role):
    # Lambda runtimes page, "Deprecated runtimes": python3.8's block-create date was
    # Feb 28, 2025; an unknown identifier fails the Runtime enum constraint.
    client = local_cloud.client("lambda")
    for runtime, message in [
        (
            "python3.8",
            "The runtime parameter of python3.8 is no longer supported for creating or "
            "updating AWS Lambda functions. We recommend you use the new runtime (python3.14) "
            "while creating or updating functions.",
        ),
        ("python3.99", "Value python3.99 at 'runtime' failed to satisfy constraint: "),
    ]:
        with pytest.raises(ClientError) as refused:
            create(local_cloud, lambda_role, f"old-{runtime.replace('.', '')}", "", Runtime=runtime)
        assert refused.value.response["Error"]["Code"] == "InvalidParameterValueException"
        assert refused.value.response["Error"]["Message"].startswith(message)
    create(local_cloud, lambda_role, "upgradeMe", ENVIRONMENT)
    with pytest.raises(ClientError) as refused:
        client.update_function_configuration(FunctionName="upgradeMe", Runtime="python3.7")
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValueException"


@pytest.mark.parametrize("runtime", ["python3.12", "python3.13", "python3.14"])
def test_each_runtime_runs_on_its_python_or_says_so(local_cloud, lambda_role, runtime):
    from localcloud.lambda_workers import runtime_interpreter

    name = f"runs-{runtime.replace('.', '')}"
    create(local_cloud, lambda_role, name, ENVIRONMENT, Runtime=runtime)
    _, result = invoke(local_cloud, name, {})
    _python, notice = runtime_interpreter(runtime)
    if notice:
        assert result["python"] == f"{sys.version_info.major}.{sys.version_info.minor}"
        logs = local_cloud.client("logs")
        group = f"/aws/lambda/{name}"

        def noticed() -> bool:
            events = logs.filter_log_events(logGroupName=group)["events"]
            return any(notice in e["message"] for e in events)

        assert wait_until(noticed, timeout=10)
    else:
        assert result["python"] == runtime.removeprefix("python")


def test_report_line_never_claims_more_memory_than_the_function_has(local_cloud, lambda_role):
    # "Monitoring Lambda functions": Max Memory Used is at most Memory Size.
    create(local_cloud, lambda_role, "memoryReport", ENVIRONMENT)
    invoke(local_cloud, "memoryReport", {})
    logs = local_cloud.client("logs")

    def report() -> str | None:
        events = logs.filter_log_events(logGroupName="/aws/lambda/memoryReport")["events"]
        lines = [e["message"] for e in events if e["message"].startswith("REPORT")]
        return lines[-1] if lines else None

    line = wait_until(report, timeout=10)
    used = int(line.split("Max Memory Used: ")[1].split()[0])
    assert "Memory Size: 128 MB" in line and 0 < used <= 128


def test_missing_path_names_the_event_that_entered_the_state(local_cloud, lambda_role):
    # Step Functions "Handling errors" (States.Runtime): "An error occurred while executing
    # the state 'S' (entered at the event id #N)", N being that state's StateEntered event.
    definition = {
        "StartAt": "First",
        "States": {
            "First": {"Type": "Pass", "Next": "Reads"},
            "Reads": {"Type": "Pass", "InputPath": "$.body.missing", "End": True},
        },
    }
    execution = run_machine(local_cloud, lambda_role, definition, {"body": "{}"})
    assert execution["status"] == "FAILED" and execution["error"] == "States.Runtime"
    history = local_cloud.client("stepfunctions").get_execution_history(
        executionArn=execution["executionArn"]
    )["events"]
    entered = next(
        e["id"]
        for e in history
        if e["type"] == "PassStateEntered" and e["stateEnteredEventDetails"]["name"] == "Reads"
    )
    assert execution["cause"].startswith(
        f"An error occurred while executing the state 'Reads' (entered at the event id "
        f"#{entered}). Invalid path '$.body.missing' : No results for path: "
    )


def test_a_statement_id_already_in_the_policy_is_refused(local_cloud, lambda_role):
    # Lambda API reference, AddPermission, Errors: ResourceConflictException (HTTP 409,
    # "The resource already exists"); the policy keeps one statement per id, as AWS does.
    create(local_cloud, lambda_role, "permissionsOnce", ENVIRONMENT)
    client = local_cloud.client("lambda")
    grant = {
        "FunctionName": "permissionsOnce",
        "StatementId": "AllowS3",
        "Action": "lambda:InvokeFunction",
        "Principal": "s3.amazonaws.com",
    }
    client.add_permission(**grant)
    with pytest.raises(ClientError) as refused:
        client.add_permission(**grant, SourceAccount="123456789012")
    error = refused.value.response["Error"]
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert error["Code"] == "ResourceConflictException"
    assert error["Message"].startswith("The statement id (AllowS3) provided already exists.")
    policy = json.loads(client.get_policy(FunctionName="permissionsOnce")["Policy"])
    assert [statement["Sid"] for statement in policy["Statement"]] == ["AllowS3"]
    client.remove_permission(FunctionName="permissionsOnce", StatementId="AllowS3")
    client.add_permission(**grant)  # a removed id may be used again
