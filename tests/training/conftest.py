"""Fixtures for the training suite: the real ETL output, a moto server, and one small
model trained once by the local launcher (fetching its channels from S3, uploading its
artifact), which the other tests share."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from etl.upload import upload
from tests.support.moto_server import MotoServer
from tests.training.training_helpers import (
    ARTIFACTS_BUCKET,
    DATA_BUCKET,
    SMOKE_HYPERPARAMETERS,
    run_module,
)


@pytest.fixture(scope="session")
def etl_output(shared_archive: Path, tmp_path_factory, repo_root: Path) -> Path:
    """The real subset through the real ETL: train/, test/, *.lst, manifest.json."""
    out = tmp_path_factory.mktemp("etl") / "cifar"
    result = run_module("etl", "--source", str(shared_archive), "--out", str(out), cwd=repo_root)
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="session")
def s3_server(etl_output: Path):
    """A moto server holding the ETL output under s3://scones-data/cifar/."""
    server = MotoServer()
    env = server.environment()
    s3 = server.client("s3")
    for bucket in (DATA_BUCKET, ARTIFACTS_BUCKET):
        s3.create_bucket(Bucket=bucket)
    upload(etl_output, f"s3://{DATA_BUCKET}/cifar", client=s3)
    yield {"env": env, "s3": s3}
    server.stop()


@pytest.fixture(scope="session")
def local_run(s3_server: dict, tmp_path_factory, repo_root: Path) -> dict:
    """One small model trained by `python -m training local` against the moto server."""
    work = tmp_path_factory.mktemp("train")
    tfvars = tmp_path_factory.mktemp("tfvars")
    args = [
        "local", "--target", "local", "--channels", f"s3://{DATA_BUCKET}/cifar",
        "--bucket", ARTIFACTS_BUCKET, "--work-dir", str(work), "--tfvars-dir", str(tfvars),
    ]  # fmt: skip
    for name, value in SMOKE_HYPERPARAMETERS.items():
        args += ["-H", f"{name}={value}"]
    result = run_module("training", *args, env=s3_server["env"], cwd=repo_root)
    assert result.returncode == 0, result.stdout + result.stderr
    (job,) = [p for p in work.iterdir() if p.is_dir()]
    return {
        "job_dir": job,
        "model_dir": job / "model",
        "tarball": job / "model.tar.gz",
        "tfvars": tfvars / "model.local.tfvars.json",
        "stdout": result.stdout,
        "metrics": json.loads((job / "model" / "metrics.json").read_text()),
    }


@pytest.fixture(scope="session")
def model_dir(local_run: dict) -> Path:
    return local_run["model_dir"]
