"""summarize_batch: a Distributed Map run's result files -> one results document in S3."""

from __future__ import annotations

import json

from tests.lambdas.lambdas_constants import RESULTS_BUCKET
from tests.lambdas.lambdas_map_run import failed, succeeded, write_map_run

LAMBDA_ERROR_CAUSE = json.dumps(
    {
        "errorMessage": "s3://scones-data/inbox/d.png is not a PNG or JPEG",
        "errorType": "UnsupportedImageError",
        "requestId": "4c1d",
        "stackTrace": ['  File "/var/task/handler.py", line 40, in lambda_handler\n'],
    }
)


def image(key: str) -> dict:
    return {"s3_bucket": "scones-data", "s3_key": key}


def outcome(key: str, status: str, **extra) -> dict:
    return {**image(key), "status": status, **extra}


CHILDREN = [
    succeeded(
        image("inbox/a.png"), outcome("inbox/a.png", "passed", label="bicycle", confidence=0.97), 0
    ),
    succeeded(
        image("inbox/b.png"),
        outcome("inbox/b.png", "passed", label="motorcycle", confidence=0.99),
        1,
    ),
    succeeded(
        image("inbox/c.png"),
        outcome(
            "inbox/c.png", "low_confidence", error={"Error": "ThresholdNotMetError", "Cause": "{}"}
        ),
        2,
    ),
    succeeded(
        image("inbox/d.png"),
        outcome(
            "inbox/d.png",
            "error",
            error={"Error": "UnsupportedImageError", "Cause": LAMBDA_ERROR_CAUSE},
        ),
        3,
    ),
    # Not an image reference at all: the child's own Pass state fails, so the child fails.
    failed(
        ["not", "an", "object"], "States.Runtime", "An error occurred while executing the state", 4
    ),
]


def run(handler, aws, context, children, name="inbox-abc") -> dict:
    map_run = write_map_run(aws.s3, RESULTS_BUCKET, children)
    return handler.lambda_handler({"execution_name": name, "map_run": map_run}, context)


def stored_document(aws, name="inbox-abc") -> dict:
    stored = aws.s3.get_object(Bucket=RESULTS_BUCKET, Key=f"results/{name}.json")
    assert stored["ContentType"] == "application/json"
    return json.loads(stored["Body"].read())


def test_counts_every_child_execution_once_per_status(load_handler, aws, context) -> None:
    handler = load_handler("summarize_batch")

    result = run(handler, aws, context, CHILDREN)

    assert result == {
        "total": 5,
        "passed": 2,
        "low_confidence": 1,
        "error": 2,
        "results_uri": f"s3://{RESULTS_BUCKET}/results/inbox-abc.json",
    }


def test_succeeded_children_are_recorded_with_their_own_outcome(load_handler, aws, context) -> None:
    handler = load_handler("summarize_batch")

    run(handler, aws, context, CHILDREN)

    results = {r.get("s3_key"): r for r in stored_document(aws)["results"]}
    assert results["inbox/a.png"] == outcome(
        "inbox/a.png", "passed", label="bicycle", confidence=0.97
    )
    assert results["inbox/c.png"]["status"] == "low_confidence"


def test_an_error_keeps_the_lambda_message_not_its_stack_trace(load_handler, aws, context) -> None:
    handler = load_handler("summarize_batch")

    run(handler, aws, context, CHILDREN)

    error = {r.get("s3_key"): r for r in stored_document(aws)["results"]}["inbox/d.png"]["error"]
    assert error == {
        "Error": "UnsupportedImageError",
        "Cause": "s3://scones-data/inbox/d.png is not a PNG or JPEG",
    }


def test_a_failed_child_is_recorded_as_an_error_with_its_input(load_handler, aws, context) -> None:
    handler = load_handler("summarize_batch")

    run(handler, aws, context, CHILDREN)

    [bad] = [r for r in stored_document(aws)["results"] if r.get("s3_key") is None]
    assert bad["status"] == "error"
    assert bad["error"]["Error"] == "States.Runtime"
    assert json.loads(bad["input"]) == ["not", "an", "object"]


def test_empty_batch_is_summarized_as_zero(load_handler, aws, context) -> None:
    handler = load_handler("summarize_batch")

    result = run(handler, aws, context, [], name="empty")

    assert (result["total"], result["passed"], result["error"]) == (0, 0, 0)
    assert stored_document(aws, "empty")["results"] == []
