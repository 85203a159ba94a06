"""The state machines' Retry and Catch choices, seen from outside on the deployed workflows:
how many transient failures are ridden out, what a batch records for an item that fails,
and what happens when a batch's own steps (its summary, its alert) fail. Written to kill
the mutants of the templates' retriers and catchers that survived every other test
(benchmarks/mutate_asl.py; benchmarks/results/mutation.md, "ASL templates: retry and
catch"). Each test uses its own keys and finds its own alerts by execution name.

AWS behaviour relied on ("Handling errors in Step Functions workflows", Step Functions
developer guide, concepts-error-handling): a retrier's MaxAttempts is the number of
retries (3 by default when left out); a catcher's ResultPath puts the error output in the
state's input, and without one the error output replaces the input
("Specifying state output using ResultPath", input-output-resultpath: the default is
"$"); a catcher whose ResultPath is null keeps the input as it was.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from botocore.exceptions import ClientError

from tests.integration.test_deployed_iam import function_role, machine_role, without_statement

pytestmark = [pytest.mark.integration, pytest.mark.terraform, pytest.mark.slow]

# workflow.tf's lambda_retry: MaxAttempts 4, so the first call and four retries.
LAMBDA_RETRIES = 4


def execution_name(execution: dict) -> str:
    return execution["executionArn"].rsplit(":", 1)[-1]


def own_key(what: str) -> str:
    return f"inputs/retry-catch/{what}-{uuid.uuid4().hex[:8]}.png"


def failed_tasks(deployment, execution: dict) -> list[str]:
    """The error of every TaskFailed event of the execution, in order."""
    history = deployment.cloud.client("stepfunctions").get_execution_history(
        executionArn=execution["executionArn"], maxResults=1000
    )["events"]
    return [e["taskFailedEventDetails"]["error"] for e in history if e["type"] == "TaskFailed"]


def batch_results(deployment, execution: dict) -> tuple[dict, list[dict]]:
    summary = json.loads(execution["output"])
    return summary, deployment.results(summary["results_uri"])["results"]


@contextmanager
def function_environment(deployment, function_key: str, **changes: str) -> Iterator[None]:
    """The function's environment with `changes` (its next invocations run in fresh
    execution environments, as Lambda starts new ones for a new configuration), restored
    on the way out."""
    lam = deployment.cloud.client("lambda")
    name = deployment.output("lambda_function_names")[function_key]
    before = lam.get_function_configuration(FunctionName=name)["Environment"]["Variables"]

    def configure(variables: dict[str, str]) -> None:
        lam.update_function_configuration(FunctionName=name, Environment={"Variables": variables})
        lam.get_waiter("function_updated_v2").wait(FunctionName=name)

    configure({**before, **changes})
    try:
        yield
    finally:
        configure(before)


@pytest.fixture
def endpoint_faults(deployment):
    """Makes the endpoint's next calls fail with 503; afterwards, what the test left of
    them is used up by direct calls, so no later test meets them."""
    endpoint = deployment.output("endpoint_name")

    def inject(count: int) -> None:
        deployment.cloud.inject_endpoint_faults(endpoint, count=count, error="ServiceUnavailable")

    yield inject
    runtime = deployment.cloud.client("sagemaker-runtime")
    body = deployment.images["confident"].path.read_bytes()
    for _ in range(2 * LAMBDA_RETRIES):
        try:
            runtime.invoke_endpoint(EndpointName=endpoint, ContentType="image/png", Body=body)
            return
        except ClientError:
            continue


def test_four_endpoint_failures_in_a_row_are_retried_and_the_image_still_passes(
    deployment, endpoint_faults
):
    image = deployment.images["confident"]
    item = deployment.upload(own_key("four-failures"), image.path.read_bytes())
    endpoint_faults(LAMBDA_RETRIES)

    execution = deployment.run("single_image_state_machine_arn", item)

    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    assert failed_tasks(deployment, execution) == ["EndpointUnavailableError"] * LAMBDA_RETRIES
    assert json.loads(execution["output"])["passed"] is True


def test_a_batch_item_whose_endpoint_stays_unavailable_is_recorded_as_an_endpoint_error(
    deployment, endpoint_faults
):
    image = deployment.images["confident"]
    item = deployment.upload(own_key("endpoint-down"), image.path.read_bytes())
    endpoint_faults(1 + LAMBDA_RETRIES)  # every call of the item fails

    execution = deployment.run("batch_state_machine_arn", {"images": [item]})

    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    summary, [result] = batch_results(deployment, execution)
    assert (summary["total"], summary["error"]) == (1, 1)
    assert (result["s3_key"], result["status"]) == (item["s3_key"], "error")
    assert result["error"]["Error"] == "EndpointUnavailableError"
    assert "stackTrace" not in json.dumps(result)


def test_a_batch_item_that_is_not_an_image_is_recorded_with_its_own_error(deployment):
    item = deployment.upload(own_key("not-an-image"), b"plain text, not an image")

    execution = deployment.run("batch_state_machine_arn", {"images": [item]})

    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    _, [result] = batch_results(deployment, execution)
    assert (result["s3_key"], result["status"]) == (item["s3_key"], "error")
    assert result["error"]["Error"] == "UnsupportedImageError"
    assert item["s3_key"] in result["error"]["Cause"]
    assert "stackTrace" not in result["error"]["Cause"]


def test_a_batch_item_whose_filter_step_fails_is_recorded_with_that_error(deployment):
    """Any failure of the filter step other than low confidence (here its configuration
    refused at cold start) is the item's error, not a low-confidence or passed record."""
    image = deployment.images["confident"]
    item = deployment.upload(own_key("filter-fails"), image.path.read_bytes())

    with function_environment(deployment, "filter_low_confidence", THRESHOLD="not a number"):
        execution = deployment.run("batch_state_machine_arn", {"images": [item]})

    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    _, [result] = batch_results(deployment, execution)
    assert (result["s3_key"], result["status"]) == (item["s3_key"], "error")
    assert result["error"]["Error"] == "ConfigurationError"
    assert "THRESHOLD" in result["error"]["Cause"]


