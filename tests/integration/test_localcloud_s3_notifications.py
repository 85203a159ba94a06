"""S3 event notifications on the local cloud: delivered to Lambda after the upload."""

from __future__ import annotations

import pytest

from tests.support.localcloud_harness import wait_until

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def notified_bucket(local_cloud, probe_function) -> str:
    s3 = local_cloud.client("s3")
    s3.create_bucket(Bucket="notified")
    arn = local_cloud.client("lambda").get_function(FunctionName=probe_function)["Configuration"][
        "FunctionArn"
    ]
    # S3 may invoke the function only with its permission ("Granting permissions to invoke
    # an AWS Lambda function", S3 User Guide); the local cloud enforces it (issue 16).
    local_cloud.client("lambda").add_permission(
        FunctionName=probe_function,
        StatementId="notified-bucket",
        Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com",
        SourceArn="arn:aws:s3:::notified",
    )
    s3.put_bucket_notification_configuration(
        Bucket="notified",
        NotificationConfiguration={
            "LambdaFunctionConfigurations": [
                {
                    "LambdaFunctionArn": arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "inbox/"}]}},
                }
            ]
        },
    )
    return "notified"


def markers(s3, bucket: str) -> list[str]:
    listing = s3.list_objects_v2(Bucket=bucket, Prefix="notified/")
    return [o["Key"] for o in listing.get("Contents", [])]


def test_upload_invokes_the_subscribed_lambda(local_cloud, notified_bucket):
    s3 = local_cloud.client("s3")

    s3.put_object(Bucket=notified_bucket, Key="inbox/a.png", Body=b"x")

    assert wait_until(lambda: "notified/inbox_a.png" in markers(s3, notified_bucket), 30)


def test_upload_returns_before_the_lambda_finishes(local_cloud, notified_bucket):
    s3 = local_cloud.client("s3")

    # The handler holds a held-* key until release/<key> exists, which only this test
    # writes, after its PUT returned: a delivery inside the PUT would block it until the
    # handler gave up (20 s), and no marker would ever appear.
    s3.put_object(Bucket=notified_bucket, Key="inbox/held-b.png", Body=b"x")
    right_after = markers(s3, notified_bucket)
    s3.put_object(Bucket=notified_bucket, Key="release/inbox/held-b.png", Body=b"")

    assert "notified/inbox_held-b.png" not in right_after
    assert wait_until(lambda: "notified/inbox_held-b.png" in markers(s3, notified_bucket), 30)


def test_upload_outside_the_filter_is_not_delivered(local_cloud, notified_bucket):
    s3 = local_cloud.client("s3")

    s3.put_object(Bucket=notified_bucket, Key="elsewhere/c.png", Body=b"x")
    local_cloud.admin("s3/drain", {"timeout": 30})

    assert not any("c.png" in key for key in markers(s3, notified_bucket))


def test_a_destination_without_s3_permission_is_refused_and_the_old_configuration_kept(
    local_cloud, probe_function, notified_bucket
):
    # PutBucketNotificationConfiguration (S3 API reference): "In the case of Lambda
    # destinations, Amazon S3 verifies that the Lambda function permissions grant Amazon S3
    # permission to invoke the function from the Amazon S3 bucket"; AWS answers
    # InvalidArgument "Unable to validate the following destination configurations".
    s3 = local_cloud.client("s3")
    arn = local_cloud.client("lambda").get_function(FunctionName=probe_function)["Configuration"][
        "FunctionArn"
    ]
    s3.create_bucket(Bucket="not-allowed-to-notify")
    s3.put_bucket_notification_configuration(
        Bucket="not-allowed-to-notify", NotificationConfiguration={}
    )

    with pytest.raises(s3.exceptions.ClientError) as refused:
        s3.put_bucket_notification_configuration(
            Bucket="not-allowed-to-notify",
            NotificationConfiguration={
                "LambdaFunctionConfigurations": [
                    {"LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:*"]}
                ]
            },
        )

    error = refused.value.response["Error"]
    assert error["Code"] == "InvalidArgument"
    assert error["Message"] == "Unable to validate the following destination configurations"
    kept = s3.get_bucket_notification_configuration(Bucket="not-allowed-to-notify")
    assert "LambdaFunctionConfigurations" not in kept
    # The permitted bucket's configuration (granted in the fixture) still stands.
    configured = s3.get_bucket_notification_configuration(Bucket=notified_bucket)
    assert configured["LambdaFunctionConfigurations"][0]["LambdaFunctionArn"] == arn
