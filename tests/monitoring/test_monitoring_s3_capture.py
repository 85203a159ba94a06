"""Reading the capture from S3 (moto): the same numbers as from disk, streamed by key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from moto import mock_aws
from moto.server import ThreadedMotoServer

from monitoring.cli import build_parser
from monitoring.settings import resolve
from tests.monitoring.monitoring_captures import ENDPOINT, PREFIX
from tests.monitoring.monitoring_run import run_cli

BUCKET = "scones-artifacts"
DATA_BUCKET = "scones-data"


@pytest.fixture
def aws_env(monkeypatch):
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


def _upload(client, capture_objects_200: dict[str, bytes], manifest_path: Path) -> None:
    client.create_bucket(Bucket=BUCKET)
    client.create_bucket(Bucket=DATA_BUCKET)
    for key, body in capture_objects_200.items():
        client.put_object(Bucket=BUCKET, Key=key, Body=body)
    client.put_object(
        Bucket=DATA_BUCKET, Key="cifar/manifest.json", Body=manifest_path.read_bytes()
    )


def _args(tmp_path: Path, *extra: str) -> list[str]:
    return [
        "report", "--target", "aws", "--s3-uri", f"s3://{BUCKET}/{PREFIX}",
        "--endpoint", ENDPOINT, "--manifest", f"s3://{DATA_BUCKET}/cifar/manifest.json",
        "--out", str(tmp_path / "report"), "--terraform-dir", str(tmp_path), *extra,
    ]  # fmt: skip


def test_s3_capture_gives_the_same_summary_as_the_files(
    aws_env, capture_objects_200, manifest_path, default_report, tmp_path
):
    with mock_aws():
        _upload(boto3.client("s3"), capture_objects_200, manifest_path)
        ran = run_cli(_args(tmp_path))
    from_s3, from_disk = ran.summary(), default_report.summary()
    assert ran.code == 0
    for part in ("records", "confidence", "classes", "window", "flags"):
        assert from_s3[part] == from_disk[part]
    assert from_s3["drift"]["shift_std"] == from_disk["drift"]["shift_std"]
    assert from_s3["location"] == f"s3://{BUCKET}/{PREFIX}/{ENDPOINT}"


def test_s3_window_reads_only_the_objects_of_its_hours(
    aws_env, capture_objects_200, manifest_path, tmp_path
):
    with mock_aws():
        _upload(boto3.client("s3"), capture_objects_200, manifest_path)
        ran = run_cli(_args(tmp_path, "--since", "2026-03-01T12:00:00Z"))
    assert ran.summary()["quality"]["objects"] == 4
    assert ran.summary()["records"] == 50


def test_missing_bucket_is_a_one_line_error(aws_env, manifest_path, tmp_path):
    with mock_aws():
        ran = run_cli(
            ["report", "--target", "aws", "--s3-uri", "s3://no-such-bucket/data-capture",
             "--endpoint", ENDPOINT, "--manifest", str(manifest_path),
             "--out", str(tmp_path / "report"), "--terraform-dir", str(tmp_path)]
        )  # fmt: skip
    assert ran.code == 2
    assert (
        ran.stderr
        == f"error: cannot list s3://no-such-bucket/data-capture/{ENDPOINT}: NoSuchBucket\n"
    )
    assert not (tmp_path / "report" / "index.html").exists()


def test_terraform_outputs_give_location_endpoint_and_manifest():
    args = build_parser().parse_args(["report"])
    outputs = {
        "data_capture_s3_uri": "s3://artifacts/data-capture",
        "endpoint_name": "scones",
        "data_bucket": "data",
    }
    settings = resolve(args, outputs)
    assert settings.capture_root == "s3://artifacts/data-capture/scones"
    assert settings.manifest == "s3://data/cifar/manifest.json"
    assert settings.limits.threshold == 0.93


def test_flags_override_terraform_outputs():
    args = build_parser().parse_args(
        ["report", "--s3-uri", "s3://other/cap", "--endpoint", "ep2", "--manifest", "m.json"]
    )
    settings = resolve(args, {"data_capture_s3_uri": "s3://a/b", "endpoint_name": "ep1"})
    assert settings.capture_root == "s3://other/cap/ep2"
    assert settings.manifest == "m.json"


def test_location_that_already_names_the_endpoint_is_not_doubled():
    args = build_parser().parse_args(["report", "--s3-uri", "s3://caps/cap/ep", "--endpoint", "ep"])
    assert resolve(args, {}).capture_root == "s3://caps/cap/ep"


@pytest.fixture
def moto_server():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.mark.slow
def test_cli_reaches_s3_through_aws_endpoint_url(
    moto_server, capture_objects_200, manifest_path, tmp_path
):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env |= {
        "AWS_ENDPOINT_URL": moto_server,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    client = boto3.client(
        "s3", endpoint_url=moto_server, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
    )  # fmt: skip
    _upload(client, capture_objects_200, manifest_path)
    args = [a.replace("aws", "local") if a == "aws" else a for a in _args(tmp_path)]
    done = subprocess.run(
        [sys.executable, "-m", "monitoring", *args],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "200 requests in the window" in done.stdout
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert summary["drift"]["reference"]["source"] == f"s3://{DATA_BUCKET}/cifar/manifest.json"


@pytest.mark.terraform
def test_defaults_come_from_a_real_terraform_state(tmp_path, monkeypatch):
    import shutil

    if shutil.which("terraform") is None:
        pytest.skip("terraform is not on PATH")
    from deployment.outputs import terraform_outputs

    monkeypatch.delenv("TF_WORKSPACE", raising=False)
    (tmp_path / "main.tf").write_text(
        'output "data_capture_s3_uri" { value = "s3://artifacts/data-capture" }\n'
        'output "endpoint_name" { value = "scones" }\n'
        'output "data_bucket" { value = "data" }\n'
    )
    for command in (["init", "-input=false"], ["apply", "-auto-approve", "-input=false"]):
        done = subprocess.run(
            ["terraform", f"-chdir={tmp_path}", *command],
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    outputs = terraform_outputs("aws", tmp_path)
    settings = resolve(build_parser().parse_args(["report", "--target", "aws"]), outputs)
    assert settings.capture_root == "s3://artifacts/data-capture/scones"
    assert settings.manifest == "s3://data/cifar/manifest.json"


def test_missing_terraform_state_gives_no_defaults(tmp_path):
    from deployment.outputs import terraform_outputs

    assert terraform_outputs("local", tmp_path / "nowhere") == {}
