"""Bucket policies on the local cloud: judged as over TLS, and still enforced."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.integration


def put_policy(s3, bucket: str, statement: dict) -> None:
    s3.create_bucket(Bucket=bucket)
    policy = {"Version": "2012-10-17", "Statement": [statement]}
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))


def test_tls_only_policy_lets_requests_through(local_cloud):
    s3 = local_cloud.client("s3")
    put_policy(
        s3,
        "tls-only",
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": ["arn:aws:s3:::tls-only", "arn:aws:s3:::tls-only/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
    )

    s3.put_object(Bucket="tls-only", Key="a.txt", Body=b"ok")

    assert s3.get_object(Bucket="tls-only", Key="a.txt")["Body"].read() == b"ok"


def test_unconditional_deny_still_denies(local_cloud):
    s3 = local_cloud.client("s3")
    put_policy(
        s3,
        "locked-prefix",
        {
            "Sid": "NoWritesUnderLocked",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": "arn:aws:s3:::locked-prefix/locked/*",
        },
    )

    with pytest.raises(ClientError) as raised:
        s3.put_object(Bucket="locked-prefix", Key="locked/a.txt", Body=b"no")
    s3.put_object(Bucket="locked-prefix", Key="open/a.txt", Body=b"yes")

    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
