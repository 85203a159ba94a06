"""deployment.target and deployment.s3uri: the one way to reach a target and name S3."""

from __future__ import annotations

import pytest

from deployment.s3uri import S3Uri, S3UriError
from deployment.target import Target, TargetError
from tests.support.moto_server import MotoServer
from tests.support.network import free_port


def test_local_target_without_endpoint_variable_reaches_the_default_port(monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)

    client = Target("local").client("s3")

    assert client.meta.endpoint_url == "http://127.0.0.1:4566"


def test_aws_endpoint_url_wins_over_the_default_port(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4999")

    assert Target("local").client("s3").meta.endpoint_url == "http://127.0.0.1:4999"


def test_an_explicit_port_wins_over_the_environment(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4999")

    client = Target("local", 5123).client("sqs")

    assert client.meta.endpoint_url == "http://127.0.0.1:5123"


def test_local_clients_carry_test_credentials_never_the_callers(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAREALLOOKINGKEY00")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-for-the-local-cloud")

    credentials = Target("local", 4566).client("s3")._request_signer._credentials

    assert (credentials.access_key, credentials.secret_key) == ("test", "test")


def test_local_region_comes_from_the_environment_else_us_east_1(monkeypatch):
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    assert Target("local", 4566).client("s3").meta.region_name == "eu-west-1"

    monkeypatch.delenv("AWS_DEFAULT_REGION")
    assert Target("local", 4566).client("s3").meta.region_name == "us-east-1"


def test_aws_clients_use_the_standard_chain(monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")

    client = Target("aws").client("s3")

    assert client.meta.endpoint_url == "https://s3.eu-central-1.amazonaws.com"


def test_unknown_target_is_refused():
    with pytest.raises(TargetError, match="target must be one of local, aws, got 'prod'"):
        Target("prod")


def test_nothing_on_the_port_says_to_start_the_local_cloud():
    port = free_port()

    with pytest.raises(
        TargetError, match=rf"does not answer at http://127.0.0.1:{port}.*make local-up"
    ):
        Target("local", port).check_reachable()


def test_any_http_server_on_the_port_counts_as_reachable():
    server = MotoServer()
    try:
        Target("local", server.port).check_reachable()
    finally:
        server.stop()


def test_missing_outputs_name_what_to_run(monkeypatch):
    target = Target("local", 4566)
    monkeypatch.setattr("deployment.target.terraform_outputs", lambda name: {"data_bucket": "d"})

    with pytest.raises(
        TargetError, match=r"missing outputs: endpoint_name.*make apply TARGET=local"
    ):
        target.require_outputs("data_bucket", "endpoint_name")


@pytest.mark.parametrize(
    ("text", "bucket", "key"),
    [
        ("s3://scones-data", "scones-data", ""),
        ("s3://scones-data/", "scones-data", ""),
        ("s3://scones-data/cifar/", "scones-data", "cifar"),
        ("s3://scones-data/cifar/train/a.png", "scones-data", "cifar/train/a.png"),
    ],
)
def test_s3_uris_parse_to_bucket_and_key(text, bucket, key):
    assert S3Uri.parse(text) == S3Uri(bucket, key)


def test_s3_uris_format_and_join():
    uri = S3Uri.parse("s3://scones-data/cifar")

    assert str(uri) == "s3://scones-data/cifar"
    assert str(uri.join("manifest.json")) == "s3://scones-data/cifar/manifest.json"
    assert uri.prefix == "cifar/"
    assert str(S3Uri("scones-data")) == "s3://scones-data"
    assert S3Uri("scones-data").prefix == ""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("bucket/cifar", "--upload 'bucket/cifar' must look like s3://bucket/prefix"),
        ("s3:///cifar", "names no bucket"),
        ("s3://Not_A_Bucket/x", "is not an S3 bucket name"),
        ("https://scones-data/x", "must look like s3://bucket/prefix"),
    ],
)
def test_bad_s3_uris_are_clear_errors(text, message):
    with pytest.raises(S3UriError, match=message):
        S3Uri.parse(text, what="--upload")


def test_an_object_uri_needs_a_key():
    with pytest.raises(S3UriError, match="names no object; use s3://bucket/key"):
        S3Uri.parse("s3://scones-data/", object_key=True)
