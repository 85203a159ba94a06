"""The local cloud's speed, this checkout against a baseline commit, side by side in one run.

    .venv/bin/python -m benchmarks.bench_localcloud_speed [--baseline <commit>] [--runs 60]

Two local clouds are started, one from this checkout's code and one from the baseline's
(`git archive <commit>` into a temporary folder); both get this checkout's Terraform
configuration, Lambda zips and the same trained model, so only the server differs. Then:
- single-image workflow: `--runs` executions on each, alternating, the status polled
  every 5 ms; p50 and p95 per cloud;
- `--batch` images: one batch (Map) execution, then the same images as single executions
  started together (16 client threads), on each cloud in turn;
- the endpoint: `--requests` InvokeEndpoint calls from 1 client (alternating between the
  clouds and the artifact's `code/inference.py` called in this process on the same PNG:
  p50 and the endpoint's overhead over in-process), then from 8 client threads
  (requests/s).
Alternating keeps the shared machine's noise on both alike; compare the ratios. Writes
benchmarks/results/localcloud_speed.md and .json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks.bench_localcloud import (
    ARCHIVE,
    REPO,
    RESULTS,
    bench_workflows,
    clients,
    deployed_cloud,
    group_rss_mb,
    percentile,
    run_execution,
)
from tests.support.trained_model import cifar_pngs, trained_artifact
from training.artifact import load_inference

POLL_S = 0.005
IN_PROCESS = "in-process inference.py"
# The last commit before issue 17's speed work (what `make benchmark` compares with).
DEFAULT_BASELINE = "0f59f1d"


def checkout(commit: str, into: Path) -> Path:
    """The baseline's files (tracked files only) in `into`."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", commit], cwd=REPO, check=True, capture_output=True
    ).stdout
    into.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def single_latencies(deployed: dict[str, tuple], images: list[Path], runs: int) -> dict:
    """Alternating single-image executions: {cloud: [seconds, ...]}."""
    targets = {}
    for name, (url, outputs, _) in deployed.items():
        s3, bucket = clients(url)("s3"), outputs["data_bucket"]
        keys = []
        for image in images[:10]:
            key = f"speed/{image.name}"
            s3.put_object(Bucket=bucket, Key=key, Body=image.read_bytes())
            keys.append({"s3_bucket": bucket, "s3_key": key})
        sfn, machine = clients(url)("stepfunctions"), outputs["single_image_state_machine_arn"]
        for item in keys:  # warm every worker
            run_execution(sfn, machine, item, POLL_S)
        targets[name] = (sfn, machine, keys)
    seconds: dict[str, list[float]] = {name: [] for name in deployed}
    for i in range(runs):
        for name, (sfn, machine, keys) in targets.items():
            took, _, _ = run_execution(sfn, machine, keys[i % len(keys)], POLL_S)
            seconds[name].append(took)
    return seconds


def in_process_handler(artifact: Path, work: Path) -> Callable[[bytes], object]:
    """The artifact's own handler chain in this process: the model's cost without a cloud."""
    model_dir = work / "in-process-model"
    with tarfile.open(artifact) as archive:
        archive.extractall(model_dir, filter="data")
    handler = load_inference(model_dir)
    model = handler.model_fn(str(model_dir))

    def infer(body: bytes) -> object:
        data = handler.input_fn(body, "image/png")
        return handler.output_fn(handler.predict_fn(data, model), "application/json")

    return infer


def invoker(runtime, endpoint: str) -> Callable[[bytes], object]:
    def invoke(body: bytes) -> object:
        return runtime.invoke_endpoint(EndpointName=endpoint, ContentType="image/png", Body=body)

    return invoke


def endpoint_one_client(
    deployed: dict[str, tuple], bodies: list[bytes], infer: Callable[[bytes], object]
) -> dict[str, list[float]]:
    """Each PNG through each cloud's endpoint and through `infer` in this process, one
    after another (so the machine's noise falls on all alike): {name: [seconds]}."""
    calls: dict[str, Callable[[bytes], object]] = {IN_PROCESS: infer}
    for name, (url, outputs, _) in deployed.items():
        runtime, endpoint = clients(url)("sagemaker-runtime"), outputs["endpoint_name"]
        calls[name] = invoker(runtime, endpoint)
    seconds: dict[str, list[float]] = {name: [] for name in calls}
    for body in bodies:
        for name, call in calls.items():
            started = time.perf_counter()
            call(body)
            seconds[name].append(time.perf_counter() - started)
    return seconds


def endpoint_requests_per_s(url: str, endpoint: str, bodies: list[bytes], threads: int) -> float:
    def send(thread: int) -> None:
        runtime = clients(url)("sagemaker-runtime")
        for body in bodies[thread::threads]:
            runtime.invoke_endpoint(EndpointName=endpoint, ContentType="image/png", Body=body)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(send, range(threads)))
    return len(bodies) / (time.perf_counter() - started)


def summary(seconds: list[float]) -> dict:
    return {
        "p50_ms": round(1000 * statistics.median(seconds), 1),
        "p95_ms": round(1000 * percentile(seconds, 0.95), 1),
    }


