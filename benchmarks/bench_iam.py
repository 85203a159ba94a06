"""IAM enforcement (issue 16): what moto 5.2.5 covers alone, and what enforcing costs.

    .venv/bin/python -m benchmarks.bench_iam [--runs 30] [--suite FILE ...]

1. Coverage: one role with a policy scoped the way the deployment scopes its roles
   (objects under a prefix, ListBucket with an s3:prefix condition, one topic, one state
   machine, one endpoint, one function, one queue). Each call the workload makes is
   made with the role's session keys twice, on its resource and on another one, against
   (a) moto 5.2.5 alone with its access control on (`INITIAL_NO_AUTH_ACTION_COUNT = 0`,
   in-process) and (b) the local cloud. Right = allowed on its resource, denied off it.
2. Cost: the single-image workflow (--runs executions, p50/p95) on a local cloud with
   the real Terraform applied, enforcement on and off, in this run.
3. Cost: the integration files given with --suite, run by pytest with enforcement on and
   off (LOCALCLOUD_IAM), wall time.

Writes benchmarks/results/iam.md and .json. The machine is shared: compare the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from benchmarks.bench_localcloud import (
    ARCHIVE,
    RESULTS,
    clients,
    deployed_cloud,
    percentile,
    run_execution,
    start,
    stop,
)
from tests.support.localcloud_harness import zip_source
from tests.support.network import free_port
from tests.support.trained_model import cifar_pngs, trained_artifact

REPO = Path(__file__).resolve().parents[1]
REGION = "us-east-1"
ACCOUNT = "123456789012"
BUCKET = "iam-bench"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
}


def arn(service: str, resource: str) -> str:
    return f"arn:aws:{service}:{REGION}:{ACCOUNT}:{resource}"


SCOPED_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "ReadInputs",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{BUCKET}/inputs/*",
        },
        {
            "Sid": "ListInputs",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": f"arn:aws:s3:::{BUCKET}",
            "Condition": {"StringLike": {"s3:prefix": ["inputs/*"]}},
        },
        {
            "Sid": "PublishAlerts",
            "Effect": "Allow",
            "Action": "sns:Publish",
            "Resource": arn("sns", "alerts"),
        },
        {
            "Sid": "StartBatch",
            "Effect": "Allow",
            "Action": "states:StartExecution",
            "Resource": arn("states", "stateMachine:batch"),
        },
        {
            "Sid": "Classify",
            "Effect": "Allow",
            "Action": "sagemaker:InvokeEndpoint",
            "Resource": arn("sagemaker", "endpoint/model"),
        },
        {
            "Sid": "InvokeStep",
            "Effect": "Allow",
            "Action": "lambda:InvokeFunction",
            "Resource": arn("lambda", "function:step"),
        },
        {
            "Sid": "DeadLetters",
            "Effect": "Allow",
            "Action": "sqs:SendMessage",
            "Resource": arn("sqs", "dead-letters"),
        },
    ],
}


def calls(client: Callable[[str], Any]) -> dict[str, tuple[Callable, Callable]]:
    """Each workload call: (on its own resource, on another one)."""
    s3, sns, sfn = client("s3"), client("sns"), client("stepfunctions")
    runtime, lam, sqs = client("sagemaker-runtime"), client("lambda"), client("sqs")
    queue = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/"
    return {
        "s3:GetObject": (
            lambda: s3.get_object(Bucket=BUCKET, Key="inputs/a.png"),
            lambda: s3.get_object(Bucket=BUCKET, Key="other/a.png"),
        ),
        "s3:ListBucket (s3:prefix condition)": (
            lambda: s3.list_objects_v2(Bucket=BUCKET, Prefix="inputs/"),
            lambda: s3.list_objects_v2(Bucket=BUCKET, Prefix="other/"),
        ),
        "sns:Publish": (
            lambda: sns.publish(TopicArn=arn("sns", "alerts"), Message="m"),
            lambda: sns.publish(TopicArn=arn("sns", "other"), Message="m"),
        ),
        "states:StartExecution": (
            lambda: sfn.start_execution(stateMachineArn=arn("states", "stateMachine:batch")),
            lambda: sfn.start_execution(stateMachineArn=arn("states", "stateMachine:other")),
        ),
        "sagemaker:InvokeEndpoint": (
            lambda: runtime.invoke_endpoint(EndpointName="model", Body=b"x"),
            lambda: runtime.invoke_endpoint(EndpointName="other", Body=b"x"),
        ),
        "lambda:InvokeFunction": (
            lambda: lam.invoke(FunctionName="step", InvocationType="DryRun"),
            lambda: lam.invoke(FunctionName="other", InvocationType="DryRun"),
        ),
        "sqs:SendMessage": (
            lambda: sqs.send_message(QueueUrl=queue + "dead-letters", MessageBody="m"),
            lambda: sqs.send_message(QueueUrl=queue + "other", MessageBody="m"),
        ),
    }


def outcome(call: Callable) -> str:
    """'allowed' (the service answered, success or its own error) or the denial code."""
    try:
        call()
    except ClientError as exc:
        error = exc.response["Error"]
        if exc.response["ResponseMetadata"]["HTTPStatusCode"] == 403:
            return f"denied ({error.get('Code')})"
        return "allowed"
    return "allowed"


def role_session_client(endpoint: str | None) -> Callable[[str], Any]:
    """Sets up the role with the admin key, then clients signed with its session."""

    def admin(service: str) -> Any:
        return boto3.client(
            service,
            region_name=REGION,
            endpoint_url=endpoint,
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )

    iam = admin("iam")
    role = iam.create_role(RoleName="bench-scoped", AssumeRolePolicyDocument=json.dumps(TRUST))
    iam.put_role_policy(
        RoleName="bench-scoped", PolicyName="scoped", PolicyDocument=json.dumps(SCOPED_POLICY)
    )
    admin("s3").create_bucket(Bucket=BUCKET)
    for name in ("dead-letters", "other"):  # moto knows a queue's ARN only if it exists
        admin("sqs").create_queue(QueueName=name)
    for name in ("step", "other"):
        admin("lambda").create_function(
            FunctionName=name,
            Runtime="python3.11",
            Role=role["Role"]["Arn"],
            Handler="handler.handler",
            Code={"ZipFile": zip_source({"handler.py": "def handler(e, c):\n    return e\n"})},
        )
    credentials = admin("sts").assume_role(RoleArn=role["Role"]["Arn"], RoleSessionName="bench")[
        "Credentials"
    ]

    def client(service: str) -> Any:
        return boto3.client(
            service,
            region_name=REGION,
            endpoint_url=endpoint,
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
            config=Config(retries={"max_attempts": 1}),
        )

    return client


def coverage_moto() -> dict[str, tuple[str, str]]:
    from moto import mock_aws, settings

    with mock_aws():
        client = role_session_client(None)
        settings.INITIAL_NO_AUTH_ACTION_COUNT = 0  # moto's access control on from here
        try:
            return {name: (outcome(on), outcome(off)) for name, (on, off) in calls(client).items()}
        finally:
            settings.INITIAL_NO_AUTH_ACTION_COUNT = float("inf")


def coverage_local(work: Path) -> dict[str, tuple[str, str]]:
    port = free_port()
    process, _ = start("localcloud", port, work)
    try:
        client = role_session_client(f"http://127.0.0.1:{port}")
        return {name: (outcome(on), outcome(off)) for name, (on, off) in calls(client).items()}
    finally:
        stop(process)


def single_image_latency(work: Path, artifact: Path, images: list[Path], runs: int) -> dict:
    with deployed_cloud(work, artifact) as (url, outputs, _):
        client = clients(url)
        s3, sfn = client("s3"), client("stepfunctions")
        bucket, machine = outputs["data_bucket"], outputs["single_image_state_machine_arn"]
        keys = []
        for image in images[:10]:
            key = f"inputs/bench-iam/{image.name}"
            s3.put_object(Bucket=bucket, Key=key, Body=image.read_bytes())
            keys.append(key)
        run_execution(sfn, machine, {"s3_bucket": bucket, "s3_key": keys[0]})  # warm workers
        seconds, outcomes = [], set()
        for i in range(runs):
            took, result, _ = run_execution(
                sfn, machine, {"s3_bucket": bucket, "s3_key": keys[i % len(keys)]}
            )
            seconds.append(took)
            outcomes.add(result)
    return {
        "p50_s": round(statistics.median(seconds), 3),
        "p95_s": round(percentile(seconds, 0.95), 3),
        "runs": runs,
        "outcomes": sorted(outcomes),
    }


def suite_seconds(files: list[str], iam: str) -> dict:
    env = {**os.environ, "LOCALCLOUD_IAM": iam}
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *files],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    summary = (result.stdout.strip().splitlines() or ["(no output)"])[-1]
    return {"seconds": round(time.perf_counter() - started, 1), "summary": summary}


def with_iam(setting: str, action: Callable[[], Any]) -> Any:
    previous = os.environ.get("LOCALCLOUD_IAM")
    os.environ["LOCALCLOUD_IAM"] = setting
    try:
        return action()
    finally:
        if previous is None:
            os.environ.pop("LOCALCLOUD_IAM", None)
        else:
            os.environ["LOCALCLOUD_IAM"] = previous


def write_results(results: dict, command: str) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "iam.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = [
        "# IAM enforcement: moto's coverage and the cost",
        "",
        f"Command: `{command}`  ",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores shared with other work; "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. Noisy: compare the ratios.",
        "",
        "## What moto 5.2.5 enforces alone",
        "",
        "A role allowed exactly these calls on their own resources (the deployment's way of",
        "scoping), each made on its resource and on another one. Right: allowed, then denied.",
        "",
        "| call | moto alone: own / other | local cloud: own / other |",
        "|---|---|---|",
    ]
    for name, (own, other) in results["coverage"]["moto"].items():
        local_own, local_other = results["coverage"]["local"][name]
        lines.append(f"| {name} | {own} / {other} | {local_own} / {local_other} |")
    lines += [
        "",
        "moto judges every call but S3's (and an existing SQS queue's, IAM/STS) against the",
        "resource `*`, which a statement scoped to an ARN never matches, and does not apply",
        "the `s3:prefix` condition: with its access control on, the deployment's roles could",
        "not run the workflow, and ListBucket reaches prefixes the role may not list. It also",
        "refuses every key that is not an IAM user's or a role session's (the clients' `test`",
        "key), applies no resource policy but the bucket policy, and names no resource in a",
        "denial. The local cloud's evaluation (`localcloud/iam_*.py`) gets each row right.",
        "",
        "## Cost",
        "",
        "| measure | enforcement on | off | ratio |",
        "|---|---|---|---|",
    ]
    on, off = results["single_image"]["on"], results["single_image"]["off"]
    for key in ("p50_s", "p95_s"):
        lines.append(
            f"| single-image workflow {key[:3]} (s, {on['runs']} runs) | {on[key]} | {off[key]} "
            f"| {on[key] / off[key]:.2f} |"
        )
    if results.get("suite"):
        on_s, off_s = results["suite"]["on"], results["suite"]["off"]
        lines.append(
            f"| integration files (s): {' '.join(results['suite']['files'])} | "
            f"{on_s['seconds']} ({on_s['summary']}) | {off_s['seconds']} ({off_s['summary']}) "
            f"| {on_s['seconds'] / off_s['seconds']:.2f} |"
        )
    lines.append("")
    (RESULTS / "iam.md").write_text("\n".join(lines))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--suite", nargs="*", default=[], help="integration files to time")
    args = parser.parse_args()
    if shutil.which("terraform") is None:
        print("terraform is not on PATH: the cost part needs it", file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="bench-iam-"))
    try:
        results: dict[str, Any] = {"coverage": {"moto": coverage_moto()}}
        results["coverage"]["local"] = with_iam("on", lambda: coverage_local(work / "cov"))
        print(json.dumps(results["coverage"], indent=1), flush=True)
        artifact = trained_artifact(ARCHIVE)
        images = sorted((cifar_pngs(ARCHIVE, work / "cifar") / "test").rglob("*.png"))
        results["single_image"] = {
            setting: with_iam(
                setting,
                lambda s=setting: single_image_latency(work / s, artifact, images, args.runs),
            )
            for setting in ("on", "off")
        }
        if args.suite:
            results["suite"] = {
                "files": args.suite,
                **{s: suite_seconds(args.suite, s) for s in ("on", "off")},
            }
        command = " ".join(["python -m benchmarks.bench_iam", *sys.argv[1:]])
        write_results(results, command)
        print(json.dumps(results, indent=1))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
