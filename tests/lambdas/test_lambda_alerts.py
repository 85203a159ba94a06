"""Alerts: published to SNS for errors outside the named set, read back through SQS."""

from __future__ import annotations

import base64
import json
import logging

import pytest

from tests.lambdas.lambdas_endpoint_stub import model_error, service_error


def classify_event(png: bytes) -> dict:
    return {
        "s3_bucket": "scones-data",
        "s3_key": "images/bicycle.png",
        "content_type": "image/png",
        "image_data": base64.b64encode(png).decode(),
    }


def test_endpoint_outage_is_logged_not_alerted_per_attempt(
    load_handler, aws, stub, context, png, caplog
) -> None:
    """The state machine retries EndpointUnavailableError: one outage would otherwise alert
    once per attempt. Its final failure alerts once, from the state machine's Catch."""
    handler = load_handler("classify_image")
    stub.reply = model_error(503, "worker died")

    with caplog.at_level(logging.INFO), pytest.raises(handler.EndpointUnavailableError):
        handler.lambda_handler(classify_event(png), context)

    assert aws.alerts() == []
    assert any("worker died" in r.getMessage() for r in caplog.records)


def test_unexpected_error_alerts_with_source_type_message_request_id_and_input(
    load_handler, aws, stub, context, png
) -> None:
    from botocore.exceptions import ClientError

    handler = load_handler("classify_image")
    # What the runtime answers for an endpoint that does not exist: a deployment bug.
    stub.reply = service_error("ValidationError", 400)
    context.aws_request_id = "req-bug-1"

    with pytest.raises(ClientError, match="ValidationError"):
        handler.lambda_handler(classify_event(png), context)

    [alert] = aws.alerts()
    assert alert["source"] == "classify_image"
    assert alert["error_type"] == "ValidationError"
    assert "ValidationError" in alert["message"]
    assert alert["request_id"] == "req-bug-1"
    assert alert["input"] == {"s3_bucket": "scones-data", "s3_key": "images/bicycle.png"}
    assert alert["_raw"]["Subject"] == "classify_image: ValidationError"


def test_alert_never_carries_image_bytes(load_handler, aws, stub, context, png) -> None:
    from botocore.exceptions import ClientError

    handler = load_handler("classify_image")
    stub.reply = service_error("ValidationError", 400)
    image_data = classify_event(png)["image_data"]

    with pytest.raises(ClientError):
        handler.lambda_handler(classify_event(png), context)

    [alert] = aws.alerts()
    assert image_data[:64] not in json.dumps(alert)
    assert set(alert) == {"source", "error_type", "message", "request_id", "input", "_raw"}


def test_every_failure_is_its_own_alert(load_handler, aws, stub, context, png) -> None:
    """No FIFO topic, no deduplication id: two unexpected failures give two alerts."""
    from botocore.exceptions import ClientError

    handler = load_handler("classify_image")
    stub.reply = service_error("ValidationError", 400)

    for request_id in ("req-a", "req-b"):
        context.aws_request_id = request_id
        with pytest.raises(ClientError):
            handler.lambda_handler(classify_event(png), context)

    assert [a["request_id"] for a in aws.alerts()] == ["req-a", "req-b"]


def test_failure_to_publish_is_logged_and_the_original_error_raised(
    load_handler, aws, stub, context, png, caplog
) -> None:
    from botocore.exceptions import ClientError

    missing_topic = aws.topic_arn.replace("scones-alerts", "deleted-topic")
    handler = load_handler("classify_image", ALERT_TOPIC_ARN=missing_topic)
    stub.reply = service_error("ValidationError", 400)

    with caplog.at_level(logging.INFO), pytest.raises(ClientError):
        handler.lambda_handler(classify_event(png), context)

    [failed] = [r for r in caplog.records if r.getMessage() == "could not publish the alert"]
    assert failed.fields == {"topic_arn": missing_topic}, "the log line names the topic"
    assert aws.alerts() == []


def test_summarize_alert_names_the_execution(load_handler, aws, context) -> None:
    handler = load_handler("summarize_batch")
    aws.s3.delete_bucket(Bucket="scones-results")

    map_run = {"ResultWriterDetails": {"Bucket": "scones-results", "Key": "m/manifest.json"}}

    with pytest.raises(Exception, match="NoSuchBucket"):
        handler.lambda_handler({"execution_name": "inbox-9", "map_run": map_run}, context)

    [alert] = aws.alerts()
    assert alert["source"] == "summarize_batch"
    assert alert["input"] == {"execution_name": "inbox-9"}


def test_start_batch_alert_names_the_uploaded_object(load_handler, aws, context) -> None:
    machine = load_handler("start_batch_workflow").CONFIG.get().state_machine_arn
    deleted_machine = machine.replace("scones-batch", "deleted-batch")
    handler = load_handler("start_batch_workflow", STATE_MACHINE_ARN=deleted_machine)
    record = {
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": "scones-data"}, "object": {"key": "inbox/a.png"}},
    }

    with pytest.raises(Exception, match="StateMachineDoesNotExist"):
        handler.lambda_handler({"Records": [record]}, context)

    [alert] = aws.alerts()
    assert alert["input"] == {"s3_bucket": "scones-data", "s3_key": "inbox/a.png"}


def test_start_batch_alerts_on_a_malformed_notification(load_handler, aws, context) -> None:
    """S3 invokes it directly: no state machine Catch would report its named errors."""
    handler = load_handler("start_batch_workflow")

    with pytest.raises(Exception, match="no 'Records' list"):
        handler.lambda_handler({"detail": "not an S3 event"}, context)

    [alert] = aws.alerts()
    assert (alert["source"], alert["error_type"]) == ("start_batch_workflow", "InvalidEventError")


def test_start_batch_misconfiguration_alerts_to_the_topic_it_still_knows(
    load_handler, aws, context
) -> None:
    handler = load_handler("start_batch_workflow", STATE_MACHINE_ARN="scones-batch")
    record = {
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": "scones-data"}, "object": {"key": "inbox/a.png"}},
    }

    with pytest.raises(Exception, match="STATE_MACHINE_ARN"):
        handler.lambda_handler({"Records": [record]}, context)

    [alert] = aws.alerts()
    assert alert["error_type"] == "ConfigurationError"


def test_without_a_valid_alert_topic_the_log_says_the_alert_is_not_sent(
    load_handler, aws, context, caplog
) -> None:
    handler = load_handler("start_batch_workflow", ALERT_TOPIC_ARN="scones-alerts")

    with caplog.at_level(logging.INFO), pytest.raises(Exception, match="ALERT_TOPIC_ARN"):
        handler.lambda_handler({"Records": []}, context)

    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == ["no valid ALERT_TOPIC_ARN: the alert is not sent"]
    assert aws.alerts() == []