def test_a_batch_whose_summary_cannot_be_made_alerts_once_and_fails_with_that_error(
    deployment, alerts
):
    """summarize_batch may not read the Map's results: its error goes through the batch's
    Catch to one alert from the state machine, and the execution fails with it."""
    role = function_role(deployment, "summarize_batch")
    image = deployment.images["confident"]
    item = deployment.upload(own_key("no-summary"), image.path.read_bytes())
    machine = deployment.output("batch_state_machine_arn").rsplit(":", 1)[-1]

    with without_statement(deployment, role, "ReadMapResults"):
        execution = deployment.run("batch_state_machine_arn", {"images": [item]})

    assert execution["status"] == "FAILED"
    name = execution_name(execution)
    [alert] = alerts(
        lambda m: m.get("source") == machine and m.get("input", {}).get("execution_name") == name
    )
    assert alert["error_type"] == execution["error"]
    assert execution["error"] not in ("States.Runtime", "BatchItemsNotPassed")
    assert "AccessDenied" in alert["message"]
    assert "stackTrace" not in alert["message"] and "stackTrace" not in execution["cause"]


def test_a_batch_whose_alert_cannot_be_published_still_succeeds_with_its_summary(deployment):
    """The batch alert's Catch (ResultPath null) lets a failed publish pass: the batch
    still succeeds, and its output is still the summary."""
    role = machine_role(deployment, "batch_state_machine_arn")
    image = deployment.images["unsure"]  # low confidence: the batch alerts
    item = deployment.upload(own_key("alert-denied"), image.path.read_bytes())

    with without_statement(deployment, role, "PublishAlerts"):
        execution = deployment.run("batch_state_machine_arn", {"images": [item]})

    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    summary, [result] = batch_results(deployment, execution)
    assert (summary["total"], summary["low_confidence"]) == (1, 1)
    assert (result["s3_key"], result["status"]) == (item["s3_key"], "low_confidence")
    assert any("AuthorizationError" in e for e in failed_tasks(deployment, execution))
