"""Replaces moto's Docker-based Lambda execution with warm local workers.

`LambdaFunction._invoke_lambda` is the one place every route goes through (the Invoke
API, Step Functions' lambda:invoke, S3 notifications), so it is the one we replace.
`LambdaFunction.invoke` is wrapped for what the API adds around it: the runtime's
`Unhandled` function error and asynchronous `Event` invocations.
`LambdaFunction.get_configuration` is wrapped to return the `DeadLetterConfig` moto
accepts but drops (the AWS provider would otherwise see a diff on every plan).

Asynchronous (`Event`) invocations are queued and handled as AWS documents ("How Lambda
handles errors and retries with asynchronous invocation",
https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html): a
function error is retried up to the function's `MaximumRetryAttempts` (default 2), one
minute before the first retry and two before the second, with the same request id; an
event older than `MaximumEventAgeInSeconds` (default 21600) is discarded; a discarded
event goes to the `OnFailure` destination as an invocation record and to the dead-letter
queue as-is, a processed one to the `OnSuccess` destination ("Capturing records of Lambda
asynchronous invocations", .../invocation-async-retain-records.html), both sent with the
function's execution role, as Lambda sends them (a denied one is dropped, logged). The
retry waits are shortened to AWS seconds times `LOCALCLOUD_ASYNC_TIME_SCALE` (default
0.01: 0.6 s and 1.2 s) but count at AWS's length in the event's age; time spent queued or running is
real time, as on AWS (scaling it too discarded a backlog AWS would have worked through).
S3 notifications take this path too (`moto.s3.notifications._invoke_awslambda` is
replaced: moto invoked the function synchronously and dropped its errors).
`LambdaBackend.put/update_function_event_invoke_config` are replaced: moto appends a
second configuration (and keeps answering with the first) instead of overwriting or
updating it.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from moto.awslambda.exceptions import (
    InvalidParameterValueException,
    LambdaClientError,
    UnknownEventConfig,
)
from moto.awslambda.models import EventInvokeConfig, LambdaBackend, LambdaFunction
from moto.awslambda.utils import get_backend
from moto.core.responses import BaseResponse
from moto.s3 import notifications as s3_notifications

from . import iam_enforcement
from .lambda_workers import FunctionSpec, Invocation, WorkerPool

LOG = logging.getLogger(__name__)
_state: dict[str, Any] = {}

# Lambda quotas, "Invocation payload (request and response)": 6 MB each for synchronous
# invocations. The request is refused at 6291456 bytes ("Request must be smaller than
# 6291456 bytes for the InvokeFunction operation", HTTP 413); a larger response becomes
# the function error `Function.ResponseSizeTooLarge` quoting 6291556 bytes.
MAX_REQUEST_BYTES = 6291456
MAX_RESPONSE_BYTES = 6291556


class RequestEntityTooLargeException(LambdaClientError):
    code = 413

    def __init__(self) -> None:
        super().__init__(
            "RequestEntityTooLargeException",
            f"Request must be smaller than {MAX_REQUEST_BYTES} bytes for the InvokeFunction "
            "operation",
        )


# ------------------------------------------------------------------ runtimes

# The Lambda runtimes page (docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html),
# "Deprecated runtimes": the day from which CreateFunction (and a configuration update
# to the runtime) is refused. python3.8: Feb 28, 2025; python3.9: Feb 1, 2027 (moved
# from early 2026). The older Python runtimes were blocked long before.
PYTHON_BLOCK_CREATE = {
    "python2.7": date(2022, 7, 18),
    "python3.6": date(2022, 8, 17),
    "python3.7": date(2024, 1, 9),
    "python3.8": date(2025, 2, 28),
    "python3.9": date(2027, 2, 1),
}
RECOMMENDED_PYTHON_RUNTIME = "python3.14"


def _runtime_identifiers() -> list[str]:
    """Every runtime identifier Lambda's API knows (its service model's Runtime enum)."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("lambda")
    return list(model.shape_for("Runtime").enum)


def check_runtime(runtime: str | None, today: date | None = None) -> None:
    """AWS's answer to CreateFunction/UpdateFunctionConfiguration for this runtime."""
    if runtime is None:  # image functions have none
        return
    known = _runtime_identifiers()
    if runtime not in known:
        raise InvalidParameterValueException(
            f"Value {runtime} at 'runtime' failed to satisfy constraint: Member must satisfy "
            f"enum value set: [{', '.join(known)}] or be a valid ARN"
        )
    blocked = PYTHON_BLOCK_CREATE.get(runtime)
    if blocked is not None and (today or date.today()) >= blocked:
        raise InvalidParameterValueException(
            f"The runtime parameter of {runtime} is no longer supported for creating or "
            f"updating AWS Lambda functions. We recommend you use the new runtime "
            f"({RECOMMENDED_PYTHON_RUNTIME}) while creating or updating functions."
        )


