"""An endpoint variant serves concurrent requests with more than one model-server worker.

AWS facts: SageMaker's serving containers read the number of model-server workers from
`SAGEMAKER_MODEL_SERVER_WORKERS` in the model's environment (aws/sagemaker-inference-
toolkit, `src/sagemaker_inference/parameters.py`: MODEL_SERVER_WORKERS_ENV, and
`environment.py`: "Number of worker processes the model server will use"); unset, one
worker per vCPU (SageMaker Python SDK, PyTorchModel `model_server_workers`: "If None,
server will use one worker per vCPU").
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from botocore.config import Config

from tests.integration.tiny_model import RED, SHARPNESS, solid_png
from tests.support.colour_model import build_model_dir
from tests.support.localcloud_harness import wait_until
from training import artifact

pytestmark = pytest.mark.integration

ROLE = "arn:aws:iam::123456789012:role/sagemaker"
BUCKET = "workers-artifacts"

# Appended to the artifact's inference.py: each answer names the worker process that
# gave it, and a request waits until the test releases it (at most 2 minutes), so two
# requests are in flight together without the test relying on timing.
HELD_PREDICT = """

import os as _os
import time as _time

_served_predict_fn = predict_fn
_served_output_fn = output_fn


def predict_fn(data, model):
    deadline = _time.monotonic() + 120
    while not _os.path.exists({release!r}) and _time.monotonic() < deadline:
        _time.sleep(0.02)
    return _served_predict_fn(data, model)


def output_fn(prediction, accept):
    body, media_type = _served_output_fn(prediction, accept)
    return json.dumps({{"pid": _os.getpid(), "answer": json.loads(body)}}), media_type
"""


def held_artifact(local_cloud, root: Path, release: Path) -> str:
    model_dir = build_model_dir(root, SHARPNESS)
    with (model_dir / "code" / "inference.py").open("a") as code:
        code.write(HELD_PREDICT.format(release=str(release)))
    tarball = artifact.pack(model_dir, root / "model.tar.gz")
    s3 = local_cloud.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="held/model.tar.gz", Body=tarball.read_bytes())
    return f"s3://{BUCKET}/held/model.tar.gz"


def deploy(local_cloud, name: str, model_url: str, workers: str) -> dict:
    sagemaker = local_cloud.client("sagemaker")
    sagemaker.create_model(
        ModelName=name,
        ExecutionRoleArn=ROLE,
        PrimaryContainer={
            "Image": "pytorch-inference:2.5.1-cpu-py311",
            "ModelDataUrl": model_url,
            "Environment": {"SAGEMAKER_MODEL_SERVER_WORKERS": workers},
        },
    )
    variant = {
        "VariantName": "AllTraffic",
        "ModelName": name,
        "InitialInstanceCount": 1,
        "InstanceType": "ml.m5.large",
    }
    sagemaker.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[variant])
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)
    return wait_until(
        lambda: (
            (d := sagemaker.describe_endpoint(EndpointName=name))["EndpointStatus"] != "Creating"
            and d
        ),
        timeout=120,
    )


def host(local_cloud, endpoint: str) -> dict:
    for item in local_cloud.admin("sagemaker/containers")["endpoints"]:
        if item["endpoint_name"] == endpoint:
            return item["variants"]["AllTraffic"]
    raise AssertionError(f"{endpoint} has no containers")


def invoke_all(local_cloud, endpoint: str, count: int, release: Path) -> list[dict]:
    """`count` requests at once, released once `count` workers are serving them."""
    runtime = local_cloud.client(
        "sagemaker-runtime", config=Config(retries={"total_max_attempts": 1})
    )
    answers: list[dict] = []

    def call() -> None:
        reply = runtime.invoke_endpoint(
            EndpointName=endpoint, ContentType="image/png", Body=solid_png(RED)
        )
        answers.append(json.loads(reply["Body"].read()))

    threads = [threading.Thread(target=call) for _ in range(count)]
    for thread in threads:
        thread.start()
    grown = wait_until(lambda: len(host(local_cloud, endpoint)["workers"]) >= count, 120)
    release.touch()
    for thread in threads:
        thread.join(timeout=120)
    assert grown, host(local_cloud, endpoint)
    return answers


def test_two_requests_at_once_are_served_by_two_workers(local_cloud, tmp_path):
    release = tmp_path / "release"
    url = held_artifact(local_cloud, tmp_path, release)
    assert deploy(local_cloud, "two-workers", url, "2")["EndpointStatus"] == "InService"
    assert len(host(local_cloud, "two-workers")["workers"]) == 1  # the second on demand

    answers = invoke_all(local_cloud, "two-workers", 2, release)

    assert len(answers) == 2
    assert all(a["answer"][0] > 0.99 for a in answers)
    assert len({a["pid"] for a in answers}) == 2
    state = host(local_cloud, "two-workers")
    assert state["max_workers"] == 2 and len(state["workers"]) == 2


def test_a_killed_worker_restarts_the_container_which_serves_again(local_cloud, tmp_path):
    release = tmp_path / "release"
    url = held_artifact(local_cloud, tmp_path, release)
    assert deploy(local_cloud, "two-healing", url, "2")["EndpointStatus"] == "InService"
    invoke_all(local_cloud, "two-healing", 2, release)
    first = host(local_cloud, "two-healing")

    local_cloud.admin("sagemaker/containers", {"endpoint_name": "two-healing", "action": "kill"})
    restarted = wait_until(
        lambda: (
            (h := host(local_cloud, "two-healing"))["restarts"] == 1
            and h["state"] == "InService"
            and h
        ),
        timeout=60,
    )
    runtime = local_cloud.client("sagemaker-runtime")
    reply = runtime.invoke_endpoint(
        EndpointName="two-healing", ContentType="image/png", Body=solid_png(RED)
    )

    assert restarted, host(local_cloud, "two-healing")
    assert not set(restarted["workers"]) & set(first["workers"])  # every worker replaced
    assert json.loads(reply["Body"].read())["pid"] in restarted["workers"]


def test_a_worker_count_that_is_not_a_positive_integer_fails_the_endpoint(local_cloud, tmp_path):
    url = held_artifact(local_cloud, tmp_path, tmp_path / "release")

    status = deploy(local_cloud, "zero-workers", url, "0")

    assert status["EndpointStatus"] == "Failed"
    assert (
        "SAGEMAKER_MODEL_SERVER_WORKERS must be a positive integer, got '0'"
        in (status["FailureReason"])
    )
