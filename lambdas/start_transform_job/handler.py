"""start_transform_job: an S3 notification on transform/input/ starts a Batch Transform job.

In:  an S3 event notification for transform/input/<batch id>/<part>.jsonl objects.
Out: {"jobs": [{"job_name", "input", "started"}]} (started false: already running or run).

One job per input object, with the endpoint's model (MODEL_NAME): SplitType Line and
BatchStrategy MultiRecord (as many JSON lines per request as fit in MaxPayloadInMB),
ContentType application/jsonlines, Accept text/csv, AssembleWith Line, output under
transform/output/<batch id>/ encrypted with KMS_KEY_ARN, which also encrypts the
instance's volume. The job name is a hash of (bucket, key, ETag): S3 delivers a
notification at least once and the same bytes PUT again carry the same ETag, so a
redelivered event or a duplicate upload names the job already started, and
CreateTransformJob refuses a name in use: that is "already started", not an error.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from common import config as env
from common import transform as layout
from common.aws import client
from common.entry import entry_point
from common.errors import ConfigurationError, InvalidEventError

FUNCTION = "start_transform_job"
DEFAULT_MAX_PAYLOAD_MB = 6
DEFAULT_INSTANCE_TYPE = "ml.m5.large"
# Transform job names: 1-63 characters, [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}
# (TransformJobSummary, SageMaker API reference). The prefix leaves 33 for "-" + hash.
_JOB_PREFIX = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,29}$")
HASH_CHARS = 32

log = logging.getLogger(FUNCTION)


@dataclass(frozen=True)
class Config:
    alert_topic_arn: str
    model_name: str
    job_prefix: str
    kms_key_arn: str
    instance_type: str
    max_payload_mb: int


def load_config(environ: Mapping[str, str]) -> Config:
    prefix = env.required(environ, "TRANSFORM_JOB_PREFIX")
    if not _JOB_PREFIX.match(prefix):
        raise ConfigurationError(
            f"TRANSFORM_JOB_PREFIX must be 1-30 of [a-zA-Z0-9-], not starting or ending with "
            f"'-', got {prefix!r}"
        )
    payload = env.positive_int(environ, "TRANSFORM_MAX_PAYLOAD_MB", DEFAULT_MAX_PAYLOAD_MB)
    if payload > 100:
        raise ConfigurationError(f"TRANSFORM_MAX_PAYLOAD_MB must be 1-100, got {payload}")
    return Config(
        alert_topic_arn=env.alert_topic_arn(environ),
        # Empty until a model is deployed: the invocation then fails with this error.
        model_name=environ.get("MODEL_NAME", "").strip(),
        job_prefix=prefix,
        kms_key_arn=env.arn(environ, "KMS_KEY_ARN", "kms"),
        instance_type=environ.get("TRANSFORM_INSTANCE_TYPE", "").strip() or DEFAULT_INSTANCE_TYPE,
        max_payload_mb=payload,
    )


CONFIG = env.load_once(load_config, os.environ)


@dataclass(frozen=True)
class InputObject:
    bucket: str
    key: str
    etag: str

    def job_name(self, prefix: str) -> str:
        digest = hashlib.sha256(json.dumps([self.bucket, self.key, self.etag]).encode())
        return f"{prefix}-{digest.hexdigest()[:HASH_CHARS]}"


def input_objects(event: dict[str, Any]) -> list[InputObject]:
    records = event.get("Records")
    if not isinstance(records, list) or not records:
        raise InvalidEventError("the event is not an S3 notification: no 'Records' list")
    objects: dict[InputObject, None] = {}
    for index, record in enumerate(records):
        s3 = record.get("s3") if isinstance(record, dict) else None
        name = record.get("eventName") if isinstance(record, dict) else None
        bucket = (s3 or {}).get("bucket", {}).get("name") if isinstance(s3, dict) else None
        obj = (s3 or {}).get("object") if isinstance(s3, dict) else None
        if not isinstance(name, str) or not isinstance(bucket, str) or not isinstance(obj, dict):
            raise InvalidEventError(f"Records[{index}] is not an S3 event record")
        if not name.startswith("ObjectCreated:") or not isinstance(obj.get("key"), str):
            continue
        # S3 notifications URL-encode keys, with '+' for spaces.
        key = unquote_plus(obj["key"])
        if not key.startswith(layout.INPUT_PREFIX) or not key.endswith(layout.INPUT_SUFFIX):
            continue
        layout.split_input_key(key)  # a key outside the layout is a named error
        etag = obj.get("eTag") or obj.get("versionId") or obj.get("sequencer") or ""
        objects[InputObject(bucket, key, str(etag).strip('"'))] = None
    return list(objects)


def job_request(obj: InputObject, config: Config) -> dict[str, Any]:
    batch_id, _ = layout.split_input_key(obj.key)
    return {
        "TransformJobName": obj.job_name(config.job_prefix),
        "ModelName": config.model_name,
        "BatchStrategy": "MultiRecord",
        "MaxPayloadInMB": config.max_payload_mb,
        "MaxConcurrentTransforms": 1,
        "TransformInput": {
            "DataSource": {
                "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{obj.bucket}/{obj.key}"}
            },
            "ContentType": layout.CONTENT_TYPE,
            "CompressionType": "None",
            "SplitType": "Line",
        },
        "TransformOutput": {
            "S3OutputPath": f"s3://{obj.bucket}/{layout.output_prefix(batch_id)}",
            "Accept": layout.ACCEPT,
            "AssembleWith": "Line",
            "KmsKeyId": config.kms_key_arn,
        },
        "TransformResources": {
            "InstanceType": config.instance_type,
            "InstanceCount": 1,
            "VolumeKmsKeyId": config.kms_key_arn,
        },
        "DataProcessing": {"InputFilter": "$", "OutputFilter": "$", "JoinSource": "None"},
        "Tags": [{"Key": "batch_id", "Value": batch_id}],
    }


def already_exists(error: Exception) -> bool:
    """CreateTransformJob's answer for a name in use (ResourceInUse; some regions word it
    as a ValidationException "Job name must be unique within an AWS account and region")."""
    response = getattr(error, "response", None) or {}
    code = response.get("Error", {}).get("Code", "")
    message = response.get("Error", {}).get("Message", "")
    return code == "ResourceInUse" or (
        code == "ValidationException" and ("already exists" in message or "unique" in message)
    )


def start(event: dict[str, Any], config: Config) -> dict[str, Any]:
    from botocore.exceptions import ClientError

    objects = [] if event.get("Event") == "s3:TestEvent" else input_objects(event)
    if objects and not config.model_name:
        raise ConfigurationError("MODEL_NAME is empty: no model is deployed yet (make train)")
    jobs = []
    for obj in objects:
        request = job_request(obj, config)
        name = request["TransformJobName"]
        try:
            client("sagemaker").create_transform_job(**request)
            started = True
        except ClientError as exc:
            if not already_exists(exc):
                raise
            started = False
            log.info("transform job already started", extra={"fields": {"job_name": name}})
        jobs.append({"job_name": name, "input": f"s3://{obj.bucket}/{obj.key}", "started": started})
    return {"jobs": jobs}


# S3 invokes this function directly: no state machine Catch alerts for its named errors.
@entry_point(FUNCTION, CONFIG, alert_named_errors=True)
def lambda_handler(event: dict[str, Any], config: Config, context: Any) -> dict[str, Any]:
    return start(event, config)
