"""Asynchronous (`Event`) Lambda invocations on the local cloud, as AWS documents them.

AWS pages each test follows:
- "How Lambda handles errors and retries with asynchronous invocation"
  (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html):
  a function error is retried twice by default, one minute then two minutes later
  (here scaled by LOCALCLOUD_ASYNC_TIME_SCALE, default 0.01).
- "Configuring error handling settings for Lambda asynchronous invocations"
  (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-configuring.html):
  MaximumRetryAttempts 0-2, MaximumEventAgeInSeconds 60-21600; put overwrites, update
  changes only the options given.
- "Capturing records of Lambda asynchronous invocations"
  (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html):
  the invocation record (version, timestamp, requestContext, requestPayload,
  responseContext, responsePayload) is the SQS message body / the SNS message; the
  dead-letter queue gets the event as-is with RequestID, ErrorCode, ErrorMessage.
- "Process Amazon S3 event notifications with Lambda"
  (https://docs.aws.amazon.com/lambda/latest/dg/with-s3.html): S3 invokes the function
  asynchronously, so a failing notification is retried and recorded like any `Event`.
- Knowledge center "How do I prevent duplicate Lambda function invocations?"
  (https://repost.aws/knowledge-center/lambda-function-duplicate-invocations): the
  retries of an asynchronous event carry the same request id.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest

from tests.support.localcloud_harness import wait_until, zip_source

pytestmark = pytest.mark.integration

PROBE_SOURCE = (Path(__file__).resolve().parent / "probe_handler.py").read_text()


@pytest.fixture
def async_function(local_cloud, lambda_role):
    """A fresh probe function (its own asynchronous configuration) per test."""
    name = f"async-{uuid.uuid4().hex[:8]}"
    local_cloud.client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=lambda_role,
        Handler="probe_handler.lambda_handler",
        Code={"ZipFile": zip_source({"probe_handler.py": PROBE_SOURCE})},
        Timeout=5,
        MemorySize=128,
    )
    return name


@pytest.fixture
def destination_queue(local_cloud):
    sqs = local_cloud.client("sqs")
    url = sqs.create_queue(QueueName=f"dest-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return {"url": url, "arn": arn}


def receive(local_cloud, queue_url: str, timeout: float = 20, **kwargs) -> list[dict]:
    sqs = local_cloud.client("sqs")

    def poll() -> list[dict]:
        return sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, **kwargs).get(
            "Messages", []
        )

    return wait_until(poll, timeout=timeout) or []


def start_lines(local_cloud, function: str, request_id: str) -> int:
    logs = local_cloud.client("logs")
    events = logs.filter_log_events(logGroupName=f"/aws/lambda/{function}")["events"]
    return sum(e["message"].startswith(f"START RequestId: {request_id}") for e in events)


def invoke_async(local_cloud, function: str, event: dict) -> dict:
    return local_cloud.client("lambda").invoke(
        FunctionName=function, InvocationType="Event", Payload=json.dumps(event)
    )


def test_failing_event_is_retried_twice_then_recorded_in_the_on_failure_queue(
    local_cloud, async_function, destination_queue
):
    local_cloud.client("lambda").put_function_event_invoke_config(
        FunctionName=async_function,
        DestinationConfig={"OnFailure": {"Destination": destination_queue["arn"]}},
    )
    event = {"raise": "always fails", "order": 7}

    started = time.monotonic()
    response = invoke_async(local_cloud, async_function, event)
    assert response["StatusCode"] == 202

    messages = receive(local_cloud, destination_queue["url"])
    elapsed = time.monotonic() - started
    assert len(messages) == 1
    record = json.loads(messages[0]["Body"])
    assert record["version"] == "1.0"
    assert record["timestamp"].endswith("Z")
    context = record["requestContext"]
    assert context["condition"] == "RetriesExhausted"
    assert context["approximateInvokeCount"] == 3  # the first attempt and 2 retries (default)
    assert context["functionArn"].endswith(f":function:{async_function}:$LATEST")
    assert record["requestPayload"] == event
    assert record["responseContext"] == {
        "statusCode": 200,
        "executedVersion": "$LATEST",
        "functionError": "Unhandled",
    }
    assert record["responsePayload"]["errorType"] == "ThresholdNotMetError"
    assert record["responsePayload"]["errorMessage"] == "always fails"
    # 60 s + 120 s of AWS waits at the default scale of 0.01.
    assert elapsed >= 1.8
    # Three runs of the handler under one request id, as Lambda's retries are.
    assert wait_until(lambda: start_lines(local_cloud, async_function, context["requestId"]) == 3)
    # Nothing more arrives.
    assert receive(local_cloud, destination_queue["url"], timeout=2) == []


def test_maximum_retry_attempts_zero_records_after_one_attempt(
    local_cloud, async_function, destination_queue
):
    local_cloud.client("lambda").put_function_event_invoke_config(
        FunctionName=async_function,
        MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": destination_queue["arn"]}},
    )

    invoke_async(local_cloud, async_function, {"raise": "once"})

    messages = receive(local_cloud, destination_queue["url"])
    record = json.loads(messages[0]["Body"])
    assert record["requestContext"]["approximateInvokeCount"] == 1
    assert record["requestContext"]["condition"] == "RetriesExhausted"


def test_an_event_older_than_the_maximum_age_is_discarded(
    local_cloud, async_function, destination_queue
):
    # 60 s (the minimum) is less than the 60 s wait before the first retry.
    local_cloud.client("lambda").put_function_event_invoke_config(
        FunctionName=async_function,
        MaximumEventAgeInSeconds=60,
        DestinationConfig={"OnFailure": {"Destination": destination_queue["arn"]}},
    )

    invoke_async(local_cloud, async_function, {"raise": "too old to retry"})

    record = json.loads(receive(local_cloud, destination_queue["url"])[0]["Body"])
    assert record["requestContext"]["condition"] == "EventAgeExceeded"
    assert record["requestContext"]["approximateInvokeCount"] == 1
    assert record["responsePayload"]["errorMessage"] == "too old to retry"


def test_a_backlog_queued_for_seconds_is_processed_not_discarded_as_too_old(
    local_cloud, async_function, destination_queue
):
    # Twelve 1 s events on one function (at most 4 environments here) wait up to ~2 s in
    # the queue: far under the 60 s minimum age on AWS, but over 60 s x the 0.01 scale of
    # the retry waits. Only retry waits are shortened; queued time is real time.
    local_cloud.client("lambda").put_function_event_invoke_config(
        FunctionName=async_function,
        MaximumEventAgeInSeconds=60,
        DestinationConfig={
            "OnSuccess": {"Destination": destination_queue["arn"]},
            "OnFailure": {"Destination": destination_queue["arn"]},
        },
    )
    for order in range(12):
        invoke_async(local_cloud, async_function, {"sleep": 1.0, "order": order})

    sqs = local_cloud.client("sqs")
    # By request id: a message seen again after its visibility timeout counts once.
    by_request: dict[str, dict] = {}
    deadline = time.monotonic() + 120
    while len(by_request) < 12 and time.monotonic() < deadline:
        for message in receive(local_cloud, destination_queue["url"]):
            record = json.loads(message["Body"])
            by_request[record["requestContext"]["requestId"]] = record
            sqs.delete_message(
                QueueUrl=destination_queue["url"], ReceiptHandle=message["ReceiptHandle"]
            )
    records = list(by_request.values())
    assert [r["requestContext"]["condition"] for r in records] == ["Success"] * 12
    assert sorted(r["requestPayload"]["order"] for r in records) == list(range(12))


def test_a_succeeding_event_sends_nothing_on_failure_and_a_record_on_success(
    local_cloud, async_function, destination_queue
):
    sqs = local_cloud.client("sqs")
    success_url = sqs.create_queue(QueueName=f"ok-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    success_arn = sqs.get_queue_attributes(QueueUrl=success_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    local_cloud.client("lambda").put_function_event_invoke_config(
        FunctionName=async_function,
        DestinationConfig={
            "OnFailure": {"Destination": destination_queue["arn"]},
            "OnSuccess": {"Destination": success_arn},
        },
    )

    invoke_async(local_cloud, async_function, {"echo": "fine"})

    record = json.loads(receive(local_cloud, success_url)[0]["Body"])
    assert record["requestContext"]["condition"] == "Success"
    assert record["requestContext"]["approximateInvokeCount"] == 1
    assert record["requestPayload"] == {"echo": "fine"}
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}
    assert record["responsePayload"]["echo"] == "fine"
    assert receive(local_cloud, destination_queue["url"], timeout=3) == []


def test_without_a_destination_a_succeeding_event_sends_nothing(
    local_cloud, async_function, destination_queue
):
    local_cloud.client("lambda").put_function_event_invoke_config(
        FunctionName=async_function,
        DestinationConfig={"OnFailure": {"Destination": destination_queue["arn"]}},
    )

    invoke_async(local_cloud, async_function, {"echo": "fine"})

    assert wait_until(lambda: start_lines_any(local_cloud, async_function) == 1)
    assert receive(local_cloud, destination_queue["url"], timeout=3) == []


def start_lines_any(local_cloud, function: str) -> int:
    logs = local_cloud.client("logs")
    try:
        events = logs.filter_log_events(logGroupName=f"/aws/lambda/{function}")["events"]
    except logs.exceptions.ResourceNotFoundException:
        return 0
    return sum(e["message"].startswith("START RequestId:") for e in events)


def test_on_failure_sns_destination_gets_the_record_as_its_message(
    local_cloud, async_function, destination_queue
):
    sns = local_cloud.client("sns")
    topic = sns.create_topic(Name=f"failures-{uuid.uuid4().hex[:8]}")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=destination_queue["arn"])
    local_cloud.client("lambda").put_function_event_invoke_config(
        FunctionName=async_function,
        MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": topic}},
    )

    invoke_async(local_cloud, async_function, {"raise": "to the topic"})

    notification = json.loads(receive(local_cloud, destination_queue["url"])[0]["Body"])
    record = json.loads(notification["Message"])
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestPayload"] == {"raise": "to the topic"}


def test_dead_letter_queue_gets_the_event_as_is_with_its_attributes(
    local_cloud, async_function, destination_queue
):
    lam = local_cloud.client("lambda")
    lam.update_function_configuration(
        FunctionName=async_function, DeadLetterConfig={"TargetArn": destination_queue["arn"]}
    )
    lam.put_function_event_invoke_config(FunctionName=async_function, MaximumRetryAttempts=0)

    invoke_async(local_cloud, async_function, {"raise": "to the DLQ"})

    message = receive(local_cloud, destination_queue["url"], MessageAttributeNames=["All"])[0]
    assert json.loads(message["Body"]) == {"raise": "to the DLQ"}
    attributes = message["MessageAttributes"]
    assert attributes["ErrorCode"]["StringValue"] == "200"
    assert attributes["ErrorMessage"]["StringValue"] == "to the DLQ"
    assert attributes["RequestID"]["StringValue"]


def test_event_invoke_config_put_overwrites_update_merges_delete_removes(
    local_cloud, async_function, destination_queue
):
    lam = local_cloud.client("lambda")
    lam.put_function_event_invoke_config(
        FunctionName=async_function,
        MaximumRetryAttempts=1,
        DestinationConfig={"OnFailure": {"Destination": destination_queue["arn"]}},
    )

    lam.update_function_event_invoke_config(
        FunctionName=async_function, MaximumEventAgeInSeconds=120
    )
    updated = lam.get_function_event_invoke_config(FunctionName=async_function)
    assert updated["MaximumRetryAttempts"] == 1
    assert updated["MaximumEventAgeInSeconds"] == 120
    assert updated["DestinationConfig"]["OnFailure"]["Destination"] == destination_queue["arn"]

    lam.put_function_event_invoke_config(FunctionName=async_function, MaximumRetryAttempts=0)
    replaced = lam.get_function_event_invoke_config(FunctionName=async_function)
    assert replaced["MaximumRetryAttempts"] == 0
    assert "MaximumEventAgeInSeconds" not in replaced
    assert not (replaced.get("DestinationConfig") or {}).get("OnFailure", {}).get("Destination")
    listed = lam.list_function_event_invoke_configs(FunctionName=async_function)
    assert len(listed["FunctionEventInvokeConfigs"]) == 1

    lam.delete_function_event_invoke_config(FunctionName=async_function)
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function_event_invoke_config(FunctionName=async_function)


def test_more_than_two_retries_is_refused(local_cloud, async_function):
    lam = local_cloud.client("lambda")
    with pytest.raises(lam.exceptions.ClientError) as error:
        lam.put_function_event_invoke_config(FunctionName=async_function, MaximumRetryAttempts=3)
    assert error.value.response["Error"]["Code"] in (
        "ValidationException",
        "InvalidParameterValueException",
    )


def test_an_event_body_that_is_not_json_is_refused(local_cloud, async_function):
    lam = local_cloud.client("lambda")
    with pytest.raises(lam.exceptions.ClientError) as error:
        lam.invoke(FunctionName=async_function, InvocationType="Event", Payload=b"{not json")
    assert error.value.response["Error"]["Code"] == "InvalidRequestContentException"


def test_s3_notification_that_fails_is_retried_and_recorded(
    local_cloud, lambda_role, destination_queue
):
    lam, s3 = local_cloud.client("lambda"), local_cloud.client("s3")
    function = f"s3-fails-{uuid.uuid4().hex[:8]}"
    source = "def lambda_handler(event, context):\n    raise RuntimeError('cannot process')\n"
    arn = lam.create_function(
        FunctionName=function,
        Runtime="python3.12",
        Role=lambda_role,
        Handler="fails.lambda_handler",
        Code={"ZipFile": zip_source({"fails.py": source})},
        Timeout=5,
    )["FunctionArn"]
    lam.put_function_event_invoke_config(
        FunctionName=function,
        MaximumRetryAttempts=1,
        DestinationConfig={"OnFailure": {"Destination": destination_queue["arn"]}},
    )
    bucket = f"fails-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    # S3 may invoke the function only with its permission ("Granting permissions to invoke
    # an AWS Lambda function", S3 User Guide); the local cloud enforces it (issue 16).
    lam.add_permission(
        FunctionName=function,
        StatementId="failing-bucket",
        Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com",
        SourceArn=f"arn:aws:s3:::{bucket}",
    )
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "LambdaFunctionConfigurations": [
                {"LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:*"]}
            ]
        },
    )

    s3.put_object(Bucket=bucket, Key="x.png", Body=b"x")

    record = json.loads(receive(local_cloud, destination_queue["url"], timeout=30)[0]["Body"])
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 2
    assert record["responsePayload"]["errorMessage"] == "cannot process"
    s3_record = record["requestPayload"]["Records"][0]
    assert s3_record["eventSource"] == "aws:s3"
    assert s3_record["s3"]["object"]["key"] == "x.png"
