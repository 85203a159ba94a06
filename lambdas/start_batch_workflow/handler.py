"""start_batch_workflow: an S3 notification on inbox/ starts the batch state machine.

In:  an S3 event notification ({"Records": [{"s3": {"bucket": ..., "object": ...}}]}).
Out: {"execution_arn", "execution_name", "images"}; the execution's input is
     {"images": [{"s3_bucket", "s3_key"}, ...]}.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from common import config as env
from common.aws import client
from common.entry import entry_point
from common.errors import InvalidEventError

FUNCTION = "start_batch_workflow"
INBOX_PREFIX = "inbox/"

log = logging.getLogger(FUNCTION)


@dataclass(frozen=True)
class Config:
    alert_topic_arn: str
    state_machine_arn: str


def load_config(environ: Mapping[str, str]) -> Config:
    return Config(
        alert_topic_arn=env.alert_topic_arn(environ),
        state_machine_arn=env.arn(environ, "STATE_MACHINE_ARN", "states"),
    )


CONFIG = env.load_once(load_config, os.environ)
STATES = client("stepfunctions")


def _field(record: dict[str, Any], index: int, *path: str) -> str:
    value: Any = record
    for name in path:
        value = value.get(name) if isinstance(value, dict) else None
    if not isinstance(value, str) or not value:
        raise InvalidEventError(f"Records[{index}] has no string {'.'.join(path)}")
    return value


@dataclass(frozen=True)
class CreatedObject:
    """One created object version: (bucket, key, version) names it across redeliveries."""

    bucket: str
    key: str
    version: str

    def image(self) -> dict[str, str]:
        return {"s3_bucket": self.bucket, "s3_key": self.key}


def created_objects(event: dict[str, Any]) -> list[CreatedObject]:
    """The objects created under inbox/, in record order, each once; other records skipped."""
    records = event.get("Records")
    if not isinstance(records, list) or not records:
        raise InvalidEventError("the event is not an S3 notification: no 'Records' list")
    objects: dict[CreatedObject, None] = {}
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise InvalidEventError(f"Records[{index}] is not an object")
        if not _field(record, index, "eventName").startswith("ObjectCreated:"):
            continue
        bucket = _field(record, index, "s3", "bucket", "name")
        # S3 notifications URL-encode keys, with '+' for spaces.
        key = unquote_plus(_field(record, index, "s3", "object", "key"))
        if key.startswith(INBOX_PREFIX) and not key.endswith("/"):
            objects[CreatedObject(bucket, key, object_version(record))] = None
    return list(objects)


def object_version(record: dict[str, Any]) -> str:
    """What tells this upload from another of the same key ("Event message structure",
    S3 user guide): versionId in a versioned bucket, else the sequencer, else the ETag."""
    obj = record["s3"].get("object") or {}
    for field in ("versionId", "sequencer", "eTag"):
        if isinstance(obj.get(field), str) and obj[field]:
            return f"{field}={obj[field]}"
    return ""


def execution_name(objects: list[CreatedObject]) -> str:
    """The same objects give the same name: S3 delivers a notification at least once, and
    StartExecution with a name already used returns that execution (same input, still
    running) or ExecutionAlreadyExists, so a redelivered event never starts a second batch."""
    digest = hashlib.sha256()
    for obj in sorted(objects, key=lambda o: (o.bucket, o.key, o.version)):
        digest.update(json.dumps([obj.bucket, obj.key, obj.version]).encode())
    return f"inbox-{digest.hexdigest()[:40]}"


def start(event: dict[str, Any], config: Config, context: Any) -> dict[str, Any]:
    # S3 sends a TestEvent once, when the notification is configured.
    objects = [] if event.get("Event") == "s3:TestEvent" else created_objects(event)
    if not objects:
        return {"execution_arn": None, "execution_name": None, "images": 0}
    images = [obj.image() for obj in objects]
    name = execution_name(objects)
    try:
        arn = STATES.start_execution(
            stateMachineArn=config.state_machine_arn,
            name=name,
            input=json.dumps({"images": images}),
        )["executionArn"]
    except STATES.exceptions.ExecutionAlreadyExists:
        # A retry of this notification after its execution finished: already handled.
        arn = execution_arn(config.state_machine_arn, name)
        log.info("execution already started", extra={"fields": {"execution_arn": arn}})
    return {"execution_arn": arn, "execution_name": name, "images": len(images)}


def execution_arn(state_machine_arn: str, name: str) -> str:
    return f"{state_machine_arn.replace(':stateMachine:', ':execution:', 1)}:{name}"


# S3 invokes this function directly: no state machine Catch alerts for its named errors.
@entry_point(FUNCTION, CONFIG, alert_named_errors=True)
def lambda_handler(event: dict[str, Any], config: Config, context: Any) -> dict[str, Any]:
    return start(event, config, context)
