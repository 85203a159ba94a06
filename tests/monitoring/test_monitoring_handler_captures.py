"""Captures of what the real inference handler answers, read back by the report."""

from __future__ import annotations

import uuid
from datetime import timedelta

import numpy as np
import pytest

from monitoring.capture import capture_line, capture_object_key, capture_record
from tests.monitoring.monitoring_captures import ENDPOINT, PREFIX, START, VARIANT, write_objects
from tests.monitoring.monitoring_model import build_model_dir, expected_probabilities, load_handler
from tests.monitoring.monitoring_run import run_cli
from tests.support.cifar import png_bytes

pytest.importorskip("onnxruntime", reason="the inference handler serves with onnxruntime")


@pytest.fixture(scope="module")
def served(tmp_path_factory, held_out_images):
    """120 real images through model_fn/input_fn/predict_fn/output_fn, captured."""
    root = tmp_path_factory.mktemp("served")
    handler = load_handler(build_model_dir(root))
    model = handler.model_fn(str(root / "model"))
    lines = []
    for i, image in enumerate(held_out_images[:120]):
        png = png_bytes(image)
        batch = handler.input_fn(png, "image/png")
        body, content_type = handler.output_fn(handler.predict_fn(batch, model), "application/json")
        when = START + timedelta(seconds=30 * i)
        lines.append(
            capture_line(
                capture_record(png, "image/png", body, content_type,
                               event_id=str(uuid.uuid4()), inference_time=when)
            )
        )  # fmt: skip
    key = capture_object_key(PREFIX, ENDPOINT, VARIANT, START + timedelta(hours=1), "served")
    write_objects(root / "capture", {key: b"".join(lines)})
    return root / "capture" / PREFIX


def test_report_on_handler_output_matches_the_models_arithmetic(
    served, held_out_images, manifest_path, tmp_path
):
    ran = run_cli(
        ["report", "--capture-dir", str(served), "--endpoint", ENDPOINT,
         "--manifest", str(manifest_path), "--out", str(tmp_path / "report")]
    )  # fmt: skip
    probabilities = np.array([expected_probabilities(im) for im in held_out_images[:120]])
    confidence = probabilities.max(axis=1)
    predicted = probabilities.argmax(axis=1)
    s = ran.summary()
    assert ran.code == 0
    assert s["records"] == 120
    assert s["quality"]["non_json_outputs"] == s["quality"]["malformed_lines"] == 0
    assert s["confidence"]["below_threshold"] == int((confidence < 0.93).sum())
    assert 0 < s["confidence"]["below_threshold"] < 120  # the threshold splits this traffic
    assert s["confidence"]["mean"] == pytest.approx(confidence.mean(), abs=1e-5)
    assert [c["count"] for c in s["classes"]] == np.bincount(predicted, minlength=2).tolist()
