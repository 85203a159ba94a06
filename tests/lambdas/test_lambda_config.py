"""Configuration: read from the environment once per cold start, validated there."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from tests.lambdas.lambdas_constants import LAMBDAS_DIR
from tests.lambdas.lambdas_subprocess import invoke_fresh

FUNCTIONS = json.loads((LAMBDAS_DIR / "functions.json").read_text())["functions"]
TOPIC = "arn:aws:sns:us-east-1:123456789012:scones-alerts"


class RecordingEnviron(Mapping[str, str]):
    """An environment that remembers which variables were read."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values, self.read = values, set()

    def __getitem__(self, name: str) -> str:
        self.read.add(name)
        return self.values[name]

    def get(self, name, default=None):
        self.read.add(name)
        return self.values.get(name, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)

    def __len__(self) -> int:
        return len(self.values)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_config_reads_only_the_variables_listed_in_functions_json(load_handler, name) -> None:
    handler = load_handler(name)
    environ = RecordingEnviron(
        {k: v for k, v in os.environ.items() if k in FUNCTIONS[name]["environment"]}
    )

    handler.load_config(environ)

    assert environ.read <= set(FUNCTIONS[name]["environment"])


@pytest.mark.parametrize("value", ["0", "-0.5", "1.01", "93", "nan", "inf", "high", "0,9"])
def test_threshold_outside_zero_one_is_a_configuration_error_naming_it(load_handler, value) -> None:
    handler = load_handler("filter_low_confidence")
    environ = {"ALERT_TOPIC_ARN": TOPIC, "CLASS_NAMES": "bicycle,motorcycle", "THRESHOLD": value}

    with pytest.raises(configuration_error(), match="THRESHOLD"):
        handler.load_config(environ)


@pytest.mark.parametrize(("value", "expected"), [("1", 1.0), ("0.5", 0.5), (" 0.93 ", 0.93)])
def test_threshold_inside_zero_one_is_accepted(load_handler, value, expected) -> None:
    handler = load_handler("filter_low_confidence")
    environ = {"ALERT_TOPIC_ARN": TOPIC, "CLASS_NAMES": "bicycle,motorcycle", "THRESHOLD": value}

    assert handler.load_config(environ).threshold == expected


def test_one_is_a_positive_integer(load_handler) -> None:
    handler = load_handler("serialize_image_data")

    config = handler.load_config({"ALERT_TOPIC_ARN": TOPIC, "MAX_IMAGE_BYTES": "1"})

    assert config.max_image_bytes == 1


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_function_needs_its_alert_topic(load_handler, name) -> None:
    """Where failures are reported is configuration too: none starts without it."""
    handler = load_handler(name)
    environ = {k: v for k, v in os.environ.items() if k != "ALERT_TOPIC_ARN"}

    with pytest.raises(configuration_error(), match="ALERT_TOPIC_ARN"):
        handler.load_config(environ)


