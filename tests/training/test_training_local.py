"""Training on the real subset: the local launcher end to end, accuracy, determinism,
and the artifact it packs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from etl.pixel_stats import PixelStats
from monitoring.reference import parse_reference
from tests.training.training_helpers import ARTIFACTS_BUCKET, SMOKE_HYPERPARAMETERS
from training import artifact

pytestmark = pytest.mark.slow


def onnx_weights(path: Path) -> dict[str, np.ndarray]:
    return {w.name: numpy_helper.to_array(w) for w in onnx.load(str(path)).graph.initializer}


def test_smoke_training_is_clearly_better_than_chance(local_run):
    metrics = local_run["metrics"]

    assert len(metrics["epochs"]) == int(SMOKE_HYPERPARAMETERS["epochs"])
    assert metrics["validation_accuracy"] >= 0.7
    assert metrics["test_accuracy"] >= 0.7


def test_training_prints_one_line_per_epoch_with_its_end_point_and_time(local_run):
    lines = [line for line in local_run["stdout"].splitlines() if line.startswith("epoch")]
    epochs = int(SMOKE_HYPERPARAMETERS["epochs"])

    assert len(lines) == epochs
    assert "validation_accuracy" in lines[0]
    assert [line.split()[1] for line in lines] == [f"{e}/{epochs}" for e in range(1, epochs + 1)]
    assert all(re.search(r"elapsed \d+:\d\d  eta \d+:\d\d", line) for line in lines)
    assert lines[-1].split("eta ")[1].startswith("0:00")


def test_same_seed_gives_the_same_weights_and_metrics(local_run, tmp_path, repo_root):
    job = local_run["job_dir"]
    channels = job / "channels"
    env = {
        **os.environ,
        "SM_MODEL_DIR": str(tmp_path / "model"),
        "SM_CHANNEL_TRAIN": str(channels / "train"),
        "SM_CHANNEL_TRAIN_LST": str(job / "lists" / "train_lst"),
        "SM_CHANNEL_VALIDATION": str(channels / "train"),
        "SM_CHANNEL_VALIDATION_LST": str(job / "lists" / "validation_lst"),
    }
    args = [item for k, v in SMOKE_HYPERPARAMETERS.items() for item in (f"--{k}", v)]
    result = subprocess.run(
        [sys.executable, str(repo_root / "training" / "train.py"), *args],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    again = json.loads((tmp_path / "model" / "metrics.json").read_text())
    assert again["epochs"] == local_run["metrics"]["epochs"]
    first, second = (
        onnx_weights(local_run["model_dir"] / "model.onnx"),
        onnx_weights(tmp_path / "model" / "model.onnx"),
    )
    assert first.keys() == second.keys()
    for name in first:
        np.testing.assert_array_equal(first[name], second[name], err_msg=name)


@pytest.fixture(scope="module")
def refit_run(local_run, tmp_path_factory, repo_root) -> dict:
    """train.py with its default refit_full 1, on the launcher's carved channels."""
    job, out = local_run["job_dir"], tmp_path_factory.mktemp("refit") / "model"
    env = {
        **os.environ,
        "SM_MODEL_DIR": str(out),
        "SM_CHANNEL_TRAIN": str(job / "channels" / "train"),
        "SM_CHANNEL_TRAIN_LST": str(job / "lists" / "train_lst"),
        "SM_CHANNEL_VALIDATION": str(job / "channels" / "train"),
        "SM_CHANNEL_VALIDATION_LST": str(job / "lists" / "validation_lst"),
    }
    result = subprocess.run(
        [sys.executable, str(repo_root / "training" / "train.py"), "--epochs", "2"],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return {
        "metadata": json.loads((out / "metadata.json").read_text()),
        "metrics": json.loads((out / "metrics.json").read_text()),
        "stdout": result.stdout,
        "model": out / "model.onnx",
    }


def test_refit_full_trains_the_final_model_on_train_plus_validation(refit_run):
    stats = refit_run["metadata"]["pixel_stats"]
    assert (stats["split"], stats["images"]) == ("train+validation", 640 + 160)
    assert refit_run["metadata"]["hyperparameters"]["refit_full"] == 1


def test_refit_models_drift_statistics_are_the_etl_manifests(refit_run, etl_output):
    """train + validation are the ETL's train images: one schema, the same numbers."""
    metadata = refit_run["metadata"]
    manifest = json.loads((etl_output / "manifest.json").read_text())
    model_stats, etl_stats = dict(metadata["pixel_stats"]), dict(manifest["pixel_stats"])

    assert (model_stats.pop("split"), etl_stats.pop("split")) == ("train+validation", "train")
    assert model_stats == etl_stats
    from_model = parse_reference(metadata, "metadata.json")
    from_etl = parse_reference(manifest, "manifest.json")
    for field in ("channel_mean", "channel_std", "brightness_mean", "brightness_std"):
        assert np.array_equal(getattr(from_model, field), getattr(from_etl, field)), field


def test_refit_full_keeps_the_last_epoch_and_claims_no_held_out_accuracy(refit_run):
    metrics = refit_run["metrics"]

    assert metrics["selected_epoch"] == len(metrics["epochs"]) == 2
    assert metrics["validation_accuracy"] is None
    assert not any("validation_accuracy" in epoch for epoch in metrics["epochs"])


def test_default_model_is_an_ensemble_of_two_nets_in_one_graph(refit_run, model_dir):
    members = refit_run["metadata"]["hyperparameters"]["members"]
    lines = [line for line in refit_run["stdout"].splitlines() if line.startswith("member")]

    assert members == 2
    assert [line.split()[1] for line in lines] == ["1/2", "1/2", "2/2", "2/2"]  # 2 epochs each
    single = sum(w.size for w in onnx_weights(model_dir / "model.onnx").values())
    ensemble = sum(w.size for w in onnx_weights(refit_run["model"]).values())
    assert 1.95 * single < ensemble < 2.05 * single


def test_model_dir_has_curves_metrics_and_the_selected_epoch(model_dir):
    metrics = json.loads((model_dir / "metrics.json").read_text())

    assert (model_dir / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    epochs = metrics["epochs"]
    assert {"train_loss", "train_accuracy", "validation_loss", "validation_accuracy"} <= set(
        epochs[0]
    )
    best = max(e["validation_accuracy"] for e in epochs)
    assert metrics["validation_accuracy"] == best
    assert epochs[metrics["selected_epoch"] - 1]["validation_accuracy"] == best


def test_artifact_holds_model_metadata_and_handler_at_its_root(local_run):
    with tarfile.open(local_run["tarball"]) as archive:
        names = set(archive.getnames())

    assert {"model.onnx", "metadata.json", "code/inference.py"} <= names
    assert not any(name.startswith(("/", "..", ".partial")) for name in names)


def test_metadata_carries_classes_input_and_training_pixel_statistics(model_dir):
    metadata = json.loads((model_dir / "metadata.json").read_text())

    assert metadata["class_names"] == ["bicycle", "motorcycle"]
    assert metadata["input_size"] == [32, 32]
    stats = PixelStats.from_json(metadata["pixel_stats"])  # the pinned schema
    assert (stats.split, stats.images) == ("train", 640)
    assert all(0.3 < m < 0.7 for m in stats.channel_mean)
    assert 0 < stats.brightness_mean < 1
    # Pixels within an image vary more than the images' mean brightness does.
    assert stats.brightness_std > stats.image_brightness_std > 0
    assert sum(stats.image_brightness_histogram) == 640
    assert metadata["normalization"]["mean"] == list(stats.channel_mean)
    assert metadata["normalization"]["std"] == list(stats.channel_std)


def test_packing_the_same_model_twice_gives_the_same_bytes(model_dir, tmp_path):
    first = artifact.pack(model_dir, tmp_path / "a" / "model.tar.gz")
    second = artifact.pack(model_dir, tmp_path / "b" / "model.tar.gz")

    assert first.read_bytes() == second.read_bytes()


def test_packing_an_incomplete_model_dir_fails(tmp_path):
    (tmp_path / "model.onnx").write_bytes(b"")

    with pytest.raises(artifact.ArtifactError, match=r"metadata\.json"):
        artifact.pack(tmp_path, tmp_path / "model.tar.gz")


def test_launcher_uploads_the_artifact_and_records_its_url(local_run, s3_server):
    recorded = json.loads(local_run["tfvars"].read_text())

    url = recorded["model_data_url"]
    job_name = local_run["job_dir"].name
    assert url == f"s3://{ARTIFACTS_BUCKET}/models/{job_name}/model.tar.gz"
    body = s3_server["s3"].get_object(Bucket=ARTIFACTS_BUCKET, Key=url.split("/", 3)[3])["Body"]
    assert body.read() == local_run["tarball"].read_bytes()
    assert "serving_image_uri" not in recorded  # the local cloud serves with its own runtime


def wheel_of_installed_onnxruntime(dest: Path) -> Path:
    """A wheel holding the installed onnxruntime (what pip would download for this Python)."""
    import zipfile

    import onnxruntime

    package = Path(onnxruntime.__file__).parent
    wheel = dest / f"onnxruntime-{onnxruntime.__version__}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path in package.rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                archive.write(path, path.relative_to(package.parent).as_posix())
    return wheel


def test_vendored_artifact_serves_with_only_numpy_and_pillow_installed(
    model_dir, tmp_path, etl_output
):
    import PIL

    model_copy = tmp_path / "model"
    subprocess.run(["cp", "-r", str(model_dir), str(model_copy)], check=True)
    wheel = wheel_of_installed_onnxruntime(tmp_path)
    tarball = tmp_path / "model.tar.gz"
    result = subprocess.run(
        [sys.executable, "-m", "training", "pack", str(model_copy), "--out", str(tarball),
         "--vendor-onnxruntime", "--onnxruntime-wheel", str(wheel)],
        capture_output=True, text=True, check=False, cwd=Path(__file__).parents[2],
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    served = tmp_path / "served"
    served.mkdir()
    with tarfile.open(tarball) as archive:
        archive.extractall(served, filter="data")
    # A site folder with numpy and Pillow only, like the PyTorch serving image minus torch.
    site = tmp_path / "site"
    site.mkdir()
    for module in (np, PIL):
        root = Path(module.__file__).parent
        (site / root.name).symlink_to(root)
        libs = root.parent / f"{'pillow' if module is PIL else 'numpy'}.libs"
        if libs.exists():
            (site / libs.name).symlink_to(libs)
    first_line = (etl_output / "test.lst").read_text().splitlines()[0]
    image = etl_output / "test" / first_line.split("\t")[2]
    script = (
        "import sys; sys.path[:0] = [sys.argv[1] + '/code', sys.argv[2]]\n"
        "import inference as h; m = h.model_fn(sys.argv[1]); import onnxruntime\n"
        "print(onnxruntime.__file__)\n"
        "print(h.output_fn(h.predict_fn(h.input_fn(open(sys.argv[3], 'rb').read(),"
        " 'image/png'), m), None)[0])\n"
    )
    run = subprocess.run(
        [sys.executable, "-I", "-S", "-c", script, str(served), str(site), str(image)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip

    assert run.returncode == 0, run.stderr
    origin, body = run.stdout.splitlines()
    assert origin.startswith(str(served / "code" / "lib"))
    assert len(json.loads(body)) == 2
