"""Warm Python subprocesses that run a Lambda function's handler from its uploaded zip.

One pool per function version and code; a worker serves one invocation at a time (like
a Lambda execution environment), more are started up to a cap when invocations overlap
(a Map state), and a worker that times out is killed and replaced.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lambdas.runtime_site import build_runtime_site

from . import iam_enforcement
from .pipe_worker import PipeWorker

RUNTIME_SCRIPT = Path(__file__).with_name("_lambda_runtime.py")
# -I -S: no user site, no site-packages; the runtime script sets sys.path itself.
RUNTIME_FLAGS = ("-I", "-S", "-u", str(RUNTIME_SCRIPT))
# Lambda's default /tmp size ("Configuring ephemeral storage", 512 MB to 10240 MB).
DEFAULT_EPHEMERAL_MB = 512
MAX_WORKERS_PER_FUNCTION = int(os.environ.get("LOCALCLOUD_LAMBDA_MAX_WORKERS", "4"))
# "Understanding the Lambda execution environment lifecycle" (docs.aws.amazon.com/lambda/
# latest/dg/lambda-runtime-environment.html): the Init phase (the runtime started, the
# function's static code run) is limited to 10 seconds; past that, Lambda retries it at
# the first invocation with the function's configured timeout.
INIT_LIMIT_S = 10.0
LOG_TAIL_BYTES = 4096


@dataclass
class Invocation:
    """What one invocation produced: the payload text and whether it is an error."""

    payload: str
    errored: bool
    log_tail: str


@dataclass(frozen=True)
class FunctionSpec:
    """Everything that, when it changes, needs a fresh execution environment."""

    name: str
    arn: str
    version: str
    handler: str
    runtime: str
    timeout_s: float
    memory_mb: int
    region: str
    code_sha256: str
    environment: tuple[tuple[str, str], ...] = field(default=())
    ephemeral_mb: int = DEFAULT_EPHEMERAL_MB
    role: str = ""


def _interpreter_candidates(version: str) -> list[str]:
    """Where a `pythonX.Y` may be: PATH, pyenv's versions, uv's managed Pythons."""
    found = [shutil.which(f"python{version}") or ""]
    pyenv_root = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    uv_root = os.environ.get("UV_PYTHON_INSTALL_DIR") or str(
        Path.home() / ".local" / "share" / "uv" / "python"
    )
    for pattern in (
        f"{pyenv_root}/versions/{version}.*/bin/python{version}",
        f"{uv_root}/cpython-{version}.*/bin/python{version}",
    ):
        found += sorted(glob.glob(pattern), key=_version_key, reverse=True)
    return [path for path in found if path]


def _version_key(path: str) -> tuple[int, ...]:
    match = re.search(r"(\d+)\.(\d+)\.(\d+)", path)
    return tuple(int(part) for part in match.groups()) if match else (0,)


@functools.cache
def runtime_interpreter(runtime: str) -> tuple[str, str]:
    """The Python to run a `pythonX.Y` runtime on, and a notice when it is not that one.

    The runtime's own version when this machine has it, else this server's Python (the
    notice says so; the function's log and `python -m localcloud status` show it).
    """
    version = runtime.removeprefix("python")
    host = f"{sys.version_info.major}.{sys.version_info.minor}"
    if version == host:
        return sys.executable, ""
    for candidate in _interpreter_candidates(version):
        try:
            out = subprocess.run(
                [candidate, "-I", "-S", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                capture_output=True,
                text=True,
                timeout=10,
                check=True,
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            continue
        if out == version:
            return candidate, ""
    return sys.executable, (
        f"no python{version} on this machine: {runtime} runs on Python {sys.version.split()[0]}"
    )


class LogSink:
    """Forwards worker output to a CloudWatch Logs stream in moto's logs backend."""

    def __init__(self, logs_backend: Any, group: str, stream: str) -> None:
        self._backend, self.group, self.stream = logs_backend, group, stream
        self._lock = threading.Lock()
        with self._lock:
            self._backend.ensure_log_group(group)
            self._backend.create_log_stream(group, stream)

    def write(self, message: str) -> None:
        event = {"timestamp": int(time.time() * 1000), "message": message}
        with self._lock, contextlib.suppress(Exception):
            self._backend.put_log_events(self.group, self.stream, [event])


def extract_code(code: bytes, scratch: Path) -> Path:
    """The zip unpacked once per code hash (AWS's /var/task), with its file modes."""
    digest = hashlib.sha256(code).hexdigest()
    task_dir = scratch / "lambda-code" / digest
    if task_dir.is_dir():
        return task_dir
    tmp = task_dir.with_name(f"{digest}.{uuid.uuid4().hex}")
    with zipfile.ZipFile(io.BytesIO(code)) as archive:
        for member in archive.infolist():
            target = (tmp / member.filename).resolve()
            if not target.is_relative_to(tmp.resolve()):
                raise ValueError(f"zip entry escapes the task directory: {member.filename}")
        archive.extractall(tmp)
    with contextlib.suppress(OSError):
        tmp.rename(task_dir)
    return task_dir


class LambdaWorker(PipeWorker):
    """One execution environment: a `python -I -S` subprocess with the handler warm."""

    def __init__(
        self,
        spec: FunctionSpec,
        task_dir: Path,
        site_dir: Path,
        logs_backend: Any,
        port: int,
        scratch: Path,
        init_phase: bool = True,
    ) -> None:
        self.spec = spec
        now = datetime.now(UTC)
        stream = f"{now:%Y/%m/%d}/[{spec.version}]{uuid.uuid4().hex}"
        self.log = LogSink(logs_backend, f"/aws/lambda/{spec.name}", stream)
        self._lines: list[str] = []
        self._report = threading.Event()
        # This environment's own /tmp, gone with it (Lambda: one per execution environment).
        self.tmp_dir = scratch / "lambda-tmp" / uuid.uuid4().hex
        self.tmp_dir.mkdir(parents=True)
        python, notice = runtime_interpreter(spec.runtime)
        env = self._environment(port, task_dir)
        if notice:
            env["LOCALCLOUD_RUNTIME_NOTICE"] = notice
        self._start(
            [
                python,
                *RUNTIME_FLAGS,
                str(task_dir),
                str(site_dir),
                spec.handler,
                str(self.tmp_dir),
                str(spec.ephemeral_mb),
                "init" if init_phase else "first-invoke",
            ],
            task_dir,
            env,
            # The invoking thread reads its reply itself: no reader thread to hand it over
            # (one thread wake-up less per invocation; issue 17).
            reader_thread=False,
        )
        self.init_timed_out = False
        if init_phase:
            try:
                self._read_reply(INIT_LIMIT_S)  # the ready line (None: it exited in Init)
            except TimeoutError:
                self.init_timed_out = True

    def stop(self) -> None:
        super().stop()
        shutil.rmtree(self.tmp_dir, ignore_errors=True)

    def _environment(self, port: int, task_dir: Path) -> dict[str, str]:
        spec = self.spec
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "TZ": ":UTC",
            # Subprocesses and C code that honour TMPDIR use this environment's /tmp too.
            "TMPDIR": str(self.tmp_dir),
        }
        env.update(dict(spec.environment))
        # The runtime's reserved variables win over the function's, as in AWS.
        env.update(
            {
                "AWS_LAMBDA_FUNCTION_NAME": spec.name,
                "AWS_LAMBDA_FUNCTION_VERSION": spec.version,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
                "AWS_LAMBDA_FUNCTION_TIMEOUT": str(int(spec.timeout_s)),
                "AWS_LAMBDA_LOG_GROUP_NAME": self.log.group,
                "AWS_LAMBDA_LOG_STREAM_NAME": self.log.stream,
                "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
                "AWS_REGION": spec.region,
                "AWS_DEFAULT_REGION": spec.region,
                "LAMBDA_TASK_ROOT": "/var/task",
                "LAMBDA_RUNTIME_DIR": "/var/runtime",
                "_HANDLER": spec.handler,
                # The execution role's session (issue 16): its calls are the role's.
                **iam_enforcement.function_credentials(spec.role, spec.name, spec.region),
                # Handlers create plain boto3 clients; this routes them back here.
                "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
            }
        )
        return env

    def _log_line(self, line: str) -> None:
        self.log.write(line)
        self._lines.append(line)
        if line.startswith("REPORT RequestId:"):
            self._report.set()

    def _read_log(self) -> None:
        super()._read_log()
        self._report.set()  # the worker exited: no REPORT line is coming

    def invoke(self, event: Any, request_id: str) -> Invocation:
        spec = self.spec
        self._lines, self._report = [], threading.Event()
        deadline_ms = time.time() * 1000 + spec.timeout_s * 1000
        request = {
            "event": event,
            "request_id": request_id,
            "deadline_ms": deadline_ms,
            "invoked_function_arn": spec.arn,
        }
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
            reply = self._read_reply(spec.timeout_s)
        except TimeoutError:
            return self._timed_out(request_id)
        except (BrokenPipeError, OSError):
            reply = None
        if reply is None:
            return self._exited(request_id)
        self._report.wait(timeout=2)
        tail = "\n".join(self._lines)[-LOG_TAIL_BYTES:]
        if reply["ok"]:
            return Invocation(reply["payload"], False, tail)
        return Invocation(json.dumps(reply["error"]), True, tail)

    def _timed_out(self, request_id: str) -> Invocation:
        self.stop()
        message = f"Task timed out after {self.spec.timeout_s:.2f} seconds"
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        self.log.write(f"{stamp} {request_id} {message}")
        self.log.write(f"END RequestId: {request_id}")
        payload = {
            "errorType": "Sandbox.Timedout",
            "errorMessage": f"RequestId: {request_id} Error: {message}",
        }
        return Invocation(json.dumps(payload), True, message)

    def _exited(self, request_id: str) -> Invocation:
        code = self.process.wait()
        message = f"RequestId: {request_id} Error: Runtime exited with error: exit status {code}"
        self.log.write(message)
        payload = {"errorType": "Runtime.ExitError", "errorMessage": message}
        return Invocation(json.dumps(payload), True, message)


