"""start_batch_workflow: S3 notifications on inbox/ start the batch state machine."""

from __future__ import annotations

import json
from urllib.parse import quote_plus

import boto3


def record(key: str, event_name: str = "ObjectCreated:Put", bucket: str = "scones-data") -> dict:
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "eventName": event_name,
        "s3": {"bucket": {"name": bucket}, "object": {"key": quote_plus(key, safe="/")}},
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


def test_each_notification_gets_its_own_execution_name(load_handler, aws, context) -> None:
    handler = load_handler("start_batch_workflow")
    context.aws_request_id = "11111111-aaaa"
    first = handler.lambda_handler({"Records": [record("inbox/a.png")]}, context)
    context.aws_request_id = "22222222-bbbb"
    second = handler.lambda_handler({"Records": [record("inbox/b.png")]}, context)

    assert first["execution_name"] != second["execution_name"]
    assert len(executions()) == 2


def test_request_id_is_made_a_valid_execution_name(load_handler, aws, context) -> None:
    handler = load_handler("start_batch_workflow")
    context.aws_request_id = "local:request/7 ok"

    result = handler.lambda_handler({"Records": [record("inbox/a.png")]}, context)

    assert result["execution_name"] == "inbox-local-request-7-ok"


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
