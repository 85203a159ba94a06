"""Batch Transform jobs on the local cloud, as SageMaker documents them.

- CreateTransformJob (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateTransformJob.html):
  SplitType Line + BatchStrategy MultiRecord: as many lines per request as fit in
  MaxPayloadInMB; a single record larger than MaxPayloadInMB fails the job.
- TransformOutput (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_TransformOutput.html):
  `<output path>/<input name>.out`, written only for an object whose every request
  succeeded; AssembleWith Line ends every answer with a newline.
- TransformJobSummary: job names are [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}; a name in use is
  ResourceInUse (as for training jobs, aws/amazon-sagemaker-examples#3108).
- "Events that Amazon SageMaker sends to Amazon EventBridge", Transform job state change
  (https://docs.aws.amazon.com/sagemaker/latest/dg/automating-sagemaker-with-eventbridge.html);
  every target of a matching rule is invoked (PutTargets, EventBridge API Reference), so
  a target that no longer exists does not keep the event from the others.
"""

from __future__ import annotations

import base64
import json

import pytest
from botocore.exceptions import ClientError

from tests.integration.tiny_model import GREY, RED, build_artifact, solid_png
from tests.support.localcloud_harness import wait_until

pytestmark = pytest.mark.integration

BUCKET = "tf-local"
ROLE = "arn:aws:iam::123456789012:role/sagemaker"


@pytest.fixture(scope="module")
def model(local_cloud, tmp_path_factory) -> str:
    tarball = build_artifact(tmp_path_factory.mktemp("tiny-model"))
    s3 = local_cloud.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="model.tar.gz", Body=tarball.read_bytes())
    local_cloud.client("sagemaker").create_model(
        ModelName="transform-colour",
        ExecutionRoleArn=ROLE,
        PrimaryContainer={"Image": "pytorch", "ModelDataUrl": f"s3://{BUCKET}/model.tar.gz"},
    )
    return "transform-colour"


def lines(count: int, size: int = 0) -> bytes:
    records = []
    for i in range(count):
        image = base64.b64encode(solid_png(RED if i % 2 else GREY)).decode()
        records.append(json.dumps({"key": f"k{i}", "image": image, "pad": "x" * size}))
    return ("\n".join(records) + "\n").encode()


def run_job(local_cloud, model, name: str, key: str, payload_mb: int = 1) -> dict:
    sagemaker = local_cloud.client("sagemaker")
    sagemaker.create_transform_job(
        TransformJobName=name,
        ModelName=model,
        BatchStrategy="MultiRecord",
        MaxPayloadInMB=payload_mb,
        TransformInput={
            "DataSource": {
                "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/{key}"}
            },
            "ContentType": "application/jsonlines",
            "SplitType": "Line",
        },
        TransformOutput={
            "S3OutputPath": f"s3://{BUCKET}/out/{name}/",
            "Accept": "text/csv",
            "AssembleWith": "Line",
        },
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
    )
    return wait_until(
        lambda: (
            (d := sagemaker.describe_transform_job(TransformJobName=name))["TransformJobStatus"]
            != "InProgress"
            and d
        ),
        timeout=120,
    )


def job_log(local_cloud, name: str) -> str:
    events = local_cloud.client("logs").get_log_events(
        logGroupName="/aws/sagemaker/TransformJobs", logStreamName=f"{name}/local"
    )["events"]
    return "\n".join(e["message"] for e in events)


def test_multirecord_lines_are_batched_within_max_payload_and_assembled_by_line(local_cloud, model):
    s3 = local_cloud.client("s3")
    # 40 records of ~60 KB: 1 MB requests hold 17 of them, so 3 requests.
    s3.put_object(Bucket=BUCKET, Key="in/a/part.jsonl", Body=lines(40, size=60_000))

    job = run_job(local_cloud, model, "tf-multirecord", "in/a/part.jsonl")

    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    out = s3.get_object(Bucket=BUCKET, Key="out/tf-multirecord/part.jsonl.out")["Body"].read()
    rows = out.decode().splitlines()
    assert [r.split(",")[0] for r in rows] == [f"k{i}" for i in range(40)]
    assert "in 3 request(s)" in job_log(local_cloud, "tf-multirecord")


def test_a_record_larger_than_max_payload_fails_the_job_and_writes_no_out(local_cloud, model):
    s3 = local_cloud.client("s3")
    s3.put_object(Bucket=BUCKET, Key="in/b/part.jsonl", Body=lines(2, size=1_100_000))

    job = run_job(local_cloud, model, "tf-too-large", "in/b/part.jsonl")

    assert job["TransformJobStatus"] == "Failed"
    assert "larger than MaxPayloadInMB" in job["FailureReason"]
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="out/tf-too-large/")
    assert listed.get("KeyCount", 0) == 0


def test_a_job_name_in_use_is_resource_in_use(local_cloud, model):
    s3 = local_cloud.client("s3")
    s3.put_object(Bucket=BUCKET, Key="in/c/part.jsonl", Body=lines(1))
    run_job(local_cloud, model, "tf-once", "in/c/part.jsonl")

    with pytest.raises(ClientError) as error:
        run_job(local_cloud, model, "tf-once", "in/c/part.jsonl")

    assert error.value.response["Error"]["Code"] == "ResourceInUse"


def test_an_invalid_job_name_is_a_validation_error(local_cloud, model):
    with pytest.raises(ClientError) as error:
        run_job(local_cloud, model, "bad_name", "in/c/part.jsonl")

    assert error.value.response["Error"]["Code"] == "ValidationException"


def test_state_changes_reach_eventbridge_rules_with_sns_targets(local_cloud, model):
    sqs, sns, events = (local_cloud.client(s) for s in ("sqs", "sns", "events"))
    queue = sqs.create_queue(QueueName="tf-state-changes")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    topic = sns.create_topic(Name="tf-state-changes")["TopicArn"]
    # EventBridge publishes only where the topic's policy lets it ("Using resource-based
    # policies for Amazon EventBridge", Amazon SNS permissions); enforced here (issue 16).
    events_may_publish = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sns:Publish",
                "Resource": topic,
            }
        ],
    }
    sns.set_topic_attributes(
        TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps(events_may_publish)
    )
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    events.put_rule(
        Name="tf-failed",
        EventPattern=json.dumps(
            {
                "source": ["aws.sagemaker"],
                "detail-type": ["SageMaker Transform Job State Change"],
                "detail": {"TransformJobStatus": ["Failed"]},
            }
        ),
    )
    events.put_targets(
        Rule="tf-failed",
        Targets=[
            # Listed first: a deleted function's failed delivery must not stop the topic's.
            {"Id": "gone", "Arn": "arn:aws:lambda:us-east-1:123456789012:function:tf-gone"},
            {
                "Id": "topic",
                "Arn": topic,
                "InputTransformer": {
                    "InputPathsMap": {"job": "$.detail.TransformJobName"},
                    "InputTemplate": '{"job": <job>}',
                },
            },
        ],
    )
    local_cloud.client("s3").put_object(
        Bucket=BUCKET, Key="in/d/part.jsonl", Body=lines(1, size=1_100_000)
    )

    run_job(local_cloud, model, "tf-event", "in/d/part.jsonl")

    messages = wait_until(
        lambda: sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1).get("Messages"), timeout=30
    )
    assert json.loads(json.loads(messages[0]["Body"])["Message"]) == {"job": "tf-event"}
