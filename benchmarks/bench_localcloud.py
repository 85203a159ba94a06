"""Benchmark of the local cloud, each number next to its baseline from the same run.

    .venv/bin/python -m benchmarks.bench_localcloud [--runs 50] [--batch 200]

1. Start time and memory: `python -m localcloud serve` (extensions installed, services
   warmed) against plain `python -m moto.server`, alternated, 3 starts each.
2. The real Terraform configuration applied to a fresh local cloud (with a model).
3. One image through the single-image workflow: p50/p95 over --runs executions.
4. --batch images through the batch (Map) workflow in one execution, against the same
   images as --batch single-image executions started together: wall time and ratio.

Writes benchmarks/results/localcloud.md and .json. The machine is shared and noisy:
compare ratios, not absolute times.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3

from tests.support.builds import build_lambda_zips, write_terraform_cli_config
from tests.support.network import free_port
from tests.support.processes import stop_process_group

REPO = Path(__file__).resolve().parents[1]
from tests.support.trained_model import cifar_pngs, trained_artifact  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
ARCHIVE = REPO.parent / "shared" / "data" / "cifar-100-scones-dev.tar.gz"
PYTHON = sys.executable


def group_rss_mb(pgid: int) -> float:
    """Resident memory of every process in the group (server and its workers)."""
    total = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            pid = int(status.parent.name)
            if os.getpgid(pid) != pgid:
                continue
            for line in status.read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except (OSError, ValueError):
            continue
    return total / 1024


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=0.5).read()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def start(kind: str, port: int, state: Path, root: Path = REPO) -> tuple[subprocess.Popen, float]:
    """A server from the code under `root` (another checkout: a baseline to compare with)."""
    if kind == "localcloud":
        command = [PYTHON, "-m", "localcloud", "serve", "--port", str(port)]
        probe = f"http://127.0.0.1:{port}/_localcloud/health"
    else:
        command = [PYTHON, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
        probe = f"http://127.0.0.1:{port}/moto-api/"
    env = {**os.environ, "LOCALCLOUD_STATE_DIR": str(state)}
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    wait_http(probe)
    return process, time.perf_counter() - started


def stop(process: subprocess.Popen) -> None:
    stop_process_group(process)


def bench_start(state: Path) -> dict:
    results: dict[str, dict[str, list[float]]] = {
        k: {"start_s": [], "rss_mb": []} for k in ("localcloud", "moto.server")
    }
    for _ in range(3):
        for kind in results:
            process, seconds = start(kind, free_port(), state)
            time.sleep(2)  # the local cloud warms its services in the background
            results[kind]["start_s"].append(seconds)
            results[kind]["rss_mb"].append(group_rss_mb(process.pid))
            stop(process)
    return {
        kind: {name: round(statistics.median(values), 3) for name, values in r.items()}
        for kind, r in results.items()
    }


def clients(url: str):
    def client(service: str):
        return boto3.client(
            service,
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )

    return client


def deploy(url: str, work: Path, artifact: Path) -> tuple[dict, float]:
    client = clients(url)
    client("s3").create_bucket(Bucket="bench-models")
    client("s3").put_object(Bucket="bench-models", Key="model.tar.gz", Body=artifact.read_bytes())
    build_lambda_zips(work / "lambdas", PYTHON)
    write_terraform_cli_config(work / "rc", PYTHON)
    env = {k: v for k, v in os.environ.items() if k != "TF_WORKSPACE"}
    env.update({"TF_DATA_DIR": str(work / "tfdata"), "TF_CLI_CONFIG_FILE": str(work / "rc")})
    tf = ["terraform", "-chdir=terraform"]
    variables = [
        "-var-file=environments/local.tfvars",
        f"-var=aws_endpoint_url={url}",
        f"-var=lambda_artifacts_dir={work / 'lambdas'}",
        "-var=model_data_url=s3://bench-models/model.tar.gz",
    ]
    subprocess.run(
        [*tf, "init", "-input=false"], cwd=REPO, env=env, check=True, capture_output=True
    )
    started = time.perf_counter()
    applied = subprocess.run(
        [*tf, "apply", "-auto-approve", "-input=false", f"-state={work / 'tfstate'}", *variables],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    if applied.returncode != 0:
        output = applied.stdout[-3000:] + applied.stderr[-3000:]
        raise RuntimeError(f"terraform apply failed:\n{output}")
    seconds = time.perf_counter() - started
    output = subprocess.run(
        [*tf, "output", "-json", f"-state={work / 'tfstate'}"],
        cwd=REPO,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return {k: v["value"] for k, v in json.loads(output).items()}, seconds


@contextlib.contextmanager
def deployed_cloud(
    work: Path, artifact: Path, root: Path = REPO
) -> Iterator[tuple[str, dict, subprocess.Popen]]:
    """A fresh local cloud (its code from `root`) with this checkout's Terraform
    configuration (and the model) applied: (url, Terraform outputs, the server process);
    stopped on the way out."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process, _ = start("localcloud", port, work, root)
    try:
        print("terraform apply", flush=True)
        outputs, _ = deploy(url, work, artifact)
        yield url, outputs, process
    finally:
        stop(process)


