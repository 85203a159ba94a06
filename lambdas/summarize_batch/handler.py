"""summarize_batch: turns a Distributed Map run's result files into one results document.

In:  {"execution_name": str,
      "map_run": {"MapRunArn": str, "ResultWriterDetails": {"Bucket": str, "Key": str}}}
     (the Map state's output when it has a ResultWriter; Key names the run's manifest.json)
Out: {"total", "passed", "low_confidence", "error", "results_uri"}; the document is at
     s3://$RESULTS_BUCKET/results/<execution_name>.json.

Every child execution becomes exactly one per-item result: a SUCCEEDED child's output is
the item's own record (passed, low_confidence or error); a FAILED or PENDING child (an
item that was not an image reference at all, or a run cut short) is recorded as an error.
Causes are kept short: the Lambda's error message, never its stack trace.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from common import config as env
from common.aws import client
from common.entry import entry_point
from common.errors import InvalidEventError
from common.events import require_object, require_string

FUNCTION = "summarize_batch"
RESULTS_PREFIX = "results/"
STATUSES = ("passed", "low_confidence", "error")
# The ResultWriter's file groups ("ResultWriter (Map)", Step Functions developer guide).
RESULT_FILE_GROUPS = ("SUCCEEDED", "FAILED", "PENDING")
MAX_CAUSE_CHARS = 500
# Step Functions execution names: 1-80 characters from this set; also a safe S3 key part.
_EXECUTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}$")


@dataclass(frozen=True)
class Config:
    alert_topic_arn: str
    results_bucket: str


def load_config(environ: Mapping[str, str]) -> Config:
    return Config(
        alert_topic_arn=env.alert_topic_arn(environ),
        results_bucket=env.bucket_name(environ, "RESULTS_BUCKET"),
    )


CONFIG = env.load_once(load_config, os.environ)


def require_manifest_location(event: dict[str, Any]) -> tuple[str, str]:
    """The bucket and key of the Map run's manifest.json."""
    map_run = require_object(event.get("map_run"), "'map_run'")
    details = require_object(map_run.get("ResultWriterDetails"), "'map_run.ResultWriterDetails'")
    bucket = require_string(details, "Bucket")
    key = require_string(details, "Key")
    if not key.endswith("manifest.json"):
        raise InvalidEventError(f"'map_run.ResultWriterDetails.Key' is no manifest: {key[:120]!r}")
    return bucket, key


def read_json(bucket: str, key: str) -> Any:
    body = client("s3").get_object(Bucket=bucket, Key=key)["Body"]
    with body:
        return json.loads(body.read())


def child_executions(bucket: str, manifest_key: str) -> Iterator[dict[str, Any]]:
    """Every child execution entry of every result file the manifest lists."""
    manifest = read_json(bucket, manifest_key)
    files = manifest.get("ResultFiles") if isinstance(manifest, dict) else None
    if not isinstance(files, dict):
        raise InvalidEventError(f"s3://{bucket}/{manifest_key} has no ResultFiles")
    for group in RESULT_FILE_GROUPS:
        for result_file in files.get(group) or []:
            entries = read_json(manifest.get("DestinationBucket") or bucket, result_file["Key"])
            yield from entries


def short_error(error: Any) -> dict[str, str]:
    """{"Error", "Cause"} with the cause cut to the Lambda's error message."""
    if not isinstance(error, dict):
        return {"Error": "States.Runtime", "Cause": str(error)[:MAX_CAUSE_CHARS]}
    cause = error.get("Cause")
    try:
        details = json.loads(cause) if isinstance(cause, str) else None
    except ValueError:
        details = None
    if isinstance(details, dict) and isinstance(details.get("errorMessage"), str):
        cause = details["errorMessage"]
    return {"Error": str(error.get("Error")), "Cause": str(cause or "")[:MAX_CAUSE_CHARS]}


def _loads(text: Any) -> Any:
    try:
        return json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return None


def item_result(execution: dict[str, Any]) -> dict[str, Any]:
    """One child execution as the per-item result of CONTRACTS.md."""
    item = _loads(execution.get("Input"))
    reference = item if isinstance(item, dict) else {}
    record = {f: reference.get(f) for f in ("s3_bucket", "s3_key")}
    if not all(isinstance(v, str) for v in record.values()):
        record["input"] = str(execution.get("Input"))[:200]
    output = _loads(execution.get("Output"))
    if execution.get("Status") == "SUCCEEDED" and isinstance(output, dict):
        if output.get("status") in STATUSES:
            result = {**output, **record} if "input" in record else dict(output)
            if "error" in result:
                result["error"] = short_error(result["error"])
            return result
        failure = {"Error": "InvalidItemResult", "Cause": "the item's output has no status"}
    else:
        failure = short_error(
            {
                "Error": execution.get("Error") or execution.get("Status"),
                "Cause": execution.get("Cause"),
            }
        )
    return {**record, "status": "error", "error": failure}


def summarize(event: dict[str, Any], config: Config) -> dict[str, Any]:
    event = require_object(event)
    name = require_string(event, "execution_name")
    if not _EXECUTION_NAME.match(name):
        raise InvalidEventError(f"'execution_name' is not a Step Functions name: {name[:80]!r}")
    bucket, manifest_key = require_manifest_location(event)
    results = sorted(
        (item_result(e) for e in child_executions(bucket, manifest_key)),
        key=lambda r: (str(r.get("s3_bucket")), str(r.get("s3_key")), str(r.get("input"))),
    )
    counts = Counter(item["status"] for item in results)
    summary: dict[str, Any] = {"total": len(results), **{s: counts[s] for s in STATUSES}}
    key = f"{RESULTS_PREFIX}{name}.json"
    document = {"execution_name": name, **summary, "results": results}
    client("s3").put_object(
        Bucket=config.results_bucket,
        Key=key,
        Body=json.dumps(document, indent=1).encode("utf-8"),
        ContentType="application/json",
    )
    return {**summary, "results_uri": f"s3://{config.results_bucket}/{key}"}


@entry_point(FUNCTION, CONFIG)
def lambda_handler(event: dict[str, Any], config: Config, context: Any) -> dict[str, Any]:
    return summarize(event, config)
