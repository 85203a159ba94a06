"""What both launchers need from the outside: Terraform outputs, S3, the tfvars file.

boto3 clients are plain: AWS_ENDPOINT_URL (the local cloud) is honoured by botocore.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from tqdm import tqdm

from deployment.outputs import TERRAFORM_DIR, terraform_outputs

REPO_ROOT = Path(__file__).resolve().parents[1]


def job_name(prefix: str) -> str:
    """`<prefix>-yyyymmdd-hhmmss` (UTC): unique per second, sortable, valid for SageMaker."""
    return f"{prefix}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"


class LaunchError(RuntimeError):
    """A launcher cannot go on; the message says what to pass or run."""


@dataclass(frozen=True)
class S3Uri:
    bucket: str
    prefix: str

    @classmethod
    def parse(cls, uri: str) -> S3Uri:
        parsed = urlparse(uri)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise LaunchError(f"{uri!r} is not an s3://bucket/prefix URI")
        return cls(parsed.netloc, parsed.path.strip("/"))

    def key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"


class TerraformOutputs:
    """Terraform's outputs for a target, read on first use only (flags usually make it
    unneeded). Empty when Terraform, its state or the outputs are absent."""

    def __init__(self, target: str, terraform_dir: Path | None = None):
        self.target = target
        self.terraform_dir = terraform_dir
        self._values: dict | None = None

    def get(self, name: str):
        if self._values is None:
            self._values = terraform_outputs(self.target, self.terraform_dir)
        return self._values.get(name)


def resolve(flag_value: str | None, output_name: str, flag: str, outputs: TerraformOutputs) -> str:
    """The flag's value, else Terraform's output; a clear error when neither is there."""
    value = flag_value or outputs.get(output_name)
    if not value:
        raise LaunchError(
            f"no {output_name}: pass {flag}, or run `terraform -chdir=terraform apply` so that "
            f"`terraform output {output_name}` has it"
        )
    return value


def s3_client():
    import boto3

    return boto3.client("s3")


def download_prefix(uri: S3Uri, dest: Path) -> Path:
    """Mirror every object under the prefix into `dest` (the ETL's channel layout)."""
    client = s3_client()
    paginator = client.get_paginator("list_objects_v2")
    prefix = uri.prefix + "/" if uri.prefix else ""
    keys = [
        item["Key"]
        for page in paginator.paginate(Bucket=uri.bucket, Prefix=prefix)
        for item in page.get("Contents", [])
        if not item["Key"].endswith("/")
    ]
    if not keys:
        raise LaunchError(f"{uri} has no objects: run `make etl` first, or pass --channels")
    for key in tqdm(keys, desc=f"download {uri}", unit="file"):
        target = dest / key[len(prefix) :]
        target.parent.mkdir(parents=True, exist_ok=True)
        client.download_file(uri.bucket, key, str(target))
    return dest


def upload_file(path: Path, uri: S3Uri) -> str:
    size = path.stat().st_size
    with tqdm(total=size, unit="B", unit_scale=True, desc=f"upload {path.name}") as bar:
        s3_client().upload_file(str(path), uri.bucket, uri.prefix, Callback=bar.update)
    return str(uri)


def write_model_vars(
    target: str, model_data_url: str, serving_image_uri: str | None, folder: Path = TERRAFORM_DIR
) -> Path:
    """<folder>/model.<target>.tfvars.json, which the Makefile passes to terraform."""
    values = {"model_data_url": model_data_url}
    if serving_image_uri:
        values["serving_image_uri"] = serving_image_uri
    path = folder / f"model.{target}.tfvars.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(values, indent=2) + "\n", encoding="utf-8")
    partial.replace(path)
    return path


def require_endpoint_for_local(target: str) -> None:
    """--target local must never reach real AWS by accident."""
    if target == "local" and not os.environ.get("AWS_ENDPOINT_URL"):
        raise LaunchError(
            "--target local needs AWS_ENDPOINT_URL (the local cloud, e.g. "
            "http://127.0.0.1:4566; `make train` sets it)"
        )
