"""Load test of one local-cloud endpoint: every request answered, captured exactly once.

    .venv/bin/python -m benchmarks.bench_endpoint_load [--requests 16000] [--threads 8]

A fresh local cloud on a free loopback port (its own process group, stopped at the end);
one endpoint created through the API from the real trained artifact
(tests/support/trained_model.py on ../shared/data/cifar-100-scones-dev.tar.gz), data
capture on at 100 %. --threads client threads send --requests invocations of the
archive's real test PNGs, each with its own InferenceId, and count what comes back:
HTTP 200s, errors by code. Then every capture object is read back: each 200 must have
exactly one record (by its inferenceId), no request may have two, no error may have one.
The server's resident memory is sampled every second (start, after --warmup requests,
end). Bounded: --requests, and --max-seconds for the whole run.

Writes benchmarks/results/endpoint_load.md and .json. With --tracemalloc the server runs
with PYTHONTRACEMALLOC and the top allocation sites grown after warm-up are reported
(slower; for finding leaks, not for the committed numbers).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from deployment.target import Target
from tests.support.network import free_port
from tests.support.processes import stop_process_group

REPO = Path(__file__).resolve().parents[1]
from tests.support.trained_model import cifar_pngs, trained_artifact  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
ARCHIVE = REPO.parent / "shared" / "data" / "cifar-100-scones-dev.tar.gz"
ENDPOINT = "load-test"
BUCKET = "load-test"
CAPTURE_PREFIX = "capture"
ROLE = "arn:aws:iam::123456789012:role/sagemaker"


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
    return found


class Cloud:
    def __init__(self, state: Path, trace: bool) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "LOCALCLOUD_STATE_DIR": str(state)}
        if trace:
            env["PYTHONTRACEMALLOC"] = "1"
        self.log = state / "server.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "localcloud", "serve", "--port", str(self.port)],
                cwd=REPO,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                self.admin("health")
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"the local cloud did not start:\n{self.log.read_text()[-2000:]}")

    def admin(self, route: str) -> dict:
        with urllib.request.urlopen(f"{self.url}/_localcloud/{route}", timeout=120) as reply:
            return json.loads(reply.read())

    def client(self, service: str, **config):
        return Target("local", self.port).client(
            service, config=Config(max_pool_connections=32, **config)
        )

    def stop(self) -> None:
        stop_process_group(self.process)


def deploy(cloud: Cloud, artifact: Path) -> float:
    s3, sagemaker = cloud.client("s3"), cloud.client("sagemaker")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="model/model.tar.gz", Body=artifact.read_bytes())
    sagemaker.create_model(
        ModelName=ENDPOINT,
        ExecutionRoleArn=ROLE,
        PrimaryContainer={
            "Image": "pytorch-inference:2.5.1-cpu-py311",
            "ModelDataUrl": f"s3://{BUCKET}/model/model.tar.gz",
        },
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName=ENDPOINT,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": ENDPOINT,
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
        DataCaptureConfig={
            "EnableCapture": True,
            "InitialSamplingPercentage": 100,
            "DestinationS3Uri": f"s3://{BUCKET}/{CAPTURE_PREFIX}",
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        },
    )
    started = time.perf_counter()
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=ENDPOINT)
    while True:
        status = sagemaker.describe_endpoint(EndpointName=ENDPOINT)
        if status["EndpointStatus"] == "InService":
            return time.perf_counter() - started
        if status["EndpointStatus"] not in ("Creating", "Updating"):
            raise RuntimeError(
                f"endpoint {status['EndpointStatus']}: {status.get('FailureReason')}"
            )
        if time.perf_counter() - started > 180:
            raise RuntimeError("the endpoint was not InService within 180 s")
        time.sleep(0.2)


class Load:
    """The request stream: ids handed out in order, outcomes recorded per id."""

    def __init__(self, cloud: Cloud, images: list[bytes], total: int, deadline: float) -> None:
        self.cloud, self.images, self.total, self.deadline = cloud, images, total, deadline
        self.outcomes: dict[str, str] = {}
        self.latencies: list[float] = []
        self._next = 0
        self._lock = threading.Lock()

    def _take(self) -> int | None:
        with self._lock:
            if self._next >= self.total or time.monotonic() > self.deadline:
                return None
            self._next += 1
            return self._next - 1

    @property
    def done(self) -> int:
        return len(self.outcomes)

    def worker(self) -> None:
        # One attempt per request: a retry would hide an error (and capture it twice).
        runtime = self.cloud.client("sagemaker-runtime", retries={"total_max_attempts": 1})
        while (index := self._take()) is not None:
            inference_id = f"req-{index:06d}"
            started = time.perf_counter()
            try:
                reply = runtime.invoke_endpoint(
                    EndpointName=ENDPOINT,
                    ContentType="image/png",
                    Body=self.images[index % len(self.images)],
                    InferenceId=inference_id,
                )
                probabilities = json.loads(reply["Body"].read())
                outcome = "200" if len(probabilities) == 2 else "bad-body"
            except ClientError as exc:
                outcome = exc.response["Error"]["Code"]
            except BotoCoreError as exc:
                outcome = type(exc).__name__
            elapsed = time.perf_counter() - started
            with self._lock:
                self.outcomes[inference_id] = outcome
                self.latencies.append(elapsed)


def read_captures(cloud: Cloud) -> tuple[Counter, int, int]:
    """(records per inferenceId, objects, records without an inferenceId)."""
    s3 = cloud.client("s3")
    keys = [
        item["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=BUCKET, Prefix=f"{CAPTURE_PREFIX}/"
        )
        for item in page.get("Contents", [])
    ]

    def records(key: str) -> list[dict]:
        body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()
        return [json.loads(line) for line in body.splitlines() if line.strip()]

    per_id: Counter = Counter()
    anonymous = 0
    with ThreadPoolExecutor(8) as pool:
        for batch in pool.map(records, keys):
            for record in batch:
                inference_id = record["eventMetadata"].get("inferenceId")
                if inference_id:
                    per_id[inference_id] += 1
                else:
                    anonymous += 1
    return per_id, len(keys), anonymous


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=16000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=2000, help="requests before 'warm'")
    parser.add_argument("--max-seconds", type=float, default=900)
    parser.add_argument("--tracemalloc", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS / "endpoint_load")
    args = parser.parse_args()
    if args.requests < args.warmup:
        parser.error("--requests must be at least --warmup")

    artifact = trained_artifact(ARCHIVE)
    pngs = sorted((cifar_pngs(ARCHIVE, artifact.parent / "cifar") / "test").rglob("*.png"))
    images = [p.read_bytes() for p in pngs]
    print(f"artifact {artifact}, {len(images)} test PNGs", flush=True)

    with tempfile.TemporaryDirectory(prefix="bench-endpoint-") as state:
        cloud = Cloud(Path(state), args.tracemalloc)
        try:
            result = run(cloud, artifact, images, args)
        finally:
            log_tail = cloud.log.read_text(errors="replace")[-3000:]
            cloud.stop()
    result["server_log_tail"] = log_tail
    write(result, args)
    return 0 if result["checks"]["all_passed"] else 1


def run(cloud: Cloud, artifact: Path, images: list[bytes], args) -> dict:
    started = time.monotonic()
    rss_start = rss_mb(cloud.process.pid)
    deploy_s = deploy(cloud, artifact)
    rss_deployed = rss_mb(cloud.process.pid)
    load = Load(cloud, images, args.requests, started + args.max_seconds)
    samples: list[dict] = []
    stop_sampling = threading.Event()
    warm: dict = {}

    def sample() -> None:
        while not stop_sampling.is_set():
            point = {
                "t_s": round(time.monotonic() - load_started, 1),
                "requests": load.done,
                "server_rss_mb": round(rss_mb(cloud.process.pid), 1),
                "workers_rss_mb": round(sum(rss_mb(pid) for pid in children(cloud.process.pid)), 1),
            }
            samples.append(point)
            if not warm and point["requests"] >= args.warmup:
                warm.update(point)
                if args.tracemalloc:
                    cloud.admin("memory?baseline")
            if len(samples) % 15 == 0:
                print(f"  {point}", flush=True)
            stop_sampling.wait(1.0)

    load_started = time.monotonic()
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    threads = [threading.Thread(target=load.worker) for _ in range(args.threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    load_s = time.monotonic() - load_started
    stop_sampling.set()
    sampler.join()
    end = {
        "requests": load.done,
        "server_rss_mb": round(rss_mb(cloud.process.pid), 1),
        "workers_rss_mb": round(sum(rss_mb(pid) for pid in children(cloud.process.pid)), 1),
    }
    growth = None
    if args.tracemalloc:
        growth = cloud.admin("memory?diff").get("top_growth")
    containers = cloud.admin("sagemaker/containers")

    capture_started = time.monotonic()
    per_id, objects, anonymous = read_captures(cloud)
    capture_s = time.monotonic() - capture_started

    outcomes = Counter(load.outcomes.values())
    succeeded = {i for i, o in load.outcomes.items() if o == "200"}
    failed = set(load.outcomes) - succeeded
    missing = sorted(i for i in succeeded if per_id[i] == 0)
    duplicated = sorted(i for i, n in per_id.items() if n > 1)
    unexpected = sorted(i for i in per_id if i not in succeeded)
    warm_rss = warm.get("server_rss_mb", 0.0)
    checks = {
        "requests_sent": load.done,
        "requests_planned": args.requests,
        "answered_200": outcomes.get("200", 0),
        "errors_by_code": {k: v for k, v in outcomes.items() if k != "200"},
        "capture_objects": objects,
        "capture_records": sum(per_id.values()) + anonymous,
        "records_without_inference_id": anonymous,
        "successes_without_record": len(missing),
        "requests_with_duplicate_records": len(duplicated),
        "records_for_failed_or_unknown_requests": len(unexpected),
        "examples": {"missing": missing[:5], "duplicated": duplicated[:5]},
        "failed_requests": len(failed),
        "server_rss_growth_after_warmup_mb": round(end["server_rss_mb"] - warm_rss, 1),
    }
    checks["all_passed"] = (
        load.done == args.requests
        and checks["answered_200"] + len(failed) == load.done
        and not missing
        and not duplicated
        and not unexpected
        and anonymous == 0
        and checks["server_rss_growth_after_warmup_mb"] <= 50
    )
    latencies = sorted(load.latencies)
    return {
        "command": " ".join([".venv/bin/python -m benchmarks.bench_endpoint_load", *sys.argv[1:]]),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "artifact": str(artifact.relative_to(REPO)),
        "images": len(images),
        "threads": args.threads,
        "warmup_requests": args.warmup,
        "deploy_s": round(deploy_s, 2),
        "load_s": round(load_s, 1),
        "throughput_rps": round(load.done / load_s, 1),
        "latency_ms": {
            "p50": round(statistics.median(latencies) * 1000, 1),
            "p95": round(latencies[int(len(latencies) * 0.95)] * 1000, 1),
            "max": round(latencies[-1] * 1000, 1),
        },
        "capture_read_s": round(capture_s, 1),
        "rss_mb": {
            "server_at_start": round(rss_start, 1),
            "server_endpoint_deployed": round(rss_deployed, 1),
            "after_warmup": warm,
            "end": end,
        },
        "rss_samples": samples,
        "containers": containers,
        "checks": checks,
        "tracemalloc_top_growth": growth,
    }


def write(result: dict, args) -> None:
    checks, rss = result["checks"], result["rss_mb"]
    lines = [
        "# Endpoint load test",
        "",
        f"Command: `.venv/bin/python -m benchmarks.bench_endpoint_load "
        f"--requests {args.requests} --threads {args.threads} --warmup {args.warmup}`  ",
        f"Machine: {result['machine']} shared with other work; {result['when']}.  ",
        f"One endpoint (trained artifact `{result['artifact']}`, data capture 100 %), "
        f"{result['images']} real CIFAR test PNGs, {result['threads']} client threads, "
        "one attempt per request (no client retries), loopback only.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| requests sent / planned | {checks['requests_sent']} / {checks['requests_planned']} |",
        f"| HTTP 200 | {checks['answered_200']} |",
        f"| errors by code | {checks['errors_by_code'] or 'none'} |",
        f"| capture objects / records | {checks['capture_objects']} / "
        f"{checks['capture_records']} |",
        f"| 200s without a capture record | {checks['successes_without_record']} |",
        f"| requests with more than one record | {checks['requests_with_duplicate_records']} |",
        f"| records for failed or unknown requests | "
        f"{checks['records_for_failed_or_unknown_requests']} |",
        f"| throughput (requests/s) | {result['throughput_rps']} over {result['load_s']} s |",
        f"| latency p50 / p95 / max (ms) | {result['latency_ms']['p50']} / "
        f"{result['latency_ms']['p95']} / {result['latency_ms']['max']} |",
        f"| server RSS at start / endpoint deployed (MB) | {rss['server_at_start']} / "
        f"{rss['server_endpoint_deployed']} |",
        f"| server RSS after warm-up ({rss['after_warmup'].get('requests')} requests) (MB) | "
        f"{rss['after_warmup'].get('server_rss_mb')} |",
        f"| server RSS at the end ({rss['end']['requests']} requests) (MB) | "
        f"{rss['end']['server_rss_mb']} |",
        f"| growth after warm-up (MB, limit 50) | {checks['server_rss_growth_after_warmup_mb']} |",
        f"| model container RSS at the end (MB) | {rss['end']['workers_rss_mb']} |",
        f"| all checks passed | {checks['all_passed']} |",
        "",
        "Server RSS over the run (every ~10 % of the requests):",
        "",
        "| t (s) | requests | server RSS (MB) | container RSS (MB) |",
        "|---|---|---|---|",
    ]
    samples = result["rss_samples"]
    step = max(1, len(samples) // 10)
    for point in [*samples[::step], samples[-1]] if samples else []:
        lines.append(
            f"| {point['t_s']} | {point['requests']} | {point['server_rss_mb']} | "
            f"{point['workers_rss_mb']} |"
        )
    if result.get("tracemalloc_top_growth"):
        lines += ["", "Top allocation growth after warm-up (tracemalloc):", ""]
        for site in result["tracemalloc_top_growth"][:10]:
            lines.append(
                f"- {site['size_diff_kb']} KB, {site['count_diff']} blocks: {site['site']}"
            )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    print("\n".join(lines))
    print(f"wrote {args.out.with_suffix('.md')} and .json")


if __name__ == "__main__":
    sys.exit(main())
