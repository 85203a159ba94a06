"""The workflow through the resources `terraform apply` deployed to the local cloud."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import uuid
import zlib

import pytest

from monitoring.capture import parse_capture_line
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
        deployment.upload("inputs/batch-list/confident.png", confident.path.read_bytes()),
        deployment.upload("inputs/batch-list/unsure.png", unsure.path.read_bytes()),
        deployment.upload("inputs/batch-list/broken.png", b"not an image"),
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
        "inputs/batch-list/confident.png": "passed",
        "inputs/batch-list/unsure.png": "low_confidence",
        "inputs/batch-list/broken.png": "error",
    }


def test_batch_over_a_prefix_finishes_every_item(deployment):
    scored = deployment.images["all"][-5:]
    for image in scored:
        deployment.upload(f"inputs/batch-prefix/{image.path.name}", image.path.read_bytes())
    bucket = deployment.output("data_bucket")

    execution = deployment.run(
        "batch_state_machine_arn", {"s3_bucket": bucket, "s3_prefix": "inputs/batch-prefix/"}
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


def tagged_png(png: bytes, tag: str) -> bytes:
    """The same image with a tEXt chunk naming `tag`: its pixels (and so its prediction)
    are unchanged, its bytes are this test's own."""
    data = b"scones-test\0" + tag.encode()
    chunk = struct.pack(">I", len(data)) + b"tEXt" + data
    chunk += struct.pack(">I", zlib.crc32(b"tEXt" + data))
    iend = png.rindex(b"IEND") - 4
    return png[:iend] + chunk + png[iend:]


def test_lambda_logs_are_readable_through_the_logs_api(deployment):
    image = deployment.images["confident"]
    key = f"inputs/logs-{uuid.uuid4().hex}-{image.path.name}"
    execution = deployment.run(
        "single_image_state_machine_arn", deployment.upload(key, image.path.read_bytes())
    )
    assert execution["status"] == "SUCCEEDED"
    logs = deployment.cloud.client("logs")
    group = f"/aws/lambda/{deployment.output('lambda_function_names')['classify_image']}"

    def own_report() -> list[str]:
        messages = [e["message"] for e in logs.filter_log_events(logGroupName=group)["events"]]
        request_ids = {
            line["request_id"]
            for line in map(json_or_none, messages)
            if line
            and line.get("message") == "invoked"
            and (line.get("input") or {}).get("s3_key") == key
        }
        return [
            m for m in messages for rid in request_ids if m.startswith(f"REPORT RequestId: {rid}")
        ]

    reports = wait_until(own_report, timeout=30)

    assert len(reports) == 1, reports
    assert "Duration:" in reports[0]


def json_or_none(message: str) -> dict | None:
    try:
        value = json.loads(message)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def test_data_capture_files_appear_in_the_configured_place(deployment):
    image = deployment.images["confident"]
    body = tagged_png(image.path.read_bytes(), uuid.uuid4().hex)
    execution = deployment.run(
        "single_image_state_machine_arn",
        deployment.upload(f"inputs/capture-{uuid.uuid4().hex}.png", body),
    )
    assert execution["status"] == "SUCCEEDED"
    destination = deployment.output("data_capture_s3_uri")
    bucket, prefix = destination[5:].split("/", 1)
    endpoint = deployment.output("endpoint_name")
    s3 = deployment.cloud.client("s3")

    def own_records() -> list[tuple[str, object]]:
        found = []
        pages = s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=f"{prefix}/{endpoint}/"
        )
        for page in pages:
            for obj in page.get("Contents", []):
                lines = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read().splitlines()
                found += [
                    (obj["Key"], record)
                    for record in map(parse_capture_line, lines)
                    if record.input_body == body
                ]
        return found

    records = wait_until(own_records, timeout=30)

    assert len(records) == 1, "exactly this request's record, once"
    key, record = records[0]
    assert key.endswith(".jsonl")
    assert record.input_content_type == "image/png"
    assert record.confidence >= 0.93
