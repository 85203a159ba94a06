"""The optimized Lambda integration's result (`arn:aws:states:::lambda:invoke`), as AWS's.

AWS ("Invoke an AWS Lambda function with Step Functions",
docs.aws.amazon.com/step-functions/latest/dg/connect-lambda.html: the Payload is parsed
from escaped JSON to JSON; a function error fails the task) returns the Invoke response
with the SDK's metadata, e.g.

    {"ExecutedVersion": "$LATEST", "Payload": {...},
     "SdkHttpMetadata": {"AllHttpHeaders": {"X-Amz-Executed-Version": ["$LATEST"], ...},
                         "HttpHeaders": {"X-Amz-Executed-Version": "$LATEST", ...},
                         "HttpStatusCode": 200},
     "SdkResponseMetadata": {"RequestId": "<the invocation's request id>"},
     "StatusCode": 200}

which is why console-exported definitions carry `"OutputPath": "$.Payload"` or
`"ResultSelector": {"Payload.$": "$.Payload"}`. moto 5.2.5 keeps Payload and StatusCode
only. The headers are the ones Lambda answers with (Connection, Content-Length,
Content-Type, Date, X-Amz-Executed-Version, x-amzn-Remapped-Content-Length,
x-amzn-RequestId, X-Amzn-Trace-Id), in AWS's spelling. The legacy
`arn:aws:lambda:...` Resource still returns the Payload alone, as in AWS.
"""

from __future__ import annotations

import json
import os
import time
from email.utils import formatdate
from typing import Any

from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_lambda,
)


def _trace_id() -> str:
    root = f"1-{int(time.time()):08x}-{os.urandom(12).hex()}"
    return f"root={root};parent={os.urandom(8).hex()};sampled=0"


def sdk_result(response: dict) -> dict:
    """The task result AWS gives for a boto3 Invoke response (Payload already parsed)."""
    http = response.get("ResponseMetadata") or {}
    raw = {k.lower(): v for k, v in (http.get("HTTPHeaders") or {}).items()}
    payload = response.get("Payload")
    version = response.get("ExecutedVersion") or raw.get("x-amz-executed-version") or "$LATEST"
    request_id = raw.get("x-amzn-requestid") or http.get("RequestId") or ""
    body = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    headers = {
        "Connection": "keep-alive",
        "Content-Length": raw.get("content-length") or str(len(body.encode("utf-8"))),
        "Content-Type": "application/json",
        "Date": raw.get("date") or formatdate(usegmt=True),
        "X-Amz-Executed-Version": version,
        "x-amzn-Remapped-Content-Length": "0",
        "x-amzn-RequestId": request_id,
        "X-Amzn-Trace-Id": _trace_id(),
    }
    return {
        "ExecutedVersion": version,
        "Payload": payload,
        "SdkHttpMetadata": {
            "AllHttpHeaders": {name: [value] for name, value in headers.items()},
            "HttpHeaders": headers,
            "HttpStatusCode": http.get("HTTPStatusCode", 200),
        },
        "SdkResponseMetadata": {"RequestId": request_id},
        "StatusCode": response.get("StatusCode", 200),
    }


def _wrap_eval_service_task(original: Any) -> Any:
    def _eval_service_task(
        self: Any,
        env: Any,
        resource_runtime_part: Any,
        normalised_parameters: dict,
        state_credentials: Any,
    ) -> None:
        if env.is_mocked_mode():
            return original(
                self, env, resource_runtime_part, normalised_parameters, state_credentials
            )
        response = lambda_eval_utils._invoke_lambda_function(
            parameters=normalised_parameters,
            region=resource_runtime_part.region,
            state_credentials=state_credentials,
        )
        function_error = response.get("FunctionError")
        if function_error:
            payload = json.dumps(response["Payload"], separators=(",", ":"))
            raise lambda_eval_utils.LambdaFunctionErrorException(function_error, payload)
        env.stack.append(sdk_result(response))
        return None

    _eval_service_task.__wrapped__ = original  # type: ignore[attr-defined]
    return _eval_service_task


def install() -> None:
    cls = state_task_service_lambda.StateTaskServiceLambda
    cls._eval_service_task = _wrap_eval_service_task(cls._eval_service_task)
