"""Statement and resource-policy evaluation (`localcloud.iam_policies`), as a table.

Rules from the IAM User Guide (docs.aws.amazon.com/IAM/latest/UserGuide/...):
"IAM JSON policy elements: Action" (reference_policies_elements_action.html): "The prefix
and the action name are case insensitive", `*` matches any characters and `?` one;
"IAM JSON policy elements: NotAction" and "...: NotResource": the statement covers
everything except what is listed; "IAM JSON policy elements: Resource": ARNs are
case-sensitive; "Policy evaluation logic": an explicit Deny overrides any Allow;
"AWS JSON policy elements: NotPrincipal" (reference_policies_elements_notprincipal.html):
only with Deny, which then applies to all principals except those named, and an
assumed role is excepted only with its account named too.
"""

import json

import pytest
from moto.iam.access_control import PermissionResult

from localcloud.iam_conditions import PolicyNotEvaluated
from localcloud.iam_policies import (
    Decision,
    Request,
    names_session,
    resource_policy_decision,
    service_may,
    statement_result,
)
from localcloud.iam_sessions import Session

BUCKET = "arn:aws:s3:::scones-data"
OBJECT = f"{BUCKET}/inputs/a.png"


def _statement(effect: str = "Allow", **elements) -> dict:
    return {"Effect": effect, **elements}


@pytest.mark.parametrize(
    ("statement", "action", "resource", "result"),
    [
        # Action: prefix and name case-insensitive, `*` and `?` wildcards.
        (_statement(Action="s3:GetObject", Resource="*"), "S3:getobject", OBJECT, "PERMITTED"),
        (_statement(Action="S3:GETOBJECT", Resource="*"), "s3:GetObject", OBJECT, "PERMITTED"),
        (_statement(Action="s3:Get*", Resource="*"), "s3:GetObjectTagging", OBJECT, "PERMITTED"),
        (_statement(Action="sns:Publis?", Resource="*"), "sns:Publish", OBJECT, "PERMITTED"),
        (_statement(Action="sns:Publis?", Resource="*"), "sns:Publis", OBJECT, "NEUTRAL"),
        (_statement(Action="sns:Publish?", Resource="*"), "sns:Publish", OBJECT, "NEUTRAL"),
        # `.` is a character, not "any character" (no regex leaks through).
        (_statement(Action="s3:Get.bject", Resource="*"), "s3:GetObject", OBJECT, "NEUTRAL"),
        # NotAction: everything except what is listed.
        (_statement(NotAction="s3:Delete*", Resource="*"), "s3:GetObject", OBJECT, "PERMITTED"),
        (_statement(NotAction="s3:Delete*", Resource="*"), "s3:deleteobject", OBJECT, "NEUTRAL"),
        # Resource: case-sensitive ARNs with wildcards.
        (
            _statement(Action="s3:*", Resource=f"{BUCKET}/inputs/*"),
            "s3:GetObject",
            OBJECT,
            "PERMITTED",
        ),
        (
            _statement(Action="s3:*", Resource=f"{BUCKET}/INPUTS/*"),
            "s3:GetObject",
            OBJECT,
            "NEUTRAL",
        ),
        (
            _statement(Action="s3:*", Resource=f"{BUCKET}/inputs/?.png"),
            "s3:GetObject",
            OBJECT,
            "PERMITTED",
        ),
        # NotResource: everything except what is listed.
        (
            _statement(Action="s3:*", NotResource=f"{BUCKET}/private/*"),
            "s3:GetObject",
            OBJECT,
            "PERMITTED",
        ),
        (
            _statement(Action="s3:*", NotResource=f"{BUCKET}/inputs/*"),
            "s3:GetObject",
            OBJECT,
            "NEUTRAL",
        ),
        # Deny is DENIED where it applies; a statement without a resource covers nothing.
        (_statement("Deny", Action="s3:*", Resource="*"), "s3:GetObject", OBJECT, "DENIED"),
        (_statement(Action="s3:*"), "s3:GetObject", OBJECT, "NEUTRAL"),
        # A condition that does not hold: the statement does not apply.
        (
            _statement(
                "Deny",
                Action="s3:*",
                Resource="*",
                Condition={"Bool": {"aws:SecureTransport": "false"}},
            ),
            "s3:GetObject",
            OBJECT,
            "NEUTRAL",
        ),
    ],
)
def test_statement_covers_what_the_documentation_says(statement, action, resource, result):
    request = Request(action, resource, {"aws:SecureTransport": "true"})
    assert statement_result(statement, request) is PermissionResult[result]


