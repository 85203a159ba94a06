"""Lambda on the local cloud: the handler from the uploaded zip, really run."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from tests.support.localcloud_harness import wait_until, zip_source

pytestmark = pytest.mark.integration


def invoke(local_cloud, event: dict, function: str = "probe", **kwargs) -> tuple[dict, object]:
    response = local_cloud.client("lambda").invoke(
        FunctionName=function, Payload=json.dumps(event), **kwargs
    )
    return response, json.loads(response["Payload"].read())


@pytest.fixture(scope="module")
def short_timeout_function(local_cloud, lambda_role) -> str:
    """The probe with a 5 s timeout, for the timeout test alone (the shared probe has room
    for a slow cold start, which the local cloud counts in the timeout)."""
    source = (Path(__file__).resolve().parent / "probe_handler.py").read_text()
    local_cloud.client("lambda").create_function(
        FunctionName="probe-timeout",
        Runtime="python3.11",
        Role=lambda_role,
        Handler="probe_handler.lambda_handler",
        Code={"ZipFile": zip_source({"probe_handler.py": source})},
        Timeout=5,
        MemorySize=128,
    )
    return "probe-timeout"


def test_handler_runs_from_zip_with_its_environment(local_cloud, probe_function):
    response, payload = invoke(local_cloud, {"echo": "hi"})

    assert "FunctionError" not in response
    assert payload["echo"] == "hi"
    assert payload["greeting"] == "hello from the zip"
    assert payload["function_name"] == "probe"
    assert 0 < payload["remaining_ms"] <= 60_000  # the probe's Timeout


def test_handler_cannot_import_project_code(local_cloud, probe_function):
    _, payload = invoke(local_cloud, {})

    assert payload["project_importable"] is False


def test_handler_boto3_clients_reach_the_local_cloud(local_cloud, probe_function):
    local_cloud.client("s3").create_bucket(Bucket="seen-from-lambda")

    _, payload = invoke(local_cloud, {})

    assert "seen-from-lambda" in payload["buckets"]


def test_handler_exception_returns_the_runtime_error_payload(local_cloud, probe_function):
    response, payload = invoke(local_cloud, {"raise": "confidence 0.51 below 0.93"})

    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "ThresholdNotMetError"
    assert payload["errorMessage"] == "confidence 0.51 below 0.93"
    assert any("probe_handler.py" in frame for frame in payload["stackTrace"])
    assert not any("_lambda_runtime" in frame for frame in payload["stackTrace"])


def test_timeout_returns_task_timed_out_and_next_call_succeeds(local_cloud, short_timeout_function):
    response, payload = invoke(local_cloud, {"sleep": 10}, short_timeout_function)

    def answers_again():
        # A fresh environment's cold start counts in its 5 s: on a loaded machine the
        # first one may time out too, so the next calls are waited for, with a deadline.
        _, after = invoke(local_cloud, {"echo": "after"}, short_timeout_function)
        return isinstance(after, dict) and after.get("echo") == "after"

    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 5.00 seconds" in payload["errorMessage"]
    assert wait_until(answers_again, timeout=60)


def test_handler_output_is_in_cloudwatch_logs(local_cloud, probe_function):
    invoke(local_cloud, {"echo": "logged"})
    logs = local_cloud.client("logs")

    def messages() -> list[str]:
        found = []
        streams = logs.describe_log_streams(logGroupName="/aws/lambda/probe")["logStreams"]
        for stream in streams:
            events = logs.get_log_events(
                logGroupName="/aws/lambda/probe", logStreamName=stream["logStreamName"]
            )["events"]
            found += [e["message"] for e in events]
        return found

    lines = wait_until(lambda: [m for m in messages() if m.startswith("REPORT RequestId")])
    assert lines
    assert any("probe called with ['echo']" in m for m in messages())
    assert any(m.startswith("[INFO]") and "probe request" in m for m in messages())


def test_tail_log_result_holds_the_invocation_log(local_cloud, probe_function):
    response, _ = invoke(local_cloud, {"echo": "tail"}, LogType="Tail")

    tail = base64.b64decode(response["LogResult"]).decode()
    assert "probe called with ['echo']" in tail
    assert "END RequestId" in tail


def test_event_invocation_is_accepted_then_runs(local_cloud, probe_function):
    s3 = local_cloud.client("s3")
    s3.create_bucket(Bucket="async-marker")

    response = local_cloud.client("lambda").invoke(
        FunctionName="probe",
        InvocationType="Event",
        Payload=json.dumps({"put_marker": "async-marker", "delay": 1}),
    )

    assert response["StatusCode"] == 202
    marker = wait_until(lambda: s3.list_objects_v2(Bucket="async-marker").get("KeyCount"))
    assert marker == 1


def test_dead_letter_config_is_returned(local_cloud, lambda_role):
    lam = local_cloud.client("lambda")
    queue_arn = "arn:aws:sqs:us-east-1:123456789012:dead-letters"
    lam.create_function(
        FunctionName="with-dlq",
        Runtime="python3.11",
        Role=lambda_role,
        Handler="h.handler",
        Code={"ZipFile": zip_source({"h.py": "def handler(e, c):\n    return e\n"})},
        DeadLetterConfig={"TargetArn": queue_arn},
    )

    configuration = lam.get_function_configuration(FunctionName="with-dlq")

    assert configuration["DeadLetterConfig"] == {"TargetArn": queue_arn}


def test_import_error_is_reported_as_runtime_import_module_error(local_cloud, lambda_role):
    lam = local_cloud.client("lambda")
    lam.create_function(
        FunctionName="broken-import",
        Runtime="python3.11",
        Role=lambda_role,
        Handler="h.handler",
        Code={"ZipFile": zip_source({"h.py": "import localcloud\n"})},
    )

    response = lam.invoke(FunctionName="broken-import", Payload=b"{}")
    payload = json.loads(response["Payload"].read())

    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Runtime.ImportModuleError"
