"""Where the local cloud's time goes: py-spy on the server under the single-image workflow.

    .venv/bin/python -m benchmarks.profile_localcloud [--runs 40] [--rate 200]

The real Terraform configuration is applied to a fresh local cloud (with a trained model);
after a warm-up, py-spy samples the server (all threads) while `--runs` single-image
executions run one after another. Writes benchmarks/results/localcloud_profile.md: the
functions with the most samples, inclusive and on their own, waits left out (in a gVisor
sandbox py-spy cannot tell a sleeping thread from a running one, so frames that only
wait are dropped: `wait`, `select`, `sleep`, reads from pipes and sockets); the raw stacks
stay in build/localcloud_profile.txt (flamegraph.pl or speedscope read them).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from benchmarks.bench_localcloud import (
    ARCHIVE,
    PYTHON,
    RESULTS,
    clients,
    deployed_cloud,
    run_execution,
)
from tests.support.trained_model import cifar_pngs, trained_artifact

WAITING = re.compile(
    r"^(Condition\.wait|Event\.wait|_PollLikeSelector\.select|EpollSelector\.select|"
    r"SocketIO\.readinto|PipeWorker\._read_(replies|log)|_flush_stale|Thread\._wait_for_tstate_lock|"
    r"BaseServer\.serve_forever|_deliver_forever|_watch|Queue\.get|sleep) "
)
OWN_CODE = ("localcloud/", "moto/", "werkzeug/", "flask/", "botocore/", "jsonpath_ng/", "antlr4/")


def frames_of(line: str) -> tuple[list[str], int]:
    stack, _, count = line.rstrip().rpartition(" ")
    return [re.sub(r":\d+\)$", ")", frame) for frame in stack.split(";")], int(count)


def top_functions(raw: Path, limit: int = 30) -> tuple[int, list, list]:
    """(samples that were not waiting, top inclusive, top self)."""
    inclusive: Counter = Counter()
    own: Counter = Counter()
    working = 0
    for line in raw.read_text().splitlines():
        frames, count = frames_of(line)
        if WAITING.match(frames[-1]):
            continue
        working += count
        own[frames[-1]] += count
        for frame in set(frames):
            if any(part in frame for part in OWN_CODE):
                inclusive[frame] += count
    return working, inclusive.most_common(limit), own.most_common(limit)


def start_py_spy(pid: int, rate: int, raw: Path, *extra: str) -> subprocess.Popen:
    """py-spy sampling `pid` into `raw` (raw stacks) until it gets SIGINT."""
    return subprocess.Popen(
        [
            str(Path(PYTHON).with_name("py-spy")),
            "record",
            "--pid",
            str(pid),
            "--rate",
            str(rate),
            "--format",
            "raw",
            "--output",
            str(raw),
            "--nonblocking",
            *extra,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def profile(runs: int, rate: int, raw: Path) -> dict:
    artifact = trained_artifact(ARCHIVE)
    image = sorted(cifar_pngs(ARCHIVE, artifact.parent / "cifar").rglob("*.png"))[0]
    with tempfile.TemporaryDirectory() as tmp, deployed_cloud(Path(tmp), artifact) as deployed:
        url, outputs, process = deployed
        s3, sfn = clients(url)("s3"), clients(url)("stepfunctions")
        item = {"s3_bucket": outputs["data_bucket"], "s3_key": "inputs/profile/one.png"}
        s3.put_object(Bucket=item["s3_bucket"], Key=item["s3_key"], Body=image.read_bytes())
        machine = outputs["single_image_state_machine_arn"]
        for _ in range(5):  # warm every Lambda environment and the model
            run_execution(sfn, machine, item)
        spy = start_py_spy(process.pid, rate, raw)
        time.sleep(1)
        seconds = [run_execution(sfn, machine, item, 0.02)[0] for _ in range(runs)]
        spy.send_signal(2)  # py-spy writes its file on Ctrl-C
        spy.wait(timeout=60)
    seconds.sort()
    return {"p50_ms": 1000 * seconds[len(seconds) // 2], "runs": runs}


def write_results(raw: Path, timing: dict, command: str, rate: int) -> None:
    working, inclusive, own = top_functions(raw)
    lines = [
        "# Where the local cloud's time goes (single-image workflow)",
        "",
        f"Command: `{command}`  ",
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {timing['runs']} executions "
        f"one after another, p50 {timing['p50_ms']:.0f} ms (polled every 20 ms); py-spy at "
        f"{rate} Hz; {working} samples not waiting. 2 cores shared with other work.",
        "Raw stacks (not committed): `build/localcloud_profile.txt` (flamegraph.pl or "
        "speedscope.app read them).",
        "",
        "## Most samples, inclusive (server code, moto and the libraries it runs)",
        "",
        "| samples | share | function |",
        "|---|---|---|",
        *[f"| {n} | {n / working:.0%} | `{f}` |" for f, n in inclusive],
        "",
        "## Most samples on their own (self time)",
        "",
        "| samples | share | function |",
        "|---|---|---|",
        *[f"| {n} | {n / working:.0%} | `{f}` |" for f, n in own],
    ]
    (RESULTS / "localcloud_profile.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--rate", type=int, default=200, help="samples per second")
    args = parser.parse_args(argv)
    if shutil.which("terraform") is None or not Path(PYTHON).with_name("py-spy").exists():
        print("profile_localcloud: needs terraform on PATH and py-spy in the venv", file=sys.stderr)
        return 1
    raw = RESULTS.parents[1] / "build" / "localcloud_profile.txt"
    raw.parent.mkdir(exist_ok=True)
    timing = profile(args.runs, args.rate, raw)
    command = " ".join([".venv/bin/python", "-m", "benchmarks.profile_localcloud", *sys.argv[1:]])
    write_results(raw, timing, command, args.rate)
    print(f"wrote {RESULTS / 'localcloud_profile.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
