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

Both integrations invoke the function in this process (`invoke_in_process`), not with a
boto3 client that sends an HTTP request back to this same server: moto 5.2.5's
`_invoke_lambda_function` paid the client's serialization and signing, a loopback round
trip and the server's request parsing and dispatch for every Task state, about 5 ms of
CPU each, more than the state itself (issue 17; benchmarks/results/localcloud_profile.md).
What the HTTP path gave is kept: the call is the state machine role's and IAM evaluates
it as it did that role's signed request (`iam_requests.requests_for`, the same decision
and denial), it runs through `LambdaFunction.invoke` like the API (request size limit,
runtime errors, request id), and Lambda's errors reach the state as the ClientError
botocore would have raised (`Lambda.<code>` with AWS's cause text).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from email.utils import formatdate
from typing import Any
from urllib.parse import quote

from botocore.exceptions import ClientError
from moto.awslambda.models import lambda_backends
from moto.core.exceptions import JsonRESTError
from moto.iam.models import get_account_id_from
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_lambda,
)

from . import iam_enforcement, iam_requests
from .iam_sessions import assume_role

# The session name the state machine's integrations use (iam_enforcement._client_for),
# and the key moto's own client used when IAM is off (moto's boto_client_for).
STATES_SESSION_NAME = "localcloud-states"
MOTO_CLIENT_KEY = "ak"


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


class _InvokeRequest:
    """An Invoke request as iam_requests reads the HTTP one (path, query, region, action),
    so that the in-process call is judged exactly as the signed request was."""

    def __init__(self, function_name: str, qualifier: str | None, region: str) -> None:
        self.path = f"/2015-03-31/functions/{quote(function_name, safe='')}/invocations"
        self.querystring = {"Qualifier": [qualifier]} if qualifier else {}
        self.body = b""
        self.region = region

    def _get_action(self) -> str:
        return "Invoke"


def _client_error(code: str, message: str, status: int, request_id: str) -> ClientError:
    """What botocore raises for Lambda's error response (restJson: `__type`, `message`)."""
    return ClientError(
        {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {
                "RequestId": request_id,
                "HTTPStatusCode": status,
                "HTTPHeaders": {"x-amzn-requestid": request_id, "x-amzn-errortype": code},
                "RetryAttempts": 0,
            },
        },
        "Invoke",
    )


def _payload_value(payload: bytes) -> Any:
    """moto's `_from_payload`: the payload's JSON value, or its text when it is no JSON."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return payload.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


def invoke_in_process(parameters: dict, region: str, state_credentials: Any) -> dict:
    """What `lambda_client.invoke(**parameters)` returned (Payload parsed), without HTTP.

    `parameters` are the state's normalised Invoke parameters (FunctionName, Qualifier,
    Payload as bytes, LogType, ClientContext), `state_credentials` the machine's role."""
    function_name = str(parameters["FunctionName"])
    qualifier = parameters.get("Qualifier")
    role_arn = getattr(state_credentials, "role_arn", None)
    # The account the server would have taken from the request's access key.
    access_key = MOTO_CLIENT_KEY
    if iam_enforcement.is_enabled() and role_arn:
        session = assume_role(role_arn, STATES_SESSION_NAME, region)
        access_key = session.access_key_id
        needed = iam_requests.requests_for(
            _InvokeRequest(function_name, qualifier, region), session, "lambda", "*"
        )
        message = iam_enforcement.check(session, needed)
        if message:
            raise _client_error("AccessDeniedException", message, 403, str(uuid.uuid4()))
    payload = parameters.get("Payload")
    body = payload.decode("utf-8") if isinstance(payload, bytes) else payload or ""
    request_headers = {"X-Amz-Invocation-Type": "RequestResponse"}
    if parameters.get("LogType"):
        request_headers["X-Amz-Log-Type"] = str(parameters["LogType"])
    response_headers: dict[str, str] = {}
    try:
        # moto's BaseResponse.get_current_account: MOTO_ACCOUNT_ID first, then the key's.
        account = os.environ.get("MOTO_ACCOUNT_ID") or get_account_id_from(access_key)
        function = lambda_backends[account][region].get_function(function_name, qualifier)
        result = function.invoke(body, request_headers, response_headers)
    except JsonRESTError as error:
        raise _client_error(
            error.error_type, error.message, int(error.code), str(uuid.uuid4())
        ) from None
    result_bytes = result.encode("utf-8") if isinstance(result, str) else result
    request_id = response_headers.get("x-amzn-RequestId") or str(uuid.uuid4())
    headers = {
        "date": formatdate(usegmt=True),
        "content-type": "application/json",
        "content-length": str(len(result_bytes)),
        "x-amzn-requestid": request_id,
        "x-amz-executed-version": response_headers["x-amz-executed-version"],
    }
    response: dict[str, Any] = {
        "ResponseMetadata": {
            "RequestId": request_id,
            "HTTPStatusCode": 200,
            "HTTPHeaders": headers,
            "RetryAttempts": 0,
        },
        "StatusCode": 200,
        "ExecutedVersion": headers["x-amz-executed-version"],
        "Payload": _payload_value(result_bytes),
    }
    if response_headers.get("x-amz-function-error"):
        headers["x-amz-function-error"] = response_headers["x-amz-function-error"]
        response["FunctionError"] = headers["x-amz-function-error"]
    if request_headers.get("X-Amz-Log-Type") == "Tail" and "x-amz-log-result" in response_headers:
        headers["x-amz-log-result"] = response_headers["x-amz-log-result"]
        response["LogResult"] = headers["x-amz-log-result"]
    return response


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
    """After lambda_invoke.install(): the function's invoke is the local cloud's."""
    invoke_in_process.__wrapped__ = lambda_eval_utils._invoke_lambda_function  # type: ignore[attr-defined]
    lambda_eval_utils._invoke_lambda_function = invoke_in_process
    cls = state_task_service_lambda.StateTaskServiceLambda
    cls._eval_service_task = _wrap_eval_service_task(cls._eval_service_task)
