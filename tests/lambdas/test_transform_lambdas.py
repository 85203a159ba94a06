"""The offline path's three functions on moto: serialize_batch, start_transform_job,
evaluate_transform_output.

AWS pages these tests follow:
- CreateTransformJob (SageMaker API reference,
  https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateTransformJob.html):
  BatchStrategy MultiRecord fits as many records as MaxPayloadInMB allows, with SplitType
  Line; MaxPayloadInMB must be >= the size of one record (else the job fails).
- TransformJobSummary (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_TransformJobSummary.html):
  a job name is 1-63 characters of [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}.
- TransformOutput (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_TransformOutput.html):
  Accept, AssembleWith Line, KmsKeyId; the output object is `<input name>.out`.
- TransformResources VolumeKmsKeyId encrypts the instance's storage volume.
- A name in use is refused with ResourceInUse (as CreateTrainingJob's: "names must be
  unique within an AWS account and region", aws/amazon-sagemaker-examples#3108); a job's
  record is never deleted (aws/amazon-sagemaker-examples#633), so the name stays taken.
- "Events that Amazon SageMaker sends to Amazon EventBridge", Transform job state change
  (https://docs.aws.amazon.com/sagemaker/latest/dg/automating-sagemaker-with-eventbridge.html):
  source aws.sagemaker, detail-type "SageMaker Transform Job State Change", detail = the
  DescribeTransformJob fields (TransformJobStatus, FailureReason, TransformInput, ...).
"""

from __future__ import annotations

import base64
import json
import re

import boto3
import pytest
from botocore.stub import Stubber

from tests.lambdas.lambdas_constants import DATA_BUCKET

# ------------------------------------------------------------------ helpers


def s3_record(key: str, etag: str = "0123abcd", bucket: str = DATA_BUCKET) -> dict:
    return {
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": bucket}, "object": {"key": key, "eTag": etag}},
    }


def body(key: str) -> bytes:
    return boto3.client("s3").get_object(Bucket=DATA_BUCKET, Key=key)["Body"].read()


def put(key: str, data: bytes | str) -> None:
    boto3.client("s3").put_object(Bucket=DATA_BUCKET, Key=key, Body=data)


def keys(prefix: str) -> list[str]:
    listed = boto3.client("s3").list_objects_v2(Bucket=DATA_BUCKET, Prefix=prefix)
    return [o["Key"] for o in listed.get("Contents", [])]


def input_line(key: str, image: bytes = b"\x89PNG fake") -> str:
    return json.dumps({"key": key, "image": base64.b64encode(image).decode()}) + "\n"


# ------------------------------------------------------------------ serialize_batch


def test_serialize_batch_writes_manifest_then_bounded_json_line_parts(load_handler, aws, context):
    handler = load_handler("serialize_batch", TRANSFORM_PART_IMAGES="2")
    images = [
        {"s3_bucket": DATA_BUCKET, "s3_key": k}
        for k in ("images/bicycle.png", "images/motorcycle.jpg", "images/large.png")
    ]

    result = handler.lambda_handler({"images": images, "batch_id": "b1"}, context)

    assert result["batch_id"] == "b1"
    assert result["parts"] == [
        "transform/input/b1/part-00000.jsonl",
        "transform/input/b1/part-00001.jsonl",
    ]
    assert result["results_uri"] == f"s3://{DATA_BUCKET}/results/transform-b1.json"
    lines = [json.loads(line) for p in result["parts"] for line in body(p).splitlines()]
    assert [line["key"] for line in lines] == [f"s3://{DATA_BUCKET}/{i['s3_key']}" for i in images]
    assert base64.b64decode(lines[0]["image"]) == aws.objects["images/bicycle.png"]
    manifest = json.loads(body("transform/batches/b1.json"))
    assert manifest["parts"] == result["parts"]
    assert manifest["images"] == 3 and manifest["rejected"] == []


def test_serialize_batch_records_images_it_cannot_send_in_the_manifest(load_handler, context):
    handler = load_handler("serialize_batch")
    names = ["bicycle.png", "truncated.png", "notes.txt", "missing.png"]
    images = [{"s3_bucket": DATA_BUCKET, "s3_key": f"images/{n}"} for n in names]

    result = handler.lambda_handler({"images": images, "batch_id": "b2"}, context)

    assert result["rejected"] == 3
    [part] = result["parts"]
    assert len(body(part).splitlines()) == 1
    rejected = {
        r["s3_key"]: r["error"]["Error"]
        for r in json.loads(
            body(result["parts"][0].replace("input/b2/part-00000.jsonl", "batches/b2.json"))
        )["rejected"]
    }
    assert rejected == {
        "images/truncated.png": "UnsupportedImageError",
        "images/notes.txt": "UnsupportedImageError",
        "images/missing.png": "ImageNotFoundError",
    }


