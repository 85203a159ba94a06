"""The onnxruntime vendored into the artifact is one exact version, the one pyproject pins.

The serving container (SageMaker's PyTorch inference image) has no onnxruntime and runs
network-isolated, so the artifact carries it in code/lib (training/artifact.py). That copy
must be the runtime the model was exported and checked with: the version installed here,
which pyproject.toml's `serving` extra pins.
"""

from __future__ import annotations

import subprocess
import tomllib
import zipfile
from importlib.metadata import version
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from training import artifact, sagemaker_job

REPO = Path(__file__).resolve().parents[2]


def fake_wheel(folder: Path, version_: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / f"onnxruntime-{version_}-cp311-cp311-manylinux_2_28_x86_64.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("onnxruntime/__init__.py", f"__version__ = {version_!r}\n")
    return wheel


def model_dir(tmp_path: Path) -> Path:
    (tmp_path / "model" / "code").mkdir(parents=True)
    return tmp_path / "model"


def test_pyproject_pins_exactly_the_vendored_version():
    extras = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "optional-dependencies"
    ]
    pins = [
        Requirement(text)
        for extra in extras.values()
        for text in extra
        if Requirement(text).name == "onnxruntime"
    ]

    assert pins, "pyproject.toml names onnxruntime nowhere"
    assert {str(pin.specifier) for pin in pins} == {f"=={artifact.ONNXRUNTIME_VERSION}"}


def test_the_installed_onnxruntime_is_the_pinned_one():
    assert version("onnxruntime") == artifact.ONNXRUNTIME_VERSION
    artifact.check_installed_onnxruntime()  # does not raise


def test_the_download_asks_pip_for_the_pinned_version(tmp_path, monkeypatch):
    commands = []

    def pip(command, **_):
        commands.append(command)
        fake_wheel(tmp_path, artifact.ONNXRUNTIME_VERSION)
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(artifact.subprocess, "run", pip)
    wheel = artifact.download_onnxruntime_wheel(tmp_path)

    (command,) = commands
    assert command[-1] == "onnxruntime==1.32.0"
    assert "--no-deps" in command and "--only-binary=:all:" in command
    assert wheel.name.startswith("onnxruntime-1.32.0-")


def test_vendoring_the_pinned_wheel_unpacks_it(tmp_path):
    wheel = fake_wheel(tmp_path / "wheels", artifact.ONNXRUNTIME_VERSION)

    lib = artifact.vendor_onnxruntime(model_dir(tmp_path), wheel)

    assert (lib / "onnxruntime" / "__init__.py").is_file()


def test_vendoring_another_wheel_version_fails_clearly(tmp_path):
    wheel = fake_wheel(tmp_path / "wheels", "1.20.0")

    with pytest.raises(artifact.ArtifactError, match=r"is not onnxruntime 1\.32\.0, the pinned"):
        artifact.vendor_onnxruntime(model_dir(tmp_path), wheel)
    assert not (tmp_path / "model" / "code" / "lib").exists()


def test_vendoring_with_another_installed_version_fails_clearly(tmp_path, monkeypatch):
    monkeypatch.setattr(artifact, "installed_onnxruntime_version", lambda: "1.20.0")
    wheel = fake_wheel(tmp_path / "wheels", artifact.ONNXRUNTIME_VERSION)

    with pytest.raises(
        artifact.ArtifactError,
        match=r"onnxruntime 1\.20\.0 is installed, but the artifact vendors onnxruntime 1\.32\.0",
    ):
        artifact.vendor_onnxruntime(model_dir(tmp_path), wheel)
    assert not (tmp_path / "model" / "code" / "lib").exists()


def test_vendoring_without_onnxruntime_installed_fails_clearly(tmp_path, monkeypatch):
    monkeypatch.setattr(artifact, "installed_onnxruntime_version", lambda: None)
    wheel = fake_wheel(tmp_path / "wheels", artifact.ONNXRUNTIME_VERSION)

    with pytest.raises(artifact.ArtifactError, match="onnxruntime is not installed"):
        artifact.vendor_onnxruntime(model_dir(tmp_path), wheel)


def job(wheel: Path) -> sagemaker_job.SageMakerJob:
    return sagemaker_job.SageMakerJob(
        algorithm="pytorch", target="aws", channels=None, bucket=None, role=None,
        region=None, instance_type=None, onnxruntime_wheel=wheel,
    )  # fmt: skip


def test_sagemaker_launcher_ships_only_the_pinned_wheel(tmp_path):
    pinned = fake_wheel(tmp_path / "w", artifact.ONNXRUNTIME_VERSION)
    (tmp_path / "ok").mkdir()
    staged = sagemaker_job.stage_source(tmp_path / "ok", job(pinned))
    assert [p.name for p in (staged / "vendor").iterdir()] == [pinned.name]

    (tmp_path / "bad").mkdir()
    with pytest.raises(artifact.ArtifactError, match="the pinned version"):
        sagemaker_job.stage_source(tmp_path / "bad", job(fake_wheel(tmp_path / "w", "1.20.0")))


def test_sagemaker_launcher_runs_without_onnxruntime_but_not_with_another(tmp_path, monkeypatch):
    wheel = fake_wheel(tmp_path / "w", artifact.ONNXRUNTIME_VERSION)
    # The `launch` extra alone has no onnxruntime: the launcher only ships the wheel.
    monkeypatch.setattr(artifact, "installed_onnxruntime_version", lambda: None)
    (tmp_path / "a").mkdir()
    sagemaker_job.stage_source(tmp_path / "a", job(wheel))

    monkeypatch.setattr(artifact, "installed_onnxruntime_version", lambda: "1.20.0")
    (tmp_path / "b").mkdir()
    with pytest.raises(artifact.ArtifactError, match=r"onnxruntime 1\.20\.0 is installed"):
        sagemaker_job.stage_source(tmp_path / "b", job(wheel))
