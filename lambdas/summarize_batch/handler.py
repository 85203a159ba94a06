"""summarize_batch: writes a batch's per-item results to S3 and counts them per status.

In:  {"execution_name": str, "results": [{"s3_bucket", "s3_key", "status", ...}, ...]}
Out: {"total", "passed", "low_confidence", "error", "results_uri"}; the results are at
     s3://$RESULTS_BUCKET/results/<execution_name>.json.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from common import config as env
from common.aws import client
from common.entry import entry_point
from common.errors import InvalidEventError
from common.events import require_string

FUNCTION = "summarize_batch"
RESULTS_PREFIX = "results/"
STATUSES = ("passed", "low_confidence", "error")
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
S3 = client("s3")


def require_results(event: dict[str, Any]) -> list[dict[str, Any]]:
    results = event.get("results")
    if not isinstance(results, list):
        raise InvalidEventError(
            f"'results' must be a list of per-item results, got {type(results).__name__}"
        )
    for index, item in enumerate(results):
        if not isinstance(item, dict):
            raise InvalidEventError(f"results[{index}] is not an object")
        if item.get("status") not in STATUSES:
            raise InvalidEventError(
                f"results[{index}].status must be one of {STATUSES}, got {item.get('status')!r}"
            )
        for field in ("s3_bucket", "s3_key"):
            if not isinstance(item.get(field), str):
                raise InvalidEventError(f"results[{index}].{field} must be a string")
    return results


def summarize(event: dict[str, Any], config: Config) -> dict[str, Any]:
    name = require_string(event, "execution_name")
    if not _EXECUTION_NAME.match(name):
        raise InvalidEventError(f"'execution_name' is not a Step Functions name: {name[:80]!r}")
    results = require_results(event)
    counts = Counter(item["status"] for item in results)
    summary: dict[str, Any] = {"total": len(results), **{s: counts[s] for s in STATUSES}}
    key = f"{RESULTS_PREFIX}{name}.json"
    document = {"execution_name": name, **summary, "results": results}
    S3.put_object(
        Bucket=config.results_bucket,
        Key=key,
        Body=json.dumps(document, indent=1).encode("utf-8"),
        ContentType="application/json",
    )
    return {**summary, "results_uri": f"s3://{config.results_bucket}/{key}"}


@entry_point(FUNCTION, CONFIG)
def lambda_handler(event: dict[str, Any], config: Config, context: Any) -> dict[str, Any]:
    return summarize(event, config)
