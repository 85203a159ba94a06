"""Where a Map batch's time goes: CPU per process and per server thread kind, waits, threads.

    .venv/bin/python -m benchmarks.profile_localcloud_batch [--batch 200] [--cprofile] [--no-spy]

The real Terraform configuration is applied to a fresh local cloud (with a trained model)
whose server runs under benchmarks.localcloud_cpu_probe; after a warm-up (one
single-image execution and a batch of 8), one batch (Map) execution of `--batch` images
runs while this script records:
- the CPU seconds each process of the cloud used (from /proc/<pid>/stat, so waiting costs
  nothing): the server, each Lambda function's workers, the model container;
- the server's CPU per request type and per thread kind, the wall time of a Lambda
  invocation's steps, and GC pauses (from the probe);
- the server's thread count, sampled every 50 ms (max and mean);
- each Lambda function's handler durations (its REPORT lines in CloudWatch Logs) and the
  children's durations (the ResultWriter files);
- `--cprofile`: every server thread under cProfile on a CPU-time clock
  (build/localcloud_batch.pstats);
- unless `--no-spy`: py-spy on the server (raw stacks into build/localcloud_batch_profile.txt,
  waits dropped as in profile_localcloud: in gVisor py-spy cannot tell a sleeping thread
  from a running one).
Prints a summary (markdown); findings go to benchmarks/results/localcloud_profile.md by hand.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

from benchmarks.bench_localcloud import (
    ARCHIVE,
    PYTHON,
    REPO,
    clients,
    deploy,
    run_execution,
    stop,
    wait_http,
)
from benchmarks.profile_localcloud import start_py_spy, top_functions
from tests.support.network import free_port
from tests.support.trained_model import cifar_pngs, trained_artifact

TICKS = os.sysconf("SC_CLK_TCK")


def group_pids(pgid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if os.getpgid(int(entry.name)) == pgid:
                pids.append(int(entry.name))
        except (OSError, ValueError):
            continue
    return pids


def role_of(pid: int, server: int) -> str:
    if pid == server:
        return "server"
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return "?"
    for item in environ:
        if item.startswith(b"AWS_LAMBDA_FUNCTION_NAME="):
            return "lambda " + item.split(b"=", 1)[1].decode()
    if "_model_worker" in cmdline:
        return "model worker"
    return cmdline[:60]


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def snapshot(pgid: int) -> dict[int, tuple[str, float]]:
    return {pid: (role_of(pid, pgid), cpu_seconds(pid)) for pid in group_pids(pgid)}


def threads_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 0


def report_durations(url: str) -> dict[str, list[float]]:
    logs = clients(url)("logs")
    found: dict[str, list[float]] = defaultdict(list)
    for group in logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/")["logGroups"]:
        name = group["logGroupName"].rsplit("/", 1)[1]
        paginator = logs.get_paginator("filter_log_events")
        for page in paginator.paginate(logGroupName=group["logGroupName"]):
            for event in page["events"]:
                match = re.search(r"^REPORT .*Duration: ([\d.]+) ms", event["message"])
                if match:
                    found[name].append(float(match.group(1)))
    return found


@contextlib.contextmanager
def probed_cloud(work: Path, artifact: Path, report: Path):
    """A deployed local cloud whose server runs under benchmarks.localcloud_cpu_probe."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [PYTHON, "-m", "benchmarks.localcloud_cpu_probe", str(port), str(report)],
        cwd=REPO,
        env={**os.environ, "LOCALCLOUD_STATE_DIR": str(work)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_http(f"{url}/_localcloud/health")
        print("terraform apply", flush=True)
        outputs, _ = deploy(url, work, artifact)
        yield url, outputs, process
    finally:
        stop(process)


def probe_report(process: subprocess.Popen, report: Path) -> dict:
    report.unlink(missing_ok=True)
    process.send_signal(signal.SIGUSR1)
    for _ in range(1200):
        if report.exists() and report.stat().st_size:
            time.sleep(0.05)
            return json.loads(report.read_text())
        time.sleep(0.05)
    raise RuntimeError("the probe wrote no report")


def probe_diff(before: dict, after: dict) -> list[tuple[str, int, float]]:
    rows = []
    for table in ("requests", "threads_ended", "threads_live"):
        for key, (count, cpu) in after[table].items():
            old_count, old_cpu = before[table].get(key, (0, 0.0))
            if cpu - old_cpu > 0.005:
                rows.append((f"{table.split('_')[0]}: {key}", count - old_count, cpu - old_cpu))
    return sorted(rows, key=lambda row: -row[2])


def child_durations(s3) -> str:
    """p50 / p90 / max of the children's StopDate - StartDate, from the newest ResultWriter
    manifest in any bucket."""
    manifests = [
        (item["LastModified"], bucket["Name"], item["Key"])
        for bucket in s3.list_buckets()["Buckets"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket["Name"])
        for item in page.get("Contents", [])
        if item["Key"].endswith("/manifest.json")
    ]
    if not manifests:
        return "no ResultWriter manifest found"
    _, bucket, key = max(manifests)
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    seconds = []
    for files in manifest["ResultFiles"].values():
        for entry in files:
            body = s3.get_object(Bucket=manifest["DestinationBucket"], Key=entry["Key"])["Body"]
            for child in json.loads(body.read()):
                start, stop = (
                    datetime.datetime.fromisoformat(child[k].replace("Z", "+00:00"))
                    for k in ("StartDate", "StopDate")
                )
                seconds.append((stop - start).total_seconds() * 1000)
    seconds.sort()
    return (
        f"{len(seconds)}, duration p50 {statistics.median(seconds):.0f} ms, "
        f"p90 {seconds[int(0.9 * (len(seconds) - 1))]:.0f} ms, max {seconds[-1]:.0f} ms"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--rate", type=int, default=100)
    parser.add_argument("--no-spy", action="store_true")
    parser.add_argument(
        "--cprofile",
        action="store_true",
        help="also cProfile the server's threads (build/localcloud_batch.pstats)",
    )
    args = parser.parse_args(argv)
    if args.cprofile:
        os.environ["LOCALCLOUD_PROBE_CPROFILE"] = "1"
    artifact = trained_artifact(ARCHIVE)
    images = sorted(cifar_pngs(ARCHIVE, artifact.parent / "cifar").rglob("*.png"))[: args.batch]
    raw = Path(__file__).resolve().parents[1] / "build" / "localcloud_batch_profile.txt"
    raw.parent.mkdir(exist_ok=True)
    with (
        tempfile.TemporaryDirectory() as tmp,
        probed_cloud(Path(tmp), artifact, Path(tmp) / "probe.json") as deployed,
    ):
        url, outputs, process = deployed
        s3, sfn = clients(url)("s3"), clients(url)("stepfunctions")
        bucket = outputs["data_bucket"]
        items = []
        for image in images:
            key = f"inputs/profile/{image.name}"
            s3.put_object(Bucket=bucket, Key=key, Body=image.read_bytes())
            items.append({"s3_bucket": bucket, "s3_key": key})
        run_execution(sfn, outputs["single_image_state_machine_arn"], items[0])
        batch_machine = outputs["batch_state_machine_arn"]
        run_execution(sfn, batch_machine, {"images": items[:8]})  # warm 4 workers each
        before_reports = {k: len(v) for k, v in report_durations(url).items()}
        spy = None
        if not args.no_spy:
            spy = start_py_spy(process.pid, args.rate, raw, "--threads")
            time.sleep(1)
        threads: list[int] = []
        done = threading.Event()

        def sample_threads() -> None:
            while not done.is_set():
                threads.append(threads_of(process.pid))
                time.sleep(0.05)

        sampler = threading.Thread(target=sample_threads, daemon=True)
        report = Path(tmp) / "probe.json"
        probe_before = probe_report(process, report)
        before = snapshot(process.pid)
        sampler.start()
        seconds, outcome, summary = run_execution(sfn, batch_machine, {"images": items}, 0.02)
        done.set()
        after = snapshot(process.pid)
        probe_after = probe_report(process, report)
        if args.cprofile:
            shutil.copy(f"{report}.pstats", raw.with_name("localcloud_batch.pstats"))
        if spy is not None:
            spy.send_signal(2)
            spy.wait(timeout=120)
        durations = report_durations(url)
        children = child_durations(s3)
    by_role: Counter = Counter()
    for pid, (role, cpu) in after.items():
        by_role[role] += cpu - before.get(pid, (role, 0.0))[1]
    total_cpu = sum(by_role.values())
    print(f"## Map batch of {len(items)}: {seconds:.2f} s, {len(items) / seconds:.1f} images/s")
    print(f"outcome {outcome}; {summary.get('passed')} passed, {summary.get('low_confidence')} low")
    print(f"\nCPU {total_cpu:.1f} s in {seconds:.1f} s wall ({total_cpu / seconds:.2f} cores)\n")
    print("| process | CPU s | per image (ms) |\n|---|---|---|")
    for role, cpu in by_role.most_common():
        print(f"| {role} | {cpu:.2f} | {1000 * cpu / len(items):.1f} |")
    print("\n| server CPU by request / thread kind | count | CPU s | per image (ms) |")
    print("|---|---|---|---|")
    for key, count, cpu in probe_diff(probe_before, probe_after)[:30]:
        print(f"| {key} | {count} | {cpu:.2f} | {1000 * cpu / len(items):.1f} |")
    pauses = probe_after["gc_pauses"][len(probe_before["gc_pauses"]) :]
    for generation in (0, 1, 2):
        times = [seconds for gen, seconds in pauses if gen == generation]
        if times:
            print(
                f"\nGC generation {generation}: {len(times)} collections, "
                f"{sum(times):.2f} s, longest {1000 * max(times):.0f} ms",
                end="",
            )
    print("\n\n| wall time in | calls | mean (ms) |\n|---|---|---|")
    for label, (count, total) in probe_after["walls"].items():
        old_count, old_total = probe_before["walls"].get(label, (0, 0.0))
        if count > old_count:
            mean = 1000 * (total - old_total) / (count - old_count)
            print(f"| {label} | {count - old_count} | {mean:.1f} |")
    print(f"\nserver threads: max {max(threads)}, mean {statistics.mean(threads):.0f}\n")
    print("| function | invocations | handler p50 / p90 / max (ms) | sum (s) |")
    print("|---|---|---|---|")
    for name, values in sorted(durations.items()):
        new = sorted(values[before_reports.get(name, 0) :])
        if new:
            spread = f"{statistics.median(new):.0f} / {new[int(0.9 * (len(new) - 1))]:.0f} / "
            print(f"| {name} | {len(new)} | {spread}{new[-1]:.0f} | {sum(new) / 1000:.2f} |")
    print(f"\nchild executions (ResultWriter): {children}")
    if spy is not None and raw.exists():
        working, inclusive, own = top_functions(raw, 40)
        print(f"\npy-spy: {working} samples not waiting\n")
        print("| samples | inclusive |\n|---|---|")
        for frame, n in inclusive:
            print(f"| {n} | `{frame}` |")
        print("\n| samples | self |\n|---|---|")
        for frame, n in own:
            print(f"| {n} | `{frame}` |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
