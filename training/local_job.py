"""`python -m training local`: train here, pack, upload, record model_data_url.

Runs train.py in a subprocess with the SageMaker environment, exactly as a training
container would, so local and SageMaker training share one contract.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from deployment.s3uri import S3Uri
from deployment.target import Target
from training import artifact, cloud, recipe, reuse
from training.splits import EtlOutput, stage_channels

TRAIN_SCRIPT = Path(__file__).resolve().parent / "train.py"


@dataclass(frozen=True)
class LocalJob:
    target: str
    channels: str | None
    bucket: str | None
    work_dir: Path
    hyperparameters: dict[str, str]
    validation_fraction: float
    split_seed: int
    vendor_onnxruntime: bool
    onnxruntime_wheel: Path | None
    upload: bool
    tfvars_dir: Path = cloud.TERRAFORM_DIR
    force: bool = False  # train even when an artifact for the same data and recipe exists


def fetch_channels(target: Target, channels: str, cache: Path) -> EtlOutput:
    if channels.startswith("s3://"):
        uri = S3Uri.parse(channels, what="--channels")
        return EtlOutput.open(cloud.download_prefix(target, uri, cache))
    return EtlOutput.open(Path(channels))


def run_train_script(env: dict[str, str], hyperparameters: dict[str, str], log: Path) -> None:
    arguments = [item for name, value in hyperparameters.items() for item in (f"--{name}", value)]
    command = [sys.executable, str(TRAIN_SCRIPT), *arguments]
    print(f"running {' '.join(command)} (log: {log})", flush=True)
    with log.open("w", encoding="utf-8") as handle:
        process = subprocess.Popen(
            command,
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for line in process.stdout:  # one line per epoch: this is the progress
            sys.stdout.write(line)
            handle.write(line)
        if process.wait() != 0:
            raise cloud.LaunchError(f"train.py failed with exit code {process.returncode}")


def settings(job: LocalJob) -> dict:
    """The arguments that change the trained model (training/reuse.py)."""
    wheel = job.onnxruntime_wheel.name if job.onnxruntime_wheel else None
    return {
        "hyperparameters": dict(sorted(job.hyperparameters.items())),
        "validation_fraction": job.validation_fraction,
        "split_seed": job.split_seed,
        "vendor_onnxruntime": job.vendor_onnxruntime,
        "onnxruntime_wheel": wheel if job.vendor_onnxruntime else None,
    }


def train(job: LocalJob, target: Target, channels: str, name: str) -> Path:
    """Fetch the channels, run train.py, pack: build/training/<name>/model.tar.gz."""
    work = job.work_dir / name
    etl = fetch_channels(target, channels, work / "channels")
    env = stage_channels(etl, work / "lists", job.validation_fraction, job.split_seed)
    model_dir = work / "model"
    env |= {"SM_MODEL_DIR": str(model_dir), "SM_OUTPUT_DATA_DIR": str(work / "output")}
    hyperparameters = {"class_names": ",".join(etl.class_names), **job.hyperparameters}
    run_train_script(env, hyperparameters, work / "train.log")
    if job.vendor_onnxruntime:
        print(f"vendoring onnxruntime into {model_dir / 'code' / 'lib'}", flush=True)
        artifact.vendor_onnxruntime(model_dir, job.onnxruntime_wheel)
    tarball = artifact.pack(model_dir, work / "model.tar.gz")
    print(f"packed {tarball} ({tarball.stat().st_size / 1e6:.1f} MB)", flush=True)
    return tarball


def run(job: LocalJob) -> dict[str, str]:
    """Train (or reuse an artifact trained on the same data and recipe), pack and (unless
    told not to) upload; return what it wrote where."""
    recipe.hyperparameters(job.hyperparameters)  # unknown names fail before anything runs
    outputs = cloud.TerraformOutputs(job.target)
    target = Target(job.target)
    if job.upload:
        cloud.require_reachable(target)
        bucket = cloud.resolve(job.bucket, "artifacts_bucket", "--bucket", outputs)
    channels = (
        job.channels or f"s3://{cloud.resolve(None, 'data_bucket', '--channels', outputs)}/cifar"
    )
    fingerprint = reuse.fingerprint(reuse.channel_files(target, channels), settings(job))
    tarball = None if job.force else reuse.find(job.work_dir, fingerprint)
    reused = tarball is not None
    if tarball:
        print(
            "training skipped: an artifact was trained on the same data and recipe\n"
            f"  artifact     {tarball}\n"
            f"  fingerprint  {fingerprint[:16]} (sha256 of {channels}/manifest.json, train.lst "
            "and test.lst, training/*.py and the arguments)\n"
            "  to train again: make train FORCE=1 (python -m training local --force)",
            flush=True,
        )
        name = tarball.parent.name
    else:
        name = cloud.job_name("scones-local")
        tarball = train(job, target, channels, name)
        reuse.record(tarball.parent, fingerprint, settings(job))
    result = {
        "model_dir": str(tarball.parent / "model"),
        "model_tar": str(tarball),
        "fingerprint": fingerprint,
        "trained": "no (reused)" if reused else "yes",
    }
    if job.upload:
        uri = S3Uri(bucket, f"models/{name}/model.tar.gz")
        result |= record_model(job.target, target, tarball, uri, job.tfvars_dir)
    return result


def record_model(
    target_name: str, target: Target, tarball: Path, uri: S3Uri, tfvars_dir: Path
) -> dict[str, str]:
    """Upload the artifact and write terraform/model.<target>.tfvars.json for it."""
    model_data_url = cloud.upload_file(target, tarball, uri)
    serving_image = None
    if target_name == "aws":
        serving_image = artifact.serving_image_uri(os.environ.get("AWS_DEFAULT_REGION"))
    tfvars = cloud.write_model_vars(target_name, model_data_url, serving_image, tfvars_dir)
    return {"model_data_url": model_data_url, "tfvars": str(tfvars)}


def deploy(model: Path, target_name: str, bucket: str | None, tfvars_dir: Path) -> dict[str, str]:
    """Upload a given model.tar.gz (checked first) and record it as `make train` does: a
    restarted local cloud gets its endpoint back without training again."""
    artifact.check_tarball(model, vendored=target_name == "aws")
    target = Target(target_name)
    cloud.require_reachable(target)
    bucket = cloud.resolve(
        bucket, "artifacts_bucket", "--bucket", cloud.TerraformOutputs(target_name)
    )
    digest = hashlib.sha256(model.read_bytes()).hexdigest()[:16]
    # Named by content: deploying the same artifact twice writes the same object.
    uri = S3Uri(bucket, f"models/deployed-{digest}/model.tar.gz")
    result = {"model_tar": str(model)}
    result |= record_model(target_name, target, model, uri, tfvars_dir)
    print(f"recorded {uri}: `make apply TARGET={target_name}` serves it at the endpoint")
    return result
