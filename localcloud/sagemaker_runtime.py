"""SageMaker runtime: `InvokeEndpoint` served by the endpoint's own model, with capture.

Replaces `SageMakerRuntimeResponse.invoke_endpoint` (moto's returns canned bodies and
cannot take binary input). Errors come back as SageMaker's: the container's 4xx/5xx as
`ModelError` (HTTP 424, with OriginalStatusCode and OriginalMessage), an unknown
endpoint as `ValidationError`. Injected faults (for tests of the workflow's Retry) make
the next N invocations of an endpoint fail with a transient error.
"""

from __future__ import annotations

import json
import logging
import random
import threading
from typing import Any
from urllib.parse import unquote

from moto.s3.models import s3_backends
from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

from . import data_capture
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


def _model_error(status: int, body: bytes, endpoint_name: str, region: str):
    kind = "client" if status < 500 else "server"
    original = body.decode("utf-8", errors="replace")
    message = (
        f'Received {kind} error ({status}) from primary with message "{original}". '
        f"See the log group /aws/sagemaker/Endpoints/{endpoint_name} in region {region} "
        "for more information."
    )
    return _error("ModelError", 424, message, OriginalStatusCode=status, OriginalMessage=original)


def _capture(
    account_id: str,
    endpoint_name: str,
    variant: str,
    deployment: Deployment,
    request: tuple[bytes, str],
    response: tuple[bytes, str],
) -> None:
    config = deployment.data_capture_config
    if not config.get("EnableCapture"):
        return
    percentage = float(config.get("InitialSamplingPercentage", 100))
    if random.uniform(0, 100) >= percentage:  # noqa: S311 (sampling, not security)
        return
    modes = {o.get("CaptureMode") for o in config.get("CaptureOptions") or []} or {
        "Input",
        "Output",
    }
    bucket, key, body = data_capture.capture_object(
        config["DestinationS3Uri"], endpoint_name, variant, request, response, modes
    )
    s3_backends[account_id]["global"].put_object(bucket, key, body)


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
    reply = deployment.workers[variant].invoke(body, content_type, self.headers.get("Accept"))
    if not reply.ok:
        return _model_error(reply.status, reply.body, endpoint_name, region)
    try:
        _capture(
            self.current_account,
            endpoint_name,
            variant,
            deployment,
            (body, content_type),
            (reply.body, reply.content_type),
        )
    except Exception:  # capture never fails the inference, as in SageMaker
        LOG.exception("data capture for %s failed", endpoint_name)
    headers = {"Content-Type": reply.content_type, "x-Amzn-Invoked-Production-Variant": variant}
    return 200, headers, reply.body


def install() -> None:
    # moto decodes every request body as UTF-8 unless told otherwise; images are binary.
    SageMakerRuntimeResponse.use_raw_body = True
    SageMakerRuntimeResponse.invoke_endpoint = invoke_endpoint
