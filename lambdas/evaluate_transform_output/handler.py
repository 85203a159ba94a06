"""evaluate_transform_output: the threshold on a Batch Transform job's CSV output.

In:  an S3 notification for transform/output/<batch id>/<part>.jsonl.out (a job's answer
     for one input part), or the EventBridge event "SageMaker Transform Job State Change"
     of a job that failed (then the part's images are recorded as errors).
Out: {"parts": [{"batch_id", "part", "job_status"}], "completed": [results URIs]}.

Each line of the CSV (inference.py's contract: `key,label,p0,p1,...` or
`key,error,<ErrorName>`) gets the Map workflow's per-item result: passed when the best
probability is at least THRESHOLD, else low_confidence; error with {"Error", "Cause"}.
Output lines are matched to input lines by position (AssembleWith Line keeps the order),
so an input line missing from the output is an error too. The part's results go to
transform/part-results/<batch id>/<part>.json; once every part of the batch (its
manifest, or the .jsonl objects under its input prefix) has one, the batch document
results/transform-<batch id>.json is written once (a conditional PUT: concurrent parts
cannot both write it) with "status" "completed", or "failed" if a job failed, and one
SNS alert summarises the batch when any image did not pass.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from common import config as env
from common import transform as layout
from common.aws import client
from common.entry import entry_point
from common.errors import InvalidEventError

FUNCTION = "evaluate_transform_output"
DEFAULT_THRESHOLD = 0.93
STATUSES = ("passed", "low_confidence", "error")
MAX_CAUSE_CHARS = 500
JOB_STATE_CHANGE = "SageMaker Transform Job State Change"

log = logging.getLogger(FUNCTION)


@dataclass(frozen=True)
class Config:
    alert_topic_arn: str
    data_bucket: str
    threshold: float
    class_names: tuple[str, ...]


def load_config(environ: Mapping[str, str]) -> Config:
    return Config(
        alert_topic_arn=env.alert_topic_arn(environ),
        data_bucket=env.bucket_name(environ, "DATA_BUCKET"),
        threshold=env.probability_threshold(environ, "THRESHOLD", DEFAULT_THRESHOLD),
        class_names=env.class_names(environ),
    )


CONFIG = env.load_once(load_config, os.environ)


# ------------------------------------------------------------------ one part


def read_text(bucket: str, key: str) -> str | None:
    s3 = client("s3")
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    except s3.exceptions.NoSuchKey:
        return None
    with body:
        return body.read().decode("utf-8", errors="replace")


def input_keys(bucket: str, key: str) -> list[str]:
    """The key of every line of a transform input part ("" where a line has none)."""
    text = read_text(bucket, key) or ""
    keys = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        value = record.get("key") if isinstance(record, dict) else None
        keys.append(value if isinstance(value, str) else "")
    return keys


def reference(key: str, where: str) -> dict[str, Any]:
    """s3_bucket/s3_key of a record's key (s3://bucket/key); null with `input` otherwise."""
    bucket, sep, name = key.removeprefix("s3://").partition("/")
    if key.startswith("s3://") and sep and bucket and name:
        return {"s3_bucket": bucket, "s3_key": name}
    return {"s3_bucket": None, "s3_key": None, "input": (key or where)[:200]}


def error(ref: dict[str, Any], name: str, cause: str) -> dict[str, Any]:
    return {**ref, "status": "error", "error": {"Error": name, "Cause": cause[:MAX_CAUSE_CHARS]}}


def item_result(row: list[str], ref: dict[str, Any], config: Config) -> dict[str, Any]:
    classes = config.class_names
    if len(row) == 3 and row[1] == layout.ERROR_MARKER:
        return error(ref, row[2] or "ModelError", "the model could not classify this record")
    try:
        probabilities = [float(p) for p in row[2:]]
    except ValueError:
        probabilities = []
    if len(probabilities) != len(classes) or not all(map(math.isfinite, probabilities)):
        return error(
            ref,
            "InvalidTransformOutput",
            f"expected key,label and {len(classes)} probabilities, got {','.join(row)[:200]!r}",
        )
    best = max(range(len(classes)), key=probabilities.__getitem__)
    label, confidence = classes[best], probabilities[best]
    status = "passed" if confidence >= config.threshold else "low_confidence"
    return {**ref, "status": status, "label": label, "confidence": confidence}


