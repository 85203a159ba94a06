"""IAM enforced for the workload's identities; the client stays the deploying admin.

moto 5.2.5 can evaluate identity policies for every request (`INITIAL_NO_AUTH_ACTION_
COUNT`), but then every key must be an IAM user's or a role session's, it knows the
resource only for S3/SQS/IAM, applies no resource-based policy other than the bucket
policy, and its denials name no resource. The local cloud keeps moto's hook
(`ActionAuthenticatorMixin._authenticate_and_authorize_action`, called for every
request) and replaces what it does:

- a request signed with a role session's keys (a Lambda function's, a state machine's:
  `iam_sessions`) is evaluated with the role's identity policies and the resource's
  own policy (`iam_policies`), for the action and resource the request really needs
  (`iam_requests`); any other key (the client's `test`) is not evaluated;
- a denial answers as the service does (`AccessDenied`, `AccessDeniedException`, SNS's
  `AuthorizationError`, HTTP 403) with AWS's message naming action, principal and
  resource, and is logged in the local cloud's log.

`python -m localcloud serve --iam off` turns it off (today's behaviour before issue 16).
"""

from __future__ import annotations

import importlib
import logging
import re
import uuid
from collections.abc import Callable
from typing import Any
from xml.sax.saxutils import escape

import boto3
from botocore.config import Config
from moto.core.authorization import ActionAuthenticatorMixin
from moto.core.exceptions import AccessDeniedError as MotoAccessDenied
from moto.core.exceptions import JsonRESTError
from moto.iam.exceptions import NotFoundException
from moto.iam.models import iam_backends
from moto.s3.exceptions import S3ClientError
from moto.settings import moto_server_port
from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import TimeoutSeconds

from . import iam_requests
from .iam_conditions import PolicyNotEvaluated
from .iam_policies import USAGE, Decision, Request, evaluate
from .iam_sessions import Session, assume_role, session_for

LOG = logging.getLogger("localcloud.iam")
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/[^/]+/([^/]+)/([^/]+)/")
# Services whose protocol is JSON (awsJson / restJson): AccessDeniedException.
_JSON_SERVICES = {"lambda", "states", "sagemaker", "logs", "events", "kms"}
# Every Step Functions module that creates its service clients with boto_client_for
# (`grep -rl boto_client_for moto/stepfunctions/parser`): one left out would call its
# service with moto's default keys, unenforced, whatever the machine's role allows.
_TASK = "moto.stepfunctions.parser.asl.component.state.exec.state_task"
_MAP = "moto.stepfunctions.parser.asl.component.state.exec.state_map"
SFN_CLIENT_MODULES = [
    f"{_TASK}.lambda_eval_utils",
    *(
        f"{_TASK}.service.state_task_service_{name}"
        for name in (
            "aws_sdk",
            "batch",
            "dynamodb",
            "ecs",
            "events",
            "glue",
            "sfn",
            "sns",
            "sqs",
            "unsupported",
        )
    ),
    f"{_MAP}.item_reader.eval.resource_eval_s3",
    f"{_MAP}.result_writer.resource_eval.resource_eval_s3",
]


# "No permissions are required to perform this operation" (STS API Reference).
ALWAYS_ALLOWED = {"sts:GetCallerIdentity"}


class _Settings:
    enabled = True


def configure(enabled: bool) -> None:
    """On (the default) or off (`--iam off`): set before the server starts."""
    _Settings.enabled = enabled


def is_enabled() -> bool:
    return _Settings.enabled


class S3AccessDenied(S3ClientError):
    code = "AccessDenied"


class QueryAccessDenied(MotoAccessDenied):
    """A query-protocol denial (HTTP 403) in AWS's shape, RequestId included: botocore
    reads it into ResponseMetadata, where Step Functions' SNS integration expects it."""

    def __init__(self, error_type: str, message: str) -> None:
        super(MotoAccessDenied, self).__init__(error_type, message)
        self.description = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            "<ErrorResponse><Error><Type>Sender</Type>"
            f"<Code>{error_type}</Code><Message>{escape(message)}</Message></Error>"
            f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
        )


def denial(service: str, message: str, json_protocol: bool) -> Exception:
    """The error the service answers a denied request with (HTTP 403)."""
    if service == "s3":
        error: Exception = S3AccessDenied("AccessDenied", message)
        error.status_code = 403  # type: ignore[attr-defined]
        return error
    if service in _JSON_SERVICES or json_protocol:
        # SQS keeps its query-protocol code in JSON ("AccessDenied", SQS API Reference).
        code = "AccessDenied" if service == "sqs" else "AccessDeniedException"
        error = JsonRESTError(code, message)
    else:  # query protocols; SNS calls it AuthorizationError (SNS API Reference, Publish)
        code = "AuthorizationError" if service == "sns" else "AccessDenied"
        error = QueryAccessDenied(code, message)
    error.code = 403  # type: ignore[attr-defined]
    return error