def test_serialize_batch_rejects_a_record_over_the_payload_limit(load_handler, context):
    handler = load_handler("serialize_batch", MAX_IMAGE_BYTES=str(8 * 1024 * 1024))
    images = [{"s3_bucket": DATA_BUCKET, "s3_key": "images/large.png"}]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(handler, "MIB", 1024 * 100)  # MaxPayloadInMB of 6 x 100 KiB = 600 KiB
        config = handler.load_config({**handler.os.environ})
        result = handler.serialize_batch({"images": images, "batch_id": "b3"}, config)

    assert result["parts"] == [] and result["rejected"] == 1
    document = json.loads(body("results/transform-b3.json"))
    assert document["total"] == 1 and document["error"] == 1
    assert "MaxPayloadInMB" in document["results"][0]["error"]["Cause"]


def test_serialize_batch_takes_a_prefix_and_names_a_batch_by_time(load_handler, context):
    handler = load_handler("serialize_batch")
    put("elsewhere/bicycle.png", b"not under the prefix")
    put("images/folder/", b"")  # the console's folder marker: a key, not an image

    result = handler.lambda_handler({"s3_bucket": DATA_BUCKET, "s3_prefix": "images/"}, context)

    assert re.fullmatch(r"\d{8}T\d{6}-[0-9a-f]{12}", result["batch_id"])
    assert result["images"] == 6  # the six images the fixture put under images/


def test_a_batch_with_every_image_rejected_gets_its_results_document_at_once(load_handler, context):
    """No part, so no job will write an output: serialize_batch writes the results document
    itself, in evaluate_transform_output's shape (CONTRACTS.md, the batch results document)."""
    handler = load_handler("serialize_batch")
    names = ["notes.txt", "missing.png", "empty.png"]
    images = [{"s3_bucket": DATA_BUCKET, "s3_key": f"images/{n}"} for n in names]

    result = handler.lambda_handler({"images": images, "batch_id": "b4"}, context)

    assert result["parts"] == [] and result["rejected"] == 3
    stored = boto3.client("s3").get_object(Bucket=DATA_BUCKET, Key="results/transform-b4.json")
    assert stored["ContentType"].lower() == "application/json"  # media types ignore case
    document = json.loads(stored["Body"].read())
    assert {k: v for k, v in document.items() if k != "results"} == {
        "batch_id": "b4",
        "status": "completed",
        "total": 3,
        "passed": 0,
        "low_confidence": 0,
        "error": 3,
        "jobs": [],
    }
    assert [(r["s3_key"], r["status"], r["error"]["Error"]) for r in document["results"]] == [
        ("images/empty.png", "error", "UnsupportedImageError"),
        ("images/missing.png", "error", "ImageNotFoundError"),
        ("images/notes.txt", "error", "UnsupportedImageError"),
    ]


@pytest.mark.parametrize(
    "event",
    [
        {},
        {"images": []},
        {"images": [{"s3_bucket": DATA_BUCKET}]},
        {"images": [], "batch_id": "x"},
        {"s3_bucket": DATA_BUCKET, "s3_prefix": "nothing-here/"},
    ],
)
def test_serialize_batch_bad_events_are_named_errors(load_handler, context, event):
    handler = load_handler("serialize_batch")

    with pytest.raises(Exception) as error:
        handler.lambda_handler(event, context)

    assert type(error.value).__name__ == "InvalidEventError"


def test_serialize_batch_refuses_a_batch_id_that_is_no_key_part(load_handler, context):
    handler = load_handler("serialize_batch")
    event = {"images": [{"s3_bucket": DATA_BUCKET, "s3_key": "images/a.png"}], "batch_id": "../x"}

    with pytest.raises(Exception) as error:
        handler.lambda_handler(event, context)

    assert type(error.value).__name__ == "InvalidEventError"


# ------------------------------------------------------------------ start_transform_job


