"""Calls the local cloud makes in-process for a service role, checked as AWS checks them.

Some of what AWS's services do with a role never becomes a request here: the endpoint
reads the model artifact and writes captured data straight to moto's S3 backend, and
a Distributed Map's children run inline instead of through StartExecution. These
functions ask `iam_enforcement` the same question the request would have asked.
"""

from __future__ import annotations

import json
from typing import Any

from moto.awslambda.models import lambda_backends
from moto.s3 import notifications
from moto.s3.exceptions import InvalidArgumentError
from moto.s3.models import FakeBucket
from moto.sns.models import sns_backends
from moto.stepfunctions.parser.api import ExecutionFailedEventDetails, HistoryEventType
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import (
    CustomErrorName,
)
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.distributed_iteration_component import (  # noqa: E501
    DistributedIterationComponent,
)
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

from . import iam_enforcement
from .iam_conditions import PolicyNotEvaluated
from .iam_policies import Decision, Request, service_may
from .iam_requests import s3_requests
from .iam_sessions import assume_role

# SageMaker's session name for the role it assumes is its own; any fixed name will do.
SAGEMAKER_SESSION = "SageMaker"
STATES_SESSION = "localcloud-states"


def check_s3(
    role_arn: str,
    session_name: str,
    region: str,
    action: str,
    uri: str,
    prefix: str | None = None,
) -> None:
    """AccessDeniedError when the role may not do `action` on `s3://bucket[/key]` (with
    `s3:prefix` for ListBucket), its bucket policy and its bucket's KMS key included."""
    if not iam_enforcement.is_enabled() or not role_arn.startswith("arn:"):
        return
    session = assume_role(role_arn, session_name, region)
    bucket_key = uri.removeprefix("s3://")
    resource = f"arn:{session.partition}:s3:::{bucket_key}"
    needed = s3_requests(session, region, action, resource, prefix)
    message = iam_enforcement.check(session, needed)
    if message:
        raise iam_enforcement.AccessDeniedError(message)


def check_model_read(model: Any, uri: str) -> None:
    """The model's execution role reads its ModelDataUrl (CreateModel, SageMaker API)."""
    region = model.arn.split(":")[3]
    check_s3(model.execution_role_arn, SAGEMAKER_SESSION, region, "s3:GetObject", uri)


def check_transform_s3(model: Any, action: str, uri: str, prefix: str | None = None) -> None:
    """A transform job reads its input and writes its output with its model's execution
    role (CreateModel ExecutionRoleArn, SageMaker API reference)."""
    region = model.arn.split(":")[3]
    check_s3(model.execution_role_arn, SAGEMAKER_SESSION, region, action, uri, prefix)


def _wrap_map_run(original: Any) -> Any:
    """A Distributed Map starts its children with StartExecution on its own state machine
    ("IAM policies for using Distributed Map states", Step Functions developer guide)."""

    def _map_run(self: DistributedIterationComponent, env: Any, eval_input: Any) -> None:
        role_arn = env.aws_execution_details.role_arn
        machine = env.states.context_object.context_object_data["StateMachine"]["Id"]
        region = machine.split(":")[3]
        try:
            if iam_enforcement.is_enabled() and role_arn:
                iam_enforcement.authorize_role(
                    role_arn, STATES_SESSION, region, Request("states:StartExecution", machine)
                )
        except iam_enforcement.AccessDeniedError as denied:
            # The Map Run does not start. AWS documents no error name for it; StartExecution's
            # own (AccessDeniedException) is used, not a States.* name, which moto refuses to
            # re-raise from a Fail state's ErrorPath after a Catch.
            raise FailureEventException(
                failure_event=FailureEvent(
                    env=env,
                    error_name=CustomErrorName(error_name="AccessDeniedException"),
                    event_type=HistoryEventType.ExecutionFailed,
                    event_details=EventDetails(
                        executionFailedEventDetails=ExecutionFailedEventDetails(
                            error="AccessDeniedException", cause=denied.message
                        )
                    ),
                )
            ) from None
        original(self, env, eval_input)

    _map_run.__wrapped__ = original  # type: ignore[attr-defined]
    return _map_run


def service_denied(service_principal: str, request: Request) -> str | None:
    """The AccessDenied message when the resource policy does not let the AWS service
    (S3 notifying, EventBridge delivering) make the request, or None."""
    if not iam_enforcement.is_enabled():
        return None
    try:
        decision = service_may(service_principal, request)
    except PolicyNotEvaluated as error:
        message = request.not_evaluated_message(service_principal, error)
        iam_enforcement.LOG.error("AccessDenied: %s", message)
        return message
    if decision is Decision.ALLOWED:
        return None
    message = request.denied_message(service_principal, decision).replace(
        "because no identity-based policy allows", "because no resource-based policy allows"
    )
    iam_enforcement.LOG.warning("AccessDenied: %s", message)
    return message