def write_results(results: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "localcloud_speed.json").write_text(json.dumps(results, indent=2) + "\n")
    now, base = results["clouds"]["this checkout"], results["clouds"]["baseline"]
    rows = [
        ("single-image workflow p50 (ms)", now["single"]["p50_ms"], base["single"]["p50_ms"]),
        ("single-image workflow p95 (ms)", now["single"]["p95_ms"], base["single"]["p95_ms"]),
        (
            f"one Map batch of {results['batch']} images (images/s)",
            now["workflows"]["batch_images_per_s"],
            base["workflows"]["batch_images_per_s"],
        ),
        (
            f"{results['batch']} single executions together / one Map batch (x)",
            now["workflows"]["singles_over_batch"],
            base["workflows"]["singles_over_batch"],
        ),
        ("endpoint, 1 client, p50 (ms)", now["endpoint"]["p50_ms"], base["endpoint"]["p50_ms"]),
        (
            "endpoint overhead over in-process inference.py, p50 (ms)",
            now["endpoint_overhead_ms"],
            base["endpoint_overhead_ms"],
        ),
        (
            "endpoint, 8 clients (requests/s)",
            now["endpoint_8_clients_per_s"],
            base["endpoint_8_clients_per_s"],
        ),
        ("memory afterwards, server + workers (MB)", now["memory_mb"], base["memory_mb"]),
    ]
    lines = [
        "# Local cloud speed: this checkout against a baseline",
        "",
        f"Command: `{results['command']}`  ",
        f"{results['when']}; this checkout {results['head']}, baseline {results['baseline']}; "
        "2 cores shared with other work: compare the ratios.",
        "",
        "| measure | this checkout | baseline | ratio |",
        "|---|---|---|---|",
        *[f"| {name} | {a} | {b} | {a / b:.2f} |" for name, a, b in rows],
        "",
        f"Single-image runs: {results['runs']} per cloud, alternating, polled every "
        f"{POLL_S * 1000:.0f} ms. Batch outcomes: this checkout "
        f"{now['workflows']['batch_map_summary']}, baseline "
        f"{base['workflows']['batch_map_summary']}. In-process inference.py p50: "
        f"{results['in_process']['p50_ms']} ms ({results['requests']} PNGs).",
    ]
    (RESULTS / "localcloud_speed.md").write_text("\n".join(lines) + "\n")


def git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=REPO, check=True, capture_output=True, text=True
    ).stdout.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--baseline", default=DEFAULT_BASELINE, help="the commit to compare with (%(default)s)"
    )
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--requests", type=int, default=400, help="endpoint calls per measure")
    args = parser.parse_args(argv)
    baseline = git("rev-parse", "--short", args.baseline)
    artifact = trained_artifact(ARCHIVE)
    images = sorted(cifar_pngs(ARCHIVE, artifact.parent / "cifar").rglob("*.png"))
    results: dict = {
        "command": " ".join(
            [".venv/bin/python", "-m", "benchmarks.bench_localcloud_speed", *sys.argv[1:]]
        ),
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "head": git("rev-parse", "--short", "HEAD"),
        "baseline": baseline,
        "runs": args.runs,
        "batch": args.batch,
        "requests": args.requests,
        "clouds": {},
    }
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        roots = {"this checkout": REPO, "baseline": checkout(baseline, Path(tmp) / "baseline")}
        deployed = {
            name: stack.enter_context(deployed_cloud(Path(tmp) / f"work-{i}", artifact, root))
            for i, (name, root) in enumerate(roots.items())
        }
        print(f"single-image workflow: {args.runs} runs per cloud, alternating", flush=True)
        latencies = single_latencies(deployed, images, args.runs)
        bodies = [images[i % len(images)].read_bytes() for i in range(args.requests)]
        print(f"endpoint: {args.requests} calls from 1 client, alternating", flush=True)
        infer = in_process_handler(artifact, Path(tmp))
        one_client = endpoint_one_client(deployed, bodies, infer)
        results["in_process"] = summary(one_client[IN_PROCESS])
        for name, (url, outputs, process) in deployed.items():
            print(f"{name}: one batch of {args.batch} and {args.batch} singles", flush=True)
            workflows = bench_workflows(url, outputs, images, 1, args.batch)
            workflows["batch_images_per_s"] = round(args.batch / workflows["batch_map_s"], 1)
            endpoint = summary(one_client[name])
            results["clouds"][name] = {
                "single": summary(latencies[name]),
                "workflows": workflows,
                "endpoint": endpoint,
                "endpoint_overhead_ms": round(
                    endpoint["p50_ms"] - results["in_process"]["p50_ms"], 1
                ),
                "endpoint_8_clients_per_s": round(
                    endpoint_requests_per_s(url, outputs["endpoint_name"], bodies, 8), 1
                ),
                "memory_mb": round(group_rss_mb(process.pid)),
            }
    write_results(results)
    print((RESULTS / "localcloud_speed.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
