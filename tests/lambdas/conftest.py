"""Fixtures for the Lambda suites: real PNGs, moto, an endpoint stub, cold-started handlers."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import boto3
import pytest
from moto import mock_aws
from PIL import Image

from tests.lambdas.lambdas_constants import (
    CLASS_NAMES,
    DATA_BUCKET,
    ENDPOINT_NAME,
    LAMBDAS_DIR,
    REGION,
    RESULTS_BUCKET,
)
from tests.lambdas.lambdas_endpoint_stub import EndpointStub
from tests.lambdas.lambdas_mutmut import handler_module_name, use_mutmut_names
from tests.support.cifar import CifarImage, load_images


@dataclass
class Context:
    """The attributes of the Lambda context object the handlers use."""

    aws_request_id: str = "req-0001"
    function_name: str = "test"


@pytest.fixture(scope="session")
def cifar_images(shared_archive: Path) -> list[CifarImage]:
    return load_images(shared_archive, 12)


@pytest.fixture(scope="session")
def png(cifar_images: list[CifarImage]) -> bytes:
    return cifar_images[0].png()


@pytest.fixture(scope="session")
def jpeg(cifar_images: list[CifarImage]) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(cifar_images[1].pixels).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def large_png(cifar_images: list[CifarImage]) -> bytes:
    """A real image scaled up and stored uncompressed: ~770 KB, too large to pass inline."""
    image = Image.fromarray(cifar_images[2].pixels).resize((512, 512), Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=0)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def endpoint_stub() -> Iterator[EndpointStub]:
    stub = EndpointStub().start()
    yield stub
    stub.stop()


@pytest.fixture
def stub(endpoint_stub: EndpointStub) -> Iterator[EndpointStub]:
    endpoint_stub.reset()
    yield endpoint_stub
    endpoint_stub.reset()


@dataclass
class Aws:
    """The moto account a test runs in, with the alert topic read back through SQS."""

    s3: Any
    sns: Any
    sqs: Any
    topic_arn: str
    queue_url: str
    objects: dict[str, bytes] = field(default_factory=dict)

    def put(self, key: str, body: bytes) -> dict[str, str]:
        self.s3.put_object(Bucket=DATA_BUCKET, Key=key, Body=body)
        self.objects[key] = body
        return {"s3_bucket": DATA_BUCKET, "s3_key": key}

    def alerts(self) -> list[dict[str, Any]]:
        """The alert messages published so far (each SNS envelope's Message, parsed)."""
        messages = []
        while True:
            batch = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            ).get("Messages", [])
            if not batch:
                return messages
            for message in batch:
                envelope = json.loads(message["Body"])
                messages.append({**json.loads(envelope["Message"]), "_raw": envelope})
                self.sqs.delete_message(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )


@pytest.fixture
def aws(
    monkeypatch: pytest.MonkeyPatch,
    endpoint_stub: EndpointStub,
    png: bytes,
    jpeg: bytes,
    large_png: bytes,
) -> Iterator[Aws]:
    # The Makefile exports AWS_ENDPOINT_URL for the local cloud; tests talk to moto only.
    for name in list(os.environ):
        if name.startswith(("AWS_ENDPOINT_URL", "AWS_PROFILE")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", endpoint_stub.url)
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        sns = boto3.client("sns", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        for bucket in (DATA_BUCKET, RESULTS_BUCKET):
            s3.create_bucket(Bucket=bucket)
        topic_arn = sns.create_topic(Name="scones-alerts")["TopicArn"]
        queue_url = sqs.create_queue(QueueName="alerts")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
        account = Aws(s3, sns, sqs, topic_arn, queue_url)
        account.put("images/bicycle.png", png)
        account.put("images/motorcycle.jpg", jpeg)
        account.put("images/large.png", large_png)
        account.put("images/truncated.png", png[: len(png) // 2])
        account.put("images/notes.txt", b"bicycle, motorcycle\n")
        account.put("images/empty.png", b"")
        yield account


def function_env(name: str, aws: Aws) -> dict[str, str]:
    """A valid environment for each function, as Terraform would set it."""
    common = {"ALERT_TOPIC_ARN": aws.topic_arn}
    specific = {
        "serialize_image_data": {},
        "classify_image": {"ENDPOINT_NAME": ENDPOINT_NAME, "CLASS_NAMES": CLASS_NAMES},
        "filter_low_confidence": {"CLASS_NAMES": CLASS_NAMES},
        "start_batch_workflow": {"STATE_MACHINE_ARN": state_machine_arn()},
        "summarize_batch": {"RESULTS_BUCKET": RESULTS_BUCKET},
        "serialize_batch": {"DATA_BUCKET": DATA_BUCKET},
        "start_transform_job": {
            "MODEL_NAME": "scones-model",
            "TRANSFORM_JOB_PREFIX": "scones-transform",
            "KMS_KEY_ARN": "arn:aws:kms:us-east-1:123456789012:key/1111-2222",
        },
        "evaluate_transform_output": {"DATA_BUCKET": DATA_BUCKET, "CLASS_NAMES": CLASS_NAMES},
    }
    return {**common, **specific[name]}


def state_machine_arn() -> str:
    """A batch state machine in moto (a Pass state: the tests check how it is started)."""
    states = boto3.client("stepfunctions", region_name=REGION)
    existing = states.list_state_machines()["stateMachines"]
    if existing:
        return existing[0]["stateMachineArn"]
    definition = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}
    return states.create_state_machine(
        name="scones-batch",
        definition=json.dumps(definition),
        roleArn="arn:aws:iam::123456789012:role/scones-states",
    )["stateMachineArn"]


def _forget_lambda_modules() -> None:
    for name in list(sys.modules):
        if name == "common" or name.startswith("common."):
            del sys.modules[name]


@pytest.fixture
def load_handler(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., ModuleType]]:
    """Imports a function's handler.py afresh: a cold start with the given environment.

    `load_handler("filter_low_confidence", THRESHOLD="0.5")`; a value of None unsets
    that variable.
    """
    monkeypatch.syspath_prepend(str(LAMBDAS_DIR))
    use_mutmut_names(monkeypatch)

    def load(name: str, **overrides: str | None) -> ModuleType:
        for variable, value in {**function_env(name, aws), **overrides}.items():
            if value is None:
                monkeypatch.delenv(variable, raising=False)
            else:
                monkeypatch.setenv(variable, value)
        _forget_lambda_modules()
        spec = importlib.util.spec_from_file_location(
            handler_module_name(name), LAMBDAS_DIR / name / "handler.py"
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        # dataclasses look their module up in sys.modules while the module executes.
        monkeypatch.setitem(sys.modules, spec.name, module)
        spec.loader.exec_module(module)
        return module

    yield load
    _forget_lambda_modules()


@pytest.fixture
def common(monkeypatch: pytest.MonkeyPatch) -> Iterator[SimpleNamespace]:
    """lambdas/common's modules, imported afresh, for tests of the helpers themselves."""
    monkeypatch.syspath_prepend(str(LAMBDAS_DIR))
    use_mutmut_names(monkeypatch)
    _forget_lambda_modules()
    yield SimpleNamespace(
        images=importlib.import_module("common.images"),
        errors=importlib.import_module("common.errors"),
        transform=importlib.import_module("common.transform"),
    )
    _forget_lambda_modules()


@pytest.fixture
def context() -> Context:
    return Context()
