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
import io
import json
import logging
import os
import resource
import shutil
import signal
import socket
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

LOG = logging.getLogger(__name__)
ADMIN_PREFIX = "/_localcloud/"
# An idle keep-alive connection's thread ends after this long without a request
# (botocore re-opens a connection the server closed before reusing it).
IDLE_TIMEOUT_S = 60.0
NO_BODY_STATUSES = {204, 304}
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


class OpenConnections:
    """The server's client connections: closed when it stops, counted in `health`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self.accepted = 0

    def add(self, connection: socket.socket) -> None:
        with self._lock:
            self._open.add(connection)
            self.accepted += 1

    def discard(self, connection: socket.socket) -> None:
        with self._lock:
            self._open.discard(connection)

    def close_all(self) -> None:
        """Kept-alive connections would otherwise go on being served by their threads."""
        with self._lock:
            connections = list(self._open)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def describe(self) -> dict[str, int]:
        with self._lock:
            return {"open": len(self._open), "accepted": self.accepted}


class KeepAliveRequestHandler(QuietRequestHandler):
    """HTTP/1.1 with persistent connections: one TCP connection and one thread per client
    connection, not per request.

    werkzeug's development server answers every request with `Connection: close` and then
    reads whatever else the client sends (its `run_wsgi`), so every boto3 call paid a new
    TCP connection, a new thread and, in this sandbox, slow system calls for both. Here a
    request's body is read in full before the app runs (its length is known: the next
    request on the connection starts right after it), the response goes out with a
    Content-Length, and the connection stays open for the next request. Still one thread
    per connection, never a capped pool: the cloud calls itself re-entrantly (a Lambda
    worker calls back while the Invoke that started it waits). A chunked request body,
    an error after the headers went out, or a client that asks to close ends the connection.
    """

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: no delayed-ACK stall
    timeout = IDLE_TIMEOUT_S

    def setup(self) -> None:
        super().setup()
        connections = getattr(self.server, "connections", None)
        if connections is not None:
            connections.add(self.connection)

    def finish(self) -> None:
        connections = getattr(self.server, "connections", None)
        if connections is not None:
            connections.discard(self.connection)
        super().finish()

    def log_error(self, format: str, *args: Any) -> None:
        if not format.startswith("Request timed out"):  # an idle connection, closed
            super().log_error(format, *args)

    def run_wsgi(self) -> None:
        if self.headers.get("Expect", "").lower().strip(" \t") == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        self.environ = environ = self.make_environ()
        if environ.get("wsgi.input_terminated"):  # chunked: werkzeug's DechunkedInput
            self.close_connection = True
        else:
            try:
                length = int(self.headers.get("Content-Length") or 0)
                if length < 0:
                    raise ValueError(length)
            except ValueError:
                self.close_connection = True
                self.send_error(400, "Content-Length must be a non-negative integer")
                return
            environ["wsgi.input"] = io.BytesIO(self.rfile.read(length) if length else b"")
        reply: list[Any] = []  # [status, headers]

        def start_response(status: str, headers: list, exc_info: Any = None) -> Callable:
            if exc_info and self._headers_sent:
                raise exc_info[1].with_traceback(exc_info[2])
            reply[:] = [status, headers]
            return legacy_write

        legacy: list[bytes] = []
        legacy_write = legacy.append
        self._headers_sent = False
        try:
            result = self.server.app(environ, start_response)
            try:
                self._send(environ, reply, legacy, result)
            finally:
                if hasattr(result, "close"):
                    result.close()
        except (ConnectionError, TimeoutError):
            raise  # the client went away: werkzeug's handle() logs it as dropped
        except Exception:
            self.close_connection = True
            LOG.exception("error on request %s %s", self.command, self.path)
            if not self._headers_sent:
                self.send_error(500)

    def _send(self, environ: dict, reply: list, legacy: list[bytes], result: Any) -> None:
        status, headers = reply
        code_text, _, message = status.partition(" ")
        code = int(code_text)
        names = {name.lower() for name, _ in headers}
        bodiless = environ["REQUEST_METHOD"] == "HEAD" or code < 200 or code in NO_BODY_STATUSES
        if "content-length" in names or bodiless:
            chunks: Iterable[bytes] = (c for part in (legacy, result) for c in part)
        else:
            body = b"".join([*legacy, *result])
            headers = [*headers, ("Content-Length", str(len(body)))]
            chunks = [body]
        self.send_response(code, message)
        for name, value in headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self._headers_sent = True
        for chunk in chunks:
            if chunk and not bodiless:
                self.wfile.write(chunk)


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
        self.connections = OpenConnections()

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
            "connections": self.connections.describe(),
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
                host, port, app, threaded=True, request_handler=KeepAliveRequestHandler
            )
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE or "in use" in str(exc):
                raise PortInUseError(
                    f"port {port} on {host} is already in use; stop what listens there "
                    f"or choose another port with --port"
                ) from exc
            raise
        self._server.connections = app.connections  # type: ignore[attr-defined]
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
        self._server.connections.close_all()  # type: ignore[attr-defined]
        extensions.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=10)
