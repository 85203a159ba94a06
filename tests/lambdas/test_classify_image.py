"""classify_image against an HTTP stub of the SageMaker runtime API and moto S3."""

from __future__ import annotations

import base64
import socket

import pytest

from tests.lambdas.lambdas_constants import ENDPOINT_NAME
from tests.lambdas.lambdas_endpoint_stub import model_error, probabilities, raw, service_error


def inline_event(png: bytes) -> dict:
    return {
        "s3_bucket": "scones-data",
        "s3_key": "images/bicycle.png",
        "content_type": "image/png",
        "image_data": base64.b64encode(png).decode(),
    }


def test_image_is_sent_to_the_endpoint_as_is(load_handler, aws, stub, context, png) -> None:
    handler = load_handler("classify_image")

    handler.lambda_handler(inline_event(png), context)

    [request] = stub.requests
    assert request.endpoint == "scones-endpoint"
    assert request.content_type == "image/png"
    assert request.accept == "application/json"
    assert request.body == png


def test_inferences_are_added_and_image_data_dropped(load_handler, aws, stub, context, png) -> None:
    handler = load_handler("classify_image")
    stub.reply = probabilities([0.12, 0.88])

    result = handler.lambda_handler(inline_event(png), context)

    assert result["inferences"] == [0.12, 0.88]
    assert "image_data" not in result
    assert result["s3_key"] == "images/bicycle.png" and result["content_type"] == "image/png"


def test_image_passed_by_reference_is_read_from_s3(
    load_handler, aws, stub, context, large_png
) -> None:
    handler = load_handler("classify_image")
    event = {
        "s3_bucket": "scones-data",
        "s3_key": "images/large.png",
        "content_type": "image/png",
        "image_s3_uri": "s3://scones-data/images/large.png",
    }

    result = handler.lambda_handler(event, context)

    assert stub.requests[0].body == large_png
    assert result["inferences"] == [0.97, 0.03]
    assert result["image_s3_uri"] == "s3://scones-data/images/large.png"


def test_jpeg_is_sent_with_its_content_type(load_handler, aws, stub, context, jpeg) -> None:
    handler = load_handler("classify_image")
    event = {**inline_event(jpeg), "content_type": "image/jpeg"}

    handler.lambda_handler(event, context)

    assert stub.requests[0].content_type == "image/jpeg"


def test_a_certain_answer_is_a_probability_per_class(load_handler, aws, stub, context, png):
    """[0, 1] is closed: a model that is certain answers 0.0 and 1.0."""
    handler = load_handler("classify_image")
    stub.reply = probabilities([0.0, 1.0])

    assert handler.lambda_handler(inline_event(png), context)["inferences"] == [0.0, 1.0]


def test_class_count_comes_from_class_names(load_handler, aws, stub, context, png) -> None:
    handler = load_handler("classify_image", CLASS_NAMES="bicycle,motorcycle,scooter")
    stub.reply = probabilities([0.2, 0.3, 0.5])

    assert handler.lambda_handler(inline_event(png), context)["inferences"] == [0.2, 0.3, 0.5]


@pytest.mark.parametrize(
    "reply",
    [
        model_error(500),
        model_error(503, "worker died"),
        model_error(None, "no status from the model"),
        service_error("ServiceUnavailable", 503),
        service_error("ThrottlingException", 400),
        service_error("ModelNotReadyException", 429),
        service_error("InternalFailure", 500),
    ],
    ids=[
        "model-500",
        "model-503",
        "model-no-status",
        "unavailable",
        "throttled",
        "not-ready",
        "internal",
    ],
)
def test_transient_endpoint_failures_raise_endpoint_unavailable(
    load_handler, aws, stub, context, png, reply
) -> None:
    handler = load_handler("classify_image")
    stub.reply = reply

    # The message (the Catch's Cause, the alert's text) says which endpoint failed.
    with pytest.raises(handler.EndpointUnavailableError, match=f"^endpoint {ENDPOINT_NAME}: "):
        handler.lambda_handler(inline_event(png), context)
    assert len(stub.requests) == 1, "retries belong to the state machine, not botocore"


