"""Serves a SageMaker model's `model.tar.gz` through its `code/inference.py`.

Each endpoint variant (and each transform job) gets its own worker subprocesses, the way
SageMaker gives it its own container: the artifact's code never runs inside the cloud's
process (its imports, crashes and memory stay out of the server), the server process
does not need onnxruntime, and stopping an endpoint frees its memory. A request costs
one pipe round trip, well under a millisecond next to the inference itself. A variant's
container runs up to one worker per vCPU, as SageMaker's model servers do
(`workers_per_variant`), each serving one request at a time; the second and later are
started only when concurrent requests find the others busy.

A `ModelHost` keeps one variant's container serving, as SageMaker keeps an instance
healthy: a health check (the container's `ping`, SageMaker's `GET /ping`) every
`LOCALCLOUD_MODEL_PING_INTERVAL` seconds, an invocation that gets no answer within
`LOCALCLOUD_MODEL_INVOKE_TIMEOUT` seconds (60, SageMaker's limit) kills the hung
container, and a dead or hung container is restarted with backoff, at most
`LOCALCLOUD_MODEL_MAX_RESTARTS` times in `LOCALCLOUD_MODEL_RESTART_WINDOW` seconds;
past that the host is unhealthy and stays down. Every restart is logged (the server's
log and the endpoint's CloudWatch log stream).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import logging
import os
import site
import sys
import tarfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from moto.s3.models import s3_backends

from deployment.s3uri import S3Uri, S3UriError

from . import iam_enforcement, iam_service_roles
from .pipe_worker import PipeWorker

LOG = logging.getLogger(__name__)
WORKER_SCRIPT = Path(__file__).with_name("_model_worker.py")


def _setting(name: str, default: float) -> float:
    value = float(os.environ.get(name, default))
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {value}")
    return value


LOAD_TIMEOUT_S = _setting("LOCALCLOUD_MODEL_LOAD_TIMEOUT", 180)
# SageMaker's limit for a real-time invocation: the container answers within 60 s.
INVOKE_TIMEOUT_S = _setting("LOCALCLOUD_MODEL_INVOKE_TIMEOUT", 60)
PING_INTERVAL_S = _setting("LOCALCLOUD_MODEL_PING_INTERVAL", 5)
PING_TIMEOUT_S = _setting("LOCALCLOUD_MODEL_PING_TIMEOUT", 5)
MAX_RESTARTS = int(_setting("LOCALCLOUD_MODEL_MAX_RESTARTS", 5))
RESTART_WINDOW_S = _setting("LOCALCLOUD_MODEL_RESTART_WINDOW", 600)
RESTART_BACKOFF_S = _setting("LOCALCLOUD_MODEL_RESTART_BACKOFF", 1)
MAX_BACKOFF_S = 30.0

# Why a reply carries no answer from the model (ModelReply.failure):
TIMED_OUT = "timed_out"  # no answer within the invocation timeout: the container hung
EXITED = "exited"  # the container died while serving the request
UNAVAILABLE = "unavailable"  # no container to send it to (restarting or unhealthy)


class ModelLoadError(Exception):
    """The artifact could not be fetched, unpacked or loaded through model_fn."""


@dataclass
class ModelReply:
    ok: bool
    body: bytes
    content_type: str
    status: int = 200
    failure: str | None = None  # TIMED_OUT, EXITED or UNAVAILABLE: the model never answered


def _failed(failure: str, message: str, status: int = 500) -> ModelReply:
    body = json.dumps({"message": message}).encode()
    return ModelReply(False, body, "application/json", status, failure)


def fetch_object(account_id: str, uri: str) -> bytes:
    """Reads an object straight from moto's S3 backend (same process, no HTTP)."""
    try:
        location = S3Uri.parse(uri, object_key=True, what="ModelDataUrl")
    except S3UriError as exc:
        raise ModelLoadError(str(exc)) from None
    try:
        obj = s3_backends[account_id]["global"].get_object(location.bucket, location.key)
    except Exception as exc:
        raise ModelLoadError(f"cannot read {uri}: {type(exc).__name__}") from exc
    if obj is None:
        raise ModelLoadError(f"cannot read {uri}: no such object")
    return obj.value


