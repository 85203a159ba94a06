"""EventBridge rule targets moto 5.2.5 does not deliver to: SNS topics and Lambda functions.

moto's `Rule.send_to_targets` sends to log groups, archives, SQS queues, event buses and
API destinations and raises NotImplementedError for anything else. AWS delivers a matched
event, through the target's InputTransformer if it has one, to an SNS topic (published as
the message) and to a Lambda function (invoked asynchronously, "Amazon EventBridge
targets", EventBridge user guide). The replacement delivers those two itself and hands the
other targets to moto's original.
"""

from __future__ import annotations

import copy
import json
import logging
import re
from typing import Any

from moto.awslambda.models import lambda_backends
from moto.events.models import Rule
from moto.sns.models import sns_backends
from moto.utilities.arns import parse_arn

from . import iam_service_roles

LOG = logging.getLogger(__name__)
DELIVERED_HERE = ("sns", "lambda")


_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.-]+)>")


def _value(path: str, event: dict[str, Any]) -> Any:
    from jsonpath_ng.ext import parse

    matches = parse(path).find(event)
    return matches[0].value if matches else None


def transform_input(template: str, paths: dict[str, str], event: dict[str, Any]) -> str:
    """InputTemplate filled as AWS does (InputTransformer, EventBridge API reference): in a
    JSON template a placeholder outside quotes becomes the value as JSON (a string quoted),
    inside quotes its text; in a plain-text template, its text. moto's parser inserts
    strings unquoted, so `{"source": <source>}` came out as invalid JSON."""
    values = {name: _value(path, event) for name, path in paths.items()}
    values["aws.events.event.json"] = event
    is_json = template.lstrip().startswith("{")
    out, in_string, escaped, last = [], False, False, 0
    for index, char in enumerate(template):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            in_string = not in_string
        elif char == "<":
            match = _PLACEHOLDER.match(template, index)
            if match and match.group(1) in values and index >= last:
                value = values[match.group(1)]
                out.append(template[last:index])
                if is_json and not in_string:
                    out.append(json.dumps(value, default=str))
                else:
                    text = value if isinstance(value, str) else json.dumps(value, default=str)
                    out.append(json.dumps(text)[1:-1] if is_json else text)
                last = match.end()
    out.append(template[last:])
    return "".join(out)


def _payload(target: dict[str, Any], event: dict[str, Any]) -> str:
    transformer = target.get("InputTransformer")
    if transformer:
        return transform_input(
            transformer.get("InputTemplate") or "", transformer.get("InputPathsMap") or {}, event
        )
    if target.get("Input"):
        return target["Input"]
    return json.dumps(event, default=str)


def _deliver(target: dict[str, Any], event: dict[str, Any], rule_arn: str) -> None:
    arn = target["Arn"]
    try:  # inside: a deleted target fails its own delivery, not the rule's other targets
        if iam_service_roles.event_target_denied(rule_arn, arn):
            return  # the target's policy does not let EventBridge deliver (logged)
        body = _payload(target, event)
        parsed = parse_arn(arn)
        if parsed.service == "sns":
            sns_backends[parsed.account][parsed.region].publish(body, arn=arn)
        else:
            # EventBridge invokes Lambda asynchronously: queued with the function's retries.
            fn = lambda_backends[parsed.account][parsed.region].get_function(arn)
            fn.invoke(body, {"x-amz-invocation-type": "Event"}, {})
    except Exception:  # EventBridge retries and counts FailedInvocations; here: logged
        LOG.exception("EventBridge delivery to %s failed", arn)


def _wrap_send_to_targets(original: Any) -> Any:
    def send_to_targets(self: Rule, original_event: Any, transform_input: bool = True) -> None:
        if not self.event_pattern.matches_event(original_event):
            return
        ours = [t for t in self.targets if parse_arn(t["Arn"]).service in DELIVERED_HERE]
        for target in ours:
            _deliver(target, original_event, self.arn)
        theirs = [t for t in self.targets if t not in ours]
        if theirs:
            rule = copy.copy(self)
            rule.targets = theirs
            original(rule, original_event, transform_input)

    send_to_targets.__wrapped__ = original  # type: ignore[attr-defined]
    return send_to_targets


def install() -> None:
    Rule.send_to_targets = _wrap_send_to_targets(Rule.send_to_targets)
