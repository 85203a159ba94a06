"""Condition evaluation (`localcloud.iam_conditions`), one table row per documented rule.

The rules and examples are those of "IAM JSON policy elements: Condition operators"
(IAM User Guide, docs.aws.amazon.com/IAM/latest/UserGuide/
reference_policies_elements_condition_operators.html): a key missing from the request
context makes a condition false, but true for a negated operator (`StringNotLike`,
`ArnNotLike`); `...IfExists` is true when the key is missing; `Null` tests presence.
"""

import pytest

from localcloud.iam_conditions import PolicyNotEvaluated, holds

VPCE = "aws:SourceVpce"
ARN = "arn:aws:sns:us-east-1:111122223333:topic"


@pytest.mark.parametrize(
    ("operator", "key", "expected", "context", "result"),
    [
        # Missing key: plain operators are false, negated ones true.
        ("StringEquals", VPCE, "vpce-1", {}, False),
        ("StringNotEquals", VPCE, "vpce-1", {}, True),
        ("StringNotLike", VPCE, "vpce-*", {}, True),
        ("ArnNotLike", "aws:SourceArn", ARN, {}, True),
        ("ArnLike", "aws:SourceArn", ARN, {}, False),
        # ...IfExists: true when missing, else the operator itself.
        ("StringEqualsIfExists", VPCE, "vpce-1", {}, True),
        ("StringEqualsIfExists", VPCE, "vpce-1", {VPCE: "vpce-2"}, False),
        ("StringEqualsIfExists", VPCE, "vpce-1", {VPCE: "vpce-1"}, True),
        # Present key: negation inverts the match; any listed value matches.
        ("StringNotEquals", VPCE, "vpce-1", {VPCE: "vpce-1"}, False),
        ("StringNotEquals", VPCE, "vpce-1", {VPCE: "vpce-2"}, True),
        ("StringEquals", VPCE, ["vpce-2", "vpce-1"], {VPCE: "vpce-1"}, True),
        ("StringNotEquals", VPCE, ["vpce-2", "vpce-1"], {VPCE: "vpce-1"}, False),
        # StringEquals is case-sensitive, ...IgnoreCase is not; key names are not.
        ("StringEquals", VPCE, "VPCE-1", {VPCE: "vpce-1"}, False),
        ("StringEqualsIgnoreCase", VPCE, "VPCE-1", {VPCE: "vpce-1"}, True),
        ("StringEquals", "AWS:SOURCEVPCE", "vpce-1", {VPCE: "vpce-1"}, True),
        # Wildcards: `*` many characters, `?` exactly one.
        ("StringLike", "s3:prefix", "inputs/*", {"s3:prefix": "inputs/a/b.png"}, True),
        ("StringLike", "s3:prefix", "input?/", {"s3:prefix": "inputs/"}, True),
        ("StringLike", "s3:prefix", "input?/", {"s3:prefix": "input/"}, False),
        # Bool compares the text, either case; Null tests whether the key is present.
        ("Bool", "aws:SecureTransport", "false", {"aws:SecureTransport": "true"}, False),
        ("Bool", "aws:SecureTransport", "True", {"aws:SecureTransport": "true"}, True),
        ("Null", VPCE, "true", {}, True),
        ("Null", VPCE, "false", {}, False),
        ("Null", VPCE, "false", {VPCE: "vpce-1"}, True),
    ],
)
def test_condition_operator_follows_the_documented_rule(operator, key, expected, context, result):
    assert holds(operator, key, expected, context) is result


@pytest.mark.parametrize(
    "operator",
    [
        "NumericLessThan",
        "DateGreaterThan",
        "IpAddress",
        "NotIpAddress",
        "BinaryEquals",
        "ForAnyValue:StringEquals",
        "ForAllValues:StringLike",
        "NumericEqualsIfExists",
    ],
)
def test_an_operator_not_evaluated_here_is_refused_loudly(operator):
    for context in ({}, {VPCE: "vpce-1"}):
        with pytest.raises(PolicyNotEvaluated, match=f"{operator} in a policy is not evaluated"):
            holds(operator, VPCE, "vpce-1", context)
