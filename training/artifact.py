"""Packing the model directory as SageMaker's model.tar.gz, optionally with onnxruntime.

The SageMaker PyTorch serving container has numpy and Pillow but not onnxruntime, and
may run network-isolated, so it cannot pip install at start-up. `vendor_onnxruntime`
puts the onnxruntime wheel for the container's Python, unpacked, into `code/lib/`, which
code/inference.py puts first on sys.path. Nothing else is vendored: numpy and Pillow are
in every serving image this project targets.

The vendored onnxruntime is one exact version, `ONNXRUNTIME_VERSION`: the one pyproject's
`serving` extra pins (a test checks they agree), so the artifact is served by the runtime
the model was exported and checked with. Vendoring fails when the installed onnxruntime or
the wheel to vendor is another version.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.metadata
import importlib.util
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path
from types import ModuleType

REQUIRED_FILES = ("model.onnx", "metadata.json", "code/inference.py")
# The SageMaker PyTorch inference image this project serves with (CPU, Python 3.11).
SERVING_FRAMEWORK_VERSION = "2.5.1"
SERVING_PYTHON = "311"
# The one onnxruntime version: vendored into the artifact and pinned by pyproject.toml's
# `serving` extra (tests/training/test_training_onnxruntime_pin.py checks they are the same).
ONNXRUNTIME_VERSION = "1.32.0"
ONNXRUNTIME_REQUIREMENT = f"onnxruntime=={ONNXRUNTIME_VERSION}"
WHEEL_PLATFORM = "manylinux_2_28_x86_64"


class ArtifactError(RuntimeError):
    """The model directory or the vendored runtime is not what serving needs."""


def load_inference(model_dir: Path) -> ModuleType:
    """The artifact's own `code/inference.py`, imported as a module, as a serving container
    does: the one way the project's code, tests and benchmarks load it.

    Each model directory gets its own module (named after its path, never a cached
    `inference`), so a second artifact is never served by the first one's code. The
    local cloud's model worker (localcloud/_model_worker.py) keeps its own import: it runs
    in a subprocess of the emulator, which does not import `training`.
    """
    path = Path(model_dir) / "code" / "inference.py"
    if not path.is_file():
        raise ArtifactError(f"{model_dir} has no code/inference.py: not a model directory")
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
    spec = importlib.util.spec_from_file_location(f"scones_inference_{digest}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check_model_dir(model_dir: Path) -> None:
    missing = [name for name in REQUIRED_FILES if not (model_dir / name).is_file()]
    if missing:
        raise ArtifactError(f"{model_dir} is not a complete model directory: missing {missing}")


def check_tarball(path: Path, vendored: bool = False) -> Path:
    """`path` if it is a model.tar.gz the endpoint can serve: a gzip'd tar with
    REQUIRED_FILES as regular files at its root (and, `vendored`, code/lib/onnxruntime,
    which the SageMaker PyTorch serving image lacks); else an ArtifactError saying what
    is wrong."""
    made_by = "`make train` writes one to build/training/<job>/model.tar.gz"
    if not path.exists():
        raise ArtifactError(f"{path} does not exist: {made_by}")
    if not path.is_file():
        raise ArtifactError(f"{path} is not a file: give the model.tar.gz itself ({made_by})")
    try:
        with tarfile.open(path, mode="r:gz") as archive:
            files = {
                member.name.removeprefix("./") for member in archive.getmembers() if member.isfile()
            }
    except (tarfile.TarError, OSError, EOFError) as error:
        raise ArtifactError(f"{path} is not a gzip'd tar archive ({error}): {made_by}") from None
    missing = [name for name in REQUIRED_FILES if name not in files]
    if missing:
        raise ArtifactError(
            f"{path} is not a model artifact: missing {', '.join(missing)} at the archive's "
            f"root (the endpoint serves model.onnx through code/inference.py); {made_by}"
        )
    if vendored and "code/lib/onnxruntime/__init__.py" not in files:
        raise ArtifactError(
            f"{path} has no code/lib/onnxruntime: the SageMaker PyTorch serving image lacks "
            "onnxruntime; train with --target aws (or --vendor-onnxruntime) for AWS"
        )
    return path


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


def installed_onnxruntime_version() -> str | None:
    try:
        return importlib.metadata.version("onnxruntime")
    except importlib.metadata.PackageNotFoundError:
        return None


def check_installed_onnxruntime(allow_missing: bool = False) -> None:
    """Fail unless the installed onnxruntime is the pinned one (absent: only if allowed)."""
    installed = installed_onnxruntime_version()
    if installed == ONNXRUNTIME_VERSION or (installed is None and allow_missing):
        return
    found = f"onnxruntime {installed} is installed" if installed else "onnxruntime is not installed"
    raise ArtifactError(
        f"{found}, but the artifact vendors onnxruntime {ONNXRUNTIME_VERSION} (the pin in "
        "training/artifact.py ONNXRUNTIME_VERSION and pyproject.toml's serving extra): the "
        "model would be served by a runtime it was not checked with. Run "
        "`pip install -e '.[serving]'`, or change the pin in both places"
    )


def check_wheel(wheel: Path) -> Path:
    """The wheel, if it is an onnxruntime wheel of the pinned version."""
    if not zipfile.is_zipfile(wheel):
        raise ArtifactError(f"{wheel} is not a wheel")
    # Wheel names are <distribution>-<version>-...whl (PEP 427).
    distribution, _, rest = wheel.name.partition("-")
    version = rest.partition("-")[0]
    if distribution != "onnxruntime" or version != ONNXRUNTIME_VERSION:
        raise ArtifactError(
            f"{wheel.name} is not onnxruntime {ONNXRUNTIME_VERSION}, the pinned version "
            "(training/artifact.py ONNXRUNTIME_VERSION, pyproject.toml's serving extra)"
        )
    return wheel


def vendor_onnxruntime(model_dir: Path, wheel: Path | None = None) -> Path:
    """Unpack the onnxruntime wheel into `model_dir/code/lib`; download it if not given.

    Both the installed onnxruntime and the wheel must be the pinned version."""
    check_installed_onnxruntime()
    with tempfile.TemporaryDirectory() as tmp:
        wheel = check_wheel(wheel or download_onnxruntime_wheel(Path(tmp)))
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
