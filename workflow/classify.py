"""`make classify IMAGES=...`: run the deployed workflow on images and print the results.

    python -m workflow.classify [--target local|aws] [--port N] [--mode transform] IMAGE ...

IMAGE is a local PNG/JPEG file (uploaded to s3://<data bucket>/inputs/<run id>/) or an
s3://bucket/key URI. One image goes through the single-image state machine (a low
confidence fails it loudly, with ThresholdNotMetError); several go through the batch
state machine in one execution. Prints one row per image (name, label, confidence,
outcome) in at most 100 columns.

Exit status: 0 when every image got its outcome (passed, low confidence, or an error
named by the image itself: not found, not an image); 1 when the workflow itself failed
(any other execution error, a batch execution that did not succeed, a timeout); 2 when
the request is wrong (missing file, malformed URI, no deployment, no local cloud).

`--mode transform` takes the offline path instead: serialize_batch writes the images as
Batch Transform input (a folder gives its images; s3://bucket/prefix/ every object under
it), the PUT starts the job, and this waits for results/transform-<batch id>.json.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from deployment.progress import progress_bar
from deployment.s3uri import S3Uri, S3UriError
from deployment.target import DEFAULT_LOCAL_PORT, Target, TargetError

REQUIRED_OUTPUTS = ("data_bucket", "single_image_state_machine_arn", "batch_state_machine_arn")

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}
POLL_S = 0.5


# Errors that name the image itself: the image got its outcome, the workflow worked.
IMAGE_OUTCOME_ERRORS = frozenset(
    {"ThresholdNotMetError", "ImageNotFoundError", "UnsupportedImageError", "InvalidEventError"}
)
OUTCOMES = {"passed": "passed", "low_confidence": "low confidence"}
TABLE_WIDTH = 100
IMAGE_WIDTH = 36
# filter_low_confidence's ThresholdNotMetError message (lambdas/filter_low_confidence).
_THRESHOLD_MESSAGE = re.compile(r"label (\S+) with confidence ([0-9.]+) is below the threshold")


_S3_URI = re.compile(r"s3://[^\s'\"]*/([^\s/'\"]+)")


class UsageError(Exception):
    """The command line names something that cannot be classified."""


class WorkflowError(Exception):
    """The workflow itself failed (not an image's outcome): exit 1."""


@dataclass
class Row:
    image: str
    status: str
    label: str = ""
    confidence: float | None = None
    detail: str = ""
    error: str = ""

    def __post_init__(self) -> None:
        if self.status == "low_confidence" or self.error == "ThresholdNotMetError":
            self.status = "low_confidence"
            match = _THRESHOLD_MESSAGE.search(self.detail)
            if match and not self.label:
                self.label, self.confidence = match[1], float(match[2])

    @property
    def outcome(self) -> str:
        return OUTCOMES.get(self.status) or self.error or self.status

    @property
    def workflow_failed(self) -> bool:
        """True when this image has no outcome of its own: the workflow failed for it."""
        return self.status not in OUTCOMES and self.error not in IMAGE_OUTCOME_ERRORS


def parse_images(values: list[str]) -> list[S3Uri | Path]:
    images: list[S3Uri | Path] = []
    for value in values:
        if value.startswith("s3://") and value.endswith("/"):
            bucket, _, prefix = value[5:].partition("/")
            images.append(S3Uri(bucket, prefix))  # a prefix (--mode transform)
            continue
        if Path(value).is_dir():
            images += sorted(p for p in Path(value).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            continue
        if value.startswith("s3://"):
            try:
                images.append(S3Uri.parse(value, object_key=True, what="IMAGE"))
            except S3UriError as exc:
                raise UsageError(str(exc)) from None
            continue
        path = Path(value)
        if not path.is_file():
            raise UsageError(f"{value}: no such file")
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            raise UsageError(f"{value}: not a .png/.jpg/.jpeg file")
        images.append(path)
    if not images:
        raise UsageError("no images given")
    return images


def to_s3_items(target: Target, bucket: str, images: list[S3Uri | Path]) -> list[dict[str, str]]:
    """Uploads local files under inputs/<run id>/; S3 URIs are used where they are."""
    run_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
    s3 = target.client("s3")
    items = []
    for image in progress_bar(images, desc="upload", unit="image", disable=len(images) < 5):
        if isinstance(image, S3Uri):
            items.append({"s3_bucket": image.bucket, "s3_key": image.key})
            continue
        key = f"inputs/{run_id}/{image.name}"
        s3.upload_file(str(image), bucket, key)
        items.append({"s3_bucket": bucket, "s3_key": key})
    return items


def run_execution(target: Target, machine_arn: str, payload: dict, timeout_s: float) -> dict:
    sfn = target.client("stepfunctions")
    arn = sfn.start_execution(stateMachineArn=machine_arn, input=json.dumps(payload))[
        "executionArn"
    ]
    deadline = time.monotonic() + timeout_s
    with progress_bar(
        desc="workflow", unit="poll", leave=False, disable=not sys.stderr.isatty()
    ) as bar:
        while time.monotonic() < deadline:
            execution = sfn.describe_execution(executionArn=arn)
            if execution["status"] != "RUNNING":
                return execution
            bar.update()
            time.sleep(POLL_S)
    raise WorkflowError(f"execution {arn} still running after {timeout_s:.0f} s")


def _error_message(cause: str) -> str:
    try:
        return json.loads(cause).get("errorMessage", cause)
    except (ValueError, AttributeError):
        return cause


def single_row(item: dict, execution: dict) -> Row:
    name = f"s3://{item['s3_bucket']}/{item['s3_key']}"
    if execution["status"] == "SUCCEEDED":
        result = json.loads(execution["output"])
        return Row(name, "passed", result.get("label", ""), result.get("confidence"))
    error = execution.get("error", execution["status"])
    detail = _error_message(execution.get("cause", ""))[:160]
    return Row(name, "error", detail=detail, error=error)


def batch_rows(target: Target, execution: dict) -> tuple[list[Row], dict]:
    if execution["status"] != "SUCCEEDED":
        raise WorkflowError(
            f"the batch execution {execution['status']}: {execution.get('error', '')} "
            f"{_error_message(execution.get('cause', ''))[:200]}"
        )
    summary = json.loads(execution["output"])
    results = S3Uri.parse(summary["results_uri"], object_key=True)
    body = target.client("s3").get_object(Bucket=results.bucket, Key=results.key)["Body"].read()
    rows = []
    for item in json.loads(body)["results"]:
        error = item.get("error") or {}
        rows.append(
            Row(
                f"s3://{item['s3_bucket']}/{item['s3_key']}",
                item["status"],
                item.get("label", ""),
                item.get("confidence"),
                _error_message(error.get("Cause", ""))[:160],
                error.get("Error", ""),
            )
        )
    return rows, summary


def transform(target: Target, outputs: dict, images: list[S3Uri | Path], timeout_s: float):
    """The offline path: serialize_batch, then wait for the batch's results document."""
    bucket = outputs["data_bucket"]
    prefixes = [i for i in images if isinstance(i, S3Uri) and (not i.key or i.key.endswith("/"))]
    if prefixes and len(images) > 1:
        raise UsageError("give one s3://bucket/prefix/ alone, or images")
    if prefixes:
        event: dict = {"s3_bucket": prefixes[0].bucket, "s3_prefix": prefixes[0].key}
    else:
        event = {"images": to_s3_items(target, bucket, images)}
    function = target.require_outputs("lambda_function_names")["lambda_function_names"]
    response = target.client("lambda").invoke(
        FunctionName=function["serialize_batch"], Payload=json.dumps(event)
    )
    batch = json.loads(response["Payload"].read())
    if "FunctionError" in response:
        raise WorkflowError(
            f"serialize_batch: {batch.get('errorType')}: {batch.get('errorMessage')}"
        )
    results = S3Uri.parse(batch["results_uri"], object_key=True)
    s3 = target.client("s3")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            body = s3.get_object(Bucket=results.bucket, Key=results.key)["Body"].read()
            break
        except s3.exceptions.NoSuchKey:
            time.sleep(POLL_S)
    else:
        raise WorkflowError(f"no results at {batch['results_uri']} after {timeout_s:.0f} s")
    document = json.loads(body)
    rows = []
    for item in document["results"]:
        error = item.get("error") or {}
        name = (
            f"s3://{item['s3_bucket']}/{item['s3_key']}"
            if item.get("s3_key")
            else item.get("input", "?")
        )
        rows.append(
            Row(
                name,
                item["status"],
                item.get("label", ""),
                item.get("confidence"),
                str(error.get("Cause", ""))[:160],
                error.get("Error", ""),
            )
        )
    counts = {k: document[k] for k in ("total", "passed", "low_confidence", "error")}
    return rows, f"results: {batch['results_uri']} (batch {document['status']}, {counts})"


def image_name(uri: str) -> str:
    """The image's file name (its key's last part), shortened from the left to fit."""
    name = uri.rstrip("/").rsplit("/", 1)[-1] or uri
    return name if len(name) <= IMAGE_WIDTH else "..." + name[-(IMAGE_WIDTH - 3) :]


def format_table(rows: list[Row]) -> list[str]:
    """One line per image: name, label, confidence, outcome, and a short note (<= 100 cols)."""
    width = max(len("image"), *(len(image_name(r.image)) for r in rows))
    lines = [f"{'image':<{width}}  {'label':<10}  {'confidence':>10}  outcome"]
    for r in rows:
        confidence = f"{r.confidence:.4f}" if r.confidence is not None else "-"
        line = f"{image_name(r.image):<{width}}  {r.label or '-':<10.10}  {confidence:>10}  "
        line += r.outcome
        if r.status not in OUTCOMES and r.detail:
            line += f" ({_S3_URI.sub(lambda m: m[1], r.detail)})"  # names, not URIs
        lines.append(line if len(line) <= TABLE_WIDTH else line[: TABLE_WIDTH - 3] + "...")
    return lines


def summary_line(rows: list[Row]) -> str:
    passed = sum(r.status == "passed" for r in rows)
    low = sum(r.status == "low_confidence" for r in rows)
    failed = sum(r.workflow_failed for r in rows)
    other = len(rows) - passed - low - failed
    parts = [f"{passed} passed", f"{low} low confidence"]
    if other:
        parts.append(f"{other} not classifiable")
    if failed:
        parts.append(f"{failed} failed in the workflow")
    noun = "image" if len(rows) == 1 else "images"
    return f"{len(rows)} {noun}: " + ", ".join(parts)


def report(rows: list[Row], where: str) -> int:
    """Prints the table, the counts and where the details are; returns the exit status."""
    print("\n".join(format_table(rows)))
    print(f"\n{summary_line(rows)}")
    print(where)
    return 1 if any(r.workflow_failed for r in rows) else 0


def classify(
    target: Target, images: list[S3Uri | Path], timeout_s: float, mode: str = "workflow"
) -> int:
    """Runs the workflow on the images, prints the table; returns the exit status."""
    return report(*run_workflow(target, images, timeout_s, mode))


def run_workflow(
    target: Target, images: list[S3Uri | Path], timeout_s: float, mode: str = "workflow"
) -> tuple[list[Row], str]:
    """The rows, one per image, and where the details are (execution, results document)."""
    target.check_reachable()
    outputs = target.require_outputs(*REQUIRED_OUTPUTS)
    if not outputs.get("endpoint_name"):
        raise TargetError(
            f"no endpoint is deployed for TARGET={target.name}: run `make train TARGET="
            f"{target.name}` and `make apply TARGET={target.name}` first"
        )
    if mode == "transform":
        return transform(target, outputs, images, timeout_s)
    if any(isinstance(i, S3Uri) and i.key.endswith("/") for i in images):
        raise UsageError("an s3://bucket/prefix/ needs --mode transform")
    items = to_s3_items(target, outputs["data_bucket"], images)
    if len(items) == 1:
        machine = outputs["single_image_state_machine_arn"]
        execution = run_execution(target, machine, items[0], timeout_s)
        rows = [single_row(items[0], execution)]
        where = f"execution: {execution['executionArn']}"
    else:
        machine = outputs["batch_state_machine_arn"]
        execution = run_execution(target, machine, {"images": items}, timeout_s)
        rows, summary = batch_rows(target, execution)
        where = f"results: {summary['results_uri']}\nexecution: {execution['executionArn']}"
    return rows, where


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m workflow.classify",
        description="Run the deployed workflow on images and print the results.",
    )
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="file or s3://bucket/key")
    parser.add_argument("--target", choices=("local", "aws"), default="local")
    parser.add_argument("--port", type=int, default=DEFAULT_LOCAL_PORT, help="local cloud port")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait")
    parser.add_argument(
        "--mode",
        choices=("workflow", "transform"),
        default="workflow",
        help="workflow: the state machines; transform: the offline Batch Transform path",
    )
    args = parser.parse_args(argv)
    try:
        images = parse_images(args.images)
        return classify(Target(args.target, args.port), images, args.timeout, args.mode)
    except WorkflowError as exc:
        print(f"classify: the workflow failed: {exc}", file=sys.stderr)
        return 1
    except (UsageError, TargetError) as exc:
        print(f"classify: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # botocore errors: one line, never a traceback
        if type(exc).__module__.startswith("botocore"):
            print(f"classify: AWS error: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
