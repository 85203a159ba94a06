"""`python -m training local`: train here, pack, upload, record model_data_url.

Runs train.py in a subprocess with the SageMaker environment, exactly as a training
container would, so local and SageMaker training share one contract.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from deployment.s3uri import S3Uri
from deployment.target import Target
from training import artifact, cloud, recipe
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


def run(job: LocalJob) -> dict[str, str]:
    """Train, pack and (unless told not to) upload; return what it wrote where."""
    recipe.hyperparameters(job.hyperparameters)  # unknown names fail before anything runs
    outputs = cloud.TerraformOutputs(job.target)
    target = Target(job.target)
    if job.upload:
        cloud.require_reachable(target)
        bucket = cloud.resolve(job.bucket, "artifacts_bucket", "--bucket", outputs)
    channels = (
        job.channels or f"s3://{cloud.resolve(None, 'data_bucket', '--channels', outputs)}/cifar"
    )
    name = cloud.job_name("scones-local")
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
    result = {"model_dir": str(model_dir), "model_tar": str(tarball)}
    if job.upload:
        uri = S3Uri(bucket, f"models/{name}/model.tar.gz")
        result["model_data_url"] = cloud.upload_file(target, tarball, uri)
        serving_image = None
        if job.target == "aws":
            serving_image = artifact.serving_image_uri(os.environ.get("AWS_DEFAULT_REGION"))
        result["tfvars"] = str(
            cloud.write_model_vars(job.target, str(uri), serving_image, job.tfvars_dir)
        )
    return result