def test_an_explicit_deny_overrides_an_allow_in_the_same_policy():
    policy = json.dumps(
        {
            "Statement": [
                _statement(Action="s3:*", Resource="*"),
                _statement("Deny", Action="s3:GetObject", Resource=OBJECT),
            ]
        }
    )
    request = Request("s3:GetObject", OBJECT, {}, policy)
    assert resource_policy_decision(request, lambda _: True) is Decision.RESOURCE_DENY
    other = Request("s3:GetObject", f"{BUCKET}/inputs/b.png", {}, policy)
    assert resource_policy_decision(other, lambda _: True) is Decision.ALLOWED


def test_a_deny_with_an_unevaluated_operator_is_refused_naming_policy_and_statement():
    deny = _statement(
        "Deny",
        Sid="OnlyFromVpc",
        Action="s3:*",
        Resource="*",
        Condition={"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
    )
    policy = json.dumps({"Statement": [_statement(Action="s3:*", Resource="*"), deny]})
    request = Request("s3:GetObject", OBJECT, {}, policy)
    expected = f"NotIpAddress in statement OnlyFromVpc of the resource policy of {OBJECT}"
    with pytest.raises(PolicyNotEvaluated, match=expected):
        resource_policy_decision(request, lambda _: True)
    # A statement that does not cover the action is not evaluated at all.
    other = Request(
        "sns:Publish",
        OBJECT,
        {},
        json.dumps(
            {"Statement": [{**deny, "Action": "s3:*"}, _statement(Action="sns:*", Resource="*")]}
        ),
    )
    assert resource_policy_decision(other, lambda _: True) is Decision.ALLOWED


ROLE = "arn:aws:iam::123456789012:role/scones-classify"
SESSION = Session(ROLE, "scones-classify", "ASIA", "secret", "token")
SESSION_ARN = "arn:aws:sts::123456789012:assumed-role/scones-classify/scones-classify"
ROOT = "arn:aws:iam::123456789012:root"


@pytest.mark.parametrize(
    ("not_principal", "denied"),
    [
        # The documentation's advice: name the account and the role (or its session).
        ({"AWS": [ROLE, ROOT]}, False),
        ({"AWS": [SESSION_ARN, ROLE, ROOT]}, False),
        ({"AWS": ["123456789012", SESSION_ARN]}, False),
        # Without the account the Deny still reaches the session (checked account first).
        ({"AWS": [ROLE]}, True),
        # Another role: the Deny applies to this one.
        ({"AWS": ["arn:aws:iam::123456789012:role/other", ROOT]}, True),
        ({"Service": "s3.amazonaws.com"}, True),
    ],
)
def test_deny_with_not_principal_applies_to_every_principal_not_named(not_principal, denied):
    deny = _statement("Deny", NotPrincipal=not_principal, Action="s3:*", Resource="*")
    allow = _statement(Principal={"AWS": ROLE}, Action="s3:*", Resource="*")
    policy = json.dumps({"Statement": [allow, deny]})
    decision = resource_policy_decision(
        Request("s3:GetObject", OBJECT, {}, policy), lambda s: names_session(s, SESSION)
    )
    assert decision is (Decision.RESOURCE_DENY if denied else Decision.ALLOWED)


def test_deny_with_not_principal_spares_only_the_named_service():
    deny = _statement(
        "Deny", NotPrincipal={"Service": "s3.amazonaws.com"}, Action="*", Resource="*"
    )
    allow = _statement(
        Principal={"Service": ["s3.amazonaws.com", "events.amazonaws.com"]},
        Action="lambda:InvokeFunction",
        Resource="*",
    )
    policy = json.dumps({"Statement": [allow, deny]})
    request = Request("lambda:InvokeFunction", "arn:aws:lambda:us-east-1:1:function:f", {}, policy)
    assert service_may("s3.amazonaws.com", request) is Decision.ALLOWED
    assert service_may("events.amazonaws.com", request) is Decision.RESOURCE_DENY


def test_not_principal_with_allow_is_refused_as_aws_does_not_support_it():
    allow = _statement(NotPrincipal={"AWS": ROLE}, Action="s3:*", Resource="*")
    request = Request("s3:GetObject", OBJECT, {}, json.dumps({"Statement": [allow]}))
    with pytest.raises(PolicyNotEvaluated, match="NotPrincipal with Effect Allow in statement #0"):
        resource_policy_decision(request, lambda s: names_session(s, SESSION))
