"""The local cloud's server with CPU accounting per request type and per thread kind.

    python -m benchmarks.localcloud_cpu_probe <port> <report.json>

Runs `python -m localcloud serve --port <port>` in this process after wrapping:
- the server's request handler (`KeepAliveRequestHandler.run_wsgi`): the CPU time of
  each request's thread (time.thread_time, so waiting costs nothing), summed per
  service and action;
- every thread's `run`: its CPU time when it ends, summed per target function (Step
  Functions' per-state threads, Map workers, execution threads, pipe readers).
With LOCALCLOUD_PROBE_CPROFILE set, each of those threads and requests also runs under
its own cProfile.Profile (slower; the shares are what count), merged into
<report.json>.pstats on SIGUSR1.
SIGUSR1 writes the sums (and live threads' CPU so far, from /proc) to <report.json>;
profile_localcloud_batch reads it. A measuring tool only: the server is otherwise
unchanged.
"""

from __future__ import annotations

import cProfile
import gc
import json
import os
import pstats
import re
import signal
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

_lock = threading.Lock()
requests: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
threads: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
_TICKS = os.sysconf("SC_CLK_TCK")
_PROFILE = bool(os.environ.get("LOCALCLOUD_PROBE_CPROFILE"))
_profiles: list = []


def _profiled(function, *args):
    if not _PROFILE:
        return function(*args)
    # CPU time per thread, not wall time: waits (and this machine's other load) cost nothing.
    profile = cProfile.Profile(time.thread_time)
    profile.enable()
    try:
        return function(*args)
    finally:
        profile.disable()
        with _lock:
            _profiles.append(profile)


def _add(table: dict, key: str, seconds: float) -> None:
    with _lock:
        entry = table[key]
        entry[0] += 1
        entry[1] += seconds


def _thread_kind(thread: threading.Thread) -> str:
    target = getattr(thread, "_target", None)
    if target is not None:
        return getattr(target, "__qualname__", repr(target))
    return re.sub(r"-\d+", "", thread.name)


def _request_kind(handler) -> str:
    headers = handler.headers
    target = headers.get("X-Amz-Target")
    if target:
        return target.split(".")[-1]
    match = re.search(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/", headers.get("Authorization") or "")
    service = match.group(1) if match else "?"
    path = re.sub(r"/[^/]*[0-9a-f]{8}[^/]*", "/*", handler.path.split("?")[0])
    if service == "lambda":
        path = re.sub(r"functions/[^/]+/", "functions/*/", path)
    if service == "s3":
        path = "/<bucket>/<key>" if path.count("/") > 1 else "/<bucket>"
    if service == "sagemaker":
        path = re.sub(r"endpoints/[^/]+/", "endpoints/*/", path)
    return f"{service} {handler.command} {path}"


_gc: dict[str, Any] = {"started": 0.0, "pauses": []}


def _on_gc(phase: str, info: dict) -> None:
    if phase == "start":
        _gc["started"] = time.perf_counter()
    else:
        _gc["pauses"].append((info["generation"], time.perf_counter() - _gc["started"]))


walls: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])


def _timed(owner: Any, name: str, label: str) -> None:
    """Sums the wall time of owner.name's calls under `label`."""
    original = getattr(owner, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            _add(walls, label, time.perf_counter() - started)

    setattr(owner, name, timed)


def _time_workflow_path() -> None:
    """Wall time of the steps of a Task state's Lambda invocation (after extensions)."""
    from moto.stepfunctions.parser.asl.component.program.program import Program
    from moto.stepfunctions.parser.asl.component.state.exec import execute_state
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

    from localcloud import lambda_workers

    _timed(execute_state.ExecutionState, "_evaluate_with_timeout", "state with timeout")
    _timed(execute_state.ExecutionState, "_eval_state", "execution state, retries included")
    _timed(lambda_eval_utils, "_invoke_lambda_function", "lambda invoke (integration)")
    _timed(lambda_workers.WorkerPool, "_acquire", "worker pool acquire")
    _timed(lambda_workers.LambdaWorker, "invoke", "worker invoke (pipe round trip)")
    _timed(Program, "eval", "program (whole execution or child)")


def install() -> None:
    gc.callbacks.append(_on_gc)
    if os.environ.get("LOCALCLOUD_PROBE_SWITCH_INTERVAL"):  # an experiment's knob
        sys.setswitchinterval(float(os.environ["LOCALCLOUD_PROBE_SWITCH_INTERVAL"]))
    original_run = threading.Thread.run

    def run(self: threading.Thread) -> None:
        kind = _thread_kind(self)
        try:
            if "process_request_thread" in kind:  # its requests are profiled one by one
                original_run(self)
            else:
                _profiled(original_run, self)
        finally:
            _add(threads, kind, time.thread_time())

    threading.Thread.run = run

    from localcloud.server import KeepAliveRequestHandler

    original_wsgi = KeepAliveRequestHandler.run_wsgi

    def run_wsgi(self) -> None:
        started = time.thread_time()
        try:
            _profiled(original_wsgi, self)
        finally:
            _add(requests, _request_kind(self), time.thread_time() - started)

    KeepAliveRequestHandler.run_wsgi = run_wsgi


def _live_threads() -> dict[str, list[float]]:
    live: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    for thread in threading.enumerate():
        try:
            stat = Path(f"/proc/self/task/{thread.native_id}/stat").read_text()
        except (OSError, TypeError):
            continue
        fields = stat.rsplit(")", 1)[1].split()
        entry = live[_thread_kind(thread)]
        entry[0] += 1
        entry[1] += (int(fields[11]) + int(fields[12])) / _TICKS
    return live


def main() -> None:
    port, report = int(sys.argv[1]), Path(sys.argv[2])
    install()

    def dump(signum, frame) -> None:
        with _lock:
            data = {
                "requests": dict(requests),
                "threads_ended": dict(threads),
                "process_cpu_s": sum(os.times()[:2]),
                "gc_pauses": list(_gc["pauses"]),
                "walls": dict(walls),
            }
        data["threads_live"] = _live_threads()
        if _PROFILE:
            with _lock:
                profiles, _profiles[:] = list(_profiles), []
            if profiles:
                stats = pstats.Stats(profiles[0])
                for profile in profiles[1:]:
                    stats.add(profile)
                stats.dump_stats(f"{report}.pstats")
        partial = report.with_suffix(".partial")
        partial.write_text(json.dumps(data))
        partial.rename(report)

    signal.signal(signal.SIGUSR1, dump)
    from localcloud import extensions
    from localcloud.__main__ import main as localcloud_main

    install_extensions = extensions.install

    def install_then_time(*args: Any) -> Any:
        pool = install_extensions(*args)
        _time_workflow_path()
        return pool

    extensions.install = install_then_time

    sys.exit(localcloud_main(["serve", "--port", str(port)]))


if __name__ == "__main__":
    main()
