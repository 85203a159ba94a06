"""One process, one port: moto's WSGI app with the local cloud's extensions installed.

Besides the AWS APIs, a few admin routes under `/_localcloud/` (never an AWS path):
`GET health`, `POST sagemaker/faults` (transient endpoint failures for tests),
`GET sagemaker/containers` (each endpoint variant's model container: state, restarts,
pid), `POST sagemaker/containers` (kill or hang one, for fault tests), `GET memory`
(resident memory; the top allocation sites when started with PYTHONTRACEMALLOC) and
`POST s3/drain` (wait until queued S3 notifications were delivered).
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import json
import os
import resource
import shutil
import signal
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, make_server

from . import (
    DEFAULT_HOST,
    extensions,
    iam_enforcement,
    paths,
    s3_notifications,
    sagemaker_control,
    sagemaker_runtime,
)

ADMIN_PREFIX = "/_localcloud/"
S3_MEMORY_BODY_LIMIT = 256 * 1024
# Imported in the background once the port is open, so the first real call is quick.
WARM_SERVICES = (
    "s3",
    "iam",
    "sts",
    "sns",
    "sqs",
    "awslambda",
    "stepfunctions",
    "sagemaker",
    "sagemakerruntime",
    "cloudwatch",
    "logs",
    "events",
    "kms",
)


class QuietRequestHandler(MotoRequestHandler):
    """moto's handler without a stderr line per request (set LOCALCLOUD_ACCESS_LOG=1)."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        if os.environ.get("LOCALCLOUD_ACCESS_LOG") == "1":
            super().log_request(*args, **kwargs)


class PortInUseError(OSError):
    """Another process already listens on the port."""


def _json(start_response: Callable, status: str, body: dict) -> list[bytes]:
    data = json.dumps(body).encode()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
    start_response(status, headers)
    return [data]


class AdminMiddleware:
    """Answers `/_localcloud/*` itself and hands every other request to moto."""

    def __init__(self, app: Callable, port: int) -> None:
        self.app, self.port, self.started = app, port, time.time()

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if not path.startswith(ADMIN_PREFIX):
            return self.app(environ, start_response)
        route = (environ["REQUEST_METHOD"], path[len(ADMIN_PREFIX) :].rstrip("/"))
        try:
            body = self._read_json(environ) if route[0] == "POST" else {}
            if route == ("GET", "health"):
                return _json(start_response, "200 OK", self.health())
            if route == ("POST", "sagemaker/faults"):
                sagemaker_runtime.inject_faults(
                    str(body["endpoint_name"]),
                    int(body.get("count", 1)),
                    str(body.get("error", "ModelError")),
                    str(body.get("region", "us-east-1")),
                )
                return _json(start_response, "200 OK", {"injected": body})
            if route == ("GET", "sagemaker/containers"):
                return _json(
                    start_response, "200 OK", {"endpoints": sagemaker_control.describe_hosts()}
                )
            if route == ("POST", "sagemaker/containers"):
                return _json(start_response, "200 OK", signal_container(body))
            if route == ("GET", "memory"):
                return _json(
                    start_response, "200 OK", memory_report(environ.get("QUERY_STRING", ""))
                )
            if route == ("POST", "s3/drain"):
                drained = s3_notifications.drain(float(body.get("timeout", 30)))
                return _json(start_response, "200 OK", {"drained": drained})
            iam_answer = iam_enforcement.admin(route[0], route[1], body)
            if iam_answer is not None:
                return _json(start_response, "200 OK", iam_answer)
        except (KeyError, ValueError, TypeError) as exc:
            return _json(start_response, "400 Bad Request", {"error": str(exc)})
        return _json(start_response, "404 Not Found", {"error": f"no admin route {route}"})

    @staticmethod
    def _read_json(environ: dict) -> dict[str, Any]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        data = environ["wsgi.input"].read(length) if length else b"{}"
        body = json.loads(data)
        if not isinstance(body, dict):
            raise ValueError("the body must be a JSON object")
        return body

    def health(self) -> dict[str, Any]:
        rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return {
            "status": "ready",
            "pid": os.getpid(),
            "port": self.port,
            "uptime_s": round(time.time() - self.started, 1),
            "max_rss_mb": round(rss_kb / 1024, 1),
            "rss_mb": current_rss_mb(),
        }


CONTAINER_SIGNALS = {"kill": signal.SIGKILL, "hang": signal.SIGSTOP}


