"""The offline path through what `terraform apply` deployed on the local cloud, from the PUT:
serialize_batch -> transform/input/ PUT -> start_transform_job -> Batch Transform with the
endpoint's model -> transform/output/*.out PUT -> evaluate_transform_output -> results
document + one SNS summary.

AWS pages these tests follow:
- SageMaker API reference, CreateTransformJob / TransformInput / TransformOutput
  (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_TransformOutput.html):
  `<input name>.out` under S3OutputPath, written only when the whole object succeeded.
- "Events that Amazon SageMaker sends to Amazon EventBridge", Transform job state change
  (https://docs.aws.amazon.com/sagemaker/latest/dg/automating-sagemaker-with-eventbridge.html).
- S3 user guide, "Amazon S3 Event Notifications": delivered at least once.
"""

from __future__ import annotations

import base64
import json

import pytest

from tests.support.localcloud_harness import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.terraform, pytest.mark.slow]


def serialize(deployment, images: list[dict], batch_id: str) -> dict:
    function = deployment.output("lambda_function_names")["serialize_batch"]
    response = deployment.cloud.client("lambda").invoke(
        FunctionName=function, Payload=json.dumps({"images": images, "batch_id": batch_id})
    )
    payload = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, payload
    return payload


def results(deployment, batch_id: str, timeout: float = 120) -> dict:
    s3 = deployment.cloud.client("s3")
    bucket = deployment.output("data_bucket")
    key = f"{deployment.output('transform_results_prefix')}{batch_id}.json"

    def read():
        try:
            return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        except s3.exceptions.NoSuchKey:
            return None

    document = wait_until(read, timeout=timeout)
    assert document, f"no results document s3://{bucket}/{key} after {timeout} s"
    return document


def jobs_for(deployment, batch_id: str) -> list[dict]:
    sagemaker = deployment.cloud.client("sagemaker")
    names = [
        j["TransformJobName"] for j in sagemaker.list_transform_jobs()["TransformJobSummaries"]
    ]
    described = [sagemaker.describe_transform_job(TransformJobName=n) for n in names]
    return [
        d
        for d in described
        if f"/transform/input/{batch_id}/"
        in d["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"]
    ]


def test_a_batch_of_real_images_goes_from_the_put_to_the_results_and_one_summary(
    deployment, alerts
):
    bucket = deployment.output("data_bucket")
    scored = deployment.images["all"][:40]
    images = [
        deployment.upload(f"inputs/tf-e2e/{s.path.name}", s.path.read_bytes()) for s in scored
    ]

    serialized = serialize(deployment, images, "tf-e2e")
    document = results(deployment, "tf-e2e")

    assert serialized["parts"] == ["transform/input/tf-e2e/part-00000.jsonl"]
    assert document["status"] == "completed" and document["total"] == 40
    assert document["passed"] + document["low_confidence"] == 40 and document["error"] == 0
    expected = {s.path.name: s for s in scored}
    for item in document["results"]:
        score = expected[item["s3_key"].rsplit("/", 1)[1]]
        assert item["s3_bucket"] == bucket
        assert item["label"] == score.label
        assert item["confidence"] == pytest.approx(score.confidence, abs=1e-5)
        assert item["status"] == ("passed" if score.confidence >= 0.93 else "low_confidence")
    [job] = jobs_for(deployment, "tf-e2e")
    assert job["TransformJobStatus"] == "Completed"
    assert job["ModelName"] == deployment.output("model_name")
    assert job["TransformOutput"]["KmsKeyId"] == deployment.output("kms_key_arn")
    if document["low_confidence"]:
        summaries = alerts(lambda m: m.get("input", {}).get("batch_id") == "tf-e2e")
        assert len(summaries) == 1 and summaries[0]["error_type"] == "BatchItemsNotPassed"


