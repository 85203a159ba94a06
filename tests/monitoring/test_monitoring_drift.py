"""Input drift: captured images against the training set's pixel statistics."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
from monitoring_captures import ENDPOINT, PREFIX, capture_objects, requests_from, write_objects
from monitoring_run import run_cli

from monitoring.pixels import LUMA_WEIGHTS
from monitoring.reference import (
    DriftReferenceError,
    load_reference,
    parse_reference,
    reference_from_images,
)


def _report(images: np.ndarray, manifest: Path, tmp_path: Path, *extra: str):
    root = write_objects(tmp_path / "capture", capture_objects(requests_from(images)))
    return run_cli(
        ["report", "--capture-dir", str(root / PREFIX), "--endpoint", ENDPOINT,
         "--manifest", str(manifest), "--out", str(tmp_path / "report"), *extra]
    )  # fmt: skip


def test_held_out_training_images_do_not_drift(default_report):
    drift = default_report.summary()["drift"]
    assert drift["status"] == "ok"
    assert drift["max_abs_shift"] < 0.25


def test_captured_means_are_the_images_pixel_means(default_report, held_out_images):
    drift = default_report.summary()["drift"]
    per_image = held_out_images.reshape(len(held_out_images), -1, 3).mean(axis=1) / 255
    want = per_image.mean(axis=0)
    assert drift["captured"]["channel_mean"] == pytest.approx(want.tolist(), abs=1e-6)
    assert drift["captured"]["brightness_mean"] == pytest.approx(want @ LUMA_WEIGHTS, abs=1e-6)


def test_shift_is_measured_in_training_std(default_report, held_out_images, reference_images):
    ref = reference_from_images(reference_images)
    captured = held_out_images.reshape(-1, 3).mean(axis=0) / 255
    want = (captured - ref.channel_mean) / ref.channel_std
    shift = default_report.summary()["drift"]["shift_std"]
    assert [shift["red"], shift["green"], shift["blue"]] == pytest.approx(want.tolist(), abs=1e-5)


def test_darker_inputs_are_flagged_as_drift(held_out_images, manifest_path, tmp_path):
    darker = (held_out_images * 0.6).astype(np.uint8)
    ran = _report(darker, manifest_path, tmp_path)
    s = ran.summary()
    assert s["status"] == "flagged"
    assert "input_drift" in [f["name"] for f in s["flags"]]
    assert s["drift"]["shift_std"]["brightness"] < -0.25
    assert "mean shifted by" in ran.stdout


def test_too_few_images_are_not_judged(held_out_images, manifest_path, tmp_path):
    darker = (held_out_images[:10] * 0.6).astype(np.uint8)
    s = _report(darker, manifest_path, tmp_path).summary()
    assert s["drift"]["status"] == "too_few_images"
    assert "input_drift" not in [f["name"] for f in s["flags"]]


def test_report_without_a_reference_still_measures_the_inputs(report_args):
    args = [a for a in report_args]
    i = args.index("--manifest")
    del args[i : i + 2]
    s = run_cli(args).summary()
    assert s["status"] == "ok"
    assert s["drift"]["status"] == "no_reference"
    assert "pass --manifest" in s["drift"]["note"]
    assert len(s["drift"]["captured"]["channel_mean"]) == 3


STATS = {"mean": [0.5, 0.4, 0.3], "std": [0.25, 0.2, 0.3]}


def test_reference_on_the_0_255_scale_is_rescaled():
    ref = parse_reference(
        {"pixel_stats": {"mean": [127.5, 102.0, 76.5], "std": [63.75, 51.0, 76.5]}}, "m"
    )
    assert ref.channel_mean.tolist() == pytest.approx(STATS["mean"])
    assert ref.channel_std.tolist() == pytest.approx(STATS["std"])


def test_reference_brightness_defaults_to_luma_of_the_channel_means():
    ref = parse_reference({"pixel_stats": STATS}, "m")
    assert ref.brightness_mean == pytest.approx(np.dot(STATS["mean"], LUMA_WEIGHTS))


def test_class_names_come_with_the_reference():
    doc = {
        "pixel_stats": STATS,
        "classes": [{"index": 0, "name": "bike"}, {"index": 1, "name": "moto"}],
    }
    assert parse_reference(doc, "m").class_names == ("bike", "moto")


def test_reference_is_read_from_the_model_artifacts_metadata(tmp_path):
    metadata = json.dumps({"class_names": ["bicycle", "motorcycle"], "pixel_stats": STATS}).encode()
    artifact = tmp_path / "model.tar.gz"
    with tarfile.open(artifact, "w:gz") as tar:
        info = tarfile.TarInfo("metadata.json")
        info.size = len(metadata)
        tar.addfile(info, io.BytesIO(metadata))
    ref = load_reference(str(artifact))
    assert ref.class_names == ("bicycle", "motorcycle")
    assert ref.channel_mean.tolist() == pytest.approx(STATS["mean"])


@pytest.mark.parametrize(
    "doc",
    [
        {"classes": ["a", "b"]},
        {"pixel_stats": {"mean": [0.5, 0.5], "std": [0.2, 0.2, 0.2]}},
        {"pixel_stats": {"mean": [0.5, 0.5, 0.5], "std": [0.2, 0.0, 0.2]}},
        {"pixel_stats": {"mean": [0.5, 0.5, 0.5]}},
    ],
)
def test_reference_without_usable_statistics_is_refused(doc):
    with pytest.raises(DriftReferenceError):
        parse_reference(doc, "m")


def test_reference_reads_the_manifest_the_etl_writes(shared_archive, train_images, tmp_path):
    from etl.export import run as etl_run

    etl_run(shared_archive, tmp_path / "cifar")
    ref = load_reference(str(tmp_path / "cifar" / "manifest.json"))
    want = reference_from_images(train_images)
    assert ref.class_names == ("bicycle", "motorcycle")
    assert ref.channel_mean.tolist() == pytest.approx(want.channel_mean.tolist(), abs=1e-6)
    assert ref.channel_std.tolist() == pytest.approx(want.channel_std.tolist(), abs=1e-6)
    assert ref.brightness_mean == pytest.approx(want.brightness_mean, abs=1e-6)
    assert ref.brightness_std == pytest.approx(want.brightness_std, abs=1e-6)


@pytest.mark.slow
def test_reference_reads_the_statistics_training_records(train_images):
    from training.export import pixel_statistics  # imports torch: slow

    metadata = {"class_names": ["bicycle", "motorcycle"]}
    metadata["training_statistics"] = pixel_statistics(train_images)
    ref = parse_reference(metadata, "metadata.json")
    want = reference_from_images(train_images)
    assert ref.channel_mean.tolist() == pytest.approx(want.channel_mean.tolist(), abs=1e-6)
    assert ref.channel_std.tolist() == pytest.approx(want.channel_std.tolist(), abs=1e-6)
    assert ref.brightness_mean == pytest.approx(want.brightness_mean, abs=1e-6)
    # its brightness_std is across images; the per-pixel bound is used instead
    assert ref.brightness_std == pytest.approx(float(want.channel_std @ LUMA_WEIGHTS), abs=1e-6)


def test_no_drift_skips_the_images_but_keeps_every_other_number(report_args, default_report):
    ran = run_cli([*report_args, "--no-drift"])
    s, full = ran.summary(), default_report.summary()
    assert s["drift"]["status"] == "not_measured"
    assert s["drift"]["images"] == 0
    for part in ("records", "confidence", "classes", "flags"):
        assert s[part] == full[part]
    html = (ran.out / "index.html").read_text()
    assert html[html.index('class="strip"') :].count("<img") == 12
