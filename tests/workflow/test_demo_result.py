"""The block `make demo` ends with, from fixed numbers (no cloud)."""

from __future__ import annotations

from workflow.demo import DemoResult, format_result, percentile
from workflow.endpoint_accuracy import EndpointAccuracy


def test_result_block_formats_every_number():
    result = DemoResult(
        test_accuracy=0.9300000071525574,
        endpoint=EndpointAccuracy(correct=185, total=200),
        counts={
            "single": {"passed": 1, "low_confidence": 1},
            "batch": {"passed": 6, "low_confidence": 2},
            "inbox": {"passed": 6, "low_confidence": 2, "error": 0},
        },
        latencies={"single": [0.41, 1.234], "batch": [0.25] * 8},
        alerts=["ThresholdNotMetError: low confidence"] * 2 + ["batch: 2 images low"],
        step_seconds={"1. local cloud": 2.04, "4. train the model": 101.26},
        total_seconds=412.3,
    )

    assert format_result(result) == [
        "  test accuracy   93.0% (the trained model on the test split)",
        "  at the endpoint 92.5% (185/200 test images right, each through InvokeEndpoint)",
        "  single path     2 images: 1 passed, 1 low confidence",
        "  batch path      8 images: 6 passed, 2 low confidence",
        "  inbox path      8 images: 6 passed, 2 low confidence, 0 error",
        "  latency single  0.41 s p50, 1.23 s p95 per image (2 measured)",
        "  latency batch   0.25 s p50, 0.25 s p95 per image (8 measured)",
        "  alerts sent     3: 2 x ThresholdNotMetError: low confidence; batch: 2 images low",
        "     2.0 s  1. local cloud",
        "   101.3 s  4. train the model",
        "   412.3 s  total (6 min 52 s)",
    ]


def test_result_block_without_accuracy_or_alerts():
    lines = format_result(DemoResult(total_seconds=59.6))

    assert lines[0] == "  test accuracy   - (training recorded none)"
    assert "  alerts sent     0" in lines
    assert lines[-1] == "    59.6 s  total (1 min 00 s)"


def test_percentile_is_nearest_rank():
    values = [float(v) for v in range(1, 21)]
    assert (percentile(values, 50), percentile(values, 95)) == (10.0, 19.0)


def test_result_block_names_failed_endpoint_invocations_and_the_first_error():
    endpoint = EndpointAccuracy(
        correct=190, total=200, failed=2, first_error="x.png: ModelError (424): bad"
    )

    lines = format_result(DemoResult(endpoint=endpoint))

    assert lines[1] == (
        "  at the endpoint 95.0% (190/200 test images right, each through InvokeEndpoint; "
        "2 failed, first: x.png: ModelError (424): bad)"
    )