def evaluate_output(bucket: str, output_key: str, config: Config) -> dict[str, Any]:
    batch_id, part = layout.split_output_key(output_key)
    in_key = f"{layout.INPUT_PREFIX}{batch_id}/{part}{layout.INPUT_SUFFIX}"
    keys = input_keys(bucket, in_key)
    text = read_text(bucket, output_key)
    if text is None:
        raise InvalidEventError(f"s3://{bucket}/{output_key} does not exist")
    rows = [r for r in csv.reader(io.StringIO(text)) if r]
    results = []
    for index in range(max(len(keys), len(rows))):
        where = f"s3://{bucket}/{in_key} line {index + 1}"
        in_key_of_line = keys[index] if index < len(keys) else ""
        if index >= len(rows):
            results.append(
                error(reference(in_key_of_line, where), "MissingFromTransformOutput",
                      "the transform output has no line for this record")
            )  # fmt: skip
            continue
        row = rows[index]
        results.append(item_result(row, reference(in_key_of_line or row[0], where), config))
    return {"batch_id": batch_id, "part": part, "job_status": "Completed", "results": results}


def failed_job(detail: dict[str, Any], config: Config) -> dict[str, Any]:
    """A failed job's part: each of its input's records recorded as an error."""
    try:
        uri = detail["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"]
    except (KeyError, TypeError):
        raise InvalidEventError("the job state change event has no TransformInput S3Uri") from None
    bucket, _, key = str(uri).removeprefix("s3://").partition("/")
    batch_id, part = layout.split_input_key(key)
    name = str(detail.get("TransformJobName", ""))
    reason = str(detail.get("FailureReason") or "the transform job failed")
    cause = f"transform job {name} failed: {reason}"
    keys = input_keys(bucket, key)
    results = [
        error(reference(k, f"s3://{bucket}/{key} line {i + 1}"), "TransformJobFailed", cause)
        for i, k in enumerate(keys)
    ]
    if not results:
        results = [error(reference("", f"s3://{bucket}/{key}"), "TransformJobFailed", cause)]
    return {
        "batch_id": batch_id,
        "part": part,
        "job_status": "Failed",
        "job_name": name,
        "failure_reason": reason[:1024],
        "results": results,
    }


# ------------------------------------------------------------------ the batch


def expected_parts(batch_id: str, config: Config) -> tuple[list[str], list[dict[str, Any]]]:
    """(part names, images rejected before the transform) from the batch manifest; without
    one (input written by hand), the .jsonl objects under the batch's input prefix."""
    text = read_text(config.data_bucket, layout.manifest_key(batch_id))
    manifest = json.loads(text) if text else None
    if isinstance(manifest, dict) and isinstance(manifest.get("parts"), list):
        parts = [layout.split_input_key(k)[1] for k in manifest["parts"]]
        return parts, list(manifest.get("rejected") or [])
    prefix = f"{layout.INPUT_PREFIX}{batch_id}/"
    return [layout.split_input_key(k)[1] for k in list_keys(prefix, config)], []


def list_keys(prefix: str, config: Config) -> list[str]:
    keys = []
    for page in (
        client("s3")
        .get_paginator("list_objects_v2")
        .paginate(Bucket=config.data_bucket, Prefix=prefix)
    ):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return keys


def read_json(key: str, config: Config) -> Any:
    text = read_text(config.data_bucket, key)
    return json.loads(text) if text is not None else None


