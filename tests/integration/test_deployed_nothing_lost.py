"""Nothing lost, nothing twice, one alert per failure: the deployed workflows under bad
input and faults (issue 12). Each test uses its own keys and finds its own alerts by
execution name."""

from __future__ import annotations

import json

import pytest

from tests.support.localcloud_harness import wait_for_execution, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.terraform, pytest.mark.slow]


def execution_name(execution: dict) -> str:
    return execution["executionArn"].rsplit(":", 1)[-1]


def alerts_for(alerts, execution: dict, timeout: float = 30) -> list[dict]:
    name = execution_name(execution)
    return alerts(lambda m: m.get("input", {}).get("execution_name") == name, timeout=timeout)


@pytest.mark.parametrize(
    "payload",
    [["not", "an", "object"], "just a string", {"s3_bucket": "only-a-bucket"}],
    ids=["list", "string", "no-key"],
)
def test_bad_single_image_input_alerts_once_and_fails_as_invalid_event(deployment, alerts, payload):
    execution = deployment.run("single_image_state_machine_arn", payload)

    assert (execution["status"], execution["error"]) == ("FAILED", "InvalidEventError")
    [alert] = alerts_for(alerts, execution)
    assert alert["error_type"] == "InvalidEventError"


@pytest.mark.parametrize(
    "payload",
    [{}, {"images": "not-a-list"}, ["images"]],
    ids=["empty", "images-not-a-list", "list"],
)
def test_bad_batch_input_alerts_once_and_fails(deployment, alerts, payload):
    execution = deployment.run("batch_state_machine_arn", payload)

    assert execution["status"] == "FAILED"
    [alert] = alerts_for(alerts, execution)
    # The alert names the error caught; the execution fails with it, or with
    # States.Runtime where the interpreter refuses to re-raise a States.* name.
    assert execution["error"] in {alert["error_type"], "States.Runtime"}
    assert alert["error_type"] != "BatchItemsNotPassed"


def test_a_prefix_in_a_missing_bucket_alerts_once_and_fails(deployment, alerts):
    payload = {"s3_bucket": "no-such-bucket-anywhere", "s3_prefix": "inputs/"}

    execution = deployment.run("batch_state_machine_arn", payload)

    assert execution["status"] == "FAILED"
    [alert] = alerts_for(alerts, execution)
    assert alert["error_type"] == execution["error"]


def test_a_lambda_error_alerts_with_its_message_not_its_stack_trace(deployment, alerts):
    item = deployment.upload("inputs/nothing-lost/not-a-png.png", b"plain text, not a PNG")

    execution = deployment.run("single_image_state_machine_arn", item)

    assert (execution["status"], execution["error"]) == ("FAILED", "UnsupportedImageError")
    [alert] = alerts_for(alerts, execution)
    assert "not-a-png.png" in alert["message"]
    assert "stackTrace" not in alert["message"] and "Traceback" not in alert["message"]
    assert alert["input"]["s3_key"] == item["s3_key"]
    assert "stackTrace" not in execution["cause"]


def test_malformed_batch_items_are_recorded_and_cost_the_others_nothing(deployment):
    good = deployment.images["confident"]
    image = deployment.upload("inputs/nothing-lost/good.png", good.path.read_bytes())
    bucket = image["s3_bucket"]
    malformed = [
        {"s3_key": "inputs/nothing-lost/no-bucket.png"},
        "not an object",
        {"s3_bucket": bucket, "s3_key": 42},
    ]

    execution = deployment.run("batch_state_machine_arn", {"images": [image, *malformed]})

    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    summary = json.loads(execution["output"])
    assert (summary["total"], summary["passed"], summary["error"]) == (4, 1, 3)
    results = deployment.results(summary["results_uri"])["results"]
    [passed] = [r for r in results if r["status"] == "passed"]
    assert passed["s3_key"] == image["s3_key"]
    others = [r for r in results if r is not passed]
    assert [r["status"] for r in others] == ["error"] * 3
    assert sorted(r["error"]["Error"] for r in others) == ["InvalidEventError"] * 3
    assert all("stackTrace" not in json.dumps(r) for r in others), others


