"""IAM policy conditions, evaluated against one request's context keys.

moto 5.2.5 checks conditions only in role trust policies, and a statement whose
condition does not hold comes back DENIED even when it is an Allow. Here a statement
applies only when every condition holds ("IAM JSON policy elements: Condition", IAM
User Guide: all operators ANDed, any value of one key ORed). A key missing from the
context makes a condition false, but a negated one (`StringNotEquals`, `ArnNotLike`)
true; `...IfExists` makes it true either way and `Null` tests the presence itself
("IAM JSON policy elements: Condition operators", IAM User Guide). An operator not
modelled here (numeric, date, IP, binary, `ForAnyValue:`/`ForAllValues:`) raises
`PolicyNotEvaluated`: guessing would drop a Deny or grant an Allow silently.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from typing import Any

_MATCHERS = {
    "Bool": lambda actual, expected: actual.lower() == expected.lower(),
    "StringEquals": lambda actual, expected: actual == expected,
    "StringEqualsIgnoreCase": lambda actual, expected: actual.lower() == expected.lower(),
    "StringLike": fnmatch.fnmatchcase,
    "ArnEquals": lambda actual, expected: actual == expected,
    "ArnLike": fnmatch.fnmatchcase,
}


class PolicyNotEvaluated(Exception):
    """A policy element the local cloud does not evaluate (it denies the request)."""

    def __init__(self, element: str, hint: str, where: str = "a policy") -> None:
        self.element, self.hint, self.where = element, hint, where
        super().__init__(
            f"{element} in {where} is not evaluated by the local cloud ({hint}); rewrite the "
            "statement, or run the local cloud with --iam off (LOCALCLOUD_IAM=off)"
        )

    def located(self, where: str) -> PolicyNotEvaluated:
        return PolicyNotEvaluated(self.element, self.hint, where)


def _operator_not_evaluated(operator: str) -> PolicyNotEvaluated:
    evaluated = ", ".join(sorted(_MATCHERS))
    return PolicyNotEvaluated(
        f"condition operator {operator}",
        f"it evaluates {evaluated}, their Not/IfExists forms and Null",
    )


def holds(operator: str, key: str, expected: Any, context: Mapping[str, str]) -> bool:
    """One condition: any expected value matches (none does, for a negated operator).
    Condition key names are case-insensitive, their values are not."""
    context = {name.lower(): value for name, value in context.items()}
    key = key.lower()
    if operator == "Null":
        return (key not in context) == (str(expected).lower() == "true")
    if_exists = operator.endswith("IfExists")
    base = operator.removesuffix("IfExists")
    negated = "Not" in base
    matcher = _MATCHERS.get(base.replace("Not", ""))
    if matcher is None:
        raise _operator_not_evaluated(operator)
    if key not in context:
        return if_exists or negated
    values = expected if isinstance(expected, list) else [expected]
    matched = any(matcher(context[key], str(v)) for v in values)
    return matched != negated


def conditions_hold(statement: Mapping[str, Any], context: Mapping[str, str]) -> bool:
    """Every condition of the statement holds for the request context."""
    return all(
        holds(operator, key, expected, context)
        for operator, pairs in (statement.get("Condition") or {}).items()
        for key, expected in pairs.items()
    )
