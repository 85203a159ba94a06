"""Retry choices of the rendered state machines that `terraform test` does not pin: found
by mutation testing of the templates (benchmarks/mutate_asl.py; benchmarks/results/
mutation.md, "ASL templates: retry and catch"). The definitions are rendered by terraform
from the real templates through workflow.tf's locals (conftest.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

pytestmark = pytest.mark.terraform

# SNS API reference, Publish, Errors (https://docs.aws.amazon.com/sns/latest/api/API_Publish.html):
# InternalError (HTTP 500, "an internal service error") and KMSThrottling ("denied due to
# request throttling") are the errors a later attempt can get past. Step Functions names a
# service's error <Service>.<Error> with the Exception suffix ("Learning to use AWS service
# SDK integrations in Step Functions", supported-services-awssdk).
PUBLISH_TRANSIENT_ERRORS = {"SNS.InternalErrorException", "SNS.KMSThrottlingException"}
# A retrier without MaxAttempts retries 3 times; 0 never retries ("Handling errors in Step
# Functions workflows", Retrier fields).
DEFAULT_MAX_ATTEMPTS = 3


def task_states(definition: dict) -> Iterator[tuple[str, dict]]:
    """Every Task state of a definition, those of its Map item processors included."""
    for name, state in definition["States"].items():
        if state["Type"] == "Task":
            yield name, state
        if "ItemProcessor" in state:
            yield from task_states(state["ItemProcessor"])


def retried_errors(state: dict) -> set[str]:
    return {
        error
        for retrier in state.get("Retry", [])
        if retrier.get("MaxAttempts", DEFAULT_MAX_ATTEMPTS) > 0
        for error in retrier["ErrorEquals"]
    }


def test_every_alert_publish_retries_snss_transient_publish_errors(state_machine_definitions):
    publishes = {
        f"{target}/{machine}/{name}": retried_errors(state)
        for target, definitions in state_machine_definitions.items()
        for machine, text in definitions.items()
        for name, state in task_states(json.loads(text))
        if state["Resource"].endswith(":states:::sns:publish")
    }

    assert publishes, "no state of the deployed machines publishes an alert"
    missing = {
        name: sorted(PUBLISH_TRANSIENT_ERRORS - errors)
        for name, errors in publishes.items()
        if not errors >= PUBLISH_TRANSIENT_ERRORS
    }
    assert missing == {}, "alert publishes that give up on a transient SNS error"
