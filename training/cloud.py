"""What both launchers need from the outside: Terraform outputs, S3, the tfvars file.

Clients come from deployment.target.Target (the local cloud or AWS); S3 URIs are
deployment.s3uri.S3Uri.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from deployment.outputs import TERRAFORM_DIR, terraform_outputs
from deployment.progress import progress_bar
from deployment.s3uri import S3Uri
from deployment.target import Target, TargetError

REPO_ROOT = Path(__file__).resolve().parents[1]


def job_name(prefix: str) -> str:
    """`<prefix>-yyyymmdd-hhmmss` (UTC): unique per second, sortable, valid for SageMaker."""
    return f"{prefix}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"


class LaunchError(RuntimeError):
    """A launcher cannot go on; the message says what to pass or run."""


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


def download_prefix(target: Target, uri: S3Uri, dest: Path) -> Path:
    """Mirror every object under the prefix into `dest` (the ETL's channel layout)."""
    client = target.client("s3")
    paginator = client.get_paginator("list_objects_v2")
    prefix = uri.prefix
    keys = [
        item["Key"]
        for page in paginator.paginate(Bucket=uri.bucket, Prefix=prefix)
        for item in page.get("Contents", [])
        if not item["Key"].endswith("/")
    ]
    if not keys:
        raise LaunchError(f"{uri} has no objects: run `make etl` first, or pass --channels")
    for key in progress_bar(keys, desc=f"download {uri}", unit="file"):
        target = dest / key[len(prefix) :]
        target.parent.mkdir(parents=True, exist_ok=True)
        client.download_file(uri.bucket, key, str(target))
    return dest


def upload_file(target: Target, path: Path, uri: S3Uri) -> str:
    size = path.stat().st_size
    with progress_bar(total=size, unit="B", unit_scale=True, desc=f"upload {path.name}") as bar:
        target.client("s3").upload_file(str(path), uri.bucket, uri.key, Callback=bar.update)
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


def require_reachable(target: Target) -> None:
    """--target local must reach the local cloud, never real AWS by accident."""
    try:
        target.check_reachable()
    except TargetError as exc:
        raise LaunchError(str(exc)) from None
