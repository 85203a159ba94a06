"""Each zip, alone with the standard library and boto3, imports and serves against moto.

The handlers run in `python -I -S` subprocesses whose sys.path is the zip and a
directory holding only boto3's distribution closure; they share state with the test
through a moto server on a free local port, as they would with AWS.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lambdas import build
from lambdas.runtime_site import build_runtime_site
from tests.lambdas.lambdas_constants import CLASS_NAMES, ENDPOINT_NAME, REGION
from tests.lambdas.lambdas_endpoint_stub import EndpointStub, probabilities
from tests.lambdas.lambdas_map_run import succeeded, write_map_run
from tests.lambdas.lambdas_subprocess import invoke_fresh
from tests.support.moto_server import MotoServer

pytestmark = pytest.mark.slow


class Cloud:
    """A moto server seeded with the buckets, alert topic and batch state machine."""

    def __init__(self, server: MotoServer) -> None:
        self.url = server.url
        self.s3 = server.client("s3", region=REGION)
        self.states = server.client("stepfunctions", region=REGION)
        self.topic_arn, self.machine_arn = server.seed_workflow(
            ["zip-data", "zip-results"], topic="zip-alerts", machine="zip-batch"
        )


@pytest.fixture(scope="module")
def cloud() -> Iterator[Cloud]:
    server = MotoServer()
    try:
        yield Cloud(server)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def zips(tmp_path_factory) -> dict[str, Path]:
    return build.build(tmp_path_factory.mktemp("zips"))


@pytest.fixture(scope="module")
def runtime(tmp_path_factory) -> Path:
    return build_runtime_site(tmp_path_factory.mktemp("runtime"))


def lambda_env(cloud: Cloud, stub: EndpointStub, **variables: str) -> dict[str, str]:
    """What the Lambda service (or the local cloud) sets, plus the function's variables."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL": cloud.url,
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": stub.url,
        "ALERT_TOPIC_ARN": cloud.topic_arn,
        **variables,
    }


def run_zip(zips, runtime, name: str, event: dict, env: dict) -> dict:
    output, _ = invoke_fresh([zips[name], runtime], event, env, isolated=True)
    assert "result" in output, output
    return output["result"]


def test_bare_interpreter_has_boto3_but_no_other_site_packages(runtime) -> None:
    script = (
        "import sys; sys.path[:0] = [sys.argv[1]]; import boto3\n"
        "try:\n import numpy\nexcept ImportError: print('isolated')"
    )
    completed = subprocess.run(
        [sys.executable, "-I", "-S", "-c", script, str(runtime)],
        capture_output=True,
        text=True,
        check=True,
    )

    assert completed.stdout.strip() == "isolated"


def test_zipped_single_image_flow_serves_a_real_png(cloud, zips, runtime, stub, png) -> None:
    cloud.s3.put_object(Bucket="zip-data", Key="inputs/bicycle.png", Body=png)
    stub.reply = probabilities([0.96, 0.04])
    classes = {"CLASS_NAMES": CLASS_NAMES}

    serialized = run_zip(
        zips,
        runtime,
        "serialize_image_data",
        {"s3_bucket": "zip-data", "s3_key": "inputs/bicycle.png"},
        lambda_env(cloud, stub),
    )
    classified = run_zip(
        zips,
        runtime,
        "classify_image",
        serialized,
        lambda_env(cloud, stub, ENDPOINT_NAME=ENDPOINT_NAME, **classes),
    )
    filtered = run_zip(
        zips,
        runtime,
        "filter_low_confidence",
        classified,
        lambda_env(cloud, stub, **classes),
    )

    assert stub.requests[-1].body == png
    assert filtered["label"] == "bicycle" and filtered["passed"] is True
    assert filtered["inferences"] == [0.96, 0.04] and "image_data" not in filtered


def test_zipped_start_batch_workflow_starts_an_execution(cloud, zips, runtime, stub) -> None:
    event = {
        "Records": [
            {
                "eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": "zip-data"}, "object": {"key": "inbox/a.png"}},
            }
        ]
    }
    env = lambda_env(cloud, stub, STATE_MACHINE_ARN=cloud.machine_arn)

    result = run_zip(zips, runtime, "start_batch_workflow", event, env)

    execution = cloud.states.describe_execution(executionArn=result["execution_arn"])
    assert json.loads(execution["input"]) == {
        "images": [{"s3_bucket": "zip-data", "s3_key": "inbox/a.png"}]
    }


def test_zipped_summarize_batch_writes_results(cloud, zips, runtime, stub) -> None:
    results = [{"s3_bucket": "zip-data", "s3_key": "inbox/a.png", "status": "passed"}]
    map_run = write_map_run(cloud.s3, "zip-results", [succeeded(results[0], results[0])])
    env = lambda_env(cloud, stub, RESULTS_BUCKET="zip-results")

    result = run_zip(
        zips, runtime, "summarize_batch", {"execution_name": "zip-1", "map_run": map_run}, env
    )

    assert result["results_uri"] == "s3://zip-results/results/zip-1.json"
    stored = cloud.s3.get_object(Bucket="zip-results", Key="results/zip-1.json")
    assert json.loads(stored["Body"].read())["results"] == results


def test_zipped_handler_reports_a_named_error(cloud, zips, runtime, stub) -> None:
    env = lambda_env(cloud, stub)
    event = {"s3_bucket": "zip-data", "s3_key": "inputs/missing.png"}

    output, _ = invoke_fresh([zips["serialize_image_data"], runtime], event, env, isolated=True)

    assert output["error_type"] == "ImageNotFoundError"
