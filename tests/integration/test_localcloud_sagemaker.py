"""SageMaker on the local cloud: endpoints serve the artifact through code/inference.py."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.integration.tiny_model import GREY, RED, SHARPNESS, build_artifact, solid_png
from tests.support.colour_model import build_model_dir
from tests.support.localcloud_harness import wait_until
from training import artifact

pytestmark = pytest.mark.integration

ROLE = "arn:aws:iam::123456789012:role/sagemaker"
CAPTURE_KEY = re.compile(
    r"^data-capture/colour/AllTraffic/\d{4}/\d{2}/\d{2}/\d{2}/\d{2}-\d{2}-\d{3}-[0-9a-f-]{36}\.jsonl$"
)


def create_endpoint(sagemaker, name: str, model_url: str, capture: dict | None = None) -> None:
    sagemaker.create_model(
        ModelName=name,
        ExecutionRoleArn=ROLE,
        PrimaryContainer={"Image": "pytorch-inference:2.5.1-cpu-py311", "ModelDataUrl": model_url},
    )
    config = {
        "EndpointConfigName": name,
        "ProductionVariants": [
            {
                "VariantName": "AllTraffic",
                "ModelName": name,
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
    }
    if capture:
        config["DataCaptureConfig"] = capture
    sagemaker.create_endpoint_config(**config)
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)


def wait_for_status(sagemaker, name: str) -> dict:
    return wait_until(
        lambda: (
            (d := sagemaker.describe_endpoint(EndpointName=name))["EndpointStatus"]
            not in ("Creating", "Updating")
            and d
        ),
        timeout=120,
    )


@pytest.fixture(scope="module")
def model_url(local_cloud, tmp_path_factory) -> str:
    tarball = build_artifact(tmp_path_factory.mktemp("tiny-model"))
    s3 = local_cloud.client("s3")
    s3.create_bucket(Bucket="sm-artifacts")
    s3.put_object(Bucket="sm-artifacts", Key="models/model.tar.gz", Body=tarball.read_bytes())
    return "s3://sm-artifacts/models/model.tar.gz"


@pytest.fixture(scope="module")
def endpoint(local_cloud, model_url) -> str:
    sagemaker = local_cloud.client("sagemaker")
    capture = {
        "EnableCapture": True,
        "InitialSamplingPercentage": 100,
        "DestinationS3Uri": "s3://sm-artifacts/data-capture",
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
    }
    create_endpoint(sagemaker, "colour", model_url, capture)
    assert wait_for_status(sagemaker, "colour")["EndpointStatus"] == "InService"
    return "colour"


def invoke(local_cloud, endpoint: str, body: bytes, content_type: str = "image/png") -> list:
    response = local_cloud.client("sagemaker-runtime").invoke_endpoint(
        EndpointName=endpoint, ContentType=content_type, Body=body
    )
    return json.loads(response["Body"].read())


HELD_MODEL_FN = """

# Appended by the test: the model loads only once the test releases it.
import os as _os
import time as _time

_loaded_model_fn = model_fn


def model_fn(model_dir):
    deadline = _time.monotonic() + 120
    while not _os.path.exists({release!r}) and _time.monotonic() < deadline:
        _time.sleep(0.05)
    return _loaded_model_fn(model_dir)
