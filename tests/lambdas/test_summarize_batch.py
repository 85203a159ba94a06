"""summarize_batch: per-item results to S3, counts per status."""

from __future__ import annotations

import json


def item(key: str, status: str, **extra) -> dict:
    return {"s3_bucket": "scones-data", "s3_key": key, "status": status, **extra}


RESULTS = [
    item("inbox/a.png", "passed", label="bicycle", confidence=0.97),
    item("inbox/b.png", "passed", label="motorcycle", confidence=0.99),
    item("inbox/c.png", "low_confidence", label="bicycle", confidence=0.6),
    item("inbox/d.png", "error", error={"Error": "UnsupportedImageError", "Cause": "not a PNG"}),
]


def test_counts_per_status_and_results_uri(load_handler, aws, context) -> None:
    handler = load_handler("summarize_batch")

    result = handler.lambda_handler({"execution_name": "inbox-abc", "results": RESULTS}, context)

    assert result == {
        "total": 4,
        "passed": 2,
        "low_confidence": 1,
        "error": 1,
        "results_uri": "s3://scones-results/results/inbox-abc.json",
    }


def test_every_item_is_written_to_the_results_bucket(load_handler, aws, context) -> None:
    handler = load_handler("summarize_batch")

    handler.lambda_handler({"execution_name": "inbox-abc", "results": RESULTS}, context)

    stored = aws.s3.get_object(Bucket="scones-results", Key="results/inbox-abc.json")
    document = json.loads(stored["Body"].read())
    assert document["results"] == RESULTS
    assert document["execution_name"] == "inbox-abc" and document["total"] == 4
    assert stored["ContentType"] == "application/json"


def test_empty_batch_is_summarized_as_zero(load_handler, aws, context) -> None:
    handler = load_handler("summarize_batch")

    result = handler.lambda_handler({"execution_name": "empty", "results": []}, context)

    assert (result["total"], result["passed"], result["error"]) == (0, 0, 0)