def test_the_same_s3_event_delivered_twice_starts_one_batch(deployment):
    """S3 delivers notifications at least once ("Amazon S3 Event Notifications", S3 user guide)."""
    good = deployment.images["confident"]
    item = deployment.upload("inbox/nothing-lost-twice.png", good.path.read_bytes())
    head = deployment.cloud.client("s3").head_object(Bucket=item["s3_bucket"], Key=item["s3_key"])
    event = {
        "Records": [
            {
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "bucket": {"name": item["s3_bucket"]},
                    "object": {"key": item["s3_key"], "versionId": head.get("VersionId", "null")},
                },
            }
        ]
    }
    function = deployment.output("lambda_function_names")["start_batch_workflow"]
    lam = deployment.cloud.client("lambda")

    replies = [
        json.loads(lam.invoke(FunctionName=function, Payload=json.dumps(event))["Payload"].read())
        for _ in range(2)
    ]

    assert replies[0]["execution_arn"] == replies[1]["execution_arn"]
    assert replies[0]["execution_name"].startswith("inbox-")


def test_a_transient_endpoint_outage_mid_batch_is_retried_not_recorded(deployment, alerts):
    """The batch item's Retry covers EndpointUnavailableError (the endpoint's 503s): two
    failed calls in the middle of a batch cost no image its outcome, and send no alert."""
    images = deployment.images["all"][-3:]
    items = [
        deployment.upload(f"inputs/nothing-lost/outage-{i}.png", image.path.read_bytes())
        for i, image in enumerate(images)
    ]
    deployment.cloud.inject_endpoint_faults(
        deployment.output("endpoint_name"), count=2, error="ServiceUnavailable"
    )

    execution = deployment.run("batch_state_machine_arn", {"images": items})

    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    results = deployment.results(json.loads(execution["output"])["results_uri"])["results"]
    assert sorted(r["status"] for r in results) == sorted(
        "passed" if image.confidence >= 0.93 else "low_confidence" for image in images
    )
    outage_alerts = alerts(lambda m: m.get("error_type") == "EndpointUnavailableError", timeout=5)
    assert outage_alerts == []


def test_a_model_container_killed_mid_batch_costs_no_image_its_outcome(deployment):
    """The endpoint restarts a dead container; the batch's items retry through the outage
    (or are recorded as errors): every image ends in exactly one outcome."""
    images = deployment.images["all"][:12]
    items = [
        deployment.upload(f"inputs/nothing-lost/killed-{i}.png", image.path.read_bytes())
        for i, image in enumerate(images)
    ]
    sfn = deployment.cloud.client("stepfunctions")
    before = captured_requests(deployment)
    started = sfn.start_execution(
        stateMachineArn=deployment.output("batch_state_machine_arn"),
        input=json.dumps({"images": items}),
    )
    endpoint = deployment.output("endpoint_name")
    captured = wait_until(lambda: captured_requests(deployment) > before, timeout=60)
    assert captured, "the batch never reached the endpoint"
    deployment.cloud.admin("sagemaker/containers", {"endpoint_name": endpoint, "action": "kill"})

    execution = wait_for_execution(sfn, started["executionArn"], timeout=300)

    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    results = deployment.results(json.loads(execution["output"])["results_uri"])["results"]
    assert sorted(r["s3_key"] for r in results) == sorted(item["s3_key"] for item in items)
    assert {r["status"] for r in results} <= {"passed", "low_confidence", "error"}


def captured_requests(deployment) -> int:
    """Capture objects written so far for the endpoint (one per flushed batch of requests)."""
    bucket, prefix = deployment.output("data_capture_s3_uri").removeprefix("s3://").split("/", 1)
    listing = deployment.cloud.client("s3").list_objects_v2(
        Bucket=bucket, Prefix=f"{prefix}/{deployment.output('endpoint_name')}/"
    )
    return listing.get("KeyCount", 0)
