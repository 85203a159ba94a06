"""A small model trained with the project's own training package, cached between runs.

ETL of the real CIFAR-100 subset, then `python -m training local --no-upload` for a
few epochs. The artifact is cached under build/test-model/<key>/, where the key hashes
the training code, the archive and the epochs, so the suite trains once per change.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
EPOCHS = 3


def cache_key(archive: Path) -> str:
    digest = hashlib.sha256(f"epochs={EPOCHS}".encode())
    for source in sorted((REPO_ROOT / "training").glob("*.py")):
        digest.update(source.read_bytes())
    digest.update(str(archive.stat().st_size).encode() + archive.name.encode())
    return digest.hexdigest()[:16]


def run(command: list[str], what: str) -> str:
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=1800)
    if result.returncode != 0:
        raise RuntimeError(f"{what} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return result.stdout


def cifar_pngs(archive: Path, out: Path) -> Path:
    """The ETL output (PNGs + .lst) of the archive in `out`, made once."""
    if not (out / "manifest.json").is_file():
        run(
            [
                sys.executable,
                "-m",
                "etl",
                "--source",
                str(archive),
                "--out",
                str(out),
                "--labels",
                "bicycle,motorcycle",
            ],
            "ETL of the shared archive",
        )
    return out


def trained_artifact(archive: Path) -> Path:
    cache = REPO_ROOT / "build" / "test-model" / cache_key(archive)
    artifact = cache / "model.tar.gz"
    if artifact.is_file():
        return artifact
    channels = cifar_pngs(archive, cache / "cifar")
    output = run(
        [
            sys.executable,
            "-m",
            "training",
            "local",
            "--channels",
            str(channels),
            "--epochs",
            str(EPOCHS),
            "--no-upload",
            "--work-dir",
            str(cache / "work"),
        ],
        "training the test model",
    )
    packed = Path(
        next(line for line in output.splitlines() if line.startswith("model_tar:"))[10:].strip()
    )
    shutil.copyfile(packed, artifact)
    return artifact