"""


def held_model_url(local_cloud, root: Path, release: Path) -> str:
    """The tiny model, whose model_fn waits until `release` exists (at most 2 minutes)."""
    model_dir = build_model_dir(root, SHARPNESS)
    with (model_dir / "code" / "inference.py").open("a") as code:
        code.write(HELD_MODEL_FN.format(release=str(release)))
    tarball = artifact.pack(model_dir, root / "model.tar.gz")
    local_cloud.client("s3").put_object(
        Bucket="sm-artifacts", Key="models/held.tar.gz", Body=tarball.read_bytes()
    )
    return "s3://sm-artifacts/models/held.tar.gz"


def test_endpoint_is_creating_until_its_model_is_loaded(local_cloud, model_url, tmp_path):
    sagemaker = local_cloud.client("sagemaker")
    release = tmp_path / "release"
    held_url = held_model_url(local_cloud, tmp_path, release)

    create_endpoint(sagemaker, "lifecycle", held_url)
    while_loading = sagemaker.describe_endpoint(EndpointName="lifecycle")["EndpointStatus"]
    release.touch()
    final = wait_for_status(sagemaker, "lifecycle")["EndpointStatus"]

    assert while_loading == "Creating"
    assert final == "InService"


def test_invoke_endpoint_returns_the_model_probabilities(local_cloud, endpoint):
    probabilities = invoke(local_cloud, endpoint, solid_png(RED))

    assert probabilities[0] > 0.99
    assert probabilities[0] + probabilities[1] == pytest.approx(1.0)


def test_unsupported_content_type_is_a_model_error_415(local_cloud, endpoint):
    with pytest.raises(ClientError) as raised:
        invoke(local_cloud, endpoint, b"hello", content_type="text/plain")

    assert raised.value.response["Error"]["Code"] == "ModelError"
    assert raised.value.response["OriginalStatusCode"] == 415


def test_undecodable_image_is_a_model_error_400(local_cloud, endpoint):
    with pytest.raises(ClientError) as raised:
        invoke(local_cloud, endpoint, b"not a png at all")

    assert raised.value.response["Error"]["Code"] == "ModelError"
    assert raised.value.response["OriginalStatusCode"] == 400
    assert "InvalidImageError" in raised.value.response["OriginalMessage"]


def test_unknown_endpoint_is_a_validation_error(local_cloud, endpoint):
    with pytest.raises(ClientError) as raised:
        invoke(local_cloud, "no-such-endpoint", solid_png(RED))

    assert raised.value.response["Error"]["Code"] == "ValidationError"


def test_data_capture_is_written_in_sagemakers_layout(local_cloud, endpoint):
    s3 = local_cloud.client("s3")
    png = solid_png(GREY)

    invoke(local_cloud, endpoint, png)

    keys = [
        o["Key"]
        for o in s3.list_objects_v2(Bucket="sm-artifacts", Prefix="data-capture/")["Contents"]
    ]
    assert keys and all(CAPTURE_KEY.match(k) for k in keys)
    records = [json.loads(s3.get_object(Bucket="sm-artifacts", Key=k)["Body"].read()) for k in keys]
    grey = [r for r in records if r["captureData"]["endpointOutput"]["data"] == "[0.5, 0.5]"]
    assert grey[0]["captureData"]["endpointInput"]["encoding"] == "BASE64"
    assert grey[0]["captureData"]["endpointInput"]["observedContentType"] == "image/png"
    assert grey[0]["captureData"]["endpointOutput"]["encoding"] == "JSON"
    assert grey[0]["eventVersion"] == "0"


def test_capture_with_input_mode_only_leaves_out_the_output(local_cloud, model_url):
    sagemaker = local_cloud.client("sagemaker")
    capture = {
        "EnableCapture": True,
        "InitialSamplingPercentage": 100,
        "DestinationS3Uri": "s3://sm-artifacts/input-only",
        "CaptureOptions": [{"CaptureMode": "Input"}],
    }
    create_endpoint(sagemaker, "input-only", model_url, capture)
    wait_for_status(sagemaker, "input-only")

    invoke(local_cloud, "input-only", solid_png(RED))

    s3 = local_cloud.client("s3")
    (key,) = [
        o["Key"]
        for o in s3.list_objects_v2(Bucket="sm-artifacts", Prefix="input-only/")["Contents"]
    ]
    record = json.loads(s3.get_object(Bucket="sm-artifacts", Key=key)["Body"].read())
    assert set(record["captureData"]) == {"endpointInput"}


def test_capture_sampling_zero_percent_writes_nothing(local_cloud, model_url):
    sagemaker = local_cloud.client("sagemaker")
    capture = {
        "EnableCapture": True,
        "InitialSamplingPercentage": 0,
        "DestinationS3Uri": "s3://sm-artifacts/never",
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
    }
    create_endpoint(sagemaker, "unsampled", model_url, capture)
    wait_for_status(sagemaker, "unsampled")

    for _ in range(5):
        invoke(local_cloud, "unsampled", solid_png(RED))

    listing = local_cloud.client("s3").list_objects_v2(Bucket="sm-artifacts", Prefix="never/")
    assert listing["KeyCount"] == 0


def test_injected_fault_fails_the_next_call_then_it_recovers(local_cloud, endpoint):
    local_cloud.inject_endpoint_faults(endpoint, count=1, error="ServiceUnavailable")
    # No client-side retries: botocore would retry the 503 itself.
    runtime = local_cloud.client(
        "sagemaker-runtime", config=Config(retries={"total_max_attempts": 1})
    )

    with pytest.raises(ClientError) as raised:
        runtime.invoke_endpoint(EndpointName=endpoint, ContentType="image/png", Body=solid_png(RED))
    recovered = invoke(local_cloud, endpoint, solid_png(RED))

    assert raised.value.response["Error"]["Code"] == "ServiceUnavailable"
    assert recovered[0] > 0.99


def test_endpoint_with_a_broken_artifact_fails_with_the_reason(local_cloud):
    s3 = local_cloud.client("s3")
    s3.put_object(Bucket="sm-artifacts", Key="models/broken.tar.gz", Body=b"not a tarball")
    sagemaker = local_cloud.client("sagemaker")

    create_endpoint(sagemaker, "broken", "s3://sm-artifacts/models/broken.tar.gz")
    endpoint = wait_for_status(sagemaker, "broken")

    assert endpoint["EndpointStatus"] == "Failed"
    assert "tar.gz" in endpoint["FailureReason"]


def test_describe_model_has_no_empty_vpc_config(local_cloud, endpoint):
    model = local_cloud.client("sagemaker").describe_model(ModelName=endpoint)

    assert "VpcConfig" not in model


def test_transform_job_writes_one_out_file_per_input(local_cloud, endpoint):
    s3 = local_cloud.client("s3")
    s3.put_object(Bucket="sm-artifacts", Key="batch/in/red.png", Body=solid_png(RED))
    s3.put_object(Bucket="sm-artifacts", Key="batch/in/sub/grey.png", Body=solid_png(GREY))
    sagemaker = local_cloud.client("sagemaker")

    sagemaker.create_transform_job(
        TransformJobName="colour-batch",
        ModelName=endpoint,
        TransformInput={
            "DataSource": {
                "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://sm-artifacts/batch/in/"}
            },
            "ContentType": "image/png",
        },
        TransformOutput={
            "S3OutputPath": "s3://sm-artifacts/batch/out",
            "Accept": "application/jsonlines",
        },
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
    )
    job = wait_until(
        lambda: (
            (d := sagemaker.describe_transform_job(TransformJobName="colour-batch"))[
                "TransformJobStatus"
            ]
            != "InProgress"
            and d
        ),
        timeout=120,
    )

    assert job["TransformJobStatus"] == "Completed"
    outputs = {
        o["Key"]: s3.get_object(Bucket="sm-artifacts", Key=o["Key"])["Body"].read()
        for o in s3.list_objects_v2(Bucket="sm-artifacts", Prefix="batch/out/")["Contents"]
    }
    assert set(outputs) == {"batch/out/red.png.out", "batch/out/sub/grey.png.out"}
    assert json.loads(outputs["batch/out/sub/grey.png.out"]) == {"prediction": [0.5, 0.5]}


def _role(local_cloud, name: str, actions: list[str]) -> str:
    """A SageMaker execution role allowed `actions` on the sm-artifacts bucket."""
    iam = local_cloud.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "sagemaker.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": actions, "Resource": "arn:aws:s3:::sm-artifacts/*"}
        ],
    }
    iam.put_role_policy(RoleName=name, PolicyName="artifacts", PolicyDocument=json.dumps(policy))
    return arn


def test_each_variant_captures_with_its_own_models_role(local_cloud, model_url):
    """Each variant is deployed with its own model's execution role (CreateModel API
    Reference, ExecutionRoleArn: the role SageMaker assumes to access model artifacts for
    deployment), which the local cloud also writes that variant's capture with (issue
    16): a variant whose role may not write loses its capture, the other keeps it."""
    sagemaker = local_cloud.client("sagemaker")
    roles = {
        "Writes": _role(local_cloud, "sm-capture-writes", ["s3:GetObject", "s3:PutObject"]),
        "ReadsOnly": _role(local_cloud, "sm-capture-reads", ["s3:GetObject"]),
    }
    for variant, role in roles.items():
        sagemaker.create_model(
            ModelName=f"capture-{variant.lower()}",
            ExecutionRoleArn=role,
            PrimaryContainer={"Image": "pytorch-inference", "ModelDataUrl": model_url},
        )
    sagemaker.create_endpoint_config(
        EndpointConfigName="capture-roles",
        ProductionVariants=[
            {
                "VariantName": variant,
                "ModelName": f"capture-{variant.lower()}",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
                "InitialVariantWeight": 1.0,
            }
            for variant in roles
        ],
        DataCaptureConfig={
            "EnableCapture": True,
            "InitialSamplingPercentage": 100,
            "DestinationS3Uri": "s3://sm-artifacts/capture-roles",
            "CaptureOptions": [{"CaptureMode": "Input"}],
        },
    )
    sagemaker.create_endpoint(EndpointName="capture-roles", EndpointConfigName="capture-roles")
    assert wait_for_status(sagemaker, "capture-roles")["EndpointStatus"] == "InService"
    runtime = local_cloud.client("sagemaker-runtime")
    mark = local_cloud.log.stat().st_size

    def invoked_both() -> bool:
        served = set()
        for _ in range(40):  # equal weights: both variants are served within a few calls
            served.add(
                runtime.invoke_endpoint(
                    EndpointName="capture-roles", ContentType="image/png", Body=solid_png(RED)
                )["InvokedProductionVariant"]
            )
            if served == set(roles):
                return True
        return False

    assert invoked_both()

    def keys(variant: str) -> list[str]:
        listing = local_cloud.client("s3").list_objects_v2(
            Bucket="sm-artifacts", Prefix=f"capture-roles/capture-roles/{variant}/"
        )
        return [o["Key"] for o in listing.get("Contents", [])]

    denial = re.compile(
        r"AccessDenied: User: \S+:assumed-role/sm-capture-reads/\S+ is not authorized to "
        r"perform: s3:PutObject on resource: arn:aws:s3:::sm-artifacts/capture-roles/"
    )
    assert wait_until(
        lambda: denial.search(local_cloud.log.read_bytes()[mark:].decode(errors="replace")),
        timeout=60,
    )
    assert wait_until(lambda: keys("Writes"), timeout=60)
    assert keys("ReadsOnly") == []
