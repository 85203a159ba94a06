"""S3 upload against moto: keys, bytes, idempotent re-runs, the manifest last, errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core import set_initial_no_auth_action_count

from etl.errors import UploadError
from etl.export import run
from etl.upload import upload
from tests.etl.etl_helpers import Generated, assert_one_line_error

BUCKET = "scones-data-test"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # `make test` may export the local cloud's endpoint; moto intercepts only AWS's own.
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        yield


@pytest.fixture
def s3(aws: None) -> Any:
    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture
def exported(generated: Generated, tmp_path: Path) -> Path:
    out = tmp_path / "out"
    run(generated.path, out)
    return out


class CallLog:
    """Records, in order, when each S3 write starts and ends on a client."""

    def __init__(self, client: Any) -> None:
        self.events: list[tuple[str, str, str]] = []
        for op in ("PutObject", "DeleteObject"):
            client.meta.events.register(f"before-parameter-build.s3.{op}", self._start)
            client.meta.events.register(f"after-call.s3.{op}", self._end)

    def _start(self, params: dict[str, Any], context: dict[str, Any], model: Any, **_: Any):
        context["etl_key"] = params["Key"]
        self.events.append(("start", model.name, params["Key"]))

    def _end(self, context: dict[str, Any], model: Any, **_: Any) -> None:
        self.events.append(("end", model.name, context["etl_key"]))

    def index(self, kind: str, op: str, key: str) -> int:
        return self.events.index((kind, op, key))


def remote_keys(s3: Any, prefix: str = "") -> set[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return {obj["Key"] for page in pages for obj in page.get("Contents", [])}


def test_upload_puts_every_file_under_the_prefix(s3: Any, exported: Path) -> None:
    result = upload(exported, f"s3://{BUCKET}/cifar", target="aws")

    manifest = json.loads((exported / "manifest.json").read_text())
    expected = {f"cifar/{rel}" for rel in manifest["files"]}
    expected |= {"cifar/train.lst", "cifar/test.lst", "cifar/manifest.json"}
    assert remote_keys(s3) == expected
    assert "cifar/train.lst" in expected and any(k.startswith("cifar/train/") for k in expected)
    assert (result.uploaded, result.skipped) == (len(expected), 0)


def test_uploaded_objects_hold_the_local_bytes_and_their_sha256(s3: Any, exported: Path):
    upload(exported, f"s3://{BUCKET}/cifar/", target="aws")

    manifest = json.loads((exported / "manifest.json").read_text())
    rel = sorted(manifest["files"])[0]
    obj = s3.get_object(Bucket=BUCKET, Key=f"cifar/{rel}")
    assert obj["Body"].read() == (exported / rel).read_bytes()
    assert obj["Metadata"]["sha256"] == manifest["files"][rel]
    assert obj["ContentType"] == "image/png"


def test_second_upload_sends_nothing(s3: Any, exported: Path) -> None:
    first = upload(exported, f"s3://{BUCKET}/cifar", target="aws")
    log = CallLog(s3)

    second = upload(exported, f"s3://{BUCKET}/cifar", client=s3)

    assert (second.uploaded, second.skipped) == (0, first.uploaded)
    assert log.events == []


def test_manifest_is_uploaded_after_every_other_file_completes(s3: Any, exported: Path):
    log = CallLog(s3)

    upload(exported, f"s3://{BUCKET}/cifar", client=s3, workers=8)

    manifest_start = log.index("start", "PutObject", "cifar/manifest.json")
    other_ends = [i for i, (kind, _, key) in enumerate(log.events)
                  if kind == "end" and key != "cifar/manifest.json"]  # fmt: skip
    assert len(other_ends) == len(remote_keys(s3)) - 1
    assert max(other_ends) < manifest_start


def test_object_changed_in_s3_is_replaced(s3: Any, exported: Path) -> None:
    upload(exported, f"s3://{BUCKET}/cifar", target="aws")
    s3.put_object(Bucket=BUCKET, Key="cifar/train.lst", Body=b"tampered")

    result = upload(exported, f"s3://{BUCKET}/cifar", target="aws")

    assert result.uploaded == 1
    body = s3.get_object(Bucket=BUCKET, Key="cifar/train.lst")["Body"].read()
    assert body == (exported / "train.lst").read_bytes()


def test_changed_export_removes_the_old_manifest_before_other_writes(
    s3: Any, generated: Generated, exported: Path
) -> None:
    upload(exported, f"s3://{BUCKET}/cifar", target="aws")
    run(generated.path, exported, ["apple", "bicycle"])
    log = CallLog(s3)

    upload(exported, f"s3://{BUCKET}/cifar", client=s3)

    delete_end = log.index("end", "DeleteObject", "cifar/manifest.json")
    first_put = min(i for i, (_, op, _) in enumerate(log.events) if op == "PutObject")
    assert delete_end < first_put
    remote = json.loads(s3.get_object(Bucket=BUCKET, Key="cifar/manifest.json")["Body"].read())
    assert remote["classes"] == ["apple", "bicycle"]


def test_upload_without_a_prefix_puts_keys_at_the_bucket_root(s3: Any, exported: Path):
    upload(exported, f"s3://{BUCKET}", target="aws")

    assert "manifest.json" in remote_keys(s3) and "train.lst" in remote_keys(s3)


def test_upload_of_an_incomplete_export_is_refused(s3: Any, exported: Path) -> None:
    (exported / "manifest.json").unlink()

    with pytest.raises(UploadError, match=r"no manifest\.json: the export is incomplete"):
        upload(exported, f"s3://{BUCKET}/cifar", target="aws")

    assert remote_keys(s3) == set()


def test_local_file_that_differs_from_the_manifest_is_not_uploaded(s3: Any, exported: Path):
    (exported / "test.lst").write_text("0\t0\tx.png\n")

    with pytest.raises(UploadError, match=r"test.lst does not match manifest.json"):
        upload(exported, f"s3://{BUCKET}/cifar", target="aws")

    assert "cifar/manifest.json" not in remote_keys(s3)


def test_missing_bucket_is_a_one_line_error(run_cli, aws: None, generated, tmp_path: Path):
    result = run_cli("--source", generated.path, "--out", tmp_path / "out",
                     "--upload", "s3://no-such-bucket-here/cifar", "--target", "aws")  # fmt: skip

    assert_one_line_error(result, "S3 bucket no-such-bucket-here does not exist")


def test_access_denied_is_a_one_line_error(run_cli, aws: None, generated, tmp_path: Path):
    @set_initial_no_auth_action_count(4)  # the setup calls below run before IAM is enforced
    def attempt() -> Any:
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        iam = boto3.client("iam")
        iam.create_user(UserName="reader")
        policy = {"Version": "2012-10-17",
                  "Statement": [{"Effect": "Allow", "Action": "s3:ListAllMyBuckets",
                                 "Resource": "*"}]}  # fmt: skip
        iam.put_user_policy(UserName="reader", PolicyName="list", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName="reader")["AccessKey"]
        with pytest.MonkeyPatch.context() as env:
            env.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
            env.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
            env.setattr(boto3, "DEFAULT_SESSION", None)  # it caches the first credentials
            return run_cli("--source", generated.path, "--out", tmp_path / "out",
                           "--upload", f"s3://{BUCKET}/cifar", "--target", "aws")  # fmt: skip

    result = attempt()

    assert_one_line_error(result, f"access denied to s3://{BUCKET}/cifar (AccessDenied)")


def test_cli_prints_what_it_uploaded_and_where(run_cli, s3: Any, generated, tmp_path: Path):
    args = (
        "--source",
        generated.path,
        "--out",
        tmp_path / "out",
        "--upload",
        f"s3://{BUCKET}/cifar",
        "--target",
        "aws",
    )
    first = run_cli(*args)

    second = run_cli(*args)

    n = len(remote_keys(s3))
    assert first.code == 0, first.err
    assert f"uploaded {n} files to s3://{BUCKET}/cifar/ (0 already there unchanged)" in first.out
    assert f"uploaded 0 files to s3://{BUCKET}/cifar/ ({n} already there unchanged)" in second.out