class WorkerPool:
    """Warm workers per function spec; idle ones are reused, stale specs are retired."""

    def __init__(self, scratch: Path, port: int) -> None:
        self.scratch, self.port = scratch, port
        self._idle: dict[FunctionSpec, list[LambdaWorker]] = {}
        self._busy: dict[FunctionSpec, int] = {}
        self._cond = threading.Condition()
        self._site: Path | None = None

    def runtime_site(self) -> Path:
        """boto3 and its dependencies only, as the Lambda runtime ships them; built once."""
        with self._cond:
            if self._site is None:
                self._site = build_runtime_site(self.scratch / "lambda-runtime-site")
            return self._site

    def invoke(self, spec: FunctionSpec, code: bytes, logs_backend: Any, event: Any) -> Invocation:
        worker = self._acquire(spec, code, logs_backend)
        try:
            return worker.invoke(event, str(uuid.uuid4()))
        finally:
            self._release(worker)

    def _acquire(self, spec: FunctionSpec, code: bytes, logs_backend: Any) -> LambdaWorker:
        with self._cond:
            self._retire_stale(spec)
            while True:
                idle = self._idle.setdefault(spec, [])
                while idle:
                    worker = idle.pop()
                    if worker.alive:
                        self._busy[spec] = self._busy.get(spec, 0) + 1
                        return worker
                if self._busy.get(spec, 0) < MAX_WORKERS_PER_FUNCTION:
                    self._busy[spec] = self._busy.get(spec, 0) + 1
                    break
                self._cond.wait()
        try:
            task_dir = extract_code(code, self.scratch)
            site = self.runtime_site()
            worker = LambdaWorker(spec, task_dir, site, logs_backend, self.port, self.scratch)
            if worker.init_timed_out:
                # Init again, inside the first invocation and under the function's timeout.
                worker.stop()
                worker = LambdaWorker(
                    spec, task_dir, site, logs_backend, self.port, self.scratch, init_phase=False
                )
            return worker
        except BaseException:
            with self._cond:
                self._busy[spec] -= 1
                self._cond.notify()
            raise

    def _release(self, worker: LambdaWorker) -> None:
        with self._cond:
            self._busy[worker.spec] -= 1
            if worker.alive and worker.spec in self._idle:
                self._idle[worker.spec].append(worker)
            else:
                worker.stop()
            self._cond.notify()

    def _retire_stale(self, spec: FunctionSpec) -> None:
        """An updated function (new code or configuration) gets fresh environments."""
        for other in [s for s in self._idle if s.arn == spec.arn and s != spec]:
            for worker in self._idle.pop(other):
                worker.stop()

    def shutdown(self) -> None:
        with self._cond:
            workers = [w for ws in self._idle.values() for w in ws]
            self._idle.clear()
        for worker in workers:
            worker.stop()