@pytest.mark.parametrize(
    ("name", "environ", "variable"),
    [
        ("serialize_image_data", {}, "ALERT_TOPIC_ARN"),
        ("serialize_image_data", {"ALERT_TOPIC_ARN": "scones-alerts"}, "ALERT_TOPIC_ARN"),
        (
            "serialize_image_data",
            {"ALERT_TOPIC_ARN": TOPIC, "MAX_IMAGE_BYTES": "-1"},
            "MAX_IMAGE_BYTES",
        ),
        (
            "serialize_image_data",
            {"ALERT_TOPIC_ARN": TOPIC, "MAX_IMAGE_BYTES": "0"},
            "MAX_IMAGE_BYTES",
        ),
        (
            "serialize_image_data",
            {"ALERT_TOPIC_ARN": TOPIC, "MAX_IMAGE_BYTES": "5MB"},
            "MAX_IMAGE_BYTES",
        ),
        ("classify_image", {"ALERT_TOPIC_ARN": TOPIC, "CLASS_NAMES": "a,b"}, "ENDPOINT_NAME"),
        (
            "classify_image",
            {"ALERT_TOPIC_ARN": TOPIC, "ENDPOINT_NAME": "e", "CLASS_NAMES": "a,a"},
            "CLASS_NAMES",
        ),
        ("filter_low_confidence", {"ALERT_TOPIC_ARN": TOPIC}, "CLASS_NAMES"),
        (
            "start_batch_workflow",
            {"ALERT_TOPIC_ARN": TOPIC, "STATE_MACHINE_ARN": TOPIC},
            "STATE_MACHINE_ARN",
        ),
        (
            "summarize_batch",
            {"ALERT_TOPIC_ARN": TOPIC, "RESULTS_BUCKET": "Results Bucket"},
            "RESULTS_BUCKET",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_invalid_environment_is_a_configuration_error_naming_the_variable(
    load_handler, name, environ, variable
) -> None:
    handler = load_handler(name)

    with pytest.raises(configuration_error(), match=variable):
        handler.load_config(environ)


def test_configuration_is_read_once_per_cold_start(load_handler, context, monkeypatch) -> None:
    handler = load_handler("filter_low_confidence", THRESHOLD="0.5")
    monkeypatch.setenv("THRESHOLD", "0.99")

    result = handler.lambda_handler({"inferences": [0.6, 0.4]}, context)

    assert result["passed"] is True


def configuration_error() -> type[Exception]:
    """The class the last loaded handler raises (each cold start imports common afresh)."""
    return sys.modules["common.errors"].ConfigurationError


def subprocess_env(**variables: str) -> dict[str, str]:
    base = {"PATH": os.environ.get("PATH", ""), "AWS_DEFAULT_REGION": "us-east-1"}
    return {**base, "ALERT_TOPIC_ARN": TOPIC, "CLASS_NAMES": "bicycle,motorcycle", **variables}


def filter_path() -> list[Path]:
    return [LAMBDAS_DIR / "filter_low_confidence", LAMBDAS_DIR]


def test_bad_threshold_imports_but_fails_the_first_invocation_with_configuration_error() -> None:
    output, _ = invoke_fresh(
        filter_path(), {"inferences": [0.99, 0.01]}, subprocess_env(THRESHOLD="1.5")
    )

    assert output["error_type"] == "ConfigurationError"
    assert "THRESHOLD" in output["message"] and "1.5" in output["message"]


def test_valid_threshold_serves_in_a_fresh_interpreter() -> None:
    output, _ = invoke_fresh(
        filter_path(), {"inferences": [0.1, 0.9]}, subprocess_env(THRESHOLD="0.8")
    )

    assert output["result"]["label"] == "motorcycle"


def test_log_lines_are_json_with_function_and_request_id() -> None:
    _, completed = invoke_fresh(filter_path(), {"inferences": [0.02, 0.98]}, subprocess_env())

    lines = [json.loads(line) for line in completed.stderr.strip().splitlines()]
    assert [line["message"] for line in lines] == ["invoked", "done"]
    assert {line["request_id"] for line in lines} == {"req-subprocess"}
    assert {line["function"] for line in lines} == {"filter_low_confidence"}
    assert isinstance(lines[-1]["duration_ms"], float)


def test_failure_is_logged_as_one_json_line_with_the_error_type() -> None:
    _, completed = invoke_fresh(filter_path(), {"inferences": [0.5, 0.5]}, subprocess_env())

    [*_, failure] = [json.loads(line) for line in completed.stderr.strip().splitlines()]
    assert failure["level"] == "WARNING"
    assert failure["error_type"] == "ThresholdNotMetError"
    assert failure["request_id"] == "req-subprocess"


def test_handlers_are_not_on_the_test_path_twice() -> None:
    """Guards the fixtures: `common` must come from lambdas/, not a stale copy."""
    assert not any(Path(p).name == "common" for p in sys.path)