def function_spec(fn: LambdaFunction) -> FunctionSpec:
    return FunctionSpec(
        name=fn.function_name,
        arn=fn.function_arn,
        version=str(fn.version),
        handler=fn.handler or "",
        runtime=fn.run_time or "",
        timeout_s=float(fn.timeout),
        memory_mb=int(fn.memory_size),
        region=fn.region,
        code_sha256=fn.code_sha_256,
        environment=tuple(sorted((fn.environment_vars or {}).items())),
        ephemeral_mb=int(getattr(fn, "ephemeral_storage", None) or 512),
        role=fn.role or "",
    )


def _runtime_error(error_type: str, message: str) -> tuple[str, bool, str]:
    return json.dumps({"errorType": error_type, "errorMessage": message}), True, message


_current = threading.local()


def _invoke_lambda(self: LambdaFunction, event: Any = None) -> tuple[str, bool, str]:
    """Runs the handler; returns (payload JSON, errored, log tail) like moto's original.

    The invocation's request id is kept for the Invoke response's `x-amzn-RequestId`."""
    _current.request_id = str(uuid.uuid4())
    return _run(self, event, _current.request_id)


def _pool_invoke(spec: FunctionSpec, code: bytes, logs: Any, event: Any, request_id: str | None):
    pool: WorkerPool = _state["pool"]
    if request_id is None:
        return pool.invoke(spec, code, logs, event)
    # The caller's request id (a retried asynchronous event keeps its own, as in AWS).
    worker = pool._acquire(spec, code, logs)
    try:
        return worker.invoke(event, request_id)
    finally:
        pool._release(worker)


def _run(self: LambdaFunction, event: Any, request_id: str | None) -> tuple[str, bool, str]:
    if not (self.run_time or "").startswith("python"):
        return _runtime_error(
            "Runtime.InvalidRuntime",
            f"the local cloud runs python runtimes only, not {self.run_time!r}",
        )
    if not getattr(self, "code_bytes", b""):
        return _runtime_error("Runtime.InvalidEntrypoint", "the function has no zip code")
    if event is None or event == "{}":  # moto passes the text "{}" for an empty payload
        event = {}
    result: Invocation = _pool_invoke(
        function_spec(self), self.code_bytes, self.logs_backend, event, request_id
    )
    if len(result.payload.encode("utf-8")) > MAX_RESPONSE_BYTES:
        payload, _, message = _runtime_error(
            "Function.ResponseSizeTooLarge",
            f"Response payload size exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES}"
            " bytes).",
        )
        return payload, True, message
    return result.payload, result.errored, result.log_tail


def _wrap_invoke(original: Any) -> Any:
    def invoke(
        self: LambdaFunction, body: str, request_headers: Any, response_headers: Any
    ) -> str | bytes:
        headers = request_headers or {}
        invocation_type = headers.get("x-amz-invocation-type") or headers.get(
            "X-Amz-Invocation-Type"
        )
        size = len(body.encode("utf-8") if isinstance(body, str) else body or b"")
        if invocation_type in (None, "RequestResponse") and size > MAX_REQUEST_BYTES:
            raise RequestEntityTooLargeException()
        if invocation_type == "Event":
            # AWS queues the event and answers 202 at once.
            enqueue_event(self, body)
            return ""
        _current.request_id = None
        payload = original(self, body, request_headers, response_headers)
        # Errors from a running handler are `Unhandled` in every current runtime.
        if response_headers.get("x-amz-function-error") == "Handled":
            response_headers["x-amz-function-error"] = "Unhandled"
        # Lambda's Invoke response headers: the version that ran and the request id
        # (the same id as the handler's context.aws_request_id).
        response_headers["x-amz-executed-version"] = str(self.version)
        if getattr(_current, "request_id", None):
            response_headers["x-amzn-RequestId"] = _current.request_id
        return payload

    invoke.__wrapped__ = original  # type: ignore[attr-defined]
    return invoke


# ------------------------------------------------------------ asynchronous invocations

# AWS's defaults and waits, in AWS seconds ("Configuring error handling settings for
# Lambda asynchronous invocations"; the error-handling page for the waits).
DEFAULT_MAXIMUM_RETRY_ATTEMPTS = 2
DEFAULT_MAXIMUM_EVENT_AGE_S = 21600
RETRY_WAITS_S = (60, 120)
DEFAULT_TIME_SCALE = 0.01
FAILURE_DETAIL_TYPE = "Lambda Function Invocation Result - Failure"
SUCCESS_DETAIL_TYPE = "Lambda Function Invocation Result - Success"


