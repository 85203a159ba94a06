"""Policy evaluation for one request of a role session, within one account.

"Policy evaluation logic" (IAM User Guide): an explicit Deny in any applicable policy
wins; otherwise, within one account, an Allow in the principal's identity-based
policies or in the resource's resource-based policy allows the request; with neither
it is implicitly denied. Action and resource matching is done here, not by moto's
`IAMPolicyStatement` (case-sensitive, `?` and other characters read as a regex): `*`
matches any characters, `?` exactly one ("IAM JSON policy elements: Action": "The prefix
and the action name are case insensitive"; ARNs in `Resource` are case-sensitive, "IAM
JSON policy elements: Resource"). Also here: conditions with the request's context keys
(`iam_conditions`), `NotAction`/`NotResource`, the principal (or `NotPrincipal`) of a
resource-based statement, and which statement allowed what (to find statements no
request needs).
"""

from __future__ import annotations

import functools
import json
import re
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from moto.iam.access_control import PermissionResult
from moto.iam.models import iam_backends

from .iam_conditions import PolicyNotEvaluated, conditions_hold
from .iam_sessions import Session


class Decision(Enum):
    ALLOWED = "allowed"
    IMPLICIT_DENY = "no identity-based policy allows"
    IDENTITY_DENY = "with an explicit deny in an identity-based policy"
    RESOURCE_DENY = "with an explicit deny in a resource-based policy"


@dataclass(frozen=True)
class Request:
    """What one call needs: an action on a resource, with its condition keys and the
    resource's own policy (bucket, topic, queue or function policy), if any."""

    action: str
    resource: str
    context: dict[str, str] = field(default_factory=dict)
    resource_policy: str | None = None

    def denied_message(self, principal: str, decision: Decision) -> str:
        """AWS's wording ("Troubleshoot access denied error messages", IAM User Guide)."""
        why = (
            f"because no identity-based policy allows the {self.action} action"
            if decision is Decision.IMPLICIT_DENY
            else decision.value
        )
        return (
            f"User: {principal} is not authorized to perform: {self.action} "
            f"on resource: {self.resource} {why}"
        )

    def not_evaluated_message(self, principal: str, error: Exception) -> str:
        """The denial when a condition the request meets cannot be evaluated here."""
        return (
            f"User: {principal} is not authorized to perform: {self.action} "
            f"on resource: {self.resource} because {error}"
        )


@functools.lru_cache(maxsize=256)
def _parsed(document: str) -> tuple[dict[str, Any], ...]:
    """A policy's statements, parsed once per text (every request asks again)."""
    statements = json.loads(document).get("Statement", [])
    return tuple(statements if isinstance(statements, list) else [statements])


def _statements(document: str | dict) -> tuple[dict[str, Any], ...]:
    if isinstance(document, str):
        return _parsed(document)
    statements = document.get("Statement", [])
    return tuple(statements if isinstance(statements, list) else [statements])


def identity_policies(session: Session) -> list[tuple[str, str]]:
    """(policy name, document) of the role's inline and attached policies."""
    backend = iam_backends[session.account_id][session.partition]
    role = backend.get_role_by_arn(session.role_arn)
    policies = list(role.policies.items())
    for arn, policy in role.managed_policies.items():
        default = next(v for v in policy.versions if v.is_default)
        policies.append((arn, default.document))
    return policies


def _named(principal: Any, kind: str) -> set[str]:
    """The principals of one kind ("AWS", "Service") a Principal or NotPrincipal names;
    `*` for everyone."""
    if principal == "*":
        return {"*"}
    if not isinstance(principal, dict):
        return set()
    names = principal.get(kind, [])
    everyone = principal.get("AWS") in ("*", ["*"])
    return set(names if isinstance(names, list) else [names]) | ({"*"} if everyone else set())


def _principals(statement: dict[str, Any], kind: str) -> set[str]:
    return _named(statement.get("Principal"), kind)


def _excepted(statement: dict[str, Any], kind: str) -> set[str] | None:
    """What a `NotPrincipal` names, or None without one. AWS supports it only with Deny
    ("AWS JSON policy elements: NotPrincipal", IAM User Guide): any other use is refused."""
    if "NotPrincipal" not in statement:
        return None
    if statement.get("Effect") != "Deny":
        raise PolicyNotEvaluated(
            "NotPrincipal with Effect Allow", "AWS supports NotPrincipal only with Deny"
        )
    return _named(statement["NotPrincipal"], kind)


def names_session(statement: dict[str, Any], session: Session) -> bool:
    """A resource-based statement names this role session (or everyone)."""
    account = {f"arn:{session.partition}:iam::{session.account_id}:root", session.account_id}
    identity = {"*", session.role_arn, session.arn}
    excepted = _excepted(statement, "AWS")
    if excepted is not None:
        # A Deny for all but the named: AWS checks the account, then the role, then
        # the session, so the exception needs the account and the role or the session
        # ("AWS JSON policy elements: NotPrincipal").
        return not (excepted & (account | {"*"}) and excepted & identity)
    names = _principals(statement, "AWS")
    if statement.get("Effect") == "Deny":
        # Naming the account applies a Deny to everyone in it; an Allow for the
        # account only delegates to the account's own IAM policies.
        identity |= account
    return bool(identity & names)


