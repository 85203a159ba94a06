"""start_batch_workflow: S3 notifications on inbox/ start the batch state machine."""

from __future__ import annotations

import json
import re
from urllib.parse import quote_plus

import boto3


def record(
    key: str,
    event_name: str = "ObjectCreated:Put",
    bucket: str = "scones-data",
    version: str = "v1",
) -> dict:
    """A record as S3 sends it ("Event message structure", S3 user guide)."""
    obj = {
        "key": quote_plus(key, safe="/"),
        "versionId": version,
        "sequencer": "0065A1B2C3D4E5F601",
    }
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "eventName": event_name,
        "s3": {"bucket": {"name": bucket}, "object": obj},
    }


def executions() -> list[dict]:
    states = boto3.client("stepfunctions")
    [machine] = states.list_state_machines()["stateMachines"]
    listed = states.list_executions(stateMachineArn=machine["stateMachineArn"])["executions"]
    return [states.describe_execution(executionArn=e["executionArn"]) for e in listed]


def test_uploads_to_the_inbox_start_one_execution_with_the_images(
    load_handler, aws, context
) -> None:
    handler = load_handler("start_batch_workflow")
    event = {"Records": [record("inbox/a.png"), record("inbox/my bike.png")]}

    result = handler.lambda_handler(event, context)

    [execution] = executions()
    assert json.loads(execution["input"]) == {
        "images": [
            {"s3_bucket": "scones-data", "s3_key": "inbox/a.png"},
            {"s3_bucket": "scones-data", "s3_key": "inbox/my bike.png"},
        ]
    }
    assert result == {
        "execution_arn": execution["executionArn"],
        "execution_name": execution["name"],
        "images": 2,
    }


def test_different_uploads_get_different_execution_names(load_handler, aws, context) -> None:
    handler = load_handler("start_batch_workflow")
    first = handler.lambda_handler({"Records": [record("inbox/a.png")]}, context)
    second = handler.lambda_handler({"Records": [record("inbox/b.png")]}, context)

    assert first["execution_name"] != second["execution_name"]
    assert len(executions()) == 2


def test_the_same_notification_delivered_twice_starts_one_execution(
    load_handler, aws, context
) -> None:
    """S3 delivers notifications at least once: a redelivery has another request id."""
    handler = load_handler("start_batch_workflow")
    event = {"Records": [record("inbox/a.png")]}
    context.aws_request_id = "11111111-aaaa"
    first = handler.lambda_handler(event, context)
    context.aws_request_id = "22222222-bbbb"

    again = handler.lambda_handler(event, context)

    assert again["execution_arn"] == first["execution_arn"]
    assert len(executions()) == 1


def test_a_new_version_of_the_same_key_is_a_new_batch(load_handler, aws, context) -> None:
    handler = load_handler("start_batch_workflow")

    first = handler.lambda_handler({"Records": [record("inbox/a.png", version="v1")]}, context)
    second = handler.lambda_handler({"Records": [record("inbox/a.png", version="v2")]}, context)

    assert first["execution_name"] != second["execution_name"]
    assert len(executions()) == 2


def test_a_record_listed_twice_is_one_image(load_handler, aws, context) -> None:
    handler = load_handler("start_batch_workflow")
    event = {"Records": [record("inbox/a.png"), record("inbox/a.png"), record("inbox/b.png")]}

    result = handler.lambda_handler(event, context)

    [execution] = executions()
    keys = [image["s3_key"] for image in json.loads(execution["input"])["images"]]
    assert keys == ["inbox/a.png", "inbox/b.png"] and result["images"] == 2


def test_execution_name_is_a_valid_step_functions_name(load_handler, aws, context) -> None:
    handler = load_handler("start_batch_workflow")

    result = handler.lambda_handler({"Records": [record("inbox/odd name+/x.png")]}, context)

    assert re.fullmatch(r"inbox-[0-9a-f]{40}", result["execution_name"])


def test_retried_notification_does_not_start_a_second_execution(load_handler, aws, context) -> None:
    handler = load_handler("start_batch_workflow")
    event = {"Records": [record("inbox/a.png")]}

    first = handler.lambda_handler(event, context)
    retry = handler.lambda_handler(event, context)

    assert retry["execution_arn"] == first["execution_arn"]
    assert len(executions()) == 1


def test_retry_after_the_execution_finished_returns_it_without_starting_another(
    load_handler, aws, context
) -> None:
    handler = load_handler("start_batch_workflow")
    event = {"Records": [record("inbox/a.png")]}
    first = handler.lambda_handler(event, context)
    boto3.client("stepfunctions").stop_execution(executionArn=first["execution_arn"])

    retry = handler.lambda_handler(event, context)

    assert retry["execution_arn"] == first["execution_arn"]
    assert len(executions()) == 1


def test_objects_outside_the_inbox_and_deletions_are_skipped(load_handler, aws, context) -> None:
    handler = load_handler("start_batch_workflow")
    event = {
        "Records": [
            record("cifar/train/x.png"),
            record("inbox/gone.png", "ObjectRemoved:Delete"),
            record("inbox/"),
        ]
    }

    result = handler.lambda_handler(event, context)

    assert result["images"] == 0 and result["execution_arn"] is None
    assert executions() == []


def test_s3_test_event_is_ignored(load_handler, aws, context) -> None:
    handler = load_handler("start_batch_workflow")
    event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "scones-data"}

    assert handler.lambda_handler(event, context)["images"] == 0
    assert executions() == []
