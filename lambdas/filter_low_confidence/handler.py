"""filter_low_confidence: keeps only inferences confident enough to act on.

In:  classify's output ("inferences": [p0, p1, ...] in class order).
Out: the event plus "label", "confidence" and "passed"; ThresholdNotMetError below
     the threshold, with the label and confidence in its message.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from common import config as env
from common.entry import entry_point
from common.errors import InvalidEventError, ThresholdNotMetError

FUNCTION = "filter_low_confidence"
DEFAULT_THRESHOLD = 0.93


@dataclass(frozen=True)
class Config:
    alert_topic_arn: str
    threshold: float
    class_names: tuple[str, ...]


def load_config(environ: Mapping[str, str]) -> Config:
    return Config(
        alert_topic_arn=env.alert_topic_arn(environ),
        threshold=env.probability_threshold(environ, "THRESHOLD", DEFAULT_THRESHOLD),
        class_names=env.class_names(environ),
    )


CONFIG = env.load_once(load_config, os.environ)


def require_inferences(event: dict[str, Any], class_names: tuple[str, ...]) -> list[float]:
    if "inferences" not in event:
        raise InvalidEventError("the event has no 'inferences' field")
    values = event["inferences"]
    if not isinstance(values, list):
        raise InvalidEventError(
            f"'inferences' must be a list of numbers, got {type(values).__name__}"
        )
    if len(values) != len(class_names):
        raise InvalidEventError(
            f"'inferences' must have {len(class_names)} values ({', '.join(class_names)}), "
            f"got {len(values)}"
        )
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        raise InvalidEventError(f"'inferences' must hold only numbers, got {str(values)[:80]}")
    if any(not math.isfinite(v) or not 0.0 <= v <= 1.0 for v in values):
        raise InvalidEventError(f"'inferences' must be probabilities in [0, 1], got {values}")
    return [float(v) for v in values]


def apply_threshold(event: dict[str, Any], config: Config) -> dict[str, Any]:
    inferences = require_inferences(event, config.class_names)
    best = max(range(len(inferences)), key=inferences.__getitem__)
    label, confidence = config.class_names[best], inferences[best]
    if confidence < config.threshold:
        raise ThresholdNotMetError(
            f"label {label} with confidence {confidence:.4f} is below the threshold "
            f"{config.threshold}"
        )
    return {**event, "label": label, "confidence": confidence, "passed": True}


@entry_point(FUNCTION, CONFIG)
def lambda_handler(event: dict[str, Any], config: Config, context: Any) -> dict[str, Any]:
    return apply_threshold(event, config)
