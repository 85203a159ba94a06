"""Bad channels and arguments fail before any training, with one clear line."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.network import free_port
from training import recipe
from training.channels import ChannelError, read_channel


@pytest.fixture
def channel(etl_output: Path, tmp_path: Path) -> Path:
    """A small, valid copy of the real train channel (20 images + train.lst) to break."""
    folder = tmp_path / "train"
    folder.mkdir()
    lines = (etl_output / "train.lst").read_text().splitlines()[:20]
    for line in lines:
        name = line.split("\t")[2]
        shutil.copyfile(etl_output / "train" / name, folder / name)
    (folder / "train.lst").write_text("\n".join(lines) + "\n")
    return folder


def test_valid_channel_loads_every_listed_image(channel):
    loaded = read_channel("train", channel, num_classes=2)

    assert loaded.images.shape == (20, 32, 32, 3)
    assert set(loaded.labels) <= {0, 1}


def test_missing_channel_folder_is_named(tmp_path):
    with pytest.raises(ChannelError, match=r"channel 'train'.*not a directory"):
        read_channel("train", tmp_path / "nowhere", num_classes=2)


def test_channel_without_lst_is_an_error(channel):
    (channel / "train.lst").unlink()

    with pytest.raises(ChannelError, match=r"no \.lst file"):
        read_channel("train", channel, num_classes=2)


def test_empty_lst_is_an_error(channel):
    (channel / "train.lst").write_text("")

    with pytest.raises(ChannelError, match="lists no images"):
        read_channel("train", channel, num_classes=2)


def test_lst_naming_a_missing_file_is_an_error(channel):
    first = (channel / "train.lst").read_text().splitlines()[0].split("\t")[2]
    (channel / first).unlink()

    with pytest.raises(ChannelError, match=f"1 file.* missing.*{first}"):
        read_channel("train", channel, num_classes=2)


def test_label_outside_the_class_range_is_an_error(channel):
    lst = channel / "train.lst"
    lst.write_text(lst.read_text().replace("\t1\t", "\t7\t", 1))

    with pytest.raises(ChannelError, match=r"class 7 is outside the class range 0\.\.1"):
        read_channel("train", channel, num_classes=2)


def test_unreadable_png_is_an_error(channel):
    first = (channel / "train.lst").read_text().splitlines()[0].split("\t")[2]
    (channel / first).write_bytes(b"\x89PNG\r\n\x1a\n truncated")

    with pytest.raises(ChannelError, match=f"{first}: not a decodable image"):
        read_channel("train", channel, num_classes=2)


def test_unknown_hyperparameter_is_an_error():
    with pytest.raises(ValueError, match="unknown hyperparameter 'learning_rate'"):
        recipe.hyperparameters({"learning_rate": "0.1"})


def test_refit_full_other_than_0_or_1_is_an_error():
    with pytest.raises(ValueError, match="refit_full must be 0 or 1"):
        recipe.hyperparameters({"refit_full": "2"})


def test_non_numeric_hyperparameter_is_an_error():
    with pytest.raises(ValueError, match="'epochs' must be a number"):
        recipe.hyperparameters({"epochs": "many"})


def run_train(repo_root: Path, env: dict, *args: str):
    return subprocess.run(
        [sys.executable, str(repo_root / "training" / "train.py"), *args],
        env={**os.environ, **env}, capture_output=True, text=True, check=False,
    )  # fmt: skip


def test_train_script_rejects_an_unknown_hyperparameter_in_one_line(channel, tmp_path, repo_root):
    env = {"SM_MODEL_DIR": str(tmp_path / "model"), "SM_CHANNEL_TRAIN": str(channel),
           "SM_CHANNEL_VALIDATION": str(channel)}  # fmt: skip

    result = run_train(repo_root, env, "--epochz", "3")

    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("train.py: error: unknown hyperparameter 'epochz'")
    assert not (tmp_path / "model").exists()


def test_train_script_without_a_validation_channel_says_which_variable(
    channel, tmp_path, repo_root
):
    env = {"SM_MODEL_DIR": str(tmp_path / "model"), "SM_CHANNEL_TRAIN": str(channel)}

    result = run_train(repo_root, {**env, "SM_CHANNEL_VALIDATION": ""})

    assert result.returncode == 2
    assert "channel 'validation' is missing: set SM_CHANNEL_VALIDATION" in result.stderr
    assert not (tmp_path / "model").exists()


def test_local_launcher_on_a_folder_that_is_not_etl_output_fails_clearly(tmp_path, repo_root):
    result = subprocess.run(
        [sys.executable, "-m", "training", "local", "--channels", str(tmp_path), "--no-upload",
         "--work-dir", str(tmp_path / "work")],
        capture_output=True, text=True, cwd=repo_root, check=False,
    )  # fmt: skip

    assert result.returncode == 2
    assert "is not the ETL's output (missing manifest.json" in result.stderr
    assert "Traceback" not in result.stderr


def test_local_target_without_a_local_cloud_refuses_to_upload(etl_output, tmp_path, repo_root):
    address = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    env = {**os.environ, "AWS_ENDPOINT_URL": address}
    result = subprocess.run(
        [sys.executable, "-m", "training", "local", "--target", "local", "--channels",
         str(etl_output), "--bucket", "scones-models", "--work-dir", str(tmp_path)],
        capture_output=True, text=True, cwd=repo_root, env=env, check=False,
    )  # fmt: skip

    assert result.returncode == 2
    assert f"the local cloud does not answer at {address}" in result.stderr
    assert "make local-up" in result.stderr
