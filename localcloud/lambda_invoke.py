"""Replaces moto's Docker-based Lambda execution with warm local workers.

`LambdaFunction._invoke_lambda` is the one place every route goes through (the Invoke
API, Step Functions' lambda:invoke, S3 notifications), so it is the one we replace.
`LambdaFunction.invoke` is wrapped for what the API adds around it: the runtime's
`Unhandled` function error and asynchronous `Event` invocations.
`LambdaFunction.get_configuration` is wrapped to return the `DeadLetterConfig` moto
accepts but drops (the AWS provider would otherwise see a diff on every plan).
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from moto.awslambda.exceptions import LambdaClientError
from moto.awslambda.models import LambdaFunction

from .lambda_workers import FunctionSpec, WorkerPool

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
    )


def _runtime_error(error_type: str, message: str) -> tuple[str, bool, str]:
    return json.dumps({"errorType": error_type, "errorMessage": message}), True, message


def _invoke_lambda(self: LambdaFunction, event: Any = None) -> tuple[str, bool, str]:
    """Runs the handler; returns (payload JSON, errored, log tail) like moto's original."""
    if not (self.run_time or "").startswith("python"):
        return _runtime_error(
            "Runtime.InvalidRuntime",
            f"the local cloud runs python runtimes only, not {self.run_time!r}",
        )
    if not getattr(self, "code_bytes", b""):
        return _runtime_error("Runtime.InvalidEntrypoint", "the function has no zip code")
    if event is None or event == "{}":  # moto passes the text "{}" for an empty payload
        event = {}
    pool: WorkerPool = _state["pool"]
    result = pool.invoke(function_spec(self), self.code_bytes, self.logs_backend, event)
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
            # AWS queues the event and answers 202 at once; errors only reach the logs.
            _state["async"].submit(original, self, body, {}, {})
            return ""
        payload = original(self, body, request_headers, response_headers)
        # Errors from a running handler are `Unhandled` in every current runtime.
        if response_headers.get("x-amz-function-error") == "Handled":
            response_headers["x-amz-function-error"] = "Unhandled"
        return payload

    invoke.__wrapped__ = original  # type: ignore[attr-defined]
    return invoke


def _wrap_init(original: Any) -> Any:
    def __init__(self: LambdaFunction, account_id: str, spec: dict, *args: Any, **kw: Any) -> None:
        original(self, account_id, spec, *args, **kw)
        self.dead_letter_config = spec.get("DeadLetterConfig") or {}

    __init__.__wrapped__ = original  # type: ignore[attr-defined]
    return __init__


def _wrap_update_configuration(original: Any) -> Any:
    def update_configuration(self: LambdaFunction, config_updates: dict) -> dict:
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


def install(pool: WorkerPool) -> None:
    _state["pool"] = pool
    _state["async"] = ThreadPoolExecutor(max_workers=4, thread_name_prefix="lambda-event")
    LambdaFunction._invoke_lambda = _invoke_lambda
    LambdaFunction.invoke = _wrap_invoke(LambdaFunction.invoke)
    LambdaFunction.__init__ = _wrap_init(LambdaFunction.__init__)
    LambdaFunction.update_configuration = _wrap_update_configuration(
        LambdaFunction.update_configuration
    )
    LambdaFunction.get_configuration = _wrap_get_configuration(LambdaFunction.get_configuration)
