"""Capture objects in SageMaker's layout and format, built from real CIFAR-100 PNGs.

The probabilities follow a fixed rule, so every number the report prints can be
worked out independently here.
"""

from __future__ import annotations

import json
import uuid as uuidlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from monitoring.capture import capture_line, capture_object_key, capture_record
from tests.support.cifar import png_bytes

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
ENDPOINT = "scones-endpoint"
VARIANT = "AllTraffic"
PREFIX = "data-capture"


@dataclass(frozen=True)
class Request:
    image: np.ndarray  # uint8 32 x 32 x 3
    probabilities: list[float]
    when: datetime
    event_id: str


def probabilities_for(i: int) -> list[float]:
    """Three in twenty requests are unsure; the rest are confident, alternating classes."""
    if i % 20 == 0:
        return [0.55, 0.45]
    if i % 20 == 1:
        return [0.3, 0.7]
    if i % 20 == 2:
        return [0.08, 0.92]
    return [0.97, 0.03] if i % 2 == 0 else [0.01, 0.99]


def requests_from(
    images: np.ndarray, start: datetime = START, spacing_s: int = 72
) -> list[Request]:
    """One request per image, `spacing_s` seconds apart (50 an hour by default)."""
    return [
        Request(
            image=image,
            probabilities=probabilities_for(i),
            when=start + timedelta(seconds=i * spacing_s),
            event_id=str(uuidlib.uuid5(uuidlib.NAMESPACE_URL, f"request-{i}")),
        )
        for i, image in enumerate(images)
    ]


def record_for(request: Request) -> dict:
    return capture_record(
        png_bytes(request.image),
        "image/png",
        json.dumps(request.probabilities),
        "application/json",
        event_id=request.event_id,
        inference_time=request.when,
    )


def capture_objects(requests: list[Request], per_object: int = 25) -> dict[str, bytes]:
    """{key: body}: consecutive requests per object, named by its last request's time
    (SageMaker names an object when it flushes)."""
    objects = {}
    for n in range(0, len(requests), per_object):
        group = requests[n : n + per_object]
        key = capture_object_key(
            PREFIX,
            ENDPOINT,
            VARIANT,
            group[-1].when,
            str(uuidlib.uuid5(uuidlib.NAMESPACE_URL, f"object-{n}")),
        )
        objects[key] = b"".join(capture_line(record_for(r)) for r in group)
    return objects


def write_objects(root: Path, objects: dict[str, bytes]) -> Path:
    for key, body in objects.items():
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
    return root


def expected_numbers(requests: list[Request], threshold: float = 0.93) -> dict:
    confidences = [max(r.probabilities) for r in requests]
    predicted = [int(np.argmax(r.probabilities)) for r in requests]
    return {
        "records": len(requests),
        "mean": sum(confidences) / len(confidences),
        "below": sum(c < threshold for c in confidences),
        "bicycle": predicted.count(0),
        "motorcycle": predicted.count(1),
        "first": min(r.when for r in requests),
        "last": max(r.when for r in requests),
        "min": min(confidences),
    }
