"""start_batch_workflow: an S3 notification on inbox/ starts the batch state machine.

In:  an S3 event notification ({"Records": [{"s3": {"bucket": ..., "object": ...}}]}).
Out: {"execution_arn", "execution_name", "images"}; the execution's input is
     {"images": [{"s3_bucket", "s3_key"}, ...]}.
"""

from __future__ import annotations

import json
import logging
import os
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from common import config as env
from common.aws import client
from common.entry import entry_point, request_id
from common.errors import InvalidEventError

FUNCTION = "start_batch_workflow"
INBOX_PREFIX = "inbox/"

log = logging.getLogger(FUNCTION)
# Step Functions execution names allow only these characters.
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


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


def images_from_records(event: dict[str, Any]) -> list[dict[str, str]]:
    """The created objects under inbox/, in record order; other records are skipped."""
    records = event.get("Records")
    if not isinstance(records, list) or not records:
        raise InvalidEventError("the event is not an S3 notification: no 'Records' list")
    images = []
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise InvalidEventError(f"Records[{index}] is not an object")
        if not _field(record, index, "eventName").startswith("ObjectCreated:"):
            continue
        bucket = _field(record, index, "s3", "bucket", "name")
        # S3 notifications URL-encode keys, with '+' for spaces.
        key = unquote_plus(_field(record, index, "s3", "object", "key"))
        if key.startswith(INBOX_PREFIX) and not key.endswith("/"):
            images.append({"s3_bucket": bucket, "s3_key": key})
    return images


def execution_name(context: Any) -> str:
    """Unique per notification; Lambda's retries of one event keep its request id, and
    StartExecution with the same name and input returns the execution already started."""
    unique = _NAME_UNSAFE.sub("-", request_id(context) or str(uuid.uuid4()))
    return f"inbox-{unique}"[:80]


def start(event: dict[str, Any], config: Config, context: Any) -> dict[str, Any]:
    # S3 sends a TestEvent once, when the notification is configured.
    images = [] if event.get("Event") == "s3:TestEvent" else images_from_records(event)
    if not images:
        return {"execution_arn": None, "execution_name": None, "images": 0}
    name = execution_name(context)
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
