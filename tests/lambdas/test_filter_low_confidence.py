"""filter_low_confidence: label, confidence and the threshold."""

from __future__ import annotations

import pytest


def event(inferences: list[float]) -> dict:
    return {"s3_bucket": "scones-data", "s3_key": "images/bicycle.png", "inferences": inferences}


def test_confident_inference_passes_with_its_label(load_handler, aws, context) -> None:
    handler = load_handler("filter_low_confidence")

    result = handler.lambda_handler(event([0.04, 0.96]), context)

    assert result["label"] == "motorcycle"
    assert result["confidence"] == 0.96
    assert result["passed"] is True
    assert result["inferences"] == [0.04, 0.96] and result["s3_key"] == "images/bicycle.png"


def test_certainty_is_a_probability_of_exactly_one_and_zero(load_handler, aws, context) -> None:
    """[0, 1] is closed: a model that is certain answers 1.0 and 0.0."""
    handler = load_handler("filter_low_confidence")

    result = handler.lambda_handler(event([0.0, 1.0]), context)

    assert (result["label"], result["confidence"], result["passed"]) == ("motorcycle", 1.0, True)


def test_low_confidence_image_fails_loudly_with_label_and_confidence(
    load_handler, aws, context
) -> None:
    handler = load_handler("filter_low_confidence")

    with pytest.raises(handler.ThresholdNotMetError, match=r"bicycle.*0\.9200.*0\.93"):
        handler.lambda_handler(event([0.92, 0.08]), context)


def test_confidence_equal_to_the_threshold_passes(load_handler, aws, context) -> None:
    handler = load_handler("filter_low_confidence", THRESHOLD="0.8")

    assert handler.lambda_handler(event([0.8, 0.2]), context)["passed"] is True


def test_threshold_comes_from_the_environment(load_handler, aws, context) -> None:
    handler = load_handler("filter_low_confidence", THRESHOLD="0.6")

    assert handler.lambda_handler(event([0.35, 0.65]), context)["label"] == "motorcycle"


def test_default_threshold_is_093(load_handler, aws) -> None:
    handler = load_handler("filter_low_confidence", THRESHOLD=None)

    assert handler.CONFIG.get().threshold == 0.93


def test_low_confidence_does_not_alert(load_handler, aws, context) -> None:
    handler = load_handler("filter_low_confidence")

    with pytest.raises(handler.ThresholdNotMetError):
        handler.lambda_handler(event([0.5, 0.5]), context)

    assert aws.alerts() == []