def time_scale() -> float:
    """Local seconds per AWS second for the asynchronous retry waits."""
    raw = os.environ.get("LOCALCLOUD_ASYNC_TIME_SCALE", str(DEFAULT_TIME_SCALE))
    try:
        scale = float(raw)
    except ValueError:
        scale = -1.0
    if scale < 0:
        raise ValueError(f"LOCALCLOUD_ASYNC_TIME_SCALE must be a number >= 0, not {raw!r}")
    return scale


@dataclass
class AsyncEvent:
    """One event in a function's asynchronous queue."""

    function: LambdaFunction
    payload: Any
    request_id: str
    queued_at: float  # time.monotonic()
    attempts: int = 0
    last: tuple[str, bool] | None = None  # (payload JSON, errored) of the last attempt
    waits_aws_s: float = 0.0  # retry waits so far, at AWS's length
    waits_local_s: float = 0.0  # the same waits as slept here

    def age_s(self) -> float:
        """The event's age in AWS seconds: real time, with the shortened waits at full length."""
        return time.monotonic() - self.queued_at - self.waits_local_s + self.waits_aws_s


class InvalidRequestContentException(LambdaClientError):
    code = 400

    def __init__(self, detail: str) -> None:
        super().__init__(
            "InvalidRequestContentException", f"Could not parse request body into json: {detail}"
        )


def enqueue_event(fn: LambdaFunction, body: str | bytes | None) -> str:
    """Queues an `Event` invocation; returns its request id."""
    try:
        payload = json.loads(body) if body else {}
    except ValueError as exc:
        raise InvalidRequestContentException(str(exc)) from exc
    event = AsyncEvent(fn, payload, str(uuid.uuid4()), time.monotonic())
    _state["async"].submit(_attempt, event)
    return event.request_id


def event_invoke_config(fn: LambdaFunction) -> dict:
    configs = getattr(fn, "event_invoke_config", None) or []
    return dict(configs[0].config) if configs else {}


def _attempt(event: AsyncEvent) -> None:
    try:
        _attempt_once(event)
    except Exception:  # never lose the executor thread; AWS would keep the event
        LOG.exception("asynchronous invocation of %s failed", event.function.function_name)


def _attempt_once(event: AsyncEvent) -> None:
    fn = event.function
    config = event_invoke_config(fn)
    max_age = config.get("MaximumEventAgeInSeconds", DEFAULT_MAXIMUM_EVENT_AGE_S)
    if event.age_s() > max_age:
        _discard(event, "EventAgeExceeded", config)
        return
    event.attempts += 1
    payload, errored, _ = _run(fn, event.payload, event.request_id)
    event.last = (payload, errored)
    if not errored:
        _send_record(event, config, "OnSuccess", "Success")
        return
    retries = config.get("MaximumRetryAttempts", DEFAULT_MAXIMUM_RETRY_ATTEMPTS)
    if event.attempts > retries:
        _discard(event, "RetriesExhausted", config)
        return
    wait_aws = RETRY_WAITS_S[min(event.attempts, len(RETRY_WAITS_S)) - 1]
    wait = wait_aws * time_scale()
    event.waits_aws_s += wait_aws
    event.waits_local_s += wait
    LOG.info(
        "%s: attempt %d of request %s failed, retrying in %.2f s",
        fn.function_name,
        event.attempts,
        event.request_id,
        wait,
    )
    timer = threading.Timer(wait, _state["async"].submit, args=(_attempt, event))
    timer.daemon = True
    timer.start()


def invocation_record(event: AsyncEvent, condition: str) -> dict:
    """The record Lambda sends to a destination (AWS's documented JSON format)."""
    fn = event.function
    version = str(fn.version)
    now = datetime.now(UTC)
    record: dict[str, Any] = {
        "version": "1.0",
        "timestamp": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
        "requestContext": {
            "requestId": event.request_id,
            "functionArn": f"{fn.function_arn}:{version}"
            if version == "$LATEST"
            else fn.function_arn,
            "condition": condition,
            "approximateInvokeCount": event.attempts,
        },
        "requestPayload": event.payload,
    }
    if event.last is not None:
        payload, errored = event.last
        context: dict[str, Any] = {"statusCode": 200, "executedVersion": version}
        if errored:
            context["functionError"] = "Unhandled"
        try:
            response = json.loads(payload) if payload else None
        except ValueError:
            response = payload
        record["responseContext"] = context
        record["responsePayload"] = response
    return record