def run_execution(
    sfn, machine: str, payload: dict, poll_s: float = 0.05
) -> tuple[float, str, dict]:
    """(seconds, outcome, output): outcome is SUCCEEDED or the execution's error name;
    the status is polled every `poll_s` (the measure's resolution)."""
    started = time.perf_counter()
    arn = sfn.start_execution(stateMachineArn=machine, input=json.dumps(payload))["executionArn"]
    while True:
        execution = sfn.describe_execution(executionArn=arn)
        if execution["status"] != "RUNNING":
            outcome = execution.get("error") or execution["status"]
            return (
                time.perf_counter() - started,
                outcome,
                json.loads(execution.get("output") or "{}"),
            )
        time.sleep(poll_s)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def bench_workflows(url: str, outputs: dict, images: list[Path], runs: int, batch: int) -> dict:
    client = clients(url)
    s3, sfn = client("s3"), client("stepfunctions")
    bucket = outputs["data_bucket"]
    keys = []
    for image in images[:batch]:
        key = f"inputs/bench/{image.name}"  # the roles read input prefixes only
        s3.put_object(Bucket=bucket, Key=key, Body=image.read_bytes())
        keys.append(key)
    single = outputs["single_image_state_machine_arn"]
    run_execution(sfn, single, {"s3_bucket": bucket, "s3_key": keys[0]})  # warm every worker
    latencies = []
    for i in range(runs):
        seconds, _, _ = run_execution(
            sfn, single, {"s3_bucket": bucket, "s3_key": keys[i % len(keys)]}
        )
        latencies.append(seconds)
    items = [{"s3_bucket": bucket, "s3_key": k} for k in keys]
    batch_s, batch_status, batch_summary = run_execution(
        sfn, outputs["batch_state_machine_arn"], {"images": items}
    )
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=16) as pool:
        singles = list(
            pool.map(lambda item: run_execution(clients(url)("stepfunctions"), single, item), items)
        )
    singles_s = time.perf_counter() - started
    return {
        "single_image_p50_s": round(statistics.median(latencies), 3),
        "single_image_p95_s": round(percentile(latencies, 0.95), 3),
        "single_image_runs": runs,
        "batch_images": len(items),
        "batch_map_s": round(batch_s, 2),
        "batch_map_status": batch_status,
        "batch_map_summary": {
            k: batch_summary.get(k) for k in ("passed", "low_confidence", "error")
        },
        "singles_s": round(singles_s, 2),
        "singles_outcomes": dict(Counter(outcome for _, outcome, _ in singles)),
        "singles_over_batch": round(singles_s / batch_s, 2),
    }


def write_results(results: dict, command: str) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "localcloud.json").write_text(json.dumps(results, indent=2) + "\n")
    start_lc, start_moto = results["start"]["localcloud"], results["start"]["moto.server"]
    w = results["workflows"]
    lines = [
        "# Local cloud benchmark",
        "",
        f"Command: `{command}`  ",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores shared with other work; "
        f"{results['when']}. Noisy: compare the ratios.",
        "",
        "| measure | local cloud | baseline | ratio |",
        "|---|---|---|---|",
        f"| start until it answers (s, median of 3) | {start_lc['start_s']} | "
        f"{start_moto['start_s']} (plain moto.server) | "
        f"{start_lc['start_s'] / start_moto['start_s']:.2f} |",
        f"| resident memory after start (MB) | {start_lc['rss_mb']:.0f} | "
        f"{start_moto['rss_mb']:.0f} (plain moto.server) | "
        f"{start_lc['rss_mb'] / start_moto['rss_mb']:.2f} |",
        f"| memory after the workflows, server + workers (MB) | "
        f"{results['memory_after_workflows_mb']:.0f} | - | - |",
        f"| terraform apply, full configuration with endpoint (s) | "
        f"{results['terraform_apply_s']:.0f} | - | - |",
        f"| single-image workflow p50 / p95 (s, {w['single_image_runs']} runs) | "
        f"{w['single_image_p50_s']} / {w['single_image_p95_s']} | - | - |",
        f"| {w['batch_images']} images: one batch (Map) execution vs "
        f"{w['batch_images']} single executions (s) | {w['batch_map_s']} | {w['singles_s']} | "
        f"{w['singles_over_batch']} |",
        "",
        f"Batch execution {w['batch_map_status']} with items {w['batch_map_summary']}; the single",
        f"executions ended {w['singles_outcomes']} (ThresholdNotMetError = low confidence).",
        "The baseline for start and memory is moto's own server without the extensions;",
        "for the batch it is the same images as independent single-image executions,",
        "started together (16 client threads).",
    ]
    (RESULTS / "localcloud.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--batch", type=int, default=200)
    args = parser.parse_args(argv)
    if shutil.which("terraform") is None:
        print("bench_localcloud: terraform is not on PATH", file=sys.stderr)
        return 1
    command = " ".join(
        [".venv/bin/python", "benchmarks/bench_localcloud.py", *(argv or sys.argv[1:])]
    )
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        print("1/4 start time and memory", flush=True)
        results: dict = {"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
        results["start"] = bench_start(work)
        print(json.dumps(results["start"]), flush=True)
        artifact = trained_artifact(ARCHIVE)
        images = sorted((cifar_pngs(ARCHIVE, artifact.parent / "cifar") / "test").rglob("*.png"))
        port = free_port()
        process, _ = start("localcloud", port, work)
        try:
            print("2/4 terraform apply", flush=True)
            outputs, results["terraform_apply_s"] = deploy(
                f"http://127.0.0.1:{port}", work, artifact
            )
            print("3/4 + 4/4 workflows", flush=True)
            results["workflows"] = bench_workflows(
                f"http://127.0.0.1:{port}", outputs, images, args.runs, args.batch
            )
            results["memory_after_workflows_mb"] = round(group_rss_mb(process.pid), 1)
        finally:
            stop(process)
    results["command"] = command
    write_results(results, command)
    print(json.dumps(results, indent=2))
    print(f"wrote {RESULTS / 'localcloud.md'} and {RESULTS / 'localcloud.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
