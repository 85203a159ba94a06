"""`make demo`: the whole mission on the local cloud, one command, no AWS account.

    python -m workflow.demo [--port 4566] [--source ARCHIVE] [--epochs N]

1. start the local cloud (if it is not running)      7. classify a confident test image
2. terraform apply (workspace `local`)               8. ... and a low-confidence one (alerts)
3. ETL of CIFAR-100 into the data bucket             9. a batch in one execution
4. train a quick model (or reuse one), upload it    10. a batch started by uploads to inbox/
5. terraform apply again: the endpoint              11. the monitoring report from data capture
6. every test image through the endpoint: its accuracy

It ends with the run's result (test accuracy at training and at the endpoint, outcomes
per path, latency per image, alerts sent, time per step) and where everything is.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from deployment import terraform_progress
from deployment.outputs import CLI_CONFIG, WORKSPACES
from deployment.s3uri import S3Uri
from deployment.target import DEFAULT_LOCAL_PORT, Target, TargetError, local_environment, local_url
from localcloud import cli, paths
from workflow.classify import REQUIRED_OUTPUTS, Row, report, run_workflow
from workflow.endpoint_accuracy import EndpointAccuracy, endpoint_accuracy, labelled_images
from workflow.scoring import score_images

REPO = paths.REPO_ROOT
SHARED_SUBSET = REPO.parent / "shared" / "data" / "cifar-100-scones-dev.tar.gz"
FULL_ARCHIVE = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
DATA_DIR = REPO / "data" / "cifar"
REPORT_DIR = REPO / "reports" / "monitoring"
BATCH_SIZE = 8


# Measured on a fresh clone (2 cores): the steps other than training took ~3 min even on a
# machine shared with other work; training ~100 s idle, 25 min under a load of 12.
EXPECTED_DURATION = (
    "about 5-8 minutes on 2 idle CPU cores, ~100 s of it training (skipped when build/training "
    "holds a model for the same data and recipe); on a busy machine training alone can take "
    "25 min: its lines show the eta"
)


class DemoError(Exception):
    """A step failed; the message names it and what to look at."""


@dataclass
class DemoResult:
    """What the run measured, for its final block."""

    test_accuracy: float | None = None  # the trained model's, on the test split
    endpoint: EndpointAccuracy | None = None  # the endpoint's answers on the same split
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # path -> outcome -> n
    latencies: dict[str, list[float]] = field(default_factory=dict)  # path -> s per image
    alerts: list[str] = field(default_factory=list)  # subjects
    step_seconds: dict[str, float] = field(default_factory=dict)  # title -> s
    total_seconds: float = 0.0


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0-100) of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def endpoint_line(at: EndpointAccuracy) -> str:
    failed = f"; {at.failed} failed, first: {at.first_error}" if at.failed else ""
    return (
        f"  at the endpoint {at.accuracy:.1%} ({at.correct}/{at.total} test images right, "
        f"each through InvokeEndpoint{failed})"
    )


def format_result(result: DemoResult) -> list[str]:
    """The run's result, one fact a line (the block `make demo` ends with)."""
    lines = []
    accuracy = result.test_accuracy
    lines.append(
        f"  test accuracy   {accuracy:.1%} (the trained model on the test split)"
        if accuracy is not None
        else "  test accuracy   - (training recorded none)"
    )
    if result.endpoint:
        lines.append(endpoint_line(result.endpoint))
    for path, counts in result.counts.items():
        total = sum(counts.values())
        parts = ", ".join(f"{n} {outcome.replace('_', ' ')}" for outcome, n in counts.items())
        lines.append(f"  {path + ' path':<15} {total} image{'s' if total != 1 else ''}: {parts}")
    for path, values in result.latencies.items():
        if values:
            lines.append(
                f"  {'latency ' + path:<15} {percentile(values, 50):.2f} s p50, "
                f"{percentile(values, 95):.2f} s p95 per image ({len(values)} measured)"
            )
    subjects = Counter(result.alerts)
    listed = "; ".join(f"{n} x {s}" if n > 1 else s for s, n in subjects.items())
    lines.append(f"  alerts sent     {len(result.alerts)}" + (f": {listed}" if listed else ""))
    for title, seconds in result.step_seconds.items():
        lines.append(f"  {seconds:>6.1f} s  {title}")
    minutes, seconds = divmod(round(result.total_seconds), 60)
    lines.append(f"  {result.total_seconds:>6.1f} s  total ({minutes} min {seconds:02d} s)")
    return lines


