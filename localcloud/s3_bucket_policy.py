"""Bucket policies evaluated with the request context AWS would give them.

moto's `FakeBucket.get_permission` evaluates a bucket policy without condition keys,
and moto 5.2.5 returns DENIED for any statement whose condition does not hold, even an
Allow or a Deny that should then simply not apply. A standard TLS-only statement
(`Deny s3:* when aws:SecureTransport = false`) thus denies every request.

The replacement applies a statement only when its conditions hold for the request
context, then lets moto judge action, resource and effect. Every AWS endpoint is TLS
and clients reach the local cloud only on the loopback interface, so requests are
evaluated as secure transport; a condition on any other key does not hold. A condition
operator the local cloud does not evaluate denies the request, logged.
"""

from __future__ import annotations

import functools
import json
import logging
from typing import Any

from moto.iam.access_control import IAMPolicy, PermissionResult
from moto.s3.models import FakeBucket

from .iam_conditions import PolicyNotEvaluated, conditions_hold

LOG = logging.getLogger("localcloud.iam")
REQUEST_CONTEXT = {"aws:SecureTransport": "true"}


@functools.lru_cache(maxsize=64)
def applicable_policy(policy: str | bytes) -> IAMPolicy | None:
    """The policy reduced to the statements whose conditions hold, or None if none do.

    The request context is constant, so this depends on the policy text alone: moto
    asks for every object request, and the reduction is done once per policy.
    """
    document = json.loads(policy)
    statements = document["Statement"]
    statements = statements if isinstance(statements, list) else [statements]
    applicable = [
        {k: v for k, v in s.items() if k != "Condition"}
        for s in statements
        if conditions_hold(s, REQUEST_CONTEXT)
    ]
    if not applicable:
        return None
    return IAMPolicy(json.dumps({**document, "Statement": applicable}))


def get_permission(self: FakeBucket, action: str, resource: str) -> Any:
    try:
        policy = None if self.policy is None else applicable_policy(self.policy)
    except PolicyNotEvaluated as error:
        # Denied, not guessed (a Deny dropped silently would allow what AWS refuses).
        LOG.error("AccessDenied: %s", error.located(f"the bucket policy of {self.name}"))
        return PermissionResult.DENIED
    if policy is None:
        return PermissionResult.NEUTRAL
    return policy.is_action_permitted(action, resource)


def install() -> None:
    FakeBucket.get_permission = get_permission