def _discard(event: AsyncEvent, condition: str, config: dict) -> None:
    LOG.warning(
        "%s: request %s discarded (%s after %d attempt(s))",
        event.function.function_name,
        event.request_id,
        condition,
        event.attempts,
    )
    _send_record(event, config, "OnFailure", condition)
    _send_to_dead_letter_queue(event)


def _client(service: str, arn: str) -> Any:
    """A client back to this local cloud, in the destination's region."""
    from deployment.target import Target

    return Target("local", _state["pool"].port).client(service, region=arn.split(":")[3])


def _role_client(service: str, arn: str, fn: LambdaFunction) -> Any:
    """A client as the function's execution role: Lambda sends invocation records and
    dead letters with it, so a role without the permission loses them ("Capturing records
    of Lambda asynchronous invocations": delivery errors occur due to permissions errors)."""
    import boto3

    from deployment.target import local_url

    keys = iam_enforcement.function_credentials(fn.role or "", fn.function_name, fn.region)
    return boto3.client(
        service,
        endpoint_url=local_url(_state["pool"].port),
        region_name=arn.split(":")[3],
        aws_access_key_id=keys["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=keys["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=keys.get("AWS_SESSION_TOKEN"),
    )


def _queue_url(arn: str) -> str:
    _, _, _, _, account, name = arn.split(":", 5)
    sqs = _client("sqs", arn)
    return sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]


def _send_record(event: AsyncEvent, config: dict, which: str, condition: str) -> None:
    destination = ((config.get("DestinationConfig") or {}).get(which) or {}).get("Destination")
    if not destination:
        return
    record = invocation_record(event, condition)
    body = json.dumps(record)
    service = destination.split(":")[2]
    try:
        if service == "sqs":
            _role_client("sqs", destination, event.function).send_message(
                QueueUrl=_queue_url(destination), MessageBody=body
            )
        elif service == "sns":
            _role_client("sns", destination, event.function).publish(
                TopicArn=destination, Message=body
            )
        elif service == "lambda":
            _role_client("lambda", destination, event.function).invoke(
                FunctionName=destination, InvocationType="Event", Payload=body
            )
        elif service == "events":
            detail_type = SUCCESS_DETAIL_TYPE if which == "OnSuccess" else FAILURE_DETAIL_TYPE
            _role_client("events", destination, event.function).put_events(
                Entries=[
                    {
                        "Source": "lambda",
                        "DetailType": detail_type,
                        "Detail": body,
                        "EventBusName": destination,
                        "Resources": [event.function.function_arn, destination],
                    }
                ]
            )
        else:
            raise ValueError(f"the local cloud delivers no records to {service} destinations")
    except Exception:  # AWS counts DestinationDeliveryFailures and drops the record
        LOG.exception(
            "%s record for %s not delivered to %s", condition, event.request_id, destination
        )


def _send_to_dead_letter_queue(event: AsyncEvent) -> None:
    """The event as-is, with RequestID, ErrorCode and ErrorMessage attributes."""
    target = (getattr(event.function, "dead_letter_config", None) or {}).get("TargetArn")
    if not target:
        return
    message = ""
    if event.last is not None:
        try:
            message = str(json.loads(event.last[0]).get("errorMessage", ""))
        except (ValueError, AttributeError):
            message = event.last[0]
    body = json.dumps(event.payload)
    try:
        if target.split(":")[2] == "sqs":
            _role_client("sqs", target, event.function).send_message(
                QueueUrl=_queue_url(target),
                MessageBody=body,
                MessageAttributes={
                    "RequestID": {"DataType": "String", "StringValue": event.request_id},
                    "ErrorCode": {"DataType": "Number", "StringValue": "200"},
                    "ErrorMessage": {"DataType": "String", "StringValue": message[:1024] or "-"},
                },
            )
        else:
            _role_client("sns", target, event.function).publish(
                TopicArn=target,
                Message=body,
                MessageAttributes={
                    "RequestID": {"DataType": "String", "StringValue": event.request_id},
                    "ErrorCode": {"DataType": "Number", "StringValue": "200"},
                    "ErrorMessage": {"DataType": "String", "StringValue": message[:1024] or "-"},
                },
            )
    except Exception:  # AWS counts DeadLetterErrors and deletes the event
        LOG.exception("event %s not delivered to dead-letter queue %s", event.request_id, target)