class Steps:
    """Numbered step headings that time themselves."""

    def __init__(self, result: DemoResult) -> None:
        self.result, self.number, self.title, self.started = result, 0, "", 0.0

    def __call__(self, title: str) -> None:
        self.done()
        self.number += 1
        self.title, self.started = f"{self.number}. {title}", time.monotonic()
        print(f"\n== {self.title}", flush=True)

    def done(self) -> None:
        if self.title:
            self.result.step_seconds[self.title] = time.monotonic() - self.started
            self.title = ""


def environment(port: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(local_environment(port))
    env["TF_WORKSPACE"] = WORKSPACES["local"]
    env["TF_CLI_CONFIG_FILE"] = str(CLI_CONFIG)
    return env


def run(command: list[str], env: dict[str, str], what: str, quiet: bool = False) -> str:
    """Runs one step's command; its output streams unless quiet; failure is a DemoError."""
    print(f"$ {' '.join(command)}", flush=True)
    if not quiet:
        result = subprocess.run(command, cwd=REPO, env=env, check=False)
        if result.returncode != 0:
            raise DemoError(f"{what} failed (exit {result.returncode}); see the output above")
        return ""
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        tail = (result.stdout + result.stderr).strip().splitlines()[-15:]
        raise DemoError(f"{what} failed (exit {result.returncode}):\n" + "\n".join(tail))
    return result.stdout


def ensure_cloud(port: int) -> None:
    if cli.health(port):
        print(f"local cloud already running on {local_url(port)}")
        return
    cli.up(port, reset_terraform_state=True)


def terraform_init(env: dict[str, str]) -> None:
    """The CLI config (provider mirror) and `terraform init`, once per demo."""
    run(
        [sys.executable, "scripts/terraform_cli_config.py", "--allow-registry", "--out",
         str(CLI_CONFIG)],
        env,
        "writing the Terraform CLI config",
        quiet=True,
    )  # fmt: skip
    # With the local backend, TF_WORKSPACE=local creates the workspace on first use.
    run(["terraform", "-chdir=terraform", "init", "-input=false"], env, "terraform init", True)


def terraform_apply(port: int, env: dict[str, str], with_model: bool) -> None:
    """`make apply`'s command: progress, Terraform's summary, its errors as text."""
    args = ["-chdir=terraform", "apply", "-var-file=environments/local.tfvars"]
    args.append(f"-var=aws_endpoint_url={local_url(port)}")
    if with_model:
        args.append("-var-file=model.local.tfvars.json")
    print(f"$ {' '.join(terraform_progress.terraform_command(args)[0])}", flush=True)
    outcome = terraform_progress.run(args, env=env, cwd=str(REPO))
    if outcome.returncode != 0:
        raise DemoError(f"terraform apply failed (exit {outcome.returncode}); see its errors above")


def model_artifact(target: Target, work: Path) -> Path:
    model_vars = json.loads(cli.LOCAL_MODEL_VARS.read_text())
    uri = S3Uri.parse(model_vars["model_data_url"], object_key=True, what="model_data_url")
    tarball = work / "model.tar.gz"
    target.client("s3").download_file(uri.bucket, uri.key, str(tarball))
    model_dir = work / "model"
    with tarfile.open(tarball) as archive:
        archive.extractall(model_dir, filter="data")
    return model_dir


def pick_images(model_dir: Path, threshold: float) -> tuple[Path, Path, list[Path]]:
    """The test image the model is surest of, one it is unsure of, and an even sample."""
    pngs = sorted((DATA_DIR / "test").rglob("*.png"))
    scored = sorted(score_images(model_dir, pngs), key=lambda s: s.confidence)
    unsure = [s.path for s in scored if s.confidence < threshold]
    if not unsure or scored[-1].confidence < threshold:
        raise DemoError(f"no test image on each side of the threshold {threshold}")
    return scored[-1].path, unsure[0], pngs[:: max(1, len(pngs) // BATCH_SIZE)][:BATCH_SIZE]


def classify(paths_: list[Path], port: int, result: DemoResult, path: str) -> list[Row]:
    """`make classify` on the images: prints its table, records the outcomes and the time
    per image; a DemoError when the workflow itself failed."""
    started = time.monotonic()
    rows, where = run_workflow(Target("local", port), list(paths_), timeout_s=900)
    elapsed = time.monotonic() - started
    if report(rows, where) != 0:
        raise DemoError("the workflow failed for an image; see its row above")
    counts = result.counts.setdefault(path, {})
    for row in rows:
        counts[row.status] = counts.get(row.status, 0) + 1
    per_image = [elapsed] if len(rows) == 1 else [elapsed / len(rows)] * len(rows)
    result.latencies.setdefault(path, []).extend(per_image)
    return rows


def subscribe_alerts(target: Target, topic_arn: str) -> str:
    """An SQS queue subscribed to the alert topic; its URL (read at the end)."""
    sqs = target.client("sqs")
    url = sqs.create_queue(QueueName=f"demo-alerts-{time.strftime('%H%M%S')}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    target.client("sns").subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn)
    return url


def alert_subjects(target: Target, queue_url: str, settle_s: float = 3.0) -> list[str]:
    """The subjects of every alert the queue received (waits `settle_s` for late ones)."""
    sqs, subjects = target.client("sqs"), []
    deadline = time.monotonic() + settle_s
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get(
            "Messages", []
        )
        for message in messages:
            body = json.loads(message["Body"])
            subjects.append(body.get("Subject") or body.get("Message", "")[:60])
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        if not messages and time.monotonic() > deadline:
            return subjects
        if not messages:
            time.sleep(0.5)


def inbox_batch(target: Target, outputs: dict, images: list[Path], result: DemoResult) -> None:
    sfn, s3 = target.client("stepfunctions"), target.client("s3")
    machine = outputs["batch_state_machine_arn"]
    before = {e["executionArn"] for e in sfn.list_executions(stateMachineArn=machine)["executions"]}
    prefix = f"inbox/demo-{time.strftime('%H%M%S')}"
    started = time.monotonic()
    for image in images:
        s3.upload_file(str(image), outputs["data_bucket"], f"{prefix}/{image.name}")
    print(f"uploaded {len(images)} images to s3://{outputs['data_bucket']}/{prefix}/")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        runs = [
            e
            for e in sfn.list_executions(stateMachineArn=machine)["executions"]
            if e["executionArn"] not in before
        ]
        if runs and all(e["status"] != "RUNNING" for e in runs):
            break
        time.sleep(1)
    elapsed = time.monotonic() - started
    totals: dict[str, int] = {}
    for execution in runs:
        described = sfn.describe_execution(executionArn=execution["executionArn"])
        summary = json.loads(described.get("output") or "{}")
        for key in ("passed", "low_confidence", "error"):
            totals[key] = totals.get(key, 0) + int(summary.get(key, 0))
        print(f"  {execution['name']}: {described['status']} {summary.get('results_uri', '')}")
    print(f"inbox uploads started {len(runs)} batch execution(s): {totals}")
    result.counts["inbox"] = totals
    done = sum(totals.values())
    if done:
        result.latencies["inbox"] = [elapsed / done] * done


def recorded_test_accuracy(model_dir: Path) -> float | None:
    """The trained model's test accuracy, from the metrics.json in its artifact."""
    try:
        value = json.loads((model_dir / "metrics.json").read_text()).get("test_accuracy")
    except (OSError, ValueError):
        return None
    return float(value) if isinstance(value, int | float) else None


def demo(port: int, source: str, epochs: int | None) -> int:
    started = time.monotonic()
    result = DemoResult()
    step = Steps(result)
    print(f"make demo: the whole mission on the local cloud; {EXPECTED_DURATION}")
    env = environment(port)
    target = Target("local", port)
    step("local cloud")
    ensure_cloud(port)
    step("terraform apply (no model yet, unless one is recorded for this cloud)")
    run([sys.executable, "lambdas/build.py", "--out", "build/lambdas"], env, "packaging", True)
    terraform_init(env)
    terraform_apply(port, env, with_model=cli.LOCAL_MODEL_VARS.is_file())
    outputs = target.require_outputs(*REQUIRED_OUTPUTS)
    alert_queue = subscribe_alerts(target, outputs["alert_topic_arn"])
    print("alerts: an SQS queue is subscribed to the alert topic; they are counted at the end")
    step(f"ETL of {source}")
    run(
        [
            sys.executable,
            "-m",
            "etl",
            "--source",
            source,
            "--out",
            str(DATA_DIR),
            "--labels",
            "bicycle,motorcycle",
            "--target",
            "local",
            "--upload",
            f"s3://{outputs['data_bucket']}/cifar",
        ],
        env,
        "ETL",
    )
    recipe = f"{epochs} epochs" if epochs else "the recipe's defaults"
    step(f"train the model ({recipe}), or reuse one trained on the same data and recipe")
    epochs_flag = ["--epochs", str(epochs)] if epochs else []
    run(
        [sys.executable, "-m", "training", "local", "--target", "local", *epochs_flag],
        env,
        "training",
    )
    step("terraform apply with the model: the endpoint")
    terraform_apply(port, env, with_model=True)
    outputs = target.require_outputs(*REQUIRED_OUTPUTS, "endpoint_name", refresh=True)
    test_images = labelled_images(DATA_DIR, "test")
    step(f"accuracy at the endpoint: the {len(test_images)} test images through InvokeEndpoint")
    result.endpoint = endpoint_accuracy(target, outputs["endpoint_name"], test_images)
    print(endpoint_line(result.endpoint))
    with tempfile.TemporaryDirectory() as work:
        model_dir = model_artifact(target, Path(work))
        result.test_accuracy = recorded_test_accuracy(model_dir)
        confident, unsure, batch = pick_images(
            model_dir, float(outputs.get("confidence_threshold", 0.93))
        )
    step("classify a confident test image")
    classify([confident], port, result, "single")
    step("classify a low-confidence image: the execution fails loudly and alerts")
    if classify([unsure], port, result, "single")[0].status != "low_confidence":
        raise DemoError(f"{unsure} was expected to fall below the threshold")
    step(f"batch: {len(batch)} test images in one execution (Distributed Map)")
    classify(batch, port, result, "batch")
    step("inbox: uploads to inbox/ start the batch workflow")
    inbox_batch(target, outputs, batch, result)
    step("monitoring report from the endpoint's data capture")
    run(
        [
            sys.executable,
            "-m",
            "monitoring",
            "report",
            "--target",
            "local",
            "--out",
            str(REPORT_DIR),
        ],
        env,
        "the monitoring report",
    )
    step.done()
    result.alerts = alert_subjects(target, alert_queue)
    result.total_seconds = time.monotonic() - started
    print("\n== result")
    print("\n".join(format_result(result)))
    print("\n== where everything is")
    print(f"  local cloud     {local_url(port)} (state in memory; `make local-down` ends it)")
    print(f"  data            s3://{outputs['data_bucket']}/cifar, local copy {DATA_DIR}")
    print(f"  model           {outputs.get('model_artifacts_s3_uri')}")
    print(f"  endpoint        {outputs.get('endpoint_name')}")
    print(f"  data capture    {outputs.get('data_capture_s3_uri')}")
    print(f"  batch results   s3://{outputs['data_bucket']}/results/")
    print(f"  report          {REPORT_DIR / 'index.html'}")
    print("  terraform state terraform/terraform.tfstate.d/local/ (workspace `local`)")
    print(f"  try             make classify IMAGES={confident}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m workflow.demo", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--port", type=int, default=DEFAULT_LOCAL_PORT)
    parser.add_argument(
        "--source",
        default=str(SHARED_SUBSET) if SHARED_SUBSET.is_file() else FULL_ARCHIVE,
        help="CIFAR-100 archive (default: the shared bicycle/motorcycle subset when present)",
    )
    parser.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="training epochs (default: the recipe's, about 100 s on 2 cores)",
    )
    args = parser.parse_args(argv)
    if args.epochs is not None and args.epochs < 1:
        parser.error("--epochs must be at least 1")
    try:
        return demo(args.port, args.source, args.epochs)
    except (DemoError, TargetError, cli.LocalCloudError) as exc:
        print(f"\ndemo: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
