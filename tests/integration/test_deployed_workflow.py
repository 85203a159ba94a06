"""The workflow through the resources `terraform apply` deployed to the local cloud."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.support.localcloud_harness import wait_for_execution, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.terraform, pytest.mark.slow]


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
    item = deployment.upload(f"inputs/{image.path.name}", image.path.read_bytes())

    execution = deployment.run("single_image_state_machine_arn", item)

    assert execution["status"] == "SUCCEEDED"
    result = json.loads(execution["output"])
    assert result["passed"] is True
    assert result["label"] == image.label
    assert result["confidence"] == pytest.approx(image.confidence, abs=1e-4)


def test_low_confidence_image_fails_loudly_and_alerts(deployment, alerts):
    image = deployment.images["unsure"]
    item = deployment.upload(f"inputs/{image.path.name}", image.path.read_bytes())

    execution = deployment.run("single_image_state_machine_arn", item)

    assert execution["status"] == "FAILED"
    assert execution["error"] == "ThresholdNotMetError"
    messages = alerts()
    assert any(
        m.get("error_type") == "ThresholdNotMetError"
        and execution["executionArn"].rsplit(":", 1)[-1] in json.dumps(m)
        for m in messages
    ), messages


def test_bad_image_yields_its_named_error_and_an_alert(deployment, alerts):
    item = deployment.upload("inputs/not-an-image.png", b"this is text, not a PNG")

    execution = deployment.run("single_image_state_machine_arn", item)

    assert execution["status"] == "FAILED"
    assert execution["error"] == "UnsupportedImageError"
    assert any(m.get("error_type") == "UnsupportedImageError" for m in alerts())


def test_transient_endpoint_failure_is_retried_then_succeeds(deployment):
    image = deployment.images["confident"]
    item = deployment.upload(f"inputs/retry-{image.path.name}", image.path.read_bytes())
    deployment.cloud.inject_endpoint_faults(
        deployment.output("endpoint_name"), count=1, error="ServiceUnavailable"
    )

    execution = deployment.run("single_image_state_machine_arn", item)

    assert execution["status"] == "SUCCEEDED"
    history = deployment.cloud.client("stepfunctions").get_execution_history(
        executionArn=execution["executionArn"]
    )["events"]
    failures = [e["taskFailedEventDetails"]["error"] for e in history if e["type"] == "TaskFailed"]
    assert failures == ["EndpointUnavailableError"]


def test_batch_over_a_list_finishes_every_item_with_its_status(deployment):
    confident, unsure = deployment.images["confident"], deployment.images["unsure"]
    items = [
        deployment.upload("batch-list/confident.png", confident.path.read_bytes()),
        deployment.upload("batch-list/unsure.png", unsure.path.read_bytes()),
        deployment.upload("batch-list/broken.png", b"not an image"),
    ]

    execution = deployment.run("batch_state_machine_arn", {"images": items})

    assert execution["status"] == "SUCCEEDED"
    summary = json.loads(execution["output"])
    assert (summary["total"], summary["passed"], summary["low_confidence"], summary["error"]) == (
        3,
        1,
        1,
        1,
    )
    results = deployment.results(summary["results_uri"])
    statuses = {r["s3_key"]: r["status"] for r in results["results"]}
    assert statuses == {
        "batch-list/confident.png": "passed",
        "batch-list/unsure.png": "low_confidence",
        "batch-list/broken.png": "error",
    }


def test_batch_over_a_prefix_finishes_every_item(deployment):
    scored = deployment.images["all"][-5:]
    for image in scored:
        deployment.upload(f"batch-prefix/{image.path.name}", image.path.read_bytes())
    bucket = deployment.output("data_bucket")

    execution = deployment.run(
        "batch_state_machine_arn", {"s3_bucket": bucket, "s3_prefix": "batch-prefix/"}
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

    deployment.upload(f"inbox/{image.path.name}", image.path.read_bytes())

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
    deployment.run(
        "single_image_state_machine_arn",
        deployment.upload(f"inputs/logs-{image.path.name}", image.path.read_bytes()),
    )
    logs = deployment.cloud.client("logs")
    group = f"/aws/lambda/{deployment.output('lambda_function_names')['classify_image']}"

    events = logs.filter_log_events(logGroupName=group)["events"]

    assert any(e["message"].startswith("REPORT RequestId:") for e in events)


def test_data_capture_files_appear_in_the_configured_place(deployment):
    image = deployment.images["confident"]
    deployment.run(
        "single_image_state_machine_arn",
        deployment.upload(f"inputs/capture-{image.path.name}", image.path.read_bytes()),
    )
    destination = deployment.output("data_capture_s3_uri")
    bucket, prefix = destination[5:].split("/", 1)
    endpoint = deployment.output("endpoint_name")

    listing = deployment.cloud.client("s3").list_objects_v2(
        Bucket=bucket, Prefix=f"{prefix}/{endpoint}/"
    )

    assert listing["KeyCount"] > 0
    assert all(o["Key"].endswith(".jsonl") for o in listing["Contents"])