def invoke_from_s3(account_id: str, event_body: Any, fn_arn: str, region_name: str) -> None:
    """S3 invokes a function asynchronously ("Process Amazon S3 event notifications with
    Lambda"): moto calls it like a synchronous request, without the `Event` type."""
    try:
        fn = get_backend(account_id, region_name).get_function(fn_arn)
        fn.invoke(json.dumps(event_body), {"x-amz-invocation-type": "Event"}, {})
    except Exception:  # the upload has succeeded whatever happens here, as in AWS
        LOG.exception("S3 notification to %s not queued", fn_arn)


def put_function_event_invoke_config(
    self: LambdaBackend, function_name: str, config: dict[str, Any]
) -> dict[str, Any]:
    """Overwrites the function's configuration, as AWS does (moto appends a second one)."""
    fn = self.get_function(function_name)
    event_config = EventInvokeConfig(fn.function_arn, time.time(), dict(config))
    fn.event_invoke_config = [event_config]
    return event_config.response()


def update_function_event_invoke_config(
    self: LambdaBackend, function_name: str, config: dict[str, Any]
) -> dict[str, Any]:
    """Changes only the options given (moto's update was a put that kept the old one)."""
    fn = self.get_function(function_name)
    if not fn.event_invoke_config:
        raise UnknownEventConfig(fn.function_arn)
    merged = dict(fn.event_invoke_config[0].config)
    for name, value in config.items():
        if name == "DestinationConfig":
            merged[name] = {**(merged.get(name) or {}), **(value or {})}
        else:
            merged[name] = value
    event_config = EventInvokeConfig(fn.function_arn, time.time(), merged)
    fn.event_invoke_config = [event_config]
    return event_config.response()


def _wrap_init(original: Any) -> Any:
    def __init__(self: LambdaFunction, account_id: str, spec: dict, *args: Any, **kw: Any) -> None:
        if spec.get("PackageType", "Zip") == "Zip":
            check_runtime(spec.get("Runtime"))
        original(self, account_id, spec, *args, **kw)
        self.dead_letter_config = spec.get("DeadLetterConfig") or {}

    __init__.__wrapped__ = original  # type: ignore[attr-defined]
    return __init__


def _wrap_update_configuration(original: Any) -> Any:
    def update_configuration(self: LambdaFunction, config_updates: dict) -> dict:
        if config_updates.get("Runtime"):
            check_runtime(config_updates["Runtime"])
        if "EphemeralStorage" in config_updates:  # moto 5.2.5 ignores it on update
            self.ephemeral_storage = (config_updates["EphemeralStorage"] or {}).get("Size", 512)
        if "DeadLetterConfig" in config_updates:
            self.dead_letter_config = config_updates["DeadLetterConfig"] or {}
        return original(self, config_updates)

    update_configuration.__wrapped__ = original  # type: ignore[attr-defined]
    return update_configuration


def _wrap_get_configuration(original: Any) -> Any:
    def get_configuration(self: LambdaFunction, *args: Any, **kw: Any) -> dict:
        config = original(self, *args, **kw)
        dead_letter = getattr(self, "dead_letter_config", {})
        if dead_letter.get("TargetArn"):
            config["DeadLetterConfig"] = {"TargetArn": dead_letter["TargetArn"]}
        return config

    get_configuration.__wrapped__ = original  # type: ignore[attr-defined]
    return get_configuration


def _wrap_enrich_response(original: Any) -> Any:
    """moto gives every response a random `x-amzn-requestid`; an Invoke keeps its own."""

    def _enrich_response(headers: dict[str, str], body: Any) -> tuple[dict[str, str], Any]:
        ours = headers.pop("x-amzn-RequestId", None) if isinstance(headers, dict) else None
        headers, body = original(headers, body)
        if ours:
            headers["x-amzn-requestid"] = ours
        return headers, body

    _enrich_response.__wrapped__ = original  # type: ignore[attr-defined]
    return staticmethod(_enrich_response)


def install(pool: WorkerPool) -> None:
    _state["pool"] = pool
    _state["async"] = ThreadPoolExecutor(max_workers=4, thread_name_prefix="lambda-event")
    LambdaFunction._invoke_lambda = _invoke_lambda
    BaseResponse._enrich_response = _wrap_enrich_response(BaseResponse._enrich_response)
    LambdaFunction.invoke = _wrap_invoke(LambdaFunction.invoke)
    LambdaFunction.__init__ = _wrap_init(LambdaFunction.__init__)
    LambdaFunction.update_configuration = _wrap_update_configuration(
        LambdaFunction.update_configuration
    )
    LambdaFunction.get_configuration = _wrap_get_configuration(LambdaFunction.get_configuration)
    LambdaBackend.put_function_event_invoke_config = put_function_event_invoke_config
    s3_notifications._invoke_awslambda = invoke_from_s3
    LambdaBackend.update_function_event_invoke_config = update_function_event_invoke_config