def test_input_put_starts_one_job_with_the_documented_request(load_handler, context):
    handler = load_handler("start_transform_job")
    key = "transform/input/b1/part-00000.jsonl"

    result = handler.lambda_handler({"Records": [s3_record(key)]}, context)

    [job] = result["jobs"]
    assert job["started"] is True
    assert re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", job["job_name"])
    described = boto3.client("sagemaker").describe_transform_job(TransformJobName=job["job_name"])
    assert described["ModelName"] == "scones-model"
    assert described["BatchStrategy"] == "MultiRecord"
    assert described["MaxPayloadInMB"] == 6
    assert described["TransformInput"] == {
        "DataSource": {
            "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{DATA_BUCKET}/{key}"}
        },
        "ContentType": "application/jsonlines",
        "CompressionType": "None",
        "SplitType": "Line",
    }
    kms = "arn:aws:kms:us-east-1:123456789012:key/1111-2222"
    assert described["TransformOutput"] == {
        "S3OutputPath": f"s3://{DATA_BUCKET}/transform/output/b1/",
        "Accept": "text/csv",
        "AssembleWith": "Line",
        "KmsKeyId": kms,
    }
    assert described["TransformResources"]["VolumeKmsKeyId"] == kms


def test_the_job_name_is_the_same_for_a_redelivered_event_and_new_for_new_bytes(
    load_handler, context
):
    handler = load_handler("start_transform_job")
    key = "transform/input/b1/part-00000.jsonl"

    first = handler.lambda_handler({"Records": [s3_record(key, etag="aaa")]}, context)
    again = handler.input_objects({"Records": [s3_record(key, etag="aaa")]})
    changed = handler.input_objects({"Records": [s3_record(key, etag="bbb")]})

    name = first["jobs"][0]["job_name"]
    assert again[0].job_name("scones-transform") == name
    assert changed[0].job_name("scones-transform") != name
    assert len(name) <= 63


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("ResourceInUse", "Job name must be unique within an AWS account and region"),
        ("ValidationException", "a job with this name already exists"),
    ],
)
def test_a_job_name_in_use_is_already_started_not_an_error(load_handler, context, code, message):
    handler = load_handler("start_transform_job")
    sagemaker = handler.client("sagemaker")
    key = "transform/input/b1/part-00000.jsonl"
    with Stubber(sagemaker) as stub:
        stub.add_client_error(
            "create_transform_job", service_error_code=code, service_message=message
        )
        result = handler.lambda_handler({"Records": [s3_record(key)]}, context)

    assert result["jobs"][0]["started"] is False


def test_other_create_errors_alert_and_raise(load_handler, aws, context):
    handler = load_handler("start_transform_job")
    sagemaker = handler.client("sagemaker")
    key = "transform/input/b1/part-00000.jsonl"
    with Stubber(sagemaker) as stub:
        stub.add_client_error("create_transform_job", service_error_code="ResourceLimitExceeded")
        with pytest.raises(Exception, match="ResourceLimitExceeded"):
            handler.lambda_handler({"Records": [s3_record(key)]}, context)

    [alert] = aws.alerts()
    assert alert["source"] == "start_transform_job"
    assert alert["error_type"] == "ResourceLimitExceeded"  # botocore keeps the class name


def test_objects_outside_the_input_layout_start_nothing(load_handler, context):
    handler = load_handler("start_transform_job")
    records = [s3_record("transform/input/b1/notes.txt"), s3_record("inbox/a.png")]

    assert handler.lambda_handler({"Records": records}, context) == {"jobs": []}


def test_without_a_deployed_model_the_job_is_a_configuration_error(load_handler, aws, context):
    handler = load_handler("start_transform_job", MODEL_NAME="")
    key = "transform/input/b1/part-00000.jsonl"

    with pytest.raises(Exception) as error:
        handler.lambda_handler({"Records": [s3_record(key)]}, context)

    assert type(error.value).__name__ == "ConfigurationError"
    assert [a["error_type"] for a in aws.alerts()] == ["ConfigurationError"]


def test_a_job_prefix_too_long_for_63_characters_is_refused(load_handler, context):
    handler = load_handler("start_transform_job", TRANSFORM_JOB_PREFIX="x" * 31)

    with pytest.raises(Exception) as error:
        handler.lambda_handler({"Records": []}, context)

    assert type(error.value).__name__ == "ConfigurationError"


# ------------------------------------------------------------------ evaluate_transform_output