def _service_matches(statement: dict[str, Any], service_principal: str) -> bool:
    """A resource-based statement names the AWS service (or everyone)."""
    excepted = _excepted(statement, "Service")
    if excepted is not None:
        return not excepted & {"*", service_principal}
    return bool({"*", service_principal} & _principals(statement, "Service"))


@functools.lru_cache(maxsize=1024)
def _wildcard(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    """A policy pattern as a regex: `*` any characters, `?` one, the rest literal."""
    regex = "".join(
        ".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern
    )
    return re.compile(regex, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _matches(patterns: str | list[str], value: str, *, ignore_case: bool) -> bool:
    patterns = patterns if isinstance(patterns, list) else [patterns]
    return any(_wildcard(p, ignore_case).fullmatch(value) for p in patterns)


def _element_applies(statement: dict[str, Any], name: str, value: str, ignore_case: bool) -> bool:
    """`Action`/`Resource` lists what the statement covers, `NotAction`/`NotResource`
    what it does not; a statement with neither covers nothing."""
    if name in statement:
        return _matches(statement[name], value, ignore_case=ignore_case)
    if f"Not{name}" in statement:
        return not _matches(statement[f"Not{name}"], value, ignore_case=ignore_case)
    return False


def statement_result(statement: dict[str, Any], request: Request) -> PermissionResult:
    """One statement's verdict on the request: PERMITTED, DENIED or NEUTRAL."""
    applies = (
        _element_applies(statement, "Action", request.action, ignore_case=True)
        and _element_applies(statement, "Resource", request.resource, ignore_case=False)
        and conditions_hold(statement, request.context)
    )
    if not applies:
        return PermissionResult.NEUTRAL
    if statement.get("Effect") == "Deny":
        return PermissionResult.DENIED
    return PermissionResult.PERMITTED


def _located_result(statement: dict[str, Any], request: Request, where: str) -> PermissionResult:
    """`statement_result`, naming the policy and statement if a condition is not evaluated."""
    try:
        return statement_result(statement, request)
    except PolicyNotEvaluated as error:
        raise error.located(where) from None


def _sid(statement: dict[str, Any], index: int) -> str:
    return str(statement.get("Sid") or f"#{index}")


class UsageLedger:
    """Which identity statements allowed at least one request, per role."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._used: dict[str, set[tuple[str, str]]] = defaultdict(set)

    def record(self, role_arn: str, policy: str, sid: str) -> None:
        with self._lock:
            self._used[role_arn].add((policy, sid))

    def report(self) -> dict[str, list[dict[str, str]]]:
        with self._lock:
            return {
                role: [{"policy": p, "sid": s} for p, s in sorted(used)]
                for role, used in self._used.items()
            }

    def clear(self) -> None:
        with self._lock:
            self._used.clear()


USAGE = UsageLedger()


def resource_policy_decision(request: Request, names_caller: Any) -> Decision:
    """The resource policy's own verdict for the statements that name the caller:
    RESOURCE_DENY, ALLOWED, or IMPLICIT_DENY when none allows."""
    allowed = False
    statements = _statements(request.resource_policy or '{"Statement": []}')
    for index, statement in enumerate(statements):
        try:
            if not names_caller(statement):
                continue
            result = statement_result(statement, request)
        except PolicyNotEvaluated as error:
            where = f"statement {_sid(statement, index)} of the resource policy of "
            raise error.located(where + request.resource) from None
        if result is PermissionResult.DENIED:
            return Decision.RESOURCE_DENY
        allowed = allowed or result is PermissionResult.PERMITTED
    return Decision.ALLOWED if allowed else Decision.IMPLICIT_DENY


def evaluate(session: Session, request: Request) -> Decision:
    """The decision for the role session's request, as AWS's evaluation logic gives it."""
    allowed_by: list[tuple[str, str]] = []
    for name, document in identity_policies(session):
        for index, statement in enumerate(_statements(document)):
            sid = _sid(statement, index)
            result = _located_result(statement, request, f"statement {sid} of policy {name}")
            if result is PermissionResult.DENIED:
                return Decision.IDENTITY_DENY
            if result is PermissionResult.PERMITTED:
                allowed_by.append((name, sid))
    resource = resource_policy_decision(request, lambda s: names_session(s, session))
    if resource is Decision.RESOURCE_DENY:
        return resource
    for name, sid in allowed_by:
        USAGE.record(session.role_arn, name, sid)
    allowed = allowed_by or resource is Decision.ALLOWED
    return Decision.ALLOWED if allowed else Decision.IMPLICIT_DENY


def service_may(service_principal: str, request: Request) -> Decision:
    """Whether the resource's policy lets an AWS service (`s3.amazonaws.com`,
    `events.amazonaws.com`) make the request: a service principal has no identity
    policies, so only the resource policy can allow it ("Policy evaluation logic")."""
    return resource_policy_decision(
        request, lambda statement: _service_matches(statement, service_principal)
    )