def signal_container(body: dict[str, Any]) -> dict[str, Any]:
    """Kills (SIGKILL) or hangs (SIGSTOP) an endpoint variant's model container."""
    action = str(body.get("action", ""))
    if action not in CONTAINER_SIGNALS:
        raise ValueError(f"action must be one of {sorted(CONTAINER_SIGNALS)}, got {action!r}")
    name, variant = str(body["endpoint_name"]), body.get("variant")
    for endpoint in sagemaker_control.describe_hosts():
        if endpoint["endpoint_name"] != name:
            continue
        for variant_name, host in endpoint["variants"].items():
            if variant in (None, variant_name) and host["pid"]:
                os.kill(host["pid"], CONTAINER_SIGNALS[action])
                return {"endpoint_name": name, "variant": variant_name, "pid": host["pid"]}
    raise KeyError(f"no running model container for endpoint {name!r} variant {variant!r}")


def current_rss_mb() -> float:
    """This process's resident memory now (ru_maxrss is only the peak)."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        pages = int(open("/proc/self/statm").read().split()[1])  # noqa: SIM115
        return round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)
    return -1.0


_memory_baseline: dict[str, Any] = {}


def memory_report(query: str) -> dict[str, Any]:
    """RSS; with tracemalloc on, the top sites by size, or by growth since `?baseline`."""
    report: dict[str, Any] = {"rss_mb": current_rss_mb(), "tracing": tracemalloc.is_tracing()}
    if not tracemalloc.is_tracing():
        return report
    import gc

    gc.collect()
    snapshot = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(False, tracemalloc.__file__)]
    )
    if "baseline" in query:
        _memory_baseline["snapshot"] = snapshot
    previous = _memory_baseline.get("snapshot")
    if previous is not None and "diff" in query:
        stats = snapshot.compare_to(previous, "traceback" if "traceback" in query else "lineno")
        report["top_growth"] = [
            {
                "site": str(s.traceback.format()[-6:]),
                "size_diff_kb": round(s.size_diff / 1024, 1),
                "count_diff": s.count_diff,
            }
            for s in stats[:25]
        ]
    else:
        report["top"] = [
            {"site": str(s.traceback), "size_kb": round(s.size / 1024, 1), "count": s.count}
            for s in snapshot.statistics("lineno")[:25]
        ]
    report["traced_mb"] = round(tracemalloc.get_traced_memory()[0] / 2**20, 1)
    return report


def build_app(port: int) -> AdminMiddleware:
    """moto's app with every extension installed; scratch files from a previous run wiped."""
    os.environ["MOTO_PORT"] = str(port)  # moto's Step Functions interpreter calls back here
    # S3 object bodies above this size live in temporary files, not in this process's
    # memory (moto's default is 5 MB): batched data capture objects are ~1 MB.
    os.environ.setdefault("MOTO_S3_DEFAULT_KEY_BUFFER_SIZE", str(S3_MEMORY_BODY_LIMIT))
    scratch = paths.scratch_dir(port)
    shutil.rmtree(scratch, ignore_errors=True)
    extensions.install(scratch, port)
    return AdminMiddleware(DomainDispatcherApplication(create_backend_app), port)


def _warm_up() -> None:
    for service in WARM_SERVICES:
        with contextlib.suppress(ImportError):
            importlib.import_module(f"moto.{service}.responses")


class LocalCloudServer:
    """The server, bound at construction (so a taken port fails at once)."""

    def __init__(self, port: int, host: str = DEFAULT_HOST) -> None:
        app = build_app(port)
        try:
            self._server: BaseWSGIServer = make_server(
                host, port, app, threaded=True, request_handler=QuietRequestHandler
            )
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE or "in use" in str(exc):
                raise PortInUseError(
                    f"port {port} on {host} is already in use; stop what listens there "
                    f"or choose another port with --port"
                ) from exc
            raise
        self.host, self.port = host, self._server.server_port
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()
        self._stop_lock = threading.Lock()
        threading.Thread(target=_warm_up, name="warm-up", daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def start(self) -> LocalCloudServer:
        """Serves on a background thread (tests, benchmarks)."""
        self._thread = threading.Thread(target=self.serve_forever, name="localcloud", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stops serving and every worker subprocess; safe to call more than once."""
        with self._stop_lock:
            if self._stopped.is_set():
                return
            self._stopped.set()
        self._server.shutdown()
        self._server.server_close()
        extensions.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=10)
