"""SageMaker runtime: `InvokeEndpoint` served by the endpoint's own model, with capture.

Replaces `SageMakerRuntimeResponse.invoke_endpoint` (moto's returns canned bodies and
cannot take binary input). Errors come back as SageMaker's: the container's 4xx/5xx as
`ModelError` (HTTP 424, with OriginalStatusCode and OriginalMessage), an unknown
endpoint as `ValidationError`. A container that hangs past the invocation timeout is a
`ModelError` with SageMaker's "Your invocation timed out while waiting for a response
from container primary" (OriginalStatusCode 0), one that dies mid-request a `ModelError`
with OriginalStatusCode 500, and while its replacement starts (or after the restarts
ran out) `ServiceUnavailable` (503). Injected faults (for tests of the workflow's Retry)
make the next N invocations of an endpoint fail with a transient error.
"""

from __future__ import annotations

import json
import logging
import random
import threading
from typing import Any
from urllib.parse import unquote

from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

from . import data_capture
from .model_server import EXITED, TIMED_OUT, UNAVAILABLE, ModelReply
from .sagemaker_control import Deployment, deployment_for

LOG = logging.getLogger(__name__)
TRANSIENT_ERRORS = {
    # error code -> (HTTP status, original status the container "returned")
    "ServiceUnavailable": (503, None),
    "ThrottlingException": (400, None),
    "ModelError": (424, 503),
}
_faults: dict[tuple[str, str], list[str]] = {}
_faults_lock = threading.Lock()


def inject_faults(endpoint_name: str, count: int, error: str, region: str = "us-east-1") -> None:
    """The next `count` invocations of the endpoint fail with `error` (a transient one)."""
    if error not in TRANSIENT_ERRORS:
        raise ValueError(f"error must be one of {sorted(TRANSIENT_ERRORS)}, got {error!r}")
    if not 0 < count <= 1000:
        raise ValueError(f"count must be in 1..1000, got {count}")
    with _faults_lock:
        _faults[(region, endpoint_name)] = [error] * count


def _take_fault(region: str, endpoint_name: str) -> str | None:
    with _faults_lock:
        pending = _faults.get((region, endpoint_name))
        return pending.pop() if pending else None


def _error(code: str, status: int, message: str, **extra: Any) -> tuple[int, dict, str]:
    # moto takes the HTTP status from the "status" header of a handler's reply.
    headers = {"x-amzn-ErrorType": code, "Content-Type": "application/json", "status": str(status)}
    return status, headers, json.dumps({"Message": message, "message": message, **extra})


def _fault_response(code: str, endpoint_name: str) -> tuple[int, dict, str]:
    status, original = TRANSIENT_ERRORS[code]
    if code == "ModelError":
        message = (
            f"Received server error ({original}) from primary with message "
            '"injected transient failure". '
        )
        return _error(code, status, message, OriginalStatusCode=original, OriginalMessage="")
    return _error(code, status, f"injected transient failure on endpoint {endpoint_name}")


TIMEOUT_MESSAGE = (
    "Your invocation timed out while waiting for a response from container primary. "
    "Review the latency metrics for each container in Amazon CloudWatch, resolve the "
    "issue, and try again."
)


def _model_error(status: int, body: bytes, endpoint_name: str, region: str):
    kind = "client" if 400 <= status < 500 else "server"
    original = body.decode("utf-8", errors="replace")
    message = (
        f'Received {kind} error ({status}) from primary with message "{original}". '
        f"See the log group /aws/sagemaker/Endpoints/{endpoint_name} in region {region} "
        "for more information."
    )
    return _error("ModelError", 424, message, OriginalStatusCode=status, OriginalMessage=original)


def _failure_response(reply: ModelReply, endpoint_name: str, variant: str, region: str):
    """What SageMaker answers when the container gave no answer at all."""
    if reply.failure == TIMED_OUT:
        return _model_error(0, TIMEOUT_MESSAGE.encode(), endpoint_name, region)
    if reply.failure == EXITED:
        return _model_error(500, reply.body, endpoint_name, region)
    detail = json.loads(reply.body).get("message", "")
    message = (
        f"Endpoint {endpoint_name} variant {variant} has no container ready to serve "
        f"the request ({detail}); try again later."
    )
    return _error("ServiceUnavailable", 503, message)


def _capture_line(
    deployment: Deployment,
    request: tuple[bytes, str],
    response: tuple[bytes, str],
    inference_id: str | None,
) -> bytes | None:
    """The request's capture record, if the endpoint config captures it (sampling, modes)."""
    config = deployment.data_capture_config
    if not config.get("EnableCapture", True):
        return None
    percentage = float(config.get("InitialSamplingPercentage", 100))
    if random.uniform(0, 100) >= percentage:  # noqa: S311 (sampling, not security)
        return None
    modes = {o.get("CaptureMode") for o in config.get("CaptureOptions") or []} or {
        "Input",
        "Output",
    }
    return data_capture.capture_line_for(request, response, modes, inference_id)


def invoke_endpoint(self: SageMakerRuntimeResponse) -> tuple[int, dict, Any]:
    endpoint_name = unquote(self.path.split("/")[2])
    region = self.region
    fault = _take_fault(region, endpoint_name)
    if fault:
        return _fault_response(fault, endpoint_name)
    deployment = deployment_for(self.current_account, region, endpoint_name)
    if deployment is None:
        message = f"Endpoint {endpoint_name} of account {self.current_account} not found."
        return _error("ValidationError", 400, message)
    variant = deployment.pick_variant(self.headers.get("X-Amzn-SageMaker-Target-Variant"))
    if variant is None:
        return _error("ValidationError", 400, "the target variant does not exist")
    body = self.raw_body if isinstance(self.raw_body, bytes) else (self.raw_body or "").encode()
    content_type = self.headers.get("Content-Type") or "application/octet-stream"
    writer = deployment.captures.get(variant)
    if writer is not None:
        writer.begin()
    line = None
    try:
        reply = deployment.workers[variant].invoke(body, content_type, self.headers.get("Accept"))
        if reply.failure in (TIMED_OUT, EXITED, UNAVAILABLE):
            return _failure_response(reply, endpoint_name, variant, region)
        if not reply.ok:
            return _model_error(reply.status, reply.body, endpoint_name, region)
        if writer is not None:
            try:
                line = _capture_line(
                    deployment,
                    (body, content_type),
                    (reply.body, reply.content_type),
                    self.headers.get("X-Amzn-SageMaker-Inference-Id"),
                )
            except Exception:  # capture never fails the inference, as in SageMaker
                LOG.exception("data capture for %s failed", endpoint_name)
    finally:
        if writer is not None:
            writer.end(line)  # written before the answer when nothing else is in flight
    headers = {"Content-Type": reply.content_type, "x-Amzn-Invoked-Production-Variant": variant}
    return 200, headers, reply.body


def install() -> None:
    # moto decodes every request body as UTF-8 unless told otherwise; images are binary.
    SageMakerRuntimeResponse.use_raw_body = True
    SageMakerRuntimeResponse.invoke_endpoint = invoke_endpoint
