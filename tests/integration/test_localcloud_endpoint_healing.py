"""A local-cloud endpoint heals as SageMaker's does, and a failed update rolls back.

AWS facts these tests hold the local cloud to:
- Real-time containers answer within 60 s; past that InvokeEndpoint fails with
  ModelError 'Received server error (0) from primary with message "Your invocation timed
  out while waiting for a response from container primary. Review the latency metrics
  for each container in Amazon CloudWatch, resolve the issue, and try again."'
  (https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-inference-code.html,
  the message as users report it, e.g. aws/amazon-sagemaker-examples#799). The local
  cloud's timeout is LOCALCLOUD_MODEL_INVOKE_TIMEOUT (60 by default; 3 s here).
- ServiceUnavailable (HTTP 503) is InvokeEndpoint's "the service is unavailable, try
  again" (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpoint.html).
- UpdateEndpoint: "When SageMaker receives the request, it sets the endpoint status to
  Updating. After updating the endpoint, it sets the status to InService"
  (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_UpdateEndpoint.html);
  FailureReason: "If the status of the endpoint is Failed, or the status is InService
  but update operation fails, this provides the reason why it failed"
  (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_EndpointMetadata.html):
  a failed update leaves the endpoint InService on its previous config, with a reason.
  `Failed` is for an endpoint that "could not be created, updated, or re-scaled" and
  then only DeleteEndpoint works (API_EndpointSummary.html), so a served endpoint is not
  made Failed by a bad update. OutOfService: "Endpoint is not available to take incoming
  requests" (API_EndpointSummary.html): the local cloud's state once restarts ran out.
- InferenceId: "If you provide a value, it is added to the captured data when you
  enable data capture on the endpoint" (API_runtime_InvokeEndpoint.html).
"""

from __future__ import annotations

import io
import json
import tarfile
import threading
import time
from collections import Counter

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.integration.tiny_model import RED, build_artifact, solid_png
from tests.support.localcloud_harness import start_local_cloud, stop_local_cloud, wait_until

pytestmark = pytest.mark.integration

ROLE = "arn:aws:iam::123456789012:role/sagemaker"
BUCKET = "healing"
INVOKE_TIMEOUT_S = 3
MAX_RESTARTS = 3
SETTINGS = {
    "LOCALCLOUD_MODEL_INVOKE_TIMEOUT": str(INVOKE_TIMEOUT_S),
    "LOCALCLOUD_MODEL_PING_INTERVAL": "0.5",
    "LOCALCLOUD_MODEL_PING_TIMEOUT": "2",
    "LOCALCLOUD_MODEL_MAX_RESTARTS": str(MAX_RESTARTS),
    "LOCALCLOUD_MODEL_RESTART_BACKOFF": "0.2",
}


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    """A local cloud of its own: short invocation timeout and health-check interval."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in SETTINGS.items():
            patch.setenv(name, value)
        cloud = start_local_cloud(tmp_path_factory.mktemp("healing-cloud"))
    s3 = cloud.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    tarball = build_artifact(tmp_path_factory.mktemp("tiny-model"))
    s3.put_object(Bucket=BUCKET, Key="good/model.tar.gz", Body=tarball.read_bytes())
    s3.put_object(Bucket=BUCKET, Key="corrupt/model.tar.gz", Body=b"\x1f\x8b not a tarball")
    s3.put_object(Bucket=BUCKET, Key="unloadable/model.tar.gz", Body=unloadable_artifact())
    yield cloud
    stop_local_cloud(cloud)


UNLOADABLE_INFERENCE = b"""
import time


def model_fn(model_dir):
    time.sleep(1.5)  # long enough to see the endpoint Updating
    raise RuntimeError("model.onnx is truncated: corrupt weights")