def unpack_artifact(tarball: bytes, scratch: Path) -> Path:
    """Extracts model.tar.gz once per content hash; the `data` filter refuses links out."""
    digest = hashlib.sha256(tarball).hexdigest()
    model_dir = scratch / "models" / digest
    if model_dir.is_dir():
        return model_dir
    tmp = model_dir.with_name(f"{digest}.{uuid.uuid4().hex}")
    tmp.mkdir(parents=True)
    try:
        with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:*") as archive:
            archive.extractall(tmp, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise ModelLoadError(f"model.tar.gz is not a readable tar.gz archive: {exc}") from exc
    if not (tmp / "code" / "inference.py").is_file():
        raise ModelLoadError("model.tar.gz has no code/inference.py")
    with contextlib.suppress(OSError):
        tmp.rename(model_dir)
    return model_dir if model_dir.is_dir() else tmp


def _site_dirs() -> str:
    return os.pathsep.join(site.getsitepackages())


class ModelWorker(PipeWorker):
    """One model container: loads the model at start, serves requests one at a time."""

    def __init__(
        self, model_dir: Path, environment: dict[str, str], log: Any | None = None
    ) -> None:
        self._lock = threading.Lock()
        self._log = log
        self.environment = dict(environment)  # the container's, as CreateModel gave it
        self._broken = False  # once it failed, a container never serves again
        self._killed_hung = False
        self._busy_since = 0.0
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
        env.update(environment)
        env.update({"SM_MODEL_DIR": str(model_dir), "OMP_NUM_THREADS": "1"})
        self._start(
            [sys.executable, "-I", "-S", "-u", str(WORKER_SCRIPT), str(model_dir), _site_dirs()],
            model_dir,
            env,
            reader_thread=False,
        )
        self._wait_ready()

    def _log_line(self, line: str) -> None:
        if self._log is not None:
            self._log.write(line)

    def _wait_ready(self) -> None:
        try:
            hello = self._read_reply(LOAD_TIMEOUT_S)
        except TimeoutError:
            self.stop()
            raise ModelLoadError(f"model_fn did not finish within {LOAD_TIMEOUT_S:.0f} s") from None
        if not hello or not hello.get("ready"):
            self.stop()
            reason = (hello or {}).get("message", "the worker exited while loading")
            raise ModelLoadError(f"loading the model through code/inference.py failed: {reason}")

    @property
    def busy_for(self) -> float:
        """Seconds the request being served has taken so far (0 when idle)."""
        since = self._busy_since
        return time.monotonic() - since if since else 0.0

    def invoke(self, body: bytes, content_type: str, accept: str | None) -> ModelReply:
        """One request; a container that does not answer within the timeout is killed."""
        request = {
            "body_b64": base64.b64encode(body).decode("ascii"),
            "content_type": content_type,
            "accept": accept,
        }
        line = json.dumps(request) + "\n"
        del request, body
        with self._lock:
            if self._broken or not self.alive:
                self._broken = True
                return _failed(UNAVAILABLE, "the model container is not running")
            self._busy_since = time.monotonic()
            try:
                assert self.process.stdin is not None
                self.process.stdin.write(line)
                self.process.stdin.flush()
                reply = self._read_reply(INVOKE_TIMEOUT_S)
            except TimeoutError:
                reply = TIMED_OUT
            except (BrokenPipeError, OSError, ValueError):
                reply = None  # the pipe closed: the container is gone
            finally:
                self._busy_since = 0.0
            if reply is None or reply == TIMED_OUT:
                failure = TIMED_OUT if reply == TIMED_OUT or self._killed_hung else EXITED
                self._broken = True
                self.stop()
                if failure == TIMED_OUT:
                    return _failed(failure, f"no answer within {INVOKE_TIMEOUT_S:g} s")
                code = self.process.returncode
                return _failed(failure, f"the model container exited (exit code {code})")
        if reply["ok"]:
            return ModelReply(True, base64.b64decode(reply["body_b64"]), reply["content_type"])
        return ModelReply(False, reply["message"].encode(), "application/json", reply["status"])

    def ping(self) -> bool | None:
        """The health check: True if the container answered, None if it is busy serving."""
        if self._broken or not self.alive:
            return False
        if not self._lock.acquire(blocking=False):
            return None
        try:
            assert self.process.stdin is not None
            self.process.stdin.write('{"ping": true}\n')
            self.process.stdin.flush()
            reply = self._read_reply(PING_TIMEOUT_S)
        except (TimeoutError, OSError, ValueError):
            reply = None
        finally:
            self._lock.release()
        if not (reply and reply.get("pong")):
            self._broken = True
            self.stop()
            return False
        return True

    def kill_hung(self) -> None:
        """Kills a container stuck in one request (its pipe may be blocked mid-write)."""
        self._killed_hung = True
        self._broken = True
        self.stop()


def container_of(model: Any) -> dict[str, Any]:
    """The model's (first) container: where its artifact and environment are."""
    container = model.primary_container or (model.containers or [{}])[0]
    if not container.get("ModelDataUrl"):
        raise ModelLoadError(f"model {model.model_name} has no ModelDataUrl")
    return container


def start_model_worker(
    account_id: str, model: Any, scratch: Path, log: Any | None = None
) -> ModelWorker:
    container = container_of(model)
    try:  # the model's execution role reads the artifact (issue 16)
        iam_service_roles.check_model_read(model, container["ModelDataUrl"])
    except iam_enforcement.AccessDeniedError as denied:
        raise ModelLoadError(
            f"Could not access model data at {container['ModelDataUrl']}: {denied}"
        ) from None
    environment = dict(container.get("Environment") or {})
    workers_per_variant(environment)  # a bad worker count fails the deployment, named
    tarball = fetch_object(account_id, container["ModelDataUrl"])
    model_dir = unpack_artifact(tarball, scratch)
    return ModelWorker(model_dir, environment, log)


def log_stream_name(variant: str) -> str:
    return f"{variant}/{datetime.now(UTC):%Y%m%d}-{uuid.uuid4().hex[:12]}-{int(time.time())}"


def workers_per_variant(environment: dict[str, str]) -> int:
    """How many model-server workers a variant's container runs.

    SageMaker's serving containers read `SAGEMAKER_MODEL_SERVER_WORKERS` from the model's
    environment (sagemaker-inference-toolkit, `parameters.py` and `environment.py`); unset,
    the model server runs one worker per vCPU (SageMaker Python SDK, `model_server_workers`:
    "If None, server will use one worker per vCPU"). Here unset means
    `LOCALCLOUD_MODEL_WORKERS`, by default this machine's CPU count.
    """
    name = "SAGEMAKER_MODEL_SERVER_WORKERS"
    value = environment.get(name) or os.environ.get("LOCALCLOUD_MODEL_WORKERS")
    if not value:
        return max(1, os.cpu_count() or 1)
    if not value.strip().isdigit() or int(value) < 1:
        where = name if environment.get(name) else "LOCALCLOUD_MODEL_WORKERS"
        raise ModelLoadError(f"{where} must be a positive integer, got {value!r}")
    return int(value)


class ModelHost:
    """One variant's container, kept serving: health checks, bounded restarts with backoff.

    The container runs up to `max_workers` model-server workers (ModelWorker processes),
    each serving one request at a time; a request goes to an idle one. The first is
    started here, so a model that cannot load fails the deployment at once; another is
    started (in the background) when a request finds every worker busy, up to
    `max_workers`, so an endpoint called one request at a time runs one process. A worker
    that dies or hangs fails the whole container, as before: every worker is stopped and
    the container restarted with one. States: InService (serving), Restarting (no
    container: invocations are refused, not queued) and Unhealthy (restarts exhausted).
    """

    def __init__(
        self,
        name: str,
        start: Callable[[], ModelWorker],
        log: Any | None = None,
        on_unhealthy: Callable[[ModelHost], None] | None = None,
        max_workers: int | None = None,
    ) -> None:
        self.name, self._start_worker, self._log = name, start, log
        self._on_unhealthy = on_unhealthy
        first = start()
        self.max_workers = max_workers or workers_per_variant(first.environment)
        self._pool: list[ModelWorker] = [first]
        self._idle: list[ModelWorker] = list(self._pool)
        self._growing = self._grow_failed = False
        self.state = "InService"
        self.reason = ""
        self.restarts = 0
        self._recent: deque[float] = deque()
        self._guard = threading.Condition()
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name=f"model-host-{name}", daemon=True)
        self._watcher.start()

    @property
    def worker(self) -> ModelWorker | None:
        """The container's first worker (its pid is the container's, for fault tests)."""
        pool = self._pool
        return pool[0] if pool else None

    # ---------------------------------------------------------------- serving

    def invoke(self, body: bytes, content_type: str, accept: str | None) -> ModelReply:
        worker = self._acquire()
        if worker is None:
            why = self.reason or "it is not running"
            return _failed(UNAVAILABLE, f"the model container is {self.state.lower()}: {why}")
        try:
            reply = worker.invoke(body, content_type, accept)
        finally:
            self._release(worker)
        if reply.failure is not None:
            self._container_failed(worker, reply.failure)
        return reply

    def _acquire(self) -> ModelWorker | None:
        """An idle worker of the serving container (waiting for one), or None."""
        with self._guard:
            while True:
                if self.state != "InService" or self._stopped.is_set():
                    return None
                if self._idle:
                    return self._idle.pop()
                growable = not (self._growing or self._grow_failed)
                if growable and len(self._pool) < self.max_workers:
                    self._growing = True
                    threading.Thread(
                        target=self._grow, name=f"model-grow-{self.name}", daemon=True
                    ).start()
                self._guard.wait(1.0)  # woken by a release, a new worker or a failure

    def _release(self, worker: ModelWorker) -> None:
        with self._guard:
            if worker in self._pool:
                self._idle.append(worker)
            self._guard.notify()

    def _grow(self) -> None:
        """One more worker for a busy container; one that fails to load is not retried
        until the container restarts."""
        try:
            worker = self._start_worker()
        except ModelLoadError as exc:
            self._say(f"could not start another worker: {exc}")
            with self._guard:
                self._growing, self._grow_failed = False, True
            return
        with self._guard:
            self._growing = False
            if self.state == "InService" and not self._stopped.is_set():
                self._pool.append(worker)
                self._idle.append(worker)
                self._guard.notify()
                return
        worker.stop()

    def describe(self) -> dict[str, Any]:
        pool = list(self._pool)
        return {
            "state": self.state,
            "reason": self.reason,
            "restarts": self.restarts,
            "pid": pool[0].process.pid if pool else None,
            "workers": [w.process.pid for w in pool],
            "max_workers": self.max_workers,
        }

    def stop(self) -> None:
        self._stopped.set()
        self._wake.set()
        with self._guard:
            pool, self._pool, self._idle = self._pool, [], []
            self._guard.notify_all()
        for worker in pool:
            worker.stop()

    # ---------------------------------------------------------------- healing

    def _say(self, message: str) -> None:
        LOG.warning("model host %s: %s", self.name, message)
        if self._log is not None:
            self._log.write(f"[localcloud] {message}")

    def _container_failed(self, worker: ModelWorker, failure: str) -> None:
        """The first report of a worker's failure fails the container: every worker is
        stopped (requests in flight on the others fail too) and a restart scheduled."""
        with self._guard:
            if worker not in self._pool or self._stopped.is_set():
                return
            pool, self._pool, self._idle = self._pool, [], []
            self.state = "Restarting"
            self.reason = {
                TIMED_OUT: f"the container did not answer within {INVOKE_TIMEOUT_S:g} s",
                EXITED: "the container exited",
                UNAVAILABLE: "the container exited",
                "ping": "the container failed its health check (ping)",
            }[failure]
            self._guard.notify_all()
        for each in pool:
            each.stop()
        self._say(
            f"{self.reason} (pid {worker.process.pid}, exit code {worker.process.returncode})"
        )
        self._wake.set()

    def _watch(self) -> None:
        while not self._stopped.is_set():
            self._wake.wait(max(PING_INTERVAL_S, 0.05))
            self._wake.clear()
            if self._stopped.is_set():
                return
            if self.state == "Restarting":
                self._restart()
                continue
            if self.state != "InService":
                continue
            for worker in list(self._pool):
                if INVOKE_TIMEOUT_S and worker.busy_for > INVOKE_TIMEOUT_S + 1:
                    worker.kill_hung()  # stuck writing the request: invoke() then reports it
                elif worker.ping() is False:
                    self._container_failed(worker, "ping")
                    break

    def _restart(self) -> None:
        now = time.monotonic()
        while self._recent and now - self._recent[0] > RESTART_WINDOW_S:
            self._recent.popleft()
        if len(self._recent) >= MAX_RESTARTS:
            self.state = "Unhealthy"
            self.reason = (
                f"{self.reason}; restarted {len(self._recent)} times in "
                f"{RESTART_WINDOW_S:g} s, no more restarts"
            )
            self._say(f"unhealthy: {self.reason}")
            if self._on_unhealthy is not None:
                self._on_unhealthy(self)
            return
        attempt = len(self._recent) + 1
        delay = 0.0 if attempt == 1 else min(RESTART_BACKOFF_S * 2 ** (attempt - 2), MAX_BACKOFF_S)
        if delay and self._stopped.wait(delay):
            return
        self._recent.append(time.monotonic())
        self.restarts += 1
        self._say(
            f"restarting the container (restart {attempt} of {MAX_RESTARTS} allowed in "
            f"{RESTART_WINDOW_S:g} s, after {delay:g} s backoff)"
        )
        try:
            worker = self._start_worker()
        except ModelLoadError as exc:
            self.reason = f"restart {attempt} failed: {exc}"
            self._say(self.reason)
            self._wake.set()  # next attempt (or Unhealthy) at once, after its backoff
            return
        with self._guard:
            if self._stopped.is_set():
                worker.stop()
                return
            self._pool, self._idle = [worker], [worker]
            self._grow_failed = False
            self.state, self.reason = "InService", ""
            self._guard.notify_all()
        self._say(f"restarted: serving again (pid {worker.process.pid})")