class AccessDeniedError(Exception):
    """A call a role's policies do not allow, made by the local cloud for the role."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


_missing_roles: set[str] = set()


def role_exists(session: Session) -> bool:
    """A role this cloud's IAM does not have is not enforced, and the log says so once:
    moto accepts any role ARN at create time, where AWS refuses a role it cannot
    assume, and tests give placeholder roles to resources whose calls they do not test."""
    try:
        iam_backends[session.account_id][session.partition].get_role_by_arn(session.role_arn)
    except NotFoundException:
        if session.role_arn not in _missing_roles:
            _missing_roles.add(session.role_arn)
            LOG.warning(
                "IAM: role %s does not exist here; its calls are not checked", session.role_arn
            )
        return False
    return True


def check(session: Session, requests: list[Request]) -> str | None:
    """The denial message for the first request the session may not make, or None."""
    if not _Settings.enabled:
        return None
    if not role_exists(session):
        return None
    for request in requests:
        try:
            decision = evaluate(session, request)
        except PolicyNotEvaluated as error:
            # Denied, not guessed: an unevaluated Deny must not turn into an allow.
            message = request.not_evaluated_message(session.arn, error)
            LOG.error("AccessDenied: %s", message)
            return message
        if decision is not Decision.ALLOWED:
            message = request.denied_message(session.arn, decision)
            LOG.warning("AccessDenied: %s", message)
            return message
    return None


def authorize_role(role_arn: str, session_name: str, region: str, request: Request) -> None:
    """For calls the local cloud makes in-process for a role (SageMaker reading the model,
    writing capture; Step Functions starting Distributed Map children): AccessDeniedError
    when the role may not."""
    if not _Settings.enabled:
        return
    message = check(assume_role(role_arn, session_name, region), [request])
    if message:
        raise AccessDeniedError(message)


def _authenticate_and_authorize_action(
    self: Any, iam_request_cls: type, resource: str = "*"
) -> None:
    """moto's per-request hook: evaluates role sessions' requests, passes the client's."""
    if not _Settings.enabled:
        return
    found = _CREDENTIAL.search(self.headers.get("Authorization") or "")
    session = session_for(found.group(1)) if found else None
    if session is None:
        return
    service = found.group(3)
    if f"{service}:{self._get_action()}" in ALWAYS_ALLOWED:
        return
    message = check(session, iam_requests.requests_for(self, session, service, resource))
    if message:
        raise denial(service, message, json_protocol="X-Amz-Target" in self.headers)


def _client_for(original: Callable) -> Callable:
    """boto_client_for with the state machine's role: its integrations are the role's."""

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        role_arn = getattr(state_credentials, "role_arn", None)
        if not _Settings.enabled or not role_arn:
            return original(region, service, state_credentials)
        session = assume_role(role_arn, "localcloud-states", region)
        return boto3.client(
            service,
            region_name=region,
            # 127.0.0.1, not localhost: no resolver call for each new connection.
            endpoint_url=f"http://127.0.0.1:{moto_server_port()}",
            aws_access_key_id=session.access_key_id,
            aws_secret_access_key=session.secret_access_key,
            aws_session_token=session.session_token,
            config=Config(
                parameter_validation=False,
                retries={"max_attempts": 0, "total_max_attempts": 1},
                connect_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
                read_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
            ),
        )

    boto_client_for.__wrapped__ = original  # type: ignore[attr-defined]
    return boto_client_for


def install() -> None:
    ActionAuthenticatorMixin._authenticate_and_authorize_action = _authenticate_and_authorize_action
    for name in SFN_CLIENT_MODULES:
        module = importlib.import_module(name)
        module.boto_client_for = _client_for(module.boto_client_for)


CLIENT_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_SESSION_TOKEN": "test",
}


def function_credentials(role_arn: str, function_name: str, region: str) -> dict[str, str]:
    """The credential variables of a Lambda execution environment: its execution role's
    session (session name = the function name, as Lambda names it), or, with IAM off,
    the client's keys."""
    if not _Settings.enabled or not role_arn:
        return dict(CLIENT_CREDENTIALS)
    return assume_role(role_arn, function_name, region).environment()


def admin(method: str, route: str, body: dict[str, Any]) -> dict[str, Any] | None:
    """The `/_localcloud/iam/*` routes, or None for a route that is not one of them.

    GET usage: per role, the identity statements (policy, Sid) that allowed a request;
    POST usage/reset: forget them; POST transport {"role": name, "secure": bool}: whether
    that role's requests count as TLS (`aws:SecureTransport`)."""
    if (method, route) == ("GET", "iam/usage"):
        return {"enforced": _Settings.enabled, "roles": USAGE.report()}
    if (method, route) == ("POST", "iam/usage/reset"):
        USAGE.clear()
        return {"reset": True}
    if (method, route) == ("POST", "iam/transport"):
        role, secure = str(body["role"]), body["secure"]
        if not isinstance(secure, bool):
            raise ValueError(f"secure must be true or false, got {secure!r}")
        iam_requests.set_secure_transport(role, secure)
        return {"role": role, "secure": secure}
    return None
