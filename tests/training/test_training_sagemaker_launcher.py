"""The SageMaker launcher against moto: what CreateTrainingJob receives, per algorithm."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from etl.upload import upload
from tests.training.training_helpers import ARTIFACTS_BUCKET, DATA_BUCKET
from training.cloud import LaunchError
from training.sagemaker_job import SageMakerJob, run

REGION = "us-east-1"


@pytest.fixture
def aws(monkeypatch, etl_output: Path):
    """moto with the ETL's real output in the data bucket, and a role."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "SAGEMAKER_SUPPRESS_V2_WARNING": "1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        for bucket in (DATA_BUCKET, ARTIFACTS_BUCKET):
            s3.create_bucket(Bucket=bucket)
        upload(etl_output, f"s3://{DATA_BUCKET}/cifar", client=s3)
        role = boto3.client("iam").create_role(
            RoleName="scones-sagemaker", AssumeRolePolicyDocument=json.dumps({})
        )["Role"]["Arn"]
        yield {"role": role, "sagemaker": boto3.client("sagemaker", region_name=REGION)}


def submit(aws: dict, tmp_path: Path, algorithm: str, **overrides) -> tuple[dict, dict]:
    job = SageMakerJob(
        algorithm=algorithm,
        target="aws",
        channels=f"s3://{DATA_BUCKET}/cifar",
        bucket=ARTIFACTS_BUCKET,
        role=aws["role"],
        region=REGION,
        **{
            "instance_type": None,
            "hyperparameters": {"epochs": "3"},
            "poll_seconds": 0,
            "vendor_onnxruntime": False,
            "tfvars_dir": tmp_path,
            **overrides,
        },
    )
    result = run(job)
    return result, aws["sagemaker"].describe_training_job(TrainingJobName=result["job_name"])


def channels_of(description: dict) -> dict[str, tuple[str, str]]:
    return {
        c["ChannelName"]: (c["DataSource"]["S3DataSource"]["S3Uri"], c["ContentType"])
        for c in description["InputDataConfig"]
    }


def test_builtin_job_uses_the_original_notebook_settings(aws, tmp_path):
    result, job = submit(aws, tmp_path, "builtin")

    assert job["AlgorithmSpecification"]["TrainingImage"].endswith("/image-classification:1")
    assert job["HyperParameters"] == {
        "image_shape": "3,32,32",
        "num_classes": "2",
        "num_training_samples": "640",  # 800 in the manifest minus the 20 % validation carve
        "epochs": "3",
    }
    assert job["RoleArn"] == aws["role"]
    assert job["OutputDataConfig"]["S3OutputPath"] == f"s3://{ARTIFACTS_BUCKET}/models"
    prefix = f"s3://{ARTIFACTS_BUCKET}/models/{result['job_name']}/input"
    assert channels_of(job) == {
        "train": (f"s3://{DATA_BUCKET}/cifar/train/", "application/x-image"),
        "validation": (f"{prefix}/validation/", "application/x-image"),
        "train_lst": (f"{prefix}/train_lst/", "application/x-image"),
        "validation_lst": (f"{prefix}/validation_lst/", "application/x-image"),
    }


def test_builtin_job_defaults_to_a_current_gpu_instance(aws, tmp_path):
    # "Image Classification - MXNet", EC2 Instance Recommendation
    # (https://docs.aws.amazon.com/sagemaker/latest/dg/image-classification.html): the
    # algorithm trains on GPU instances, G5 among them; ml.g5.xlarge is a valid training
    # instance type (CreateTrainingJob ResourceConfig.InstanceType, API reference
    # https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ResourceConfig.html).
    _, job = submit(aws, tmp_path, "builtin")

    assert job["ResourceConfig"]["InstanceType"] == "ml.g5.xlarge"


def test_builtin_job_reads_train_and_validation_images_from_different_folders(aws, tmp_path):
    # "Image Classification - MXNet", Input/Output Interface, Train with Image Format
    # (https://docs.aws.amazon.com/sagemaker/latest/dg/image-classification.html): train,
    # validation, train_lst and validation_lst channels, all application/x-image; "you must
    # store the training and validation data in different folders"; a .lst line is
    # index <tab> class <tab> path relative to the channel's folder.
    _, job = submit(aws, tmp_path, "builtin")

    channels = {name: uri for name, (uri, _) in channels_of(job).items()}
    folders = [channels[name] for name in ("train", "validation", "train_lst", "validation_lst")]
    for i, folder in enumerate(folders):  # no channel's S3 prefix holds another's objects
        assert all(not other.startswith(folder) for other in folders[i + 1 :] + folders[:i])
    s3 = boto3.client("s3")
    for name in ("train", "validation"):
        lst_prefix = channels[f"{name}_lst"].removeprefix(f"s3://{ARTIFACTS_BUCKET}/")
        lst = s3.list_objects_v2(Bucket=ARTIFACTS_BUCKET, Prefix=lst_prefix)["Contents"]
        assert [o["Key"].rsplit("/", 1)[1] for o in lst] == [f"{name}.lst"]
        body = s3.get_object(Bucket=ARTIFACTS_BUCKET, Key=lst[0]["Key"])["Body"].read().decode()
        bucket, prefix = channels[name].removeprefix("s3://").split("/", 1)
        listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1000)
        present = {o["Key"].removeprefix(prefix) for o in listed.get("Contents", [])}
        named = {line.split("\t")[2] for line in body.splitlines()}
        assert named and named <= present, f"{name}.lst names images missing in {channels[name]}"
    # The validation folder holds exactly the carved validation images, nothing of train.
    validation_prefix = channels["validation"].removeprefix(f"s3://{ARTIFACTS_BUCKET}/")
    copied = s3.list_objects_v2(Bucket=ARTIFACTS_BUCKET, Prefix=validation_prefix)
    assert copied["KeyCount"] == 160