"""


def unloadable_artifact() -> bytes:
    """A well-formed model.tar.gz whose model_fn fails: corrupt weights."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in (("code/inference.py", UNLOADABLE_INFERENCE), ("model.onnx", b"\0")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def make_config(sagemaker, name: str, artifact: str, capture: bool = False) -> str:
    sagemaker.create_model(
        ModelName=name,
        ExecutionRoleArn=ROLE,
        PrimaryContainer={
            "Image": "pytorch-inference:2.5.1-cpu-py311",
            "ModelDataUrl": f"s3://{BUCKET}/{artifact}/model.tar.gz",
        },
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
        config["DataCaptureConfig"] = {
            "EnableCapture": True,
            "InitialSamplingPercentage": 100,
            "DestinationS3Uri": f"s3://{BUCKET}/capture",
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        }
    sagemaker.create_endpoint_config(**config)
    return name


def settled(sagemaker, name: str) -> dict:
    return wait_until(
        lambda: (
            (d := sagemaker.describe_endpoint(EndpointName=name))["EndpointStatus"]
            not in ("Creating", "Updating")
            and d
        ),
        timeout=120,
    )


def in_service(cloud, name: str, capture: bool = False) -> str:
    sagemaker = cloud.client("sagemaker")
    sagemaker.create_endpoint(
        EndpointName=name, EndpointConfigName=make_config(sagemaker, name, "good", capture)
    )
    assert settled(sagemaker, name)["EndpointStatus"] == "InService"
    return name


def runtime(cloud):
    # One attempt per call: botocore would otherwise retry a 503 and hide it.
    return cloud.client("sagemaker-runtime", config=Config(retries={"total_max_attempts": 1}))


def invoke(client, endpoint: str, **extra) -> str:
    """'200' or the error code; a 200 must carry the model's probabilities."""
    try:
        reply = client.invoke_endpoint(
            EndpointName=endpoint, ContentType="image/png", Body=solid_png(RED), **extra
        )
    except ClientError as exc:
        return exc.response["Error"]["Code"]
    assert json.loads(reply["Body"].read())[0] > 0.99
    return "200"


def container(cloud, endpoint: str) -> dict:
    for item in cloud.admin("sagemaker/containers")["endpoints"]:
        if item["endpoint_name"] == endpoint:
            return item["variants"]["AllTraffic"]
    raise AssertionError(f"{endpoint} has no containers")


def restarted(cloud, endpoint: str, restarts: int) -> dict:
    state = wait_until(
        lambda: (
            (c := container(cloud, endpoint))["restarts"] >= restarts
            and c["state"] == "InService"
            and c
        ),
        timeout=60,
    )
    assert state, container(cloud, endpoint)
    return state


class Stream:
    """Requests one after another on a thread, each outcome recorded, until stopped."""

    def __init__(self, cloud, endpoint: str) -> None:
        self.client, self.endpoint = runtime(cloud), endpoint
        self.outcomes: list[str] = []
        self.errors: list[ClientError] = []
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sent += 1
            self.outcomes.append(invoke(self.client, self.endpoint))

    def __enter__(self) -> Stream:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=INVOKE_TIMEOUT_S * 3)

    def wait_for(self, count: int, timeout: float = 60) -> None:
        assert wait_until(lambda: len(self.outcomes) >= count, timeout=timeout), self.outcomes


def log_messages(cloud, endpoint: str) -> list[str]:
    logs = cloud.client("logs")
    group = f"/aws/sagemaker/Endpoints/{endpoint}"
    return [e["message"] for e in logs.filter_log_events(logGroupName=group)["events"]]


def test_a_killed_container_is_restarted_and_the_stream_goes_on(cloud):
    endpoint = in_service(cloud, "killed")
    first_pid = container(cloud, endpoint)["pid"]

    with Stream(cloud, endpoint) as stream:
        stream.wait_for(10)
        cloud.admin("sagemaker/containers", {"endpoint_name": endpoint, "action": "kill"})
        state = restarted(cloud, endpoint, 1)
        after_restart = len(stream.outcomes)
        stream.wait_for(after_restart + 10)
    outcomes = list(stream.outcomes)

    counts = Counter(outcomes)
    assert sum(counts.values()) == stream.sent  # nothing silently lost
    assert set(counts) <= {"200", "ModelError", "ServiceUnavailable"}, counts
    assert outcomes[after_restart:] == ["200"] * (len(outcomes) - after_restart)
    assert state["pid"] != first_pid and state["restarts"] == 1
    status = cloud.client("sagemaker").describe_endpoint(EndpointName=endpoint)
    assert status["EndpointStatus"] == "InService"
    messages = log_messages(cloud, endpoint)
    assert any("the container exited" in m for m in messages), messages
    assert any("restarted: serving again" in m for m in messages), messages


def test_a_hung_container_times_out_as_sagemaker_says_then_is_replaced(cloud):
    endpoint = in_service(cloud, "hung")
    client = runtime(cloud)
    assert invoke(client, endpoint) == "200"
    cloud.admin("sagemaker/containers", {"endpoint_name": endpoint, "action": "hang"})

    started = time.monotonic()
    with pytest.raises(ClientError) as raised:
        client.invoke_endpoint(EndpointName=endpoint, ContentType="image/png", Body=solid_png(RED))
    waited = time.monotonic() - started
    restarted(cloud, endpoint, 1)
    later = [invoke(client, endpoint) for _ in range(5)]

    error = raised.value.response
    assert error["Error"]["Code"] == "ModelError"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert error["OriginalStatusCode"] == 0
    assert (
        "Your invocation timed out while waiting for a response from container primary"
        in (error["Error"]["Message"])
    )
    assert INVOKE_TIMEOUT_S - 0.5 <= waited < INVOKE_TIMEOUT_S + 10
    assert later == ["200"] * 5
    assert any("did not answer within" in m for m in log_messages(cloud, endpoint))