def write_batch(batch_id: str, parts: dict[str, list[str]]) -> None:
    """A manifest and input parts: part name -> the record keys of its lines."""
    part_keys = [f"transform/input/{batch_id}/{p}.jsonl" for p in parts]
    manifest = {"batch_id": batch_id, "parts": part_keys, "rejected": []}
    put(f"transform/batches/{batch_id}.json", json.dumps(manifest))
    for key, (_, record_keys) in zip(part_keys, parts.items(), strict=True):
        put(key, "".join(input_line(k) for k in record_keys))


def output_event(batch_id: str, part: str) -> dict:
    return {"Records": [s3_record(f"transform/output/{batch_id}/{part}.jsonl.out")]}


def test_each_csv_line_gets_the_map_workflows_per_item_result(load_handler, aws, context):
    handler = load_handler("evaluate_transform_output")
    b = f"s3://{DATA_BUCKET}"
    write_batch("e1", {"part-00000": [f"{b}/in/a.png", f"{b}/in/b.png", f"{b}/in/c.png"]})
    put(
        "transform/output/e1/part-00000.jsonl.out",
        f"{b}/in/a.png,bicycle,0.990000,0.010000\n"
        f"{b}/in/b.png,motorcycle,0.400000,0.600000\n"
        f"{b}/in/c.png,error,InvalidImageError\n",
    )

    result = handler.lambda_handler(output_event("e1", "part-00000"), context)

    assert result["completed"] == [f"{b}/results/transform-e1.json"]
    document = json.loads(body("results/transform-e1.json"))
    assert {k: document[k] for k in ("status", "total", "passed", "low_confidence", "error")} == {
        "status": "completed",
        "total": 3,
        "passed": 1,
        "low_confidence": 1,
        "error": 1,
    }
    assert document["results"] == [
        {
            "s3_bucket": DATA_BUCKET,
            "s3_key": "in/a.png",
            "status": "passed",
            "label": "bicycle",
            "confidence": 0.99,
        },
        {
            "s3_bucket": DATA_BUCKET,
            "s3_key": "in/b.png",
            "status": "low_confidence",
            "label": "motorcycle",
            "confidence": 0.6,
        },
        {
            "s3_bucket": DATA_BUCKET,
            "s3_key": "in/c.png",
            "status": "error",
            "error": {
                "Error": "InvalidImageError",
                "Cause": "the model could not classify this record",
            },
        },
    ]
    [alert] = aws.alerts()
    assert alert["error_type"] == "BatchItemsNotPassed"
    assert alert["input"]["results_uri"] == f"{b}/results/transform-e1.json"
    assert "2 of 3 images did not pass" in alert["message"]


def test_the_batch_document_waits_for_every_part_and_is_written_once(load_handler, aws, context):
    handler = load_handler("evaluate_transform_output")
    b = f"s3://{DATA_BUCKET}"
    write_batch("e2", {"part-00000": [f"{b}/a.png"], "part-00001": [f"{b}/b.png"]})
    put("transform/output/e2/part-00000.jsonl.out", f"{b}/a.png,bicycle,0.99,0.01\n")
    put("transform/output/e2/part-00001.jsonl.out", f"{b}/b.png,bicycle,0.98,0.02\n")

    first = handler.lambda_handler(output_event("e2", "part-00000"), context)
    assert first["completed"] == [] and keys("results/") == []
    second = handler.lambda_handler(output_event("e2", "part-00001"), context)
    redelivered = handler.lambda_handler(output_event("e2", "part-00001"), context)

    assert second["completed"] == [f"{b}/results/transform-e2.json"]
    assert redelivered["completed"] == []  # S3 at least once: no second document or alert
    document = json.loads(body("results/transform-e2.json"))
    assert document["passed"] == 2 and document["total"] == 2
    assert aws.alerts() == []  # everything passed


def test_a_line_missing_from_the_output_and_a_malformed_line_are_errors(load_handler, context):
    handler = load_handler("evaluate_transform_output")
    b = f"s3://{DATA_BUCKET}"
    write_batch("e3", {"part-00000": [f"{b}/a.png", f"{b}/b.png", f"{b}/c.png"]})
    put("transform/output/e3/part-00000.jsonl.out", f"{b}/a.png,bicycle,nan,1\nnot,csv\n")

    handler.lambda_handler(output_event("e3", "part-00000"), context)

    results = json.loads(body("results/transform-e3.json"))["results"]
    assert [(r["s3_key"], r["error"]["Error"]) for r in results] == [
        ("a.png", "InvalidTransformOutput"),
        ("b.png", "InvalidTransformOutput"),
        ("c.png", "MissingFromTransformOutput"),
    ]


