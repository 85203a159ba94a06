"""`make demo`: the whole mission on the local cloud, one command, no AWS account.

    python -m workflow.demo [--port 4566] [--source ARCHIVE] [--epochs N]

1. start the local cloud (if it is not running)      6. classify a confident test image
2. terraform apply (workspace `local`)               7. ... and a low-confidence one, which fails
3. ETL of CIFAR-100 into the data bucket             8. a batch, started by uploads to inbox/
4. train a quick model, upload it                    9. the monitoring report from data capture
5. terraform apply again: the endpoint              10. where everything is
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from deployment.outputs import CLI_CONFIG, WORKSPACES
from deployment.s3uri import S3Uri
from deployment.target import DEFAULT_LOCAL_PORT, Target, TargetError, local_environment, local_url
from localcloud import cli, paths
from workflow.classify import REQUIRED_OUTPUTS, Row, report, run_workflow
from workflow.scoring import score_images

REPO = paths.REPO_ROOT
SHARED_SUBSET = REPO.parent / "shared" / "data" / "cifar-100-scones-dev.tar.gz"
FULL_ARCHIVE = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
DATA_DIR = REPO / "data" / "cifar"
REPORT_DIR = REPO / "reports" / "monitoring"
BATCH_SIZE = 8


class DemoError(Exception):
    """A step failed; the message names it and what to look at."""


def step(number: int, title: str) -> None:
    print(f"\n== {number}. {title}", flush=True)


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
    tf = ["terraform", "-chdir=terraform"]
    command = [*tf, "apply", "-auto-approve", "-input=false", "-var-file=environments/local.tfvars"]
    command.append(f"-var=aws_endpoint_url={local_url(port)}")
    if with_model:
        command.append("-var-file=model.local.tfvars.json")
    started = time.monotonic()
    output = run(command, env, "terraform apply", quiet=True)
    summary = [line for line in output.splitlines() if line.startswith("Apply complete")]
    print(f"{summary[-1] if summary else 'applied'} in {time.monotonic() - started:.0f} s")


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


def classify(paths_: list[Path], port: int) -> list[Row]:
    """`make classify` on the images: prints its table; the rows, or a DemoError when the
    workflow itself failed."""
    rows, where = run_workflow(Target("local", port), list(paths_), timeout_s=900)
    if report(rows, where) != 0:
        raise DemoError("the workflow failed for an image; see its row above")
    return rows


def inbox_batch(target: Target, outputs: dict, images: list[Path]) -> None:
    sfn, s3 = target.client("stepfunctions"), target.client("s3")
    machine = outputs["batch_state_machine_arn"]
    before = {e["executionArn"] for e in sfn.list_executions(stateMachineArn=machine)["executions"]}
    prefix = f"inbox/demo-{time.strftime('%H%M%S')}"
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
    totals: dict[str, int] = {}
    for execution in runs:
        described = sfn.describe_execution(executionArn=execution["executionArn"])
        summary = json.loads(described.get("output") or "{}")
        for key in ("total", "passed", "low_confidence", "error"):
            totals[key] = totals.get(key, 0) + int(summary.get(key, 0))
        print(f"  {execution['name']}: {described['status']} {summary.get('results_uri', '')}")
    print(f"inbox uploads started {len(runs)} batch execution(s): {totals}")


def demo(port: int, source: str, epochs: int | None) -> int:
    env = environment(port)
    target = Target("local", port)
    step(1, "local cloud")
    ensure_cloud(port)
    step(2, "terraform apply (no model yet, unless one is recorded for this cloud)")
    run([sys.executable, "lambdas/build.py", "--out", "build/lambdas"], env, "packaging", True)
    terraform_init(env)
    terraform_apply(port, env, with_model=cli.LOCAL_MODEL_VARS.is_file())
    outputs = target.require_outputs(*REQUIRED_OUTPUTS)
    step(3, f"ETL of {source}")
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
    step(4, "train the model" + (f" ({epochs} epochs)" if epochs else " (the recipe's defaults)"))
    epochs_flag = ["--epochs", str(epochs)] if epochs else []
    run(
        [sys.executable, "-m", "training", "local", "--target", "local", *epochs_flag],
        env,
        "training",
    )
    step(5, "terraform apply with the model: the endpoint")
    terraform_apply(port, env, with_model=True)
    outputs = target.require_outputs(*REQUIRED_OUTPUTS, refresh=True)
    with tempfile.TemporaryDirectory() as work:
        confident, unsure, batch = pick_images(
            model_artifact(target, Path(work)),
            float(outputs.get("confidence_threshold", 0.93)),
        )
    step(6, "classify a confident test image")
    classify([confident], port)
    step(7, "classify a low-confidence image: the workflow fails loudly")
    if classify([unsure], port)[0].status != "low_confidence":
        raise DemoError(f"{unsure} was expected to fall below the threshold")
    step(8, "batch: uploads to inbox/ start the batch workflow")
    inbox_batch(target, outputs, batch)
    step(9, "monitoring report from the endpoint's data capture")
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
    step(10, "where everything is")
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