def test_a_container_hung_while_idle_fails_its_health_check(cloud):
    endpoint = in_service(cloud, "idle-hung")
    cloud.admin("sagemaker/containers", {"endpoint_name": endpoint, "action": "hang"})

    restarted(cloud, endpoint, 1)

    assert invoke(runtime(cloud), endpoint) == "200"
    assert any("health check" in m for m in log_messages(cloud, endpoint))


def test_a_hang_in_a_stream_loses_nothing(cloud):
    endpoint = in_service(cloud, "hung-stream")

    with Stream(cloud, endpoint) as stream:
        stream.wait_for(10)
        cloud.admin("sagemaker/containers", {"endpoint_name": endpoint, "action": "hang"})
        restarted(cloud, endpoint, 1)
        after_restart = len(stream.outcomes)
        stream.wait_for(after_restart + 10)
    outcomes = list(stream.outcomes)

    counts = Counter(outcomes)
    assert sum(counts.values()) == stream.sent
    assert counts["ModelError"] + counts["ServiceUnavailable"] >= 1, counts
    assert set(counts) <= {"200", "ModelError", "ServiceUnavailable"}, counts
    assert outcomes[after_restart:] == ["200"] * (len(outcomes) - after_restart)


def test_restarts_are_bounded_then_the_endpoint_is_out_of_service(cloud):
    endpoint = in_service(cloud, "crashing")
    for restart in range(1, MAX_RESTARTS + 1):
        cloud.admin("sagemaker/containers", {"endpoint_name": endpoint, "action": "kill"})
        restarted(cloud, endpoint, restart)

    cloud.admin("sagemaker/containers", {"endpoint_name": endpoint, "action": "kill"})
    gone = wait_until(lambda: container(cloud, endpoint)["state"] == "Unhealthy", timeout=30)
    status = cloud.client("sagemaker").describe_endpoint(EndpointName=endpoint)
    outcome = invoke(runtime(cloud), endpoint)

    assert gone, container(cloud, endpoint)
    assert container(cloud, endpoint)["restarts"] == MAX_RESTARTS
    assert status["EndpointStatus"] == "OutOfService"
    assert "no more restarts" in status["FailureReason"]
    assert outcome == "ServiceUnavailable"


def test_a_failed_update_rolls_back_to_the_old_config_in_service(cloud):
    endpoint = in_service(cloud, "rollback")
    sagemaker = cloud.client("sagemaker")
    make_config(sagemaker, "rollback-corrupt", "unloadable")
    client = runtime(cloud)

    sagemaker.update_endpoint(EndpointName=endpoint, EndpointConfigName="rollback-corrupt")
    during = sagemaker.describe_endpoint(EndpointName=endpoint)
    served_during = invoke(client, endpoint)
    after = settled(sagemaker, endpoint)

    assert during["EndpointStatus"] == "Updating"
    assert during["EndpointConfigName"] == "rollback"
    assert during["PendingDeploymentSummary"]["EndpointConfigName"] == "rollback-corrupt"
    assert served_during == "200"
    assert after["EndpointStatus"] == "InService"
    assert after["EndpointConfigName"] == "rollback"  # the old config, still serving
    assert "corrupt weights" in after["FailureReason"]
    assert "PendingDeploymentSummary" not in after
    assert [invoke(client, endpoint) for _ in range(3)] == ["200"] * 3


def test_an_update_in_progress_refuses_another_then_a_good_update_clears_the_reason(cloud):
    endpoint = in_service(cloud, "reupdate")
    sagemaker = cloud.client("sagemaker")
    make_config(sagemaker, "reupdate-corrupt", "corrupt")
    make_config(sagemaker, "reupdate-good", "good")

    sagemaker.update_endpoint(EndpointName=endpoint, EndpointConfigName="reupdate-corrupt")
    assert settled(sagemaker, endpoint)["FailureReason"]
    sagemaker.update_endpoint(EndpointName=endpoint, EndpointConfigName="reupdate-good")
    with pytest.raises(ClientError) as refused:  # the good model is still loading
        sagemaker.update_endpoint(EndpointName=endpoint, EndpointConfigName="reupdate-corrupt")
    after = settled(sagemaker, endpoint)

    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert "Cannot update in-progress endpoint" in refused.value.response["Error"]["Message"]
    assert after["EndpointStatus"] == "InService"
    assert after["EndpointConfigName"] == "reupdate-good"
    assert "FailureReason" not in after
    assert invoke(runtime(cloud), endpoint) == "200"


def test_inference_id_is_in_the_captured_record(cloud):
    endpoint = in_service(cloud, "captured", capture=True)

    assert invoke(runtime(cloud), endpoint, InferenceId="order-42") == "200"

    s3 = cloud.client("s3")
    keys = [
        o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="capture/captured/")["Contents"]
    ]
    records = [
        json.loads(line)
        for key in keys
        for line in s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().splitlines()
    ]
    assert [r["eventMetadata"].get("inferenceId") for r in records] == ["order-42"]
