"""A Distributed Map run's results as Step Functions' ResultWriter writes them to S3.

Format from "ResultWriter (Map)" in the Step Functions developer guide
(https://docs.aws.amazon.com/step-functions/latest/dg/input-output-resultwriter.html):
`<Prefix>/<map run id>/manifest.json` lists the result files per status, and each
`<STATUS>_<n>.json` is a JSON array of child executions whose Input and Output are
JSON strings; failed children carry Error and Cause instead of Output.
"""

from __future__ import annotations

import json
from typing import Any

MAP_RUN_ID = "2b1f8e3a-6d0c-3b7e-9f55-0c1d2e3f4a5b"
MAP_RUN_ARN = f"arn:aws:states:us-east-1:123456789012:mapRun:scones-batch/ClassifyList:{MAP_RUN_ID}"
CHILD_MACHINE_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:scones-batch/ClassifyList"
EXECUTION_ARN = "arn:aws:states:us-east-1:123456789012:execution:scones-batch/ClassifyList:{}"


def succeeded(item: Any, output: dict[str, Any], n: int = 0) -> dict[str, Any]:
    return {**_child(item, "SUCCEEDED", n), "Output": json.dumps(output)}


def failed(item: Any, error: str, cause: str, n: int = 0) -> dict[str, Any]:
    return {**_child(item, "FAILED", n), "Error": error, "Cause": cause}


def _child(item: Any, status: str, n: int) -> dict[str, Any]:
    name = f"{MAP_RUN_ID[:8]}-child-{n}"
    return {
        "ExecutionArn": EXECUTION_ARN.format(name),
        "Input": json.dumps(item),
        "InputDetails": {"Included": True},
        "Name": name,
        "StartDate": "2026-11-29T12:00:00.000Z",
        "StateMachineArn": CHILD_MACHINE_ARN,
        "Status": status,
        "StopDate": "2026-11-29T12:00:01.000Z",
    }


def write_map_run(
    s3: Any, bucket: str, children: list[dict[str, Any]], prefix: str = "map-results"
) -> dict:
    """Writes the manifest and result files; returns the Map state's output."""
    files: dict[str, list[dict[str, Any]]] = {"FAILED": [], "PENDING": [], "SUCCEEDED": []}
    for status in files:
        group = [c for c in children if c["Status"] == status]
        if group:
            key = f"{prefix}/{MAP_RUN_ID}/{status}_0.json"
            body = json.dumps(group).encode()
            s3.put_object(Bucket=bucket, Key=key, Body=body)
            files[status].append({"Key": key, "Size": len(body)})
    manifest_key = f"{prefix}/{MAP_RUN_ID}/manifest.json"
    manifest = {"DestinationBucket": bucket, "MapRunArn": MAP_RUN_ARN, "ResultFiles": files}
    s3.put_object(Bucket=bucket, Key=manifest_key, Body=json.dumps(manifest).encode())
    return {
        "MapRunArn": MAP_RUN_ARN,
        "ResultWriterDetails": {"Bucket": bucket, "Key": manifest_key},
    }
