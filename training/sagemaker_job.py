"""`python -m training sagemaker`: submit a SageMaker training job and wait for it.

Uses the sagemaker SDK 2.x: it keeps the Estimator API, and v3 (no Estimator) installs
about 1 GB. Two algorithms:
- `pytorch`: the PyTorch framework estimator running train.py (this project's recipe);
  its artifact is served by code/inference.py in the PyTorch inference image.
- `builtin`: SageMaker's image-classification algorithm with the original notebook's
  settings; its artifact is served by the algorithm's own image.
Both get the same four channels: train (the ETL's train/ folder), validation (the images
of a stratified, seeded carve of the ETL's train list, copied next to the job: the
built-in algorithm needs train and validation images in different folders), train_lst
and validation_lst (the carved lists, also next to the job).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import boto3

from deployment.progress import progress_bar
from deployment.s3uri import S3Uri
from training import artifact, cloud, recipe
from training.splits import carve_validation, class_names

SOURCE_FILES = ("train.py", "recipe.py", "channels.py", "export.py", "inference.py")
HERE = Path(__file__).resolve().parent
# export.py's one import from outside training/: the drift statistics builder.
SHARED_SOURCE_FILES = (HERE.parent / "etl" / "pixel_stats.py",)
CONTENT_TYPE = "application/x-image"
# The built-in image-classification algorithm trains on GPU instances only; G5 is a current
# generation that SageMaker training supports (P3 is old and often has no quota).
DEFAULT_INSTANCE = {"pytorch": "ml.m5.large", "builtin": "ml.g5.xlarge"}
COPY_WORKERS = 8
FINAL_STATES = {"Completed", "Failed", "Stopped"}


@dataclass
class SageMakerJob:
    algorithm: str
    target: str
    channels: str | None
    bucket: str | None
    role: str | None
    region: str | None
    instance_type: str | None
    hyperparameters: dict[str, str] = field(default_factory=dict)
    validation_fraction: float = 0.2
    split_seed: int = 0
    wait: bool = True
    poll_seconds: float = 30.0
    onnxruntime_wheel: Path | None = None
    vendor_onnxruntime: bool = True
    tfvars_dir: Path = cloud.TERRAFORM_DIR


@dataclass(frozen=True)
class Submitted:
    job_name: str
    serving_image_uri: str
    client: object  # the session's SageMaker client, to follow the job


def read_text(client, uri: S3Uri, name: str) -> str:
    try:
        body = client.get_object(Bucket=uri.bucket, Key=uri.join(name).key)["Body"].read()
    except client.exceptions.NoSuchKey:
        raise cloud.LaunchError(f"{uri}/{name} does not exist: run `make etl` first") from None
    return body.decode("utf-8")


def copy_images(client, lines: list[str], source: S3Uri, dest: S3Uri) -> None:
    """Copy (server side) the images `.lst` lines name, keeping their relative paths."""
    paths = [line.split("\t")[2] for line in lines]

    def copy(path: str) -> None:
        client.copy_object(
            Bucket=dest.bucket,
            Key=dest.join(path).key,
            CopySource={"Bucket": source.bucket, "Key": source.join(path).key},
        )

    with (
        ThreadPoolExecutor(COPY_WORKERS) as pool,
        progress_bar(
            total=len(paths), desc=f"copy validation images to {dest}", unit="image"
        ) as bar,
    ):
        for _ in pool.map(copy, paths):
            bar.update()


def stage_lists(client, channels: S3Uri, job_root: S3Uri, job: SageMakerJob) -> dict:
    """Carve validation from the ETL's train.lst; upload both lists next to the job, and
    copy the validation images there too (train and validation need different folders)."""
    manifest = json.loads(read_text(client, channels, "manifest.json"))
    lines = [line for line in read_text(client, channels, "train.lst").splitlines() if line]
    train, validation = carve_validation(lines, job.validation_fraction, job.split_seed)
    lists = {}
    for name, selected in (("train", train), ("validation", validation)):
        key = job_root.join(f"input/{name}_lst/{name}.lst").key
        client.put_object(Bucket=job_root.bucket, Key=key, Body="\n".join(selected) + "\n")
        lists[name] = (str(job_root.join(f"input/{name}_lst/")), selected)
    validation_images = job_root.join("input/validation")
    copy_images(client, validation, channels.join("train"),
                validation_images)  # fmt: skip
    images = {"train": f"{channels}/train/", "validation": f"{validation_images}/"}
    return {"classes": manifest["classes"], "lists": lists, "images": images}


def training_inputs(staged: dict) -> dict:
    """The four channels of the built-in algorithm's image format: images and .lst apart,
    train and validation images in different folders."""
    from sagemaker.inputs import TrainingInput

    return {
        name: TrainingInput(s3_data=uri, content_type=CONTENT_TYPE)
        for name, uri in {
            "train": staged["images"]["train"],
            "validation": staged["images"]["validation"],
            "train_lst": staged["lists"]["train"][0],
            "validation_lst": staged["lists"]["validation"][0],
        }.items()
    }


def stage_source(dest: Path, job: SageMakerJob) -> Path:
    """train.py and its siblings only, plus the onnxruntime wheel train.py vendors."""
    for name in SOURCE_FILES:
        shutil.copyfile(HERE / name, dest / name)
    for path in SHARED_SOURCE_FILES:
        shutil.copyfile(path, dest / path.name)
    (dest / "requirements.txt").write_text("matplotlib>=3.9\n", encoding="utf-8")
    if job.vendor_onnxruntime:
        # The launcher itself may run without onnxruntime (the `launch` extra); if it has
        # one, it must be the pinned version the job's artifact will carry.
        artifact.check_installed_onnxruntime(allow_missing=True)
        vendor = dest / "vendor"
        vendor.mkdir()
        if job.onnxruntime_wheel:
            wheel = artifact.check_wheel(job.onnxruntime_wheel)
            shutil.copyfile(wheel, vendor / wheel.name)
        else:
            artifact.check_wheel(artifact.download_onnxruntime_wheel(vendor))
    return dest


def pytorch_estimator(job, session, role, output_path, source_dir, classes):
    from sagemaker.pytorch import PyTorch

    names = class_names(classes)
    return PyTorch(
        entry_point="train.py",
        source_dir=str(source_dir),
        role=role,
        framework_version=artifact.SERVING_FRAMEWORK_VERSION,
        py_version=f"py{artifact.SERVING_PYTHON}",
        instance_count=1,
        instance_type=job.instance_type or DEFAULT_INSTANCE["pytorch"],
        hyperparameters={"class_names": ",".join(names), **job.hyperparameters},
        output_path=output_path,
        code_location=output_path,
        sagemaker_session=session,
        # SageMaker's own metric scraping: the epoch lines train.py prints.
        metric_definitions=[
            {"Name": "validation:accuracy", "Regex": r"validation_accuracy ([0-9.]+)"},
            {"Name": "train:loss", "Regex": r"train_loss ([0-9.]+)"},
        ],
    )


def builtin_estimator(job, session, role, output_path, num_training_samples, num_classes):
    from sagemaker import image_uris
    from sagemaker.estimator import Estimator

    image = image_uris.retrieve("image-classification", session.boto_region_name)
    estimator = Estimator(
        image_uri=image,
        role=role,
        instance_count=1,
        instance_type=job.instance_type or DEFAULT_INSTANCE["builtin"],
        output_path=output_path,
        sagemaker_session=session,
    )
    # The original notebook's settings; anything else passes through to the algorithm.
    estimator.set_hyperparameters(
        image_shape="3,32,32",
        num_classes=num_classes,
        num_training_samples=num_training_samples,
        **job.hyperparameters,
    )
    return estimator


def submit(job: SageMakerJob, session=None) -> Submitted:
    """Create the training job; return its name and the image that serves its model."""
    import sagemaker

    if job.algorithm == "pytorch":
        recipe.hyperparameters(job.hyperparameters)  # unknown names fail before anything
    outputs = cloud.TerraformOutputs(job.target)
    bucket = cloud.resolve(job.bucket, "artifacts_bucket", "--bucket", outputs)
    role = cloud.resolve(job.role, "sagemaker_role_arn", "--role", outputs)
    channels_uri = (
        job.channels or f"s3://{cloud.resolve(None, 'data_bucket', '--channels', outputs)}/cifar"
    )
    channels = S3Uri.parse(channels_uri, what="--channels")
    region = job.region or outputs.get("region")
    boto_session = boto3.Session(region_name=region) if region else boto3.Session()
    session = session or sagemaker.Session(boto_session=boto_session, default_bucket=bucket)
    name = cloud.job_name(f"scones-{job.algorithm}")
    output_path = f"s3://{bucket}/models"
    staged = stage_lists(boto_session.client("s3"), channels, S3Uri(bucket, f"models/{name}"), job)
    inputs = training_inputs(staged)
    with tempfile.TemporaryDirectory() as tmp:
        if job.algorithm == "pytorch":
            source = stage_source(Path(tmp), job)
            estimator = pytorch_estimator(
                job, session, role, output_path, source, staged["classes"]
            )
            serving = artifact.serving_image_uri(session.boto_region_name)
        else:
            samples = len(staged["lists"]["train"][1])
            estimator = builtin_estimator(
                job, session, role, output_path, samples, len(staged["classes"])
            )
            serving = estimator.image_uri
        estimator.fit(inputs=inputs, job_name=name, wait=False, logs=False)
    print(f"submitted training job {name} ({job.algorithm}, role {role})", flush=True)
    return Submitted(name, serving, session.sagemaker_client)


def wait_for(client, name: str, poll_seconds: float, sleep: Callable = time.sleep) -> dict:
    """Poll until the job ends, showing its status; the job's description at the end."""
    with progress_bar(desc=f"job {name}", bar_format="{desc}: {postfix} [{elapsed}]") as bar:
        while True:
            description = client.describe_training_job(TrainingJobName=name)
            status = description["TrainingJobStatus"]
            bar.set_postfix_str(f"{status} / {description.get('SecondaryStatus', '')}")
            if status in FINAL_STATES:
                return description
            sleep(poll_seconds)


def run(job: SageMakerJob, session=None) -> dict:
    submitted = submit(job, session)
    result = {"job_name": submitted.job_name, "serving_image_uri": submitted.serving_image_uri}
    if not job.wait:
        return result
    description = wait_for(submitted.client, submitted.job_name, job.poll_seconds)
    if description["TrainingJobStatus"] != "Completed":
        reason = description.get("FailureReason", "no reason given")
        raise cloud.LaunchError(
            f"training job {submitted.job_name} {description['TrainingJobStatus']}: {reason}"
        )
    model_data_url = description["ModelArtifacts"]["S3ModelArtifacts"]
    result["model_data_url"] = model_data_url
    path = cloud.write_model_vars(
        job.target, model_data_url, submitted.serving_image_uri, job.tfvars_dir
    )
    result["tfvars"] = str(path)
    return result