def _function_policy(fn_arn: str) -> tuple[str, str | None]:
    """(unqualified function ARN, its resource policy JSON or None)."""
    parsed = fn_arn.split(":")
    backend = lambda_backends[parsed[4]][parsed[3]]
    function = backend.get_function(fn_arn)
    statements = function.policy.statements
    policy = json.dumps({"Version": "2012-10-17", "Statement": statements}) if statements else None
    return ":".join(parsed[:7]), policy


def s3_invoke_denied(account_id: str, bucket_arn: str, fn_arn: str) -> str | None:
    """Why S3 may not invoke the function for this bucket (its policy must allow
    s3.amazonaws.com: "Granting permissions to invoke an AWS Lambda function", S3 User
    Guide), or None."""
    if not iam_enforcement.is_enabled():
        return None
    arn, policy = _function_policy(fn_arn)
    context = {"aws:SourceArn": bucket_arn, "aws:SourceAccount": account_id}
    request = Request("lambda:InvokeFunction", arn, context, policy)
    return service_denied("s3.amazonaws.com", request)


def _wrap_s3_invoke(original: Any) -> Any:
    """A notified function the bucket may not invoke does not get the event."""

    def _invoke_awslambda(account_id: str, event_body: Any, fn_arn: str, region_name: str) -> None:
        bucket = event_body["Records"][0]["s3"]["bucket"]["arn"]
        if s3_invoke_denied(account_id, bucket, fn_arn):
            return
        original(account_id, event_body, fn_arn, region_name)

    _invoke_awslambda.__wrapped__ = original  # type: ignore[attr-defined]
    return _invoke_awslambda


def event_target_denied(rule_arn: str, target_arn: str) -> str | None:
    """EventBridge delivers to an SNS topic or a Lambda function only when its resource
    policy allows events.amazonaws.com ("Using resource-based policies for Amazon
    EventBridge", EventBridge User Guide); the AccessDenied message, or None."""
    if not iam_enforcement.is_enabled():
        return None
    parsed = target_arn.split(":")
    context = {"aws:SourceArn": rule_arn, "aws:SourceAccount": rule_arn.split(":")[4]}
    if parsed[2] == "sns":
        topic = sns_backends[parsed[4]][parsed[3]].topics.get(target_arn)
        policy = topic.policy if topic is not None else None
        request = Request("sns:Publish", target_arn, context, policy)
    else:
        arn, policy = _function_policy(target_arn)
        request = Request("lambda:InvokeFunction", arn, context, policy)
    return service_denied("events.amazonaws.com", request)


class UnableToValidateDestinations(InvalidArgumentError):
    """PutBucketNotificationConfiguration's answer when a destination refuses S3 (the
    function and why go in ArgumentName1/ArgumentValue1 on AWS; here in the server log)."""

    def __init__(self, fn_arn: str) -> None:
        super().__init__(
            "Unable to validate the following destination configurations",
            fn_arn,
            f"Not authorized to invoke function [{fn_arn}]",
        )


def _wrap_set_notifications(original: Any) -> Any:
    """PutBucketNotificationConfiguration checks each Lambda destination's permission
    before it takes the configuration (API reference: "In the case of Lambda
    destinations, Amazon S3 verifies that the Lambda function permissions grant Amazon S3
    permission to invoke the function from the Amazon S3 bucket"); a refused one fails
    the call with InvalidArgument "Unable to validate the following destination
    configurations" and the bucket keeps its previous configuration."""

    def set_notification_configuration(self: Any, notification_config: Any) -> None:
        previous = self.notification_configuration
        original(self, notification_config)
        functions = getattr(self.notification_configuration, "cloud_function", None) or []
        for function in functions:
            if s3_invoke_denied(self.account_id, self.arn, function.arn):
                self.notification_configuration = previous
                raise UnableToValidateDestinations(function.arn)

    set_notification_configuration.__wrapped__ = original  # type: ignore[attr-defined]
    return set_notification_configuration


def install() -> None:
    DistributedIterationComponent._map_run = _wrap_map_run(DistributedIterationComponent._map_run)
    notifications._invoke_awslambda = _wrap_s3_invoke(notifications._invoke_awslambda)
    FakeBucket.set_notification_configuration = _wrap_set_notifications(
        FakeBucket.set_notification_configuration
    )