def test_model_rejecting_the_image_is_an_endpoint_response_error(
    load_handler, aws, stub, context, png
) -> None:
    handler = load_handler("classify_image")
    stub.reply = model_error(415, "unsupported content type")

    with pytest.raises(handler.EndpointResponseError, match="415"):
        handler.lambda_handler(inline_event(png), context)


def test_unreachable_endpoint_raises_endpoint_unavailable(
    load_handler, aws, context, png, monkeypatch
) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", f"http://127.0.0.1:{port}")
    handler = load_handler("classify_image")

    with pytest.raises(handler.EndpointUnavailableError, match="unreachable"):
        handler.lambda_handler(inline_event(png), context)


@pytest.mark.parametrize(
    ("reply", "match"),
    [
        (raw(b"<html>oops</html>"), "not JSON"),
        (
            raw(b'"motorcycle"'),
            r"^expected a list of 2 probabilities \(bicycle, motorcycle\), got motorcycle$",
        ),
        (raw(b"[0.5, 0.3, 0.2]"), "list of 2"),
        (raw(b'{"prediction": [0.9, 0.1]}'), "list of 2"),
        (raw(b'["0.9", "0.1"]'), r"^the response has non-numeric values: \['0\.9', '0\.1'\]$"),
        (raw(b"[true, false]"), "non-numeric"),
        (raw(b"[1.5, -0.5]"), "outside"),
        (raw(b"[1.0005, 0.0]"), "outside"),  # the sum is within tolerance, 1.0005 is not
        (raw(b"[0.9, 0.9]"), "sum to"),
        (raw(b"[NaN, 0.5]"), "outside"),
    ],
    ids=[
        "html",
        "string",
        "3-classes",
        "jsonlines-shape",
        "strings",
        "bools",
        "range",
        "just-above-one",
        "sum",
        "nan",
    ],
)
def test_response_that_is_not_a_probability_per_class_is_rejected(
    load_handler, aws, stub, context, png, reply, match
) -> None:
    handler = load_handler("classify_image")
    stub.reply = reply

    with pytest.raises(handler.EndpointResponseError, match=match):
        handler.lambda_handler(inline_event(png), context)


def test_object_over_the_endpoint_request_limit_is_not_sent(
    load_handler, aws, stub, context, png
) -> None:
    handler = load_handler("classify_image")
    aws.put("images/huge.png", png + b"\x00" * handler.ENDPOINT_MAX_PAYLOAD_BYTES)
    event = {
        "s3_bucket": "scones-data",
        "s3_key": "images/huge.png",
        "content_type": "image/png",
        "image_s3_uri": "s3://scones-data/images/huge.png",
    }

    with pytest.raises(Exception, match="request limit") as raised:
        handler.lambda_handler(event, context)

    assert type(raised.value).__name__ == "UnsupportedImageError"
    assert stub.requests == []


# botocore's Config reference (https://botocore.amazonaws.com/v1/documentation/api/latest/
# reference/config.html): connect_timeout and read_timeout "The default is 60 seconds";
# retries total_max_attempts counts the first request. A default 60 s connect timeout is
# longer than the function's own timeout, so a dead endpoint would end as a Lambda timeout.
def test_runtime_client_sets_connect_and_read_timeouts(load_handler, aws) -> None:
    handler = load_handler("classify_image")
    config = handler.RUNTIME.meta.config

    assert config.connect_timeout == handler.ENDPOINT_CONNECT_TIMEOUT_S < 60
    assert config.read_timeout == handler.ENDPOINT_READ_TIMEOUT_S < 60
    assert config.retries["total_max_attempts"] == handler.ENDPOINT_MAX_ATTEMPTS == 1


def test_endpoint_wait_ends_before_the_function_timeout(load_handler, aws) -> None:
    import json

    from tests.lambdas.lambdas_constants import LAMBDAS_DIR

    functions = json.loads((LAMBDAS_DIR / "functions.json").read_text(encoding="utf-8"))
    timeout_s = functions["functions"]["classify_image"]["timeout_s"]
    config = load_handler("classify_image").RUNTIME.meta.config
    attempts = config.retries["total_max_attempts"]

    worst_case = (config.connect_timeout + config.read_timeout) * attempts
    assert worst_case < timeout_s, f"{worst_case} s of endpoint wait >= {timeout_s} s timeout"
