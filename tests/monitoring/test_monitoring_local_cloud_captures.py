"""Real invocations of an endpoint on the local cloud, captured there, reported on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.monitoring.monitoring_model import build_model_dir, expected_probabilities
from tests.support.cifar import png_bytes
from tests.support.localcloud_harness import start_local_cloud, stop_local_cloud

pytestmark = [pytest.mark.integration, pytest.mark.slow]
pytest.importorskip("onnxruntime", reason="the local cloud serves with onnxruntime")

REPO_ROOT = Path(__file__).resolve().parents[2]
ROLE = "arn:aws:iam::123456789012:role/sagemaker"
BUCKET, ENDPOINT, REQUESTS = "monitoring-artifacts", "monitored", 60


@pytest.fixture(scope="module")
def local_cloud(tmp_path_factory):
    cloud = start_local_cloud(tmp_path_factory.mktemp("localcloud"))
    yield cloud
    stop_local_cloud(cloud)


def _wait_in_service(sagemaker) -> None:
    deadline = time.monotonic() + 180
    while sagemaker.describe_endpoint(EndpointName=ENDPOINT)["EndpointStatus"] == "Creating":
        assert time.monotonic() < deadline, "endpoint still Creating after 180 s"
        time.sleep(0.5)
    assert sagemaker.describe_endpoint(EndpointName=ENDPOINT)["EndpointStatus"] == "InService"


@pytest.fixture(scope="module")
def invoked(local_cloud, held_out_images, tmp_path_factory) -> np.ndarray:
    """The endpoint, with capture on, called with REQUESTS real images; returns them."""
    from training.artifact import pack

    root = tmp_path_factory.mktemp("model")
    tarball = pack(build_model_dir(root), root / "model.tar.gz")
    s3, sagemaker = local_cloud.client("s3"), local_cloud.client("sagemaker")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="models/model.tar.gz", Body=tarball.read_bytes())
    sagemaker.create_model(
        ModelName=ENDPOINT, ExecutionRoleArn=ROLE,
        PrimaryContainer={"Image": "pytorch-inference:2.5.1-cpu-py311",
                          "ModelDataUrl": f"s3://{BUCKET}/models/model.tar.gz"},
    )  # fmt: skip
    sagemaker.create_endpoint_config(
        EndpointConfigName=ENDPOINT,
        ProductionVariants=[{"VariantName": "AllTraffic", "ModelName": ENDPOINT,
                             "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}],
        DataCaptureConfig={"EnableCapture": True, "InitialSamplingPercentage": 100,
                           "DestinationS3Uri": f"s3://{BUCKET}/data-capture",
                           "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}]},
    )  # fmt: skip
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=ENDPOINT)
    _wait_in_service(sagemaker)
    runtime = local_cloud.client("sagemaker-runtime")
    images = held_out_images[:REQUESTS]
    for image in images:
        runtime.invoke_endpoint(
            EndpointName=ENDPOINT, ContentType="image/png", Body=png_bytes(image)
        )
    return images


def test_report_counts_every_real_invocation(local_cloud, invoked, manifest_path, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env |= {"AWS_ENDPOINT_URL": local_cloud.url, "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "monitoring", "report", "--target", "local",
         "--s3-uri", f"s3://{BUCKET}/data-capture", "--endpoint", ENDPOINT,
         "--manifest", str(manifest_path), "--out", str(tmp_path / "report"),
         "--terraform-dir", str(tmp_path)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    probabilities = np.array([expected_probabilities(image) for image in invoked])
    assert summary["records"] == REQUESTS
    assert summary["quality"]["valid_records"] == REQUESTS
    assert summary["confidence"]["below_threshold"] == int((probabilities.max(1) < 0.93).sum())
    assert [c["count"] for c in summary["classes"]] == np.bincount(
        probabilities.argmax(1), minlength=2
    ).tolist()
    assert summary["drift"]["images"] == REQUESTS
