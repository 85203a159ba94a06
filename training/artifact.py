"""Packing the model directory as SageMaker's model.tar.gz, optionally with onnxruntime.

The SageMaker PyTorch serving container has numpy and Pillow but not onnxruntime, and
may run network-isolated, so it cannot pip install at start-up. `vendor_onnxruntime`
puts the onnxruntime wheel for the container's Python, unpacked, into `code/lib/`, which
code/inference.py puts first on sys.path. Nothing else is vendored: numpy and Pillow are
in every serving image this project targets.
"""

from __future__ import annotations

import gzip
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

REQUIRED_FILES = ("model.onnx", "metadata.json", "code/inference.py")
# The SageMaker PyTorch inference image this project serves with (CPU, Python 3.11).
SERVING_FRAMEWORK_VERSION = "2.5.1"
SERVING_PYTHON = "311"
ONNXRUNTIME_REQUIREMENT = "onnxruntime>=1.20,<2"
WHEEL_PLATFORM = "manylinux_2_28_x86_64"


class ArtifactError(RuntimeError):
    """The model directory or the vendored runtime is not what serving needs."""


def check_model_dir(model_dir: Path) -> None:
    missing = [name for name in REQUIRED_FILES if not (model_dir / name).is_file()]
    if missing:
        raise ArtifactError(f"{model_dir} is not a complete model directory: missing {missing}")


def _add(archive: tarfile.TarFile, path: Path, name: str) -> None:
    info = archive.gettarinfo(str(path), arcname=name)
    # Fixed owner and time: the same model directory packs to the same bytes.
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = 0
    if info.isfile():
        with path.open("rb") as handle:
            archive.addfile(info, handle)
    else:
        archive.addfile(info)


def pack(model_dir: Path, out: Path) -> Path:
    """Write `out` (model.tar.gz) with every file of `model_dir` at the archive root."""
    check_model_dir(model_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    # The tar streams straight into gzip: with onnxruntime vendored it is tens of MB.
    with (
        partial.open("wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w") as archive,
    ):
        for path in sorted(model_dir.rglob("*")):
            relative = path.relative_to(model_dir)
            if relative.parts[0].startswith("."):
                continue
            _add(archive, path, relative.as_posix())
    partial.replace(out)
    return out


def download_onnxruntime_wheel(dest: Path, python: str = SERVING_PYTHON) -> Path:
    """Fetch the onnxruntime wheel for Linux x86_64 and CPython `python` with pip."""
    command = [
        sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
        "--python-version", python, "--platform", WHEEL_PLATFORM, "--dest", str(dest),
        ONNXRUNTIME_REQUIREMENT,
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    wheels = sorted(dest.glob("onnxruntime-*.whl"))
    if result.returncode != 0 or not wheels:
        raise ArtifactError(
            f"could not download the onnxruntime wheel for cp{python}: "
            f"{result.stderr.strip().splitlines()[-1] if result.stderr.strip() else 'no wheel'}"
        )
    return wheels[-1]


def vendor_onnxruntime(model_dir: Path, wheel: Path | None = None) -> Path:
    """Unpack the onnxruntime wheel into `model_dir/code/lib`; download it if not given."""
    with tempfile.TemporaryDirectory() as tmp:
        wheel = wheel or download_onnxruntime_wheel(Path(tmp))
        if not zipfile.is_zipfile(wheel):
            raise ArtifactError(f"{wheel} is not a wheel")
        lib = model_dir / "code" / "lib"
        lib.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(lib)  # noqa: S202 (zipfile drops ".." and absolute paths)
    return lib


def serving_image_uri(region: str | None) -> str:
    """The SageMaker PyTorch inference image (CPU) whose Python the vendored wheel fits."""
    if not region:
        raise ArtifactError("set AWS_DEFAULT_REGION to look up the serving image")
    from sagemaker import image_uris

    return image_uris.retrieve(
        "pytorch",
        region,
        version=SERVING_FRAMEWORK_VERSION,
        py_version=f"py{SERVING_PYTHON}",
        instance_type="ml.m5.large",
        image_scope="inference",
    )