def test_a_failed_job_records_its_part_as_errors_and_the_batch_as_failed(
    load_handler, aws, context
):
    handler = load_handler("evaluate_transform_output")
    b = f"s3://{DATA_BUCKET}"
    write_batch("e4", {"part-00000": [f"{b}/a.png", f"{b}/b.png"]})
    event = {
        "version": "0",
        "source": "aws.sagemaker",
        "detail-type": "SageMaker Transform Job State Change",
        "detail": {
            "TransformJobName": "scones-transform-abc",
            "TransformJobStatus": "Failed",
            "FailureReason": "ClientError: a record is larger than MaxPayloadInMB",
            "TransformInput": {
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": f"{b}/transform/input/e4/part-00000.jsonl",
                    }
                }
            },
        },
    }

    handler.lambda_handler(event, context)

    document = json.loads(body("results/transform-e4.json"))
    assert document["status"] == "failed"
    assert document["error"] == 2
    assert document["jobs"] == [
        {
            "part": "part-00000",
            "job_status": "Failed",
            "job_name": "scones-transform-abc",
            "failure_reason": "ClientError: a record is larger than MaxPayloadInMB",
        }
    ]
    assert {r["error"]["Error"] for r in document["results"]} == {"TransformJobFailed"}
    assert "a transform job failed" in aws.alerts()[0]["message"]


def test_a_completed_jobs_state_change_changes_nothing(load_handler, context):
    handler = load_handler("evaluate_transform_output")
    event = {
        "detail-type": "SageMaker Transform Job State Change",
        "detail": {"TransformJobStatus": "Completed"},
    }

    assert handler.lambda_handler(event, context) == {"parts": [], "completed": []}


def test_rejected_images_of_the_manifest_join_the_results(load_handler, context):
    handler = load_handler("evaluate_transform_output")
    b = f"s3://{DATA_BUCKET}"
    write_batch("e5", {"part-00000": [f"{b}/a.png"]})
    manifest = json.loads(body("transform/batches/e5.json"))
    manifest["rejected"] = [
        {
            "s3_bucket": DATA_BUCKET,
            "s3_key": "gone.png",
            "status": "error",
            "error": {"Error": "ImageNotFoundError", "Cause": "missing"},
        }
    ]
    put("transform/batches/e5.json", json.dumps(manifest))
    put("transform/output/e5/part-00000.jsonl.out", f"{b}/a.png,bicycle,0.99,0.01\n")

    handler.lambda_handler(output_event("e5", "part-00000"), context)

    document = json.loads(body("results/transform-e5.json"))
    assert (document["total"], document["passed"], document["error"]) == (2, 1, 1)


def test_an_output_key_names_its_batch_and_part(common):
    assert common.transform.split_output_key("transform/output/b1/part-00000.jsonl.out") == (
        "b1",
        "part-00000",
    )


@pytest.mark.parametrize(
    "key",
    [
        "transform/output/b1/part-00000.jsonl",  # no .out: not SageMaker's output name
        "elsewhere/part-00000.jsonl.out",  # outside transform/output/
        "transform/output/not a batch!/part-00000.jsonl.out",
        "transform/output/b1/sub/part-00000.jsonl.out",
    ],
    ids=["no-out-suffix", "other-prefix", "bad-batch-id", "nested"],
)
def test_a_key_outside_the_layout_is_refused_saying_the_layout(common, key):
    with pytest.raises(common.errors.InvalidEventError) as refused:
        common.transform.split_output_key(key)

    assert str(refused.value) == (
        f"{key!r} is not transform/output/<batch id>/<part>.jsonl.out "
        "(batch id: letters, digits, '-', '_', at most 64)"
    )


def test_an_output_key_outside_the_layout_is_a_named_error(load_handler, aws, context):
    handler = load_handler("evaluate_transform_output")

    with pytest.raises(Exception) as error:
        handler.lambda_handler({"Records": [s3_record("transform/output/x/part.csv")]}, context)

    assert type(error.value).__name__ == "InvalidEventError"
    assert [a["error_type"] for a in aws.alerts()] == ["InvalidEventError"]
