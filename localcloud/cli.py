"""What `python -m localcloud up|down|status|serve` does."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from deployment.outputs import TERRAFORM_DIR, WORKSPACES
from deployment.target import Target, local_environment
from deployment.target import local_url as url

from . import DEFAULT_HOST, paths

READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
TERRAFORM_LOCAL_STATE = TERRAFORM_DIR / "terraform.tfstate.d" / WORKSPACES["local"]
LOCAL_MODEL_VARS = TERRAFORM_DIR / "model.local.tfvars.json"


class LocalCloudError(Exception):
    """A one-line reason the command could not do what was asked."""


def health(port: int, timeout: float = 1.0) -> dict[str, Any] | None:
    """The running local cloud's health document, or None when nothing answers as one."""
    try:
        with urllib.request.urlopen(f"{url(port)}/_localcloud/health", timeout=timeout) as resp:  # noqa: S310
            body = json.loads(resp.read())
    except (OSError, ValueError, urllib.error.URLError):
        return None
    return body if isinstance(body, dict) and body.get("status") == "ready" else None


def port_taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((DEFAULT_HOST, port)) == 0


def _export_line(port: int) -> str:
    return "export " + " ".join(f"{k}={v}" for k, v in local_environment(port).items())


def _reset_terraform_state(port: int) -> None:
    """A restart is a fresh cloud: the `local` workspace state and the recorded local
    model (an object in the old cloud's S3) now describe nothing that exists."""
    stamp = int(time.time())
    stale = [
        (TERRAFORM_LOCAL_STATE / "terraform.tfstate", "the `local` Terraform workspace state"),
        (LOCAL_MODEL_VARS, "the local model record (its artifact was in the old cloud)"),
    ]
    moved = False
    for path, what in stale:
        if path.is_file():
            aside = paths.state_dir(port) / f"stale-{path.name}.{stamp}"
            aside.parent.mkdir(parents=True, exist_ok=True)
            path.replace(aside)
            print(f"  moved {what} to {aside}")
            moved = True
    if moved:
        print("  the new cloud is empty: `make apply`, `make etl`, `make train` deploy again")


def up(port: int, reset_terraform_state: bool = True, iam: bool = True) -> int:
    running = health(port)
    if running:
        print(f"local cloud already running on {url(port)} (pid {running['pid']})")
        return 0
    if port_taken(port):
        raise LocalCloudError(
            f"port {port} is taken by another program (not the local cloud); "
            "stop it or choose another port with --port"
        )
    log = paths.log_file(port)
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "localcloud", "serve", "--port", str(port)]
            + ([] if iam else ["--iam", "off"]),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=paths.REPO_ROOT,
            # Its own process group: `down` stops the server and every worker it started.
            start_new_session=True,
        )
    paths.pid_file(port).write_text(f"{process.pid}\n")
    _wait_ready(port, process, log)
    elapsed = time.monotonic() - started
    print(f"local cloud ready on {url(port)} in {elapsed:.1f} s (pid {process.pid}, log {log})")
    print("  state is in memory: `down` or a restart gives a fresh, empty cloud")
    if reset_terraform_state:
        _reset_terraform_state(port)
    print(f"  clients: {_export_line(port)}")
    return 0


def _wait_ready(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if health(port, timeout=0.5):
            return
        if process.poll() is not None:
            paths.pid_file(port).unlink(missing_ok=True)
            tail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
            raise LocalCloudError(f"the local cloud exited at start: {tail[0]} (see {log})")
        time.sleep(0.1)
    raise LocalCloudError(
        f"the local cloud did not answer within {READY_TIMEOUT_S:.0f} s; see {log}"
    )


def _pid_of(port: int) -> int | None:
    pid_file = paths.pid_file(port)
    if pid_file.is_file():
        with contextlib.suppress(ValueError):
            return int(pid_file.read_text().strip())
    running = health(port)
    return int(running["pid"]) if running else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def down(port: int) -> int:
    pid = _pid_of(port)
    if pid is None or not _alive(pid):
        paths.pid_file(port).unlink(missing_ok=True)
        print(f"local cloud is not running on port {port}")
        return 0
    group = os.getpgid(pid)
    os.killpg(group, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGKILL)  # whatever ignored SIGTERM (a stuck worker)
    paths.pid_file(port).unlink(missing_ok=True)
    print(f"local cloud on port {port} stopped (pid {pid}); its state is gone")
    return 0


def _deployed(port: int) -> list[str]:
    cloud = Target("local", port)
    buckets = [b["Name"] for b in cloud.client("s3").list_buckets()["Buckets"]]
    functions = cloud.client("lambda").list_functions()["Functions"]
    machines = cloud.client("stepfunctions").list_state_machines()["stateMachines"]
    endpoints = [
        f"{e['EndpointName']} ({e['EndpointStatus']})"
        for e in cloud.client("sagemaker").list_endpoints()["Endpoints"]
    ]
    return [
        f"  buckets        {', '.join(buckets) or '-'}",
        f"  functions      {', '.join(f['FunctionName'] for f in functions) or '-'}",
        *_runtimes(sorted({f.get("Runtime", "") for f in functions} - {""})),
        f"  state machines {', '.join(m['name'] for m in machines) or '-'}",
        f"  endpoints      {', '.join(endpoints) or '-'}",
    ]


def _runtimes(runtimes: list[str]) -> list[str]:
    """Which Python each deployed runtime runs on here, and where it is not its own."""
    from .lambda_workers import runtime_interpreter

    lines = []
    for runtime in runtimes:
        python, notice = runtime_interpreter(runtime)
        lines.append(f"  runtime        {runtime}: {notice or python}")
    return lines


def status(port: int) -> int:
    running = health(port)
    if not running:  # an answer to the question, not a failure: exit 0
        print(f"the local cloud is not running on port {port} (make local-up)")
        return 0
    print(
        f"local cloud running on {url(port)}: pid {running['pid']}, "
        f"up {running['uptime_s']:.0f} s, peak memory {running['max_rss_mb']:.0f} MB"
    )
    print("\n".join(_deployed(port)))
    return 0


def serve(port: int, iam: bool = True) -> int:
    from . import iam_enforcement
    from .server import LocalCloudServer, PortInUseError

    iam_enforcement.configure(iam)
    try:
        server = LocalCloudServer(port)
    except PortInUseError as exc:
        raise LocalCloudError(str(exc)) from None

    def _stop(signum: int, frame: Any) -> None:
        # shutdown() waits for serve_forever to return, so never from its own thread.
        threading.Thread(target=server.stop, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    print(f"local cloud serving on {server.url} (pid {os.getpid()}); Ctrl-C stops it", flush=True)
    print(f"  IAM for the workload's roles: {'enforced' if iam else 'off (--iam off)'}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.stop()
    print("local cloud stopped", flush=True)
    return 0
