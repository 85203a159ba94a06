"""A Lambda handler for the local cloud's tests: it does what its event asks.

Packed into a zip by the tests and run by the local cloud's Lambda runtime; it must
import nothing from the project (the runtime does not put the project on sys.path).
"""

import logging
import os
import sys
import time
from urllib.parse import unquote_plus

import boto3

logger = logging.getLogger()
logger.setLevel(logging.INFO)


class ThresholdNotMetError(Exception):
    """Named like the project's error, to check how error names travel."""


def lambda_handler(event, context):
    print(f"probe called with {sorted(event)}")
    logger.info("probe request %s", context.aws_request_id)
    if "raise" in event:
        raise ThresholdNotMetError(event["raise"])
    if "sleep" in event:
        time.sleep(event["sleep"])
    if "put_marker" in event:
        time.sleep(event.get("delay", 0))
        boto3.client("s3").put_object(Bucket=event["put_marker"], Key="marker", Body=b"done")
    if "Records" in event:
        record = event["Records"][0]["s3"]
        # Keys arrive URL-encoded in S3 events, as in AWS.
        key = unquote_plus(record["object"]["key"])
        bucket = record["bucket"]["name"]
        s3 = boto3.client("s3")
        if "/held-" in key:
            # Held until the test uploads release/<key>, which it does only after its own
            # upload returned: a delivery inside the upload could never finish.
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                listing = s3.list_objects_v2(Bucket=bucket, Prefix=f"release/{key}")
                if listing.get("KeyCount"):
                    break
                time.sleep(0.1)
            else:
                return "never released"
        marker_key = "notified/" + key.replace("/", "_")
        s3.put_object(Bucket=bucket, Key=marker_key, Body=b"1")
        return "notified"
    try:
        import localcloud  # noqa: F401

        project_importable = True
    except ImportError:
        project_importable = False
    return {
        "greeting": os.environ.get("GREETING"),
        "function_name": context.function_name,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "project_importable": project_importable,
        "buckets": [b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]],
        "python": sys.version_info[:2],
        "echo": event.get("echo"),
    }
