"""The workflow through the resources `terraform apply` deployed to the local cloud."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from localcloud_harness import wait_for_execution, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.terraform, pytest.mark.slow]


@pytest.fixture(scope="module")
def alerts(deployment):
    """An SQS queue subscribed to the alert topic, read by the tests."""
    sqs = deployment.cloud.client("sqs")
    queue_url = sqs.create_queue(QueueName="test-alerts")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    deployment.cloud.client("sns").subscribe(
        TopicArn=deployment.output("alert_topic_arn"), Protocol="sqs", Endpoint=queue_arn
    )

    def received(timeout: float = 30) -> list[dict]:
        def poll() -> list[dict]:
            messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            return [json.loads(json.loads(m["Body"])["Message"]) for m in messages]

        collected: list[dict] = []
        wait_until(lambda: collected.extend(poll()) or collected, timeout=timeout)
        return collected

    sqs.purge_queue(QueueUrl=queue_url)
    return received


def upload(deployment, key: str, body: bytes) -> dict:
    bucket = deployment.output("data_bucket")
    deployment.cloud.client("s3").put_object(Bucket=bucket, Key=key, Body=body)
    return {"s3_bucket": bucket, "s3_key": key}


def run_machine(deployment, output: str, payload: dict) -> dict:
    sfn = deployment.cloud.client("stepfunctions")
    arn = sfn.start_execution(stateMachineArn=deployment.output(output), input=json.dumps(payload))
    return wait_for_execution(sfn, arn["executionArn"])


def test_second_apply_changes_nothing(deployment):
    runner = deployment.runner  # pytest-terraform's: same module, data dir and state
    command = [runner.tf_bin, "plan", "-input=false", "-no-color", "-detailed-exitcode"]
    command.append(f"-state={runner.state_path}")
    environment = {**os.environ, "TF_DATA_DIR": runner.work_dir}

    result = subprocess.run(
        command, cwd=runner.module_dir, env=environment, capture_output=True, text=True
    )

    assert result.returncode == 0, result.stdout[-3000:]


def test_confident_image_passes_the_single_image_workflow(deployment):
    image = deployment.images["confident"]
    item = upload(deployment, f"inputs/{image.path.name}", image.path.read_bytes())

    execution = run_machine(deployment, "single_image_state_machine_arn", item)

    assert execution["status"] == "SUCCEEDED"
    result = json.loads(execution["output"])
    assert result["passed"] is True
    assert result["label"] == image.label
    assert result["confidence"] == pytest.approx(image.confidence, abs=1e-4)


def test_low_confidence_image_fails_loudly_and_alerts(deployment, alerts):
    image = deployment.images["unsure"]
    item = upload(deployment, f"inputs/{image.path.name}", image.path.read_bytes())

    execution = run_machine(deployment, "single_image_state_machine_arn", item)

    assert execution["status"] == "FAILED"
    assert execution["error"] == "ThresholdNotMetError"
    messages = alerts()
    assert any(
        m.get("error_type") == "ThresholdNotMetError"
        and execution["executionArn"].rsplit(":", 1)[-1] in json.dumps(m)
        for m in messages
    ), messages


def test_bad_image_yields_its_named_error_and_an_alert(deployment, alerts):
    item = upload(deployment, "inputs/not-an-image.png", b"this is text, not a PNG")

    execution = run_machine(deployment, "single_image_state_machine_arn", item)

    assert execution["status"] == "FAILED"
    assert execution["error"] == "UnsupportedImageError"
    assert any(m.get("error_type") == "UnsupportedImageError" for m in alerts())


def test_transient_endpoint_failure_is_retried_then_succeeds(deployment):
    image = deployment.images["confident"]
    item = upload(deployment, f"inputs/retry-{image.path.name}", image.path.read_bytes())
    deployment.cloud.inject_endpoint_faults(
        deployment.output("endpoint_name"), count=1, error="ServiceUnavailable"
    )

    execution = run_machine(deployment, "single_image_state_machine_arn", item)

    assert execution["status"] == "SUCCEEDED"
    history = deployment.cloud.client("stepfunctions").get_execution_history(
        executionArn=execution["executionArn"]
    )["events"]
    failures = [e["taskFailedEventDetails"]["error"] for e in history if e["type"] == "TaskFailed"]
    assert failures == ["EndpointUnavailableError"]


def test_batch_over_a_list_finishes_every_item_with_its_status(deployment):
    confident, unsure = deployment.images["confident"], deployment.images["unsure"]
    items = [
        upload(deployment, "batch-list/confident.png", confident.path.read_bytes()),
        upload(deployment, "batch-list/unsure.png", unsure.path.read_bytes()),
        upload(deployment, "batch-list/broken.png", b"not an image"),
    ]

    execution = run_machine(deployment, "batch_state_machine_arn", {"images": items})

    assert execution["status"] == "SUCCEEDED"
    summary = json.loads(execution["output"])
    assert (summary["total"], summary["passed"], summary["low_confidence"], summary["error"]) == (
        3,
        1,
        1,
        1,
    )
    bucket, key = summary["results_uri"][5:].split("/", 1)
    results = json.loads(
        deployment.cloud.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    )
    statuses = {r["s3_key"]: r["status"] for r in results["results"]}
    assert statuses == {
        "batch-list/confident.png": "passed",
        "batch-list/unsure.png": "low_confidence",
        "batch-list/broken.png": "error",
    }


def test_batch_over_a_prefix_finishes_every_item(deployment):
    scored = deployment.images["all"][-5:]
    for image in scored:
        upload(deployment, f"batch-prefix/{image.path.name}", image.path.read_bytes())
    bucket = deployment.output("data_bucket")

    execution = run_machine(
        deployment, "batch_state_machine_arn", {"s3_bucket": bucket, "s3_prefix": "batch-prefix/"}
    )

    assert execution["status"] == "SUCCEEDED"
    summary = json.loads(execution["output"])
    assert summary["total"] == 5
    assert summary["passed"] + summary["low_confidence"] == 5


def test_upload_to_the_inbox_starts_the_batch_workflow(deployment):
    sfn = deployment.cloud.client("stepfunctions")
    machine = deployment.output("batch_state_machine_arn")
    before = {e["executionArn"] for e in sfn.list_executions(stateMachineArn=machine)["executions"]}
    image = deployment.images["confident"]

    upload(deployment, f"inbox/{image.path.name}", image.path.read_bytes())

    def started() -> list[str]:
        executions = sfn.list_executions(stateMachineArn=machine)["executions"]
        return [e["executionArn"] for e in executions if e["executionArn"] not in before]

    new = wait_until(started, timeout=60)
    assert len(new) == 1
    execution = wait_for_execution(sfn, new[0])
    assert execution["status"] == "SUCCEEDED"
    assert json.loads(execution["output"])["total"] == 1


def test_lambda_logs_are_readable_through_the_logs_api(deployment):
    image = deployment.images["confident"]
    run_machine(
        deployment,
        "single_image_state_machine_arn",
        upload(deployment, f"inputs/logs-{image.path.name}", image.path.read_bytes()),
    )
    logs = deployment.cloud.client("logs")
    group = f"/aws/lambda/{deployment.output('lambda_function_names')['classify_image']}"

    events = logs.filter_log_events(logGroupName=group)["events"]

    assert any(e["message"].startswith("REPORT RequestId:") for e in events)


def test_data_capture_files_appear_in_the_configured_place(deployment):
    image = deployment.images["confident"]
    run_machine(
        deployment,
        "single_image_state_machine_arn",
        upload(deployment, f"inputs/capture-{image.path.name}", image.path.read_bytes()),
    )
    destination = deployment.output("data_capture_s3_uri")
    bucket, prefix = destination[5:].split("/", 1)
    endpoint = deployment.output("endpoint_name")

    listing = deployment.cloud.client("s3").list_objects_v2(
        Bucket=bucket, Prefix=f"{prefix}/{endpoint}/"
    )

    assert listing["KeyCount"] > 0
    assert all(o["Key"].endswith(".jsonl") for o in listing["Contents"])