def test_pytorch_job_runs_train_py_on_a_cpu_instance(aws, tmp_path):
    _, job = submit(aws, tmp_path, "pytorch")

    image = job["AlgorithmSpecification"]["TrainingImage"]
    assert "pytorch-training:2.5.1-cpu-py311" in image
    hyperparameters = {k: json.loads(v) for k, v in job["HyperParameters"].items()}
    assert hyperparameters["sagemaker_program"] == "train.py"
    assert hyperparameters["epochs"] == "3"
    assert hyperparameters["class_names"] == "bicycle,motorcycle"
    assert job["ResourceConfig"]["InstanceType"] == "ml.m5.large"
    assert job["RoleArn"] == aws["role"]
    assert set(channels_of(job)) == {"train", "validation", "train_lst", "validation_lst"}
    assert {ct for _, ct in channels_of(job).values()} == {"application/x-image"}


def test_pytorch_job_on_a_gpu_instance_trains_in_the_gpu_image(aws, tmp_path):
    _, job = submit(aws, tmp_path, "pytorch", instance_type="ml.g5.xlarge")

    assert "pytorch-training:2.5.1-gpu-py311" in job["AlgorithmSpecification"]["TrainingImage"]
    assert job["ResourceConfig"]["InstanceType"] == "ml.g5.xlarge"


def test_pytorch_job_uploads_the_script_and_its_siblings(aws, tmp_path):
    _, job = submit(aws, tmp_path, "pytorch")

    source = json.loads(job["HyperParameters"]["sagemaker_submit_directory"])
    bucket, key = source.removeprefix("s3://").split("/", 1)
    tarball = tmp_path / "sourcedir.tar.gz"
    boto3.client("s3").download_file(bucket, key, str(tarball))
    with tarfile.open(tarball) as archive:
        names = set(archive.getnames())
    assert {"train.py", "recipe.py", "channels.py", "export.py", "inference.py"} <= names
    assert "pixel_stats.py" in names  # export.py's drift statistics builder, from etl/


def test_validation_lists_hold_a_stratified_fifth_of_train(aws, tmp_path):
    result, _ = submit(aws, tmp_path, "builtin")

    s3 = boto3.client("s3")
    key = f"models/{result['job_name']}/input/validation_lst/validation.lst"
    lines = s3.get_object(Bucket=ARTIFACTS_BUCKET, Key=key)["Body"].read().decode().splitlines()
    labels = [line.split("\t")[1] for line in lines]
    assert (labels.count("0"), labels.count("1")) == (80, 80)


def test_completed_job_records_model_data_url_and_serving_image(aws, tmp_path):
    _, job = submit(aws, tmp_path, "pytorch")

    recorded = json.loads((tmp_path / "model.aws.tfvars.json").read_text())
    assert recorded["model_data_url"] == job["ModelArtifacts"]["S3ModelArtifacts"]
    assert "pytorch-inference:2.5.1-cpu-py311" in recorded["serving_image_uri"]


def test_unknown_hyperparameter_fails_before_submitting(aws, tmp_path):
    with pytest.raises(ValueError, match="unknown hyperparameter 'epoch'"):
        submit(aws, tmp_path, "pytorch", hyperparameters={"epoch": "3"})

    assert aws["sagemaker"].list_training_jobs()["TrainingJobSummaries"] == []


def test_missing_role_without_terraform_state_is_a_clear_error(aws, tmp_path, monkeypatch):
    monkeypatch.setattr("deployment.outputs.TERRAFORM_DIR", tmp_path / "no-terraform")
    job = SageMakerJob(
        algorithm="builtin", target="aws", channels=f"s3://{DATA_BUCKET}/cifar",
        bucket=ARTIFACTS_BUCKET, role=None, region=REGION, instance_type=None,
        tfvars_dir=tmp_path,
    )  # fmt: skip
    with pytest.raises(LaunchError, match="no sagemaker_role_arn: pass --role"):
        run(job)
