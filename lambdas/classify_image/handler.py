"""classify_image: sends the image to the SageMaker endpoint and adds its probabilities.

In:  serialize's output ("content_type" and "image_data" or "image_s3_uri").
Out: the event without "image_data", plus "inferences": [p0, p1, ...] in class order.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from common import config as env
from common.aws import client, read_object
from common.entry import entry_point
from common.errors import (
    EndpointResponseError,
    EndpointUnavailableError,
    InvalidEventError,
)
from common.events import parse_s3_uri, require_bucket, require_key, require_string
from common.images import CONTENT_TYPES, content_type

FUNCTION = "classify_image"
# connect + read (x attempts) stays below the function's 30 s timeout (functions.json), so
# an unreachable or hung endpoint ends as EndpointUnavailableError (retried by the state
# machine) rather than as a Lambda timeout. botocore's default connect timeout is 60 s.
ENDPOINT_CONNECT_TIMEOUT_S = 5
ENDPOINT_READ_TIMEOUT_S = 20
# The state machine owns retries; botocore retrying too would multiply the wait.
ENDPOINT_MAX_ATTEMPTS = 1
# Softmax outputs in float32 sum to 1 within ~1e-6; anything further off is not a softmax.
SUM_TOLERANCE = 1e-3
# InvokeEndpoint accepts at most 6 MB per request.
ENDPOINT_MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
# Error codes of the SageMaker runtime that mean "try again later".
TRANSIENT_CODES = {
    "ServiceUnavailable",
    "ThrottlingException",
    "ModelNotReadyException",
    "InternalFailure",
    "InternalDependencyException",
}


@dataclass(frozen=True)
class Config:
    alert_topic_arn: str
    endpoint_name: str
    class_names: tuple[str, ...]


def load_config(environ: Mapping[str, str]) -> Config:
    return Config(
        alert_topic_arn=env.alert_topic_arn(environ),
        endpoint_name=env.required(environ, "ENDPOINT_NAME"),
        class_names=env.class_names(environ),
    )


CONFIG = env.load_once(load_config, os.environ)
RUNTIME = client(
    "sagemaker-runtime",
    connect_timeout=ENDPOINT_CONNECT_TIMEOUT_S,
    read_timeout=ENDPOINT_READ_TIMEOUT_S,
    max_attempts=ENDPOINT_MAX_ATTEMPTS,
)


def image_bytes(event: dict[str, Any]) -> bytes:
    """The image, inline (base64) or read from the S3 object serialize pointed to."""
    has_inline, has_uri = "image_data" in event, "image_s3_uri" in event
    if has_inline == has_uri:
        raise InvalidEventError("the event must have exactly one of 'image_data', 'image_s3_uri'")
    if has_inline:
        try:
            return base64.b64decode(require_string(event, "image_data"), validate=True)
        except binascii.Error:
            raise InvalidEventError("'image_data' is not valid base64") from None
    bucket, key = parse_s3_uri(require_string(event, "image_s3_uri"), "image_s3_uri")
    # Most images travel inline; the S3 client is made only when one does not.
    return read_object(bucket, key, ENDPOINT_MAX_PAYLOAD_BYTES, "endpoint request limit")


def invoke(endpoint: str, kind: str, data: bytes) -> bytes:
    """The endpoint's raw answer; transient failures become EndpointUnavailableError."""
    from botocore import exceptions as aws_errors

    try:
        response = RUNTIME.invoke_endpoint(
            EndpointName=endpoint, ContentType=kind, Accept="application/json", Body=data
        )
    except aws_errors.ClientError as exc:
        mapped = endpoint_error(endpoint, exc)
        if mapped is exc:
            raise
        raise mapped from exc
    except (aws_errors.ConnectionError, aws_errors.ReadTimeoutError) as exc:
        raise EndpointUnavailableError(f"endpoint {endpoint} unreachable: {exc}") from exc
    with response["Body"] as body:
        return body.read()


def endpoint_error(endpoint: str, exc: Any) -> Exception:
    """Maps a runtime API error: transient ones are retried, a model's 4xx is a bad answer."""
    code = exc.response.get("Error", {}).get("Code", "")
    message = exc.response.get("Error", {}).get("Message", "")
    if code in TRANSIENT_CODES:
        return EndpointUnavailableError(f"endpoint {endpoint}: {code}: {message}")
    if code == "ModelError":
        status = exc.response.get("OriginalStatusCode")
        if not isinstance(status, int) or status >= 500:
            return EndpointUnavailableError(f"endpoint {endpoint}: model error {status}: {message}")
        return EndpointResponseError(
            f"endpoint {endpoint} rejected the image ({status}): {message}"
        )
    return exc


def probabilities(raw: bytes, class_names: tuple[str, ...]) -> list[float]:
    """The response as one probability per class, or EndpointResponseError saying why not."""
    try:
        values = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise EndpointResponseError(f"the endpoint's response is not JSON: {raw[:80]!r}") from None
    if not isinstance(values, list) or len(values) != len(class_names):
        raise EndpointResponseError(
            f"expected a list of {len(class_names)} probabilities "
            f"({', '.join(class_names)}), got {str(values)[:80]}"
        )
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        raise EndpointResponseError(f"the response has non-numeric values: {str(values)[:80]}")
    floats = [float(v) for v in values]
    if any(not math.isfinite(v) or not 0.0 <= v <= 1.0 for v in floats):
        raise EndpointResponseError(f"the response has values outside [0, 1]: {floats}")
    if abs(sum(floats) - 1.0) > SUM_TOLERANCE:
        raise EndpointResponseError(f"the probabilities sum to {sum(floats):.6f}, not 1")
    return floats


def classify(event: dict[str, Any], config: Config) -> dict[str, Any]:
    require_bucket(event)
    require_key(event)
    kind = require_string(event, "content_type")
    if kind not in CONTENT_TYPES:
        raise InvalidEventError(f"'content_type' must be one of {CONTENT_TYPES}, got {kind[:40]!r}")
    data = image_bytes(event)
    actual = content_type(data)
    if actual != kind:
        raise InvalidEventError(f"'content_type' is {kind} but the image is {actual}")
    raw = invoke(config.endpoint_name, kind, data)
    output = {k: v for k, v in event.items() if k != "image_data"}
    return {**output, "inferences": probabilities(raw, config.class_names)}


@entry_point(FUNCTION, CONFIG)
def lambda_handler(event: dict[str, Any], config: Config, context: Any) -> dict[str, Any]:
    return classify(event, config)
