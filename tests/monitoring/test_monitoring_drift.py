"""Input drift: captured images against the training set's pixel statistics."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest

from etl.pixel_stats import PixelStatsBuilder
from monitoring.pixels import LUMA_WEIGHTS
from monitoring.reference import (
    DriftReferenceError,
    load_reference,
    parse_reference,
    reference_from_images,
)
from tests.monitoring.monitoring_captures import (
    ENDPOINT,
    PREFIX,
    capture_objects,
    requests_from,
    write_objects,
)
from tests.monitoring.monitoring_run import run_cli


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


def test_brighter_inputs_are_flagged_as_drift(held_out_images, manifest_path, tmp_path):
    """Drift is a shift either way: a brighter camera is as much drift as a darker one."""
    brighter = np.clip(held_out_images.astype(np.int16) + 60, 0, 255).astype(np.uint8)

    s = _report(brighter, manifest_path, tmp_path).summary()

    assert s["drift"]["shift_std"]["brightness"] > 0.25
    assert s["drift"]["max_abs_shift"] == pytest.approx(
        max(abs(v) for v in s["drift"]["shift_std"].values()), abs=1e-5
    )
    assert s["drift"]["status"] == "drift"
    assert "input_drift" in [f["name"] for f in s["flags"]]


def test_too_few_images_are_not_judged(held_out_images, manifest_path, tmp_path):
    darker = (held_out_images[:10] * 0.6).astype(np.uint8)
    ran = _report(darker, manifest_path, tmp_path)
    s = ran.summary()
    assert s["drift"]["status"] == "too_few_images"
    assert "input_drift" not in [f["name"] for f in s["flags"]]
    # The printed summary says it once: the shift, and why it is not judged.
    [line] = [line for line in ran.stdout.splitlines() if "drift" in line]
    assert line.strip().startswith("drift: max shift")
    assert line.endswith("over 10 images (too few images: at least 50 are needed to judge drift)")


def test_report_without_a_reference_still_measures_the_inputs(report_args):
    args = [a for a in report_args]
    i = args.index("--manifest")
    del args[i : i + 2]
    s = run_cli(args).summary()
    assert s["status"] == "ok"
    assert s["drift"]["status"] == "no_reference"
    assert "pass --manifest" in s["drift"]["note"]
    assert len(s["drift"]["captured"]["channel_mean"]) == 3


@pytest.fixture(scope="module")
def stats(reference_images: np.ndarray) -> dict:
    """The pinned pixel_stats object (CONTRACTS.md) of the reference images."""
    return PixelStatsBuilder().add_images(reference_images).build("train").to_json()


def test_reference_holds_the_pinned_statistics(stats):
    ref = parse_reference({"classes": ["bicycle", "motorcycle"], "pixel_stats": stats}, "m")
    assert ref.channel_mean.tolist() == stats["channel_mean"]
    assert ref.channel_std.tolist() == stats["channel_std"]
    assert ref.brightness_mean == stats["brightness_mean"]
    assert ref.brightness_std == stats["brightness_std"]


def test_class_names_come_with_the_reference(stats):
    doc = {
        "pixel_stats": stats,
        "classes": [{"index": 0, "name": "bike"}, {"index": 1, "name": "moto"}],
    }
    assert parse_reference(doc, "m").class_names == ("bike", "moto")


def test_reference_is_read_from_the_model_artifacts_metadata(stats, tmp_path):
    metadata = json.dumps({"class_names": ["bicycle", "motorcycle"], "pixel_stats": stats}).encode()
    artifact = tmp_path / "model.tar.gz"
    with tarfile.open(artifact, "w:gz") as tar:
        info = tarfile.TarInfo("metadata.json")
        info.size = len(metadata)
        tar.addfile(info, io.BytesIO(metadata))
    ref = load_reference(str(artifact))
    assert ref.class_names == ("bicycle", "motorcycle")
    assert ref.channel_mean.tolist() == stats["channel_mean"]


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


def test_manifest_of_an_older_etl_says_to_re_run_the_etl(stats):
    old = {k: v for k, v in stats.items() if k not in ("image_brightness_std", "images")}
    with pytest.raises(DriftReferenceError) as error:
        parse_reference({"classes": ["bicycle", "motorcycle"], "pixel_stats": old}, "m.json")
    message = str(error.value)
    assert message.startswith("m.json: pixel_stats lacks images, image_brightness_std")
    assert "re-run the ETL (`make etl`)" in message


def test_metadata_of_an_older_model_says_to_retrain(stats):
    old_model = {
        "class_names": ["bicycle", "motorcycle"],
        "training_statistics": {"pixel_mean": stats["channel_mean"], "brightness_std": 0.1},
    }
    with pytest.raises(DriftReferenceError) as error:
        parse_reference(old_model, "metadata.json")
    assert "no pixel statistics" in str(error.value)
    assert "retrain the model (`make train`)" in str(error.value)


def test_reference_on_the_0_255_scale_is_refused(stats):
    scaled = {**stats, "channel_mean": [v * 255 for v in stats["channel_mean"]]}
    with pytest.raises(DriftReferenceError, match="channel_mean must be") as error:
        parse_reference({"pixel_stats": scaled}, "m")
    assert "in [0, 1] (pixel / 255)" in str(error.value)


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
def test_drift_from_the_etl_manifest_and_from_the_model_metadata_agree(
    shared_archive, held_out_images, tmp_path
):
    """The same images, once through the ETL (manifest.json), once as training reads them
    (the ETL's PNGs -> training's channel reader -> metadata.json): one drift report."""
    from etl.export import run as etl_run
    from training.channels import read_channel
    from training.export import pixel_statistics  # imports torch: slow

    cifar = tmp_path / "cifar"
    etl_run(shared_archive, cifar)
    lists = tmp_path / "train_lst"
    lists.mkdir()
    shutil.copyfile(cifar / "train.lst", lists / "train.lst")
    channel = read_channel("train", cifar / "train", 2, lists)
    metadata = tmp_path / "metadata.json"
    metadata.write_text(
        json.dumps(
            {
                "class_names": ["bicycle", "motorcycle"],
                "pixel_stats": pixel_statistics(channel.images, "train").to_json(),
            }
        )
    )
    manifest = cifar / "manifest.json"
    assert (
        json.loads(metadata.read_text())["pixel_stats"]
        == json.loads(manifest.read_text())["pixel_stats"]
    )

    darker = (held_out_images * 0.8).astype(np.uint8)
    from_etl = _report(darker, manifest, tmp_path / "etl").summary()["drift"]
    from_model = _report(darker, metadata, tmp_path / "model").summary()["drift"]
    assert from_etl["reference"].pop("source") == str(manifest)
    assert from_model["reference"].pop("source") == str(metadata)
    assert from_etl == from_model
    assert from_etl["status"] != "no_reference"
    assert from_etl["shift_std"]["brightness"] < 0


def test_no_drift_skips_the_images_but_keeps_every_other_number(report_args, default_report):
    ran = run_cli([*report_args, "--no-drift"])
    s, full = ran.summary(), default_report.summary()
    assert s["drift"]["status"] == "not_measured"
    assert s["drift"]["images"] == 0
    for part in ("records", "confidence", "classes", "flags"):
        assert s[part] == full[part]
    html = (ran.out / "index.html").read_text()
    assert html[html.index('class="strip"') :].count("<img") == 12
