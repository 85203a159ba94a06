"""An execution whose history passes 25,000 events fails, as in AWS.

AWS pages this checks:
- Step Functions "Step Functions service quotas" (docs.aws.amazon.com/step-functions/latest/
  dg/service-quotas.html), Maximum execution history size: "25,000 events in a single state
  machine execution history. ... If the execution history reaches this quota, the
  execution fails."
- Step Functions "Avoid reaching the history quota" (docs.aws.amazon.com/step-functions/
  latest/dg/bp-history-limit.html): when an execution reaches 24,999 events, if event
  25,000 is ExecutionSucceeded the execution succeeds; otherwise ExecutionFailed is logged
  and the execution fails. A Distributed Map runs each iteration as a child execution with
  its own, separate execution history.
- The failure's error and cause as executions report it: `States.Runtime`, "The execution
  reached the maximum number of history events (25000)."

The loop is a Pass (counter + 1 with States.MathAdd) and a Choice: 4 events per turn,
after ExecutionStarted; the Choice leaves through a Succeed state (2 events) and
ExecutionSucceeded ends it: 4 * turns + 4 events.
"""

from __future__ import annotations

import json

import pytest

from localcloud.stepfunctions_history import (
    HISTORY_LIMIT_CAUSE,
    HISTORY_LIMIT_ERROR,
    MAX_HISTORY_EVENTS,
)
from tests.support.localcloud_harness import wait_for_execution

pytestmark = pytest.mark.integration

CAUSE = "The execution reached the maximum number of history events (25000)."


def loop(turns: int) -> dict:
    return {
        "StartAt": "Count",
        "States": {
            "Count": {
                "Type": "Pass",
                "Parameters": {"i.$": "States.MathAdd($.i, 1)"},
                "Next": "More?",
            },
            "More?": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.i", "NumericLessThan": turns, "Next": "Count"}],
                "Default": "Done",
            },
            "Done": {"Type": "Succeed"},
        },
    }


def run(local_cloud, lambda_role, name: str, definition: dict, execution_input: dict) -> dict:
    sfn = local_cloud.client("stepfunctions")
    arn = sfn.create_state_machine(
        name=name, definition=json.dumps(definition), roleArn=lambda_role
    )["stateMachineArn"]
    started = sfn.start_execution(stateMachineArn=arn, input=json.dumps(execution_input))
    return wait_for_execution(sfn, started["executionArn"], timeout=240)


def history(local_cloud, execution_arn: str) -> list[dict]:
    sfn = local_cloud.client("stepfunctions")
    events: list[dict] = []
    kwargs: dict = {"executionArn": execution_arn, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**kwargs)
        events.extend(page["events"])
        if not page.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextToken"]


def test_the_documented_values():
    assert MAX_HISTORY_EVENTS == 25_000
    assert (HISTORY_LIMIT_ERROR, HISTORY_LIMIT_CAUSE) == ("States.Runtime", CAUSE)


@pytest.mark.slow
def test_a_loop_past_25000_events_fails_with_states_runtime(local_cloud, lambda_role):
    execution = run(local_cloud, lambda_role, "history-endless", loop(1_000_000), {"i": 0})

    assert execution["status"] == "FAILED"
    assert execution["error"] == "States.Runtime"
    assert execution["cause"] == CAUSE
    events = history(local_cloud, execution["executionArn"])
    assert len(events) == 25_000
    assert [event["id"] for event in events[-2:]] == [24_999, 25_000]
    last = events[-1]
    assert last["type"] == "ExecutionFailed"
    assert last["executionFailedEventDetails"] == {"error": "States.Runtime", "cause": CAUSE}
    assert sum(1 for event in events if event["type"].startswith("Execution")) == 2


@pytest.mark.slow
def test_event_25000_may_be_execution_succeeded(local_cloud, lambda_role):
    turns = (MAX_HISTORY_EVENTS - 4) // 4  # 4 * 6249 + 4 = 25,000 events exactly
    execution = run(local_cloud, lambda_role, "history-exactly-full", loop(turns), {"i": 0})

    assert execution["status"] == "SUCCEEDED", execution
    assert json.loads(execution["output"]) == {"i": turns}
    events = history(local_cloud, execution["executionArn"])
    assert len(events) == 25_000
    assert events[-1]["type"] == "ExecutionSucceeded"


def test_a_loop_of_1000_events_succeeds(local_cloud, lambda_role):
    execution = run(local_cloud, lambda_role, "history-short", loop(249), {"i": 0})

    assert execution["status"] == "SUCCEEDED", execution
    assert json.loads(execution["output"]) == {"i": 249}
    assert len(history(local_cloud, execution["executionArn"])) == 1_000


def in_a_map(mode: str, processor: dict) -> dict:
    config = {"Mode": mode}
    if mode == "DISTRIBUTED":
        config["ExecutionType"] = "STANDARD"
    return {
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "MaxConcurrency": 1,
                "ItemProcessor": {"ProcessorConfig": config, **processor},
                "End": True,
            }
        },
    }


# Each item loops 1,000 turns: 4,002 events or more; 7 items pass 25,000 in all.
ITEMS = {"items": [{"i": 0}] * 7}


@pytest.mark.slow
def test_inline_map_iterations_count_against_the_execution(local_cloud, lambda_role):
    execution = run(
        local_cloud, lambda_role, "history-inline", in_a_map("INLINE", loop(1_000)), ITEMS
    )

    assert execution["status"] == "FAILED"
    assert (execution["error"], execution["cause"]) == ("States.Runtime", CAUSE)
    events = history(local_cloud, execution["executionArn"])
    assert len(events) == 25_000
    assert events[-1]["type"] == "ExecutionFailed"


@pytest.mark.slow
def test_distributed_map_children_keep_their_own_history(local_cloud, lambda_role):
    definition = in_a_map("DISTRIBUTED", loop(1_000))
    execution = run(local_cloud, lambda_role, "history-distributed", definition, ITEMS)

    assert execution["status"] == "SUCCEEDED", execution
    assert json.loads(execution["output"]) == [{"i": 1_000}] * 7
    assert len(history(local_cloud, execution["executionArn"])) < 100
