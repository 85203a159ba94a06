"""A function policy's statement ids are unique, as Lambda keeps them.

AddPermission with a statement id the function's policy already holds is refused by
Lambda with ResourceConflictException (HTTP 409; botocore's lambda model lists it for
AddPermission: "The resource already exists, or another operation is in progress"; the
message is the one the AWS CLI prints, "The statement id (...) provided already exists.
Please provide a new statement id, or remove the existing statement."). moto 5.2.5
appends a second statement with the same Sid, which AWS's own policy linting
(parliament, DUPLICATE_SID) then rejects and a destroy leaves behind.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from moto.awslambda import policy as lambda_policy
from moto.awslambda.exceptions import LambdaClientError

LOG = logging.getLogger(__name__)


class StatementIdExists(LambdaClientError):
    code = 409

    def __init__(self, sid: str) -> None:
        super().__init__(
            "ResourceConflictException",
            f"The statement id ({sid}) provided already exists. Please provide a new "
            "statement id, or remove the existing statement.",
        )


def _wrap_add_statement(original: Any) -> Any:
    def add_statement(self: lambda_policy.Policy, raw: str, qualifier: str | None = None):
        sid = json.loads(raw).get("StatementId")
        if sid is not None and any(s.get("Sid") == sid for s in self.statements):
            # Logged: a client that re-sends an AddPermission whose answer it lost (an SDK
            # retry) sees this too, and the server log is where to tell the two apart.
            LOG.warning("AddPermission refused: statement id %s already exists", sid)
            raise StatementIdExists(sid)
        return original(self, raw, qualifier)

    return add_statement


def install() -> None:
    lambda_policy.Policy.add_statement = _wrap_add_statement(lambda_policy.Policy.add_statement)
