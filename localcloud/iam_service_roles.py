"""Calls the local cloud makes in-process for a service role, checked as AWS checks them.

Some of what AWS's services do with a role never becomes a request here: the endpoint
reads the model artifact and writes captured data straight to moto's S3 backend, and
a Distributed Map's children run inline instead of through StartExecution. These
functions ask `iam_enforcement` the same question the request would have asked.
"""

from __future__ import annotations

from typing import Any

from moto.stepfunctions.parser.api import ExecutionFailedEventDetails, HistoryEventType
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
    StatesErrorName,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
    StatesErrorNameType,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.distributed_iteration_component import (  # noqa: E501
    DistributedIterationComponent,
)
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

from . import iam_enforcement
from .iam_policies import Request
from .iam_requests import s3_requests
from .iam_sessions import assume_role

# SageMaker's session name for the role it assumes is its own; any fixed name will do.
SAGEMAKER_SESSION = "SageMaker"
STATES_SESSION = "localcloud-states"


def check_s3(role_arn: str, session_name: str, region: str, action: str, uri: str) -> None:
    """AccessDeniedError when the role may not do `action` (s3:GetObject/PutObject) on the
    object at `s3://bucket/key`, its bucket policy and its bucket's KMS key included."""
    if not iam_enforcement.is_enabled() or not role_arn.startswith("arn:"):
        return
    session = assume_role(role_arn, session_name, region)
    bucket_key = uri.removeprefix("s3://")
    resource = f"arn:{session.partition}:s3:::{bucket_key}"
    message = iam_enforcement.check(session, s3_requests(session, region, action, resource))
    if message:
        raise iam_enforcement.AccessDeniedError(message)


def check_model_read(model: Any, uri: str) -> None:
    """The model's execution role reads its ModelDataUrl (CreateModel, SageMaker API)."""
    region = model.arn.split(":")[3]
    check_s3(model.execution_role_arn, SAGEMAKER_SESSION, region, "s3:GetObject", uri)


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
            # The Map Run does not start; the error name AWS reports is not documented,
            # States.Runtime is the interpreter's for a run that cannot go on.
            raise FailureEventException(
                failure_event=FailureEvent(
                    env=env,
                    error_name=StatesErrorName(typ=StatesErrorNameType.StatesRuntime),
                    event_type=HistoryEventType.ExecutionFailed,
                    event_details=EventDetails(
                        executionFailedEventDetails=ExecutionFailedEventDetails(
                            error=StatesErrorNameType.StatesRuntime.to_name(),
                            cause=denied.message,
                        )
                    ),
                )
            ) from None
        original(self, env, eval_input)

    _map_run.__wrapped__ = original  # type: ignore[attr-defined]
    return _map_run


def install() -> None:
    DistributedIterationComponent._map_run = _wrap_map_run(DistributedIterationComponent._map_run)
