"""start_batch_workflow's failed events, through what `terraform apply` deployed.

AWS pages these tests follow:
- "How Lambda handles errors and retries with asynchronous invocation"
  (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html):
  S3 invokes the function asynchronously; a function error is retried twice, then the
  event is discarded (to the on-failure destination).
- "Capturing records of Lambda asynchronous invocations"
  (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html):
  the SQS message body is the invocation record, requestPayload the original event.
- SQS developer guide, "Available CloudWatch metrics for Amazon SQS"
  (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html):
  ApproximateNumberOfMessagesVisible, dimension QueueName.
The re-drive follows terraform/README.md, "Failed inbox events".
"""

from __future__ import annotations

import json
from urllib.parse import unquote_plus

import pytest

from tests.support.localcloud_harness import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.terraform, pytest.mark.slow]


def test_dead_letter_queue_depth_alarm_alerts_the_topic(deployment):
    queue_url = deployment.output("inbox_dead_letter_queue_url")
    queue_name = queue_url.rsplit("/", 1)[-1]
    sqs = deployment.cloud.client("sqs")
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    assert attributes["QueueArn"] == deployment.output("inbox_dead_letter_queue_arn")
    assert attributes["KmsMasterKeyId"] == deployment.output("kms_key_arn")
    assert attributes["MessageRetentionPeriod"] == str(14 * 86400)

    alarms = deployment.cloud.client("cloudwatch").describe_alarms()["MetricAlarms"]
    [alarm] = [
        a
        for a in alarms
        if a["Namespace"] == "AWS/SQS"
        and a["MetricName"] == "ApproximateNumberOfMessagesVisible"
        and {"Name": "QueueName", "Value": queue_name} in a["Dimensions"]
    ]
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarm["Threshold"] == 0
    assert alarm["AlarmActions"] == [deployment.output("alert_topic_arn")]


def test_event_invoke_config_is_deployed(deployment):
    function = deployment.output("lambda_function_names")["start_batch_workflow"]
    config = deployment.cloud.client("lambda").get_function_event_invoke_config(
        FunctionName=function
    )

    assert config["MaximumRetryAttempts"] == 2
    assert 60 <= config["MaximumEventAgeInSeconds"] <= 21600
    assert config["DestinationConfig"]["OnFailure"]["Destination"] == deployment.output(
        "inbox_dead_letter_queue_arn"
    )


def test_inbox_upload_whose_batch_cannot_start_is_dead_lettered_then_redriven(deployment):
    cloud = deployment.cloud
    lam, sqs, sfn = cloud.client("lambda"), cloud.client("sqs"), cloud.client("stepfunctions")
    function = deployment.output("lambda_function_names")["start_batch_workflow"]
    queue_url = deployment.output("inbox_dead_letter_queue_url")
    machine = deployment.output("batch_state_machine_arn")
    bucket = deployment.output("data_bucket")
    image = deployment.images["confident"]
    key = f"inbox/dead-letter-{image.path.name}"
    environment = lam.get_function_configuration(FunctionName=function)["Environment"]
    # StartExecution fails on every attempt: the function names a state machine that
    # does not exist (as after a bad deploy), so the upload's event fails all 3 attempts.
    broken = {**environment["Variables"], "STATE_MACHINE_ARN": f"{machine}-missing"}
    lam.update_function_configuration(FunctionName=function, Environment={"Variables": broken})
    try:
        cloud.client("s3").put_object(Bucket=bucket, Key=key, Body=image.path.read_bytes())

        def dead_letters() -> list[dict]:
            return sqs.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=60
            ).get("Messages", [])

        messages = wait_until(dead_letters, timeout=60)
    finally:
        # Back as Terraform applied it (a second plan must see no change).
        lam.update_function_configuration(FunctionName=function, Environment=environment)

    assert messages and len(messages) == 1, messages
    record = json.loads(messages[0]["Body"])
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestContext"]["functionArn"].split(":")[6] == function
    [s3_record] = record["requestPayload"]["Records"]
    assert s3_record["s3"]["bucket"]["name"] == bucket
    assert unquote_plus(s3_record["s3"]["object"]["key"]) == key  # S3 URL-encodes keys
    assert record["responseContext"]["functionError"] == "Unhandled"
    # The role may start only the batch machine: IAM answers before the service looks
    # the missing machine up, as on AWS (the local cloud enforces it, issue 16).
    assert "AccessDeniedException" in json.dumps(record["responsePayload"])
    assert "states:StartExecution" in json.dumps(record["responsePayload"])

    # The re-drive of terraform/README.md: the event back to the function, then the
    # record deleted.
    before = {e["executionArn"] for e in sfn.list_executions(stateMachineArn=machine)["executions"]}
    lam.invoke(
        FunctionName=function,
        InvocationType="Event",
        Payload=json.dumps(record["requestPayload"]),
    )
    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=messages[0]["ReceiptHandle"])

    def started() -> list[dict]:
        return [
            e
            for e in sfn.list_executions(stateMachineArn=machine)["executions"]
            if e["executionArn"] not in before
        ]

    new = wait_until(started, timeout=60)
    assert len(new) == 1
    execution_input = json.loads(
        sfn.describe_execution(executionArn=new[0]["executionArn"])["input"]
    )
    assert execution_input == {"images": [{"s3_bucket": bucket, "s3_key": key}]}
    sqs_attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    assert sqs_attributes == {
        "ApproximateNumberOfMessages": "0",
        "ApproximateNumberOfMessagesNotVisible": "0",
    }