def complete_batch(batch_id: str, config: Config) -> str | None:
    """Writes the batch's results document once every part has its results; returns its
    URI when this invocation wrote it (None: parts still running, or already written)."""
    parts, rejected = expected_parts(batch_id, config)
    prefix = f"{layout.PART_RESULTS_PREFIX}{batch_id}/"
    done = set(list_keys(prefix, config))
    if not parts or any(layout.part_result_key(batch_id, p) not in done for p in parts):
        return None
    part_docs = [read_json(layout.part_result_key(batch_id, p), config) for p in parts]
    results = sorted(
        [r for doc in part_docs for r in doc["results"]] + rejected,
        key=lambda r: (str(r.get("s3_bucket")), str(r.get("s3_key")), str(r.get("input"))),
    )
    counts = Counter(r["status"] for r in results)
    failed = [d for d in part_docs if d.get("job_status") == "Failed"]
    document = {
        "batch_id": batch_id,
        "status": "failed" if failed else "completed",
        "total": len(results),
        **{s: counts[s] for s in STATUSES},
        "jobs": [
            {k: d[k] for k in ("part", "job_status", "job_name", "failure_reason") if k in d}
            for d in part_docs
        ],
        "results": results,
    }
    from botocore.exceptions import ClientError

    key = layout.results_key(batch_id)
    s3 = client("s3")
    try:
        # If-None-Match: the first writer wins, so one document and one alert per batch.
        s3.put_object(
            Bucket=config.data_bucket,
            Key=key,
            Body=json.dumps(document, indent=1).encode("utf-8"),
            ContentType="application/json",
            IfNoneMatch="*",
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("PreconditionFailed", "412"):
            log.info("results document already written", extra={"fields": {"key": key}})
            return None
        raise
    uri = f"s3://{config.data_bucket}/{key}"
    not_passed = document["low_confidence"] + document["error"]
    if not_passed:
        summary_alert(document, uri, config)
    return uri


def summary_alert(document: dict[str, Any], uri: str, config: Config) -> None:
    message = (
        f"{document['low_confidence'] + document['error']} of {document['total']} images did "
        f"not pass ({document['low_confidence']} low confidence, {document['error']} errors)"
        f"{'; a transform job failed' if document['status'] == 'failed' else ''}; "
        f"results at {uri}"
    )
    client("sns").publish(
        TopicArn=config.alert_topic_arn,
        Subject=f"{FUNCTION}: images did not pass"[:100],
        Message=json.dumps(
            {
                "source": FUNCTION,
                "error_type": "BatchItemsNotPassed",
                "message": message,
                "request_id": None,
                "input": {"batch_id": document["batch_id"], "results_uri": uri},
            }
        ),
    )


# ------------------------------------------------------------------ events


def output_objects(event: dict[str, Any]) -> list[tuple[str, str]]:
    records = event.get("Records")
    if not isinstance(records, list) or not records:
        raise InvalidEventError("the event is neither an S3 notification nor a job state change")
    found: dict[tuple[str, str], None] = {}
    for index, record in enumerate(records):
        try:
            name = record["eventName"]
            bucket = record["s3"]["bucket"]["name"]
            key = unquote_plus(record["s3"]["object"]["key"])
        except (KeyError, TypeError):
            raise InvalidEventError(f"Records[{index}] is not an S3 event record") from None
        if str(name).startswith("ObjectCreated:") and key.startswith(layout.OUTPUT_PREFIX):
            found[(bucket, key)] = None
    return list(found)


def evaluate(event: dict[str, Any], config: Config) -> dict[str, Any]:
    if event.get("Event") == "s3:TestEvent":
        return {"parts": [], "completed": []}
    if event.get("detail-type") == JOB_STATE_CHANGE:
        detail = event.get("detail")
        if not isinstance(detail, dict):
            raise InvalidEventError("the job state change event has no 'detail' object")
        if detail.get("TransformJobStatus") not in ("Failed", "Stopped"):
            return {"parts": [], "completed": []}  # a completed job's output is notified
        docs = [failed_job(detail, config)]
    else:
        docs = [evaluate_output(bucket, key, config) for bucket, key in output_objects(event)]
    completed = []
    for doc in docs:
        client("s3").put_object(
            Bucket=config.data_bucket,
            Key=layout.part_result_key(doc["batch_id"], doc["part"]),
            Body=json.dumps(doc).encode("utf-8"),
            ContentType="application/json",
        )
    for batch_id in dict.fromkeys(d["batch_id"] for d in docs):
        uri = complete_batch(batch_id, config)
        if uri:
            completed.append(uri)
    parts = [{k: d[k] for k in ("batch_id", "part", "job_status")} for d in docs]
    return {"parts": parts, "completed": completed}


# S3 and EventBridge invoke this function directly: no Catch alerts for its named errors.
@entry_point(FUNCTION, CONFIG, alert_named_errors=True)
def lambda_handler(event: dict[str, Any], config: Config, context: Any) -> dict[str, Any]:
    return evaluate(event, config)
