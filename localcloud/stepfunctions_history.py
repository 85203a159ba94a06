"""Step Functions' 25,000-event execution history limit, as AWS enforces it.

AWS ("Step Functions service quotas", Maximum execution history size, and "Avoid
reaching the history quota", docs.aws.amazon.com/step-functions/latest/dg/
bp-history-limit.html): a Standard Workflow execution's history holds at most 25,000
events. When an execution has 24,999 events, the next one decides: if event 25,000 is
ExecutionSucceeded the execution succeeds, otherwise ExecutionFailed is logged as event
25,000 and the execution fails, with error `States.Runtime` and cause "The execution
reached the maximum number of history events (25000)." (what AWS's console and
DescribeExecution show). Express Workflows keep no such history and have no such limit.

moto 5.2.5 appends every event through `EventManager.add_event` and never stops. Here the
event manager of each STANDARD execution (made by `ExecutionWorker
._get_evaluation_environment`) counts its events; the 25,000th, unless it is the
execution's own end, becomes that ExecutionFailed, the execution's error is set (and kept:
what the interrupted state raises afterwards does not replace it), and later events are
dropped.

What counts: everything moto appends to the execution's manager, which includes Inline
Map iterations and Parallel branches (in AWS too). A Distributed Map's children do not
count: moto records them in a separate event manager per Map Run, which it discards, as
AWS gives each child execution its own history (a child's own 25,000-event limit
is not enforced here).

The cause of a `States.Runtime` failure names the event that entered the failing state,
as AWS's does ("... (entered at the event id #2). The JSONPath '$.x' specified for the
field 'InputPath' could not be found in the input '{}'"); moto named the last event.
"""

from __future__ import annotations

import threading
from typing import Any

from moto.stepfunctions.parser.api import ExecutionFailedEventDetails, HistoryEventType
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

MAX_HISTORY_EVENTS = 25_000
HISTORY_LIMIT_ERROR = "States.Runtime"
HISTORY_LIMIT_CAUSE = (
    f"The execution reached the maximum number of history events ({MAX_HISTORY_EVENTS})."
)

# Events that end the execution themselves: as event 25,000 they are logged as they are.
_TERMINAL_EVENTS = frozenset(
    {
        HistoryEventType.ExecutionSucceeded,
        HistoryEventType.ExecutionFailed,
        HistoryEventType.ExecutionAborted,
        HistoryEventType.ExecutionTimedOut,
    }
)


class HistoryLimit:
    """The count of one execution's events, and what happens when it is full."""

    def __init__(self, env: Environment) -> None:
        self.env = env
        self.limit = MAX_HISTORY_EVENTS
        self.count = 0
        self.reached = False
        self.last_event_id = 0
        self.lock = threading.Lock()

    def fail_execution(self) -> None:
        env = self.env
        env.set_error(
            ExecutionFailedEventDetails(error=HISTORY_LIMIT_ERROR, cause=HISTORY_LIMIT_CAUSE)
        )

        def keep_the_history_limit_error(error: Any) -> None:
            """The interrupted state may still raise (e.g. setting its next state on a
            stopped program); the execution failed on its history, not on that."""

        env.set_error = keep_the_history_limit_error  # type: ignore[method-assign]


def _wrap_add_event_entered(original: Any) -> Any:
    """Remembers, per history context, the id of the event that entered the current state."""

    def add_event(
        self: EventManager, context: Any, event_type: Any, *args: Any, **kwargs: Any
    ) -> int:
        event_id = original(self, context, event_type, *args, **kwargs)
        if str(getattr(event_type, "value", event_type)).endswith("StateEntered"):
            context.localcloud_entered_event_id = event_id
        return event_id

    add_event.__wrapped__ = original  # type: ignore[attr-defined]
    return add_event


def _wrap_failure_event_init(original: Any) -> Any:
    """AWS's "An error occurred while executing the state 'S' (entered at the event id #N)"
    names the state's StateEntered event; moto named the last event published before
    the failure (e.g. #5, TaskScheduled's successor, for a state entered at #2)."""

    def __init__(self: FailureEvent, env: Environment, *args: Any, **kwargs: Any) -> None:
        original(self, env, *args, **kwargs)
        entered = getattr(env.event_history_context, "localcloud_entered_event_id", None)
        if entered is not None:
            self.source_event_id = entered

    __init__.__wrapped__ = original  # type: ignore[attr-defined]
    return __init__


def _wrap_add_event(original: Any) -> Any:
    def add_event(
        self: EventManager, context: Any, event_type: Any, *args: Any, **kwargs: Any
    ) -> int:
        limit: HistoryLimit | None = getattr(self, "localcloud_history_limit", None)
        if limit is None:
            return original(self, context, event_type, *args, **kwargs)
        with limit.lock:
            if limit.reached:
                return limit.last_event_id
            limit.count += 1
            if limit.count < limit.limit or event_type in _TERMINAL_EVENTS:
                limit.reached = limit.count >= limit.limit
                limit.last_event_id = original(self, context, event_type, *args, **kwargs)
                return limit.last_event_id
            limit.reached = True
            limit.last_event_id = original(
                self,
                context,
                HistoryEventType.ExecutionFailed,
                EventDetails(
                    executionFailedEventDetails=ExecutionFailedEventDetails(
                        error=HISTORY_LIMIT_ERROR, cause=HISTORY_LIMIT_CAUSE
                    )
                ),
            )
        limit.fail_execution()
        return limit.last_event_id

    add_event.__wrapped__ = original  # type: ignore[attr-defined]
    return add_event


def _wrap_get_evaluation_environment(original: Any) -> Any:
    def _get_evaluation_environment(self: ExecutionWorker) -> Environment:
        env = original(self)
        if env.is_standard_workflow():
            env.event_manager.localcloud_history_limit = HistoryLimit(env)
        return env

    _get_evaluation_environment.__wrapped__ = original  # type: ignore[attr-defined]
    return _get_evaluation_environment


def install() -> None:
    EventManager.add_event = _wrap_add_event(_wrap_add_event_entered(EventManager.add_event))
    FailureEvent.__init__ = _wrap_failure_event_init(FailureEvent.__init__)
    ExecutionWorker._get_evaluation_environment = _wrap_get_evaluation_environment(
        ExecutionWorker._get_evaluation_environment
    )
