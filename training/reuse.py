"""A trained artifact is reused when the data and the recipe are the same.

`python -m training local` hashes, before it downloads or trains anything:

- the ETL output's `manifest.json`, `train.lst` and `test.lst` (the manifest holds every
  image's sha256, and the ETL writes it byte for byte the same for the same export), read
  from the channels' folder or S3 prefix;
- every `training/*.py` (the recipe, train.py, export, the inference handler, the
  launchers: conservative, a change to any of them trains again);
- the arguments that change the model: hyperparameters, validation fraction, split seed,
  whether onnxruntime is vendored (and from which wheel), and the torch version.

Each trained job leaves `fingerprint.json` next to its `model.tar.gz` in
`build/training/<job>/`; a later run with the same fingerprint reuses the newest such
artifact (still uploading and recording it, since the cloud may be a new one) unless
told `--force`.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
from pathlib import Path

from deployment.s3uri import S3Uri
from deployment.target import Target
from training.splits import EtlOutput, SplitError

CHANNEL_FILES = ("manifest.json", "train.lst", "test.lst")
FINGERPRINT_FILE = "fingerprint.json"
TRAINING_CODE = Path(__file__).resolve().parent


def channel_files(target: Target, channels: str) -> dict[str, bytes]:
    """The manifest and the lists of the ETL output at `channels` (folder or s3://)."""
    files = {}
    if channels.startswith("s3://"):
        uri = S3Uri.parse(channels, what="--channels")
        s3 = target.client("s3")
        for name in CHANNEL_FILES:
            key = uri.join(name).key
            try:
                files[name] = s3.get_object(Bucket=uri.bucket, Key=key)["Body"].read()
            except s3.exceptions.NoSuchKey:
                raise SplitError(
                    f"{uri} has no {name}: not the ETL's output; run `make etl` first, "
                    "or pass --channels"
                ) from None
        return files
    root = EtlOutput.open(Path(channels)).root  # says what is missing, as training would
    return {name: (root / name).read_bytes() for name in CHANNEL_FILES}


def torch_version() -> str:
    try:
        return importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        return "none"


def fingerprint(files: dict[str, bytes], settings: dict) -> str:
    """sha256 over the channel files, the training code and the settings."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(f"data {name} {len(files[name])}\n".encode())
        digest.update(files[name])
    for source in sorted(TRAINING_CODE.glob("*.py")):
        code = source.read_bytes()
        digest.update(f"code {source.name} {len(code)}\n".encode())
        digest.update(code)
    digest.update(json.dumps({**settings, "torch": torch_version()}, sort_keys=True).encode())
    return digest.hexdigest()


def find(work_dir: Path, value: str) -> Path | None:
    """The newest model.tar.gz under `work_dir` trained with this fingerprint, if any."""
    found = []
    for record in work_dir.glob(f"*/{FINGERPRINT_FILE}"):
        try:
            recorded = json.loads(record.read_text(encoding="utf-8")).get("fingerprint")
        except (OSError, ValueError, AttributeError):
            continue  # a half-written or foreign file: not a match
        tarball = record.parent / "model.tar.gz"
        if recorded == value and tarball.is_file():
            found.append(tarball)
    return max(found, key=lambda path: path.parent.name) if found else None


def record(job_dir: Path, value: str, settings: dict) -> Path:
    """Writes `fingerprint.json` into the job's folder, next to its model.tar.gz."""
    path = job_dir / FINGERPRINT_FILE
    document = {"fingerprint": value, "settings": settings, "torch": torch_version()}
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    partial.replace(path)
    return path