def test_unreadable_images_are_each_an_error_and_cost_the_others_nothing(deployment):
    good = deployment.images["confident"]
    images = [
        deployment.upload("inputs/tf-bad/good.png", good.path.read_bytes()),
        deployment.upload("inputs/tf-bad/truncated.png", good.path.read_bytes()[:40]),
        deployment.upload("inputs/tf-bad/notes.png", b"not an image"),
        {"s3_bucket": deployment.output("data_bucket"), "s3_key": "inputs/tf-bad/missing.png"},
    ]

    serialize(deployment, images, "tf-bad")
    document = results(deployment, "tf-bad")

    by_key = {r["s3_key"].rsplit("/", 1)[1]: r for r in document["results"]}
    assert by_key["good.png"]["status"] == "passed"
    assert by_key["truncated.png"]["error"]["Error"] == "UnsupportedImageError"
    assert by_key["notes.png"]["error"]["Error"] == "UnsupportedImageError"
    assert by_key["missing.png"]["error"]["Error"] == "ImageNotFoundError"
    assert (document["total"], document["error"]) == (4, 3)


def test_bad_transform_input_lines_are_named_errors_per_line(deployment):
    good = deployment.images["confident"].path.read_bytes()
    bucket = deployment.output("data_bucket")
    lines = [
        {"key": f"s3://{bucket}/hand/good.png", "image": base64.b64encode(good).decode()},
        {"key": f"s3://{bucket}/hand/junk.png", "image": base64.b64encode(b"junk").decode()},
        {"key": f"s3://{bucket}/hand/no-image.png"},
    ]
    body = "\n".join(json.dumps(line) for line in lines) + "\n{not json\n"
    deployment.cloud.client("s3").put_object(
        Bucket=bucket, Key="transform/input/tf-lines/part-00000.jsonl", Body=body.encode()
    )

    document = results(deployment, "tf-lines")

    errors = [
        (r.get("s3_key"), r["status"], r.get("error", {}).get("Error")) for r in document["results"]
    ]
    assert sorted(errors, key=str) == sorted(
        [
            ("hand/good.png", "passed", None),
            ("hand/junk.png", "error", "InvalidImageError"),
            ("hand/no-image.png", "error", "InvalidRecordError"),
            (None, "error", "InvalidRecordError"),
        ],
        key=str,
    )


def test_the_same_input_put_twice_is_one_job_and_one_result(deployment, alerts):
    bucket = deployment.output("data_bucket")
    s3 = deployment.cloud.client("s3")
    good = deployment.images["unsure"].path.read_bytes()
    line = json.dumps({"key": f"s3://{bucket}/dup/a.png", "image": base64.b64encode(good).decode()})
    key = "transform/input/tf-dup/part-00000.jsonl"

    s3.put_object(Bucket=bucket, Key=key, Body=line.encode() + b"\n")
    first = results(deployment, "tf-dup")
    s3.put_object(Bucket=bucket, Key=key, Body=line.encode() + b"\n")
    deployment.cloud.drain_notifications() if hasattr(
        deployment.cloud, "drain_notifications"
    ) else None

    def settled():
        jobs = jobs_for(deployment, "tf-dup")
        return jobs if all(j["TransformJobStatus"] != "InProgress" for j in jobs) else None

    assert len(wait_until(settled, timeout=60)) == 1
    assert results(deployment, "tf-dup") == first
    summaries = alerts(lambda m: m.get("input", {}).get("batch_id") == "tf-dup")
    assert len(summaries) == 1  # the unsure image is low confidence: one summary, not two


def test_a_job_that_fails_alerts_and_records_the_batch_as_failed(deployment, alerts):
    bucket = deployment.output("data_bucket")
    # One record larger than MaxPayloadInMB (6): SageMaker fails the job.
    line = json.dumps({"key": f"s3://{bucket}/big/a.png", "image": "A" * (7 * 1024 * 1024)})
    deployment.cloud.client("s3").put_object(
        Bucket=bucket, Key="transform/input/tf-fail/part-00000.jsonl", Body=line.encode() + b"\n"
    )

    document = results(deployment, "tf-fail")

    assert document["status"] == "failed"
    [item] = document["results"]
    assert item["s3_key"] == "big/a.png" and item["error"]["Error"] == "TransformJobFailed"
    assert "MaxPayloadInMB" in item["error"]["Cause"]
    [job_alert] = alerts(lambda m: m.get("source") == "sagemaker-transform")
    assert job_alert["error_type"] == "TransformJobFailed"
    assert job_alert["input"]["s3_uri"].endswith("transform/input/tf-fail/part-00000.jsonl")
