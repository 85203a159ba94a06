"""The Lambda runtime's side of a warm worker: runs inside the subprocess, stdlib only.

Started as `python -I -S -u _lambda_runtime.py <task dir> <site dir> <handler> <tmp dir>
<tmp MB> init|first-invoke`,
so that neither the project nor the server's site-packages are importable: sys.path is
the function's extracted zip, the standard library and a site dir holding boto3 only, as
on the Lambda runtime. One JSON request per line on stdin, one JSON reply per line on the
protocol pipe (the original stdout); whatever the handler prints or logs goes to stderr,
which the server forwards to CloudWatch Logs.

It runs under every Python a `python3.x` runtime may name (3.9 on), so it keeps to their
common syntax. What it does as AWS's runtime (awslambdaric) does, written from that
runtime's observed behaviour:

- the result is marshalled with AWS's encoder (simplejson with Lambda's options): bytes
  anywhere in it are decoded as UTF-8 into strings (undecodable bytes fail the
  invocation with Runtime.MarshalError), Decimal becomes its exact number, a namedtuple
  an object; python3.12 and later write non-ASCII characters as they are (earlier
  runtimes escape them); a top-level bytes result is the payload itself, unencoded;
- an error payload holds errorMessage, errorType, requestId and stackTrace;
- paths in stack traces show the task root as /var/task;
- the handler's module is imported in an Init phase before the first request (its time
  is the first REPORT line's Init Duration, not part of the invocation or its timeout);
- /tmp is the environment's own directory, of the function's ephemeral storage size,
  and /var/task its code (see redirect_paths for how far that reaches).
"""

from __future__ import annotations

import builtins
import contextlib
import decimal
import errno
import importlib
import io
import json
import logging
import math
import os
import resource
import sys
import tempfile
import time
import traceback

TASK_ROOT = "/var/task"
LAMBDA_TMP = "/tmp"  # noqa: S108 - the path Lambda code writes to, redirected


class LambdaContext:
    """The attributes and method of the real runtime's context object."""

    def __init__(self, request: dict) -> None:
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = os.environ["AWS_LAMBDA_FUNCTION_VERSION"]
        self.memory_limit_in_mb = os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]
        self.log_group_name = os.environ["AWS_LAMBDA_LOG_GROUP_NAME"]
        self.log_stream_name = os.environ["AWS_LAMBDA_LOG_STREAM_NAME"]
        self.invoked_function_arn = request["invoked_function_arn"]
        self.aws_request_id = request["request_id"]
        self.identity = None
        self.client_context = None
        self._deadline_ms = request["deadline_ms"]

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int(self._deadline_ms - time.time() * 1000))


# ------------------------------------------------------------------ marshalling


def _is_namedtuple(value: object) -> bool:
    return isinstance(value, tuple) and hasattr(value, "_asdict") and hasattr(value, "_fields")


class _Prepared:
    """The result with AWS's encoder's conversions applied, ready for the stdlib encoder.

    A Decimal is written as its exact text: it stands in the prepared value as a unique
    placeholder string, replaced in the encoded text.
    """

    def __init__(self) -> None:
        self.token = os.urandom(8).hex()
        self.numbers: list[str] = []
        self.seen: set[int] = set()

    def placeholder(self, text: str) -> str:
        self.numbers.append(text)
        return f"\x00{self.token}:{len(self.numbers) - 1}\x00"

    def restore(self, encoded: str) -> str:
        for index, text in enumerate(self.numbers):
            encoded = encoded.replace(f'"\\u0000{self.token}:{index}\\u0000"', text, 1)
        return encoded

    def value(self, value: object) -> object:
        if isinstance(value, (str, int, float, bool)) or value is None:
            return value
        if isinstance(value, bytes):
            return value.decode("utf-8")
        if isinstance(value, decimal.Decimal):
            return math.nan if value.is_nan() else self.placeholder(str(value))
        if not isinstance(value, (dict, list, tuple)):
            return value  # left to the encoder, which refuses it as AWS's does
        marker = id(value)
        if marker in self.seen:
            raise ValueError("Circular reference detected")
        self.seen.add(marker)
        try:
            if _is_namedtuple(value):
                return {k: self.value(v) for k, v in value._asdict().items()}
            if isinstance(value, dict):
                return {_key(k): self.value(v) for k, v in value.items()}
            return [self.value(v) for v in value]
        finally:
            self.seen.discard(marker)


def _key(key: object) -> object:
    return key.decode("utf-8") if isinstance(key, bytes) else key


def _ensure_ascii() -> bool:
    """AWS's runtime writes UTF-8 as it is from python3.12 on, escapes it before."""
    runtime = os.environ.get("AWS_EXECUTION_ENV", "").removeprefix("AWS_Lambda_python")
    try:
        major, minor = (int(part) for part in runtime.split(".")[:2])
    except ValueError:
        return True
    return (major, minor) < (3, 12)


def marshal(result: object) -> tuple[str, str]:
    """(payload text, content type), as AWS's runtime marshals a handler's result."""
    if isinstance(result, bytes):
        # Returned as it is; the protocol carries text, so undecodable bytes are replaced.
        return result.decode("utf-8", errors="replace"), "application/unknown"
    prepared = _Prepared()
    value = prepared.value(result)
    encoder = json.JSONEncoder(ensure_ascii=_ensure_ascii(), allow_nan=True, check_circular=False)
    return prepared.restore(encoder.encode(value)), "application/json"


# ------------------------------------------------------------------ errors and traces


class _RequestIdFilter(logging.Filter):
    request_id = ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = self.request_id
        return True


def _install_logging() -> _RequestIdFilter:
    """The runtime's root handler: `[LEVEL]\\t<time>\\t<request id>\\t<message>` on stderr."""
    request_filter = _RequestIdFilter()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter(
            "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
            "%Y-%m-%dT%H:%M:%S",
        )
    )
    handler.formatter.converter = time.gmtime
    handler.addFilter(request_filter)
    logging.getLogger().addHandler(handler)
    return request_filter


class _Paths:
    """Host paths as the function would see them in AWS: the task root is /var/task."""

    task_dir = TASK_ROOT

    @classmethod
    def show(cls, text: str) -> str:
        if cls.task_dir != TASK_ROOT:
            text = text.replace(cls.task_dir, TASK_ROOT)
        return text


def _error_payload(
    exc: BaseException, request_id: str, error_type: str | None = None, trace: list | None = None
) -> dict:
    if trace is None:
        # The runtime's own frames are not the user's code: AWS leaves them out too.
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename != __file__]
        trace = [_Paths.show(line) for line in traceback.format_list(frames)]
    return {
        "errorMessage": _Paths.show(str(exc)),
        "errorType": error_type or type(exc).__name__,
        "requestId": request_id,
        "stackTrace": trace,
    }


def _log_error(payload: dict) -> None:
    """The runtime's error line, then the trace, as AWS's runtime logs it."""
    print(f"[ERROR] {payload['errorType']}: {payload['errorMessage']}", file=sys.stderr)
    if payload["stackTrace"]:
        print("Traceback (most recent call last):", file=sys.stderr)
        print("".join(payload["stackTrace"]).rstrip(), file=sys.stderr)


def _load_handler(spec: str):
    module_name, _, function_name = spec.rpartition(".")
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except SyntaxError as exc:
        trace = [f'  File "{_Paths.show(str(exc.filename))}" Line {exc.lineno}\n    {exc.text}']
        raise _RuntimeError(
            "Runtime.UserCodeSyntaxError",
            f"Syntax error in module '{module_name}': {exc}",
            trace,
        ) from exc
    except ImportError as exc:
        raise _RuntimeError(
            "Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}"
        ) from exc
    handler = getattr(module, function_name, None)
    if handler is None:
        raise _RuntimeError(
            "Runtime.HandlerNotFound",
            f"Handler '{function_name}' missing on module '{module_name}'",
        )
    return handler


class _RuntimeError(Exception):
    def __init__(self, error_type: str, message: str, trace: list | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.trace = trace or []


def _invoke(handler_spec: str, cache: dict, request: dict) -> dict:
    """One invocation: the reply is {"ok": true, "payload": <text>} or the error."""
    request_id = request["request_id"]
    try:
        if "handler" not in cache:
            cache["handler"] = _load_handler(handler_spec)
        result = cache["handler"](request["event"], LambdaContext(request))
    except _RuntimeError as exc:
        error = _error_payload(exc, request_id, exc.error_type, exc.trace)
    except Exception as exc:
        error = _error_payload(exc, request_id)
    else:
        try:
            payload, content_type = marshal(result)
            return {"ok": True, "payload": payload, "content_type": content_type}
        except Exception as exc:
            error = _error_payload(exc, request_id, "Runtime.MarshalError", [])
            error["errorMessage"] = f"Unable to marshal response: {exc}"
    # The runtime logs the error before replying, as AWS does.
    _log_error(error)
    return {"ok": False, "error": error}


# ------------------------------------------------------------------ /tmp without a namespace


def redirect_paths(task_dir: str, tmp_dir: str, tmp_bytes: int, keep: list[str]) -> None:
    """Paths under /tmp and /var/task, as the function's code names them, open the environment's own
    directories: Python-level file access (open, os, os.path, pathlib, shutil, tempfile)
    is redirected; code that opens files itself (C extensions, subprocesses) sees the
    host's paths. Host paths the runtime itself uses (`keep`: the environment's
    directories, the runtime site, Python's own) are left alone, even under the host's
    /tmp. A file opened for writing under /tmp when the directory already holds
    `tmp_bytes` fails with ENOSPC, as a full /tmp does; RLIMIT_FSIZE caps each file.
    """
    prefixes = [(LAMBDA_TMP, tmp_dir.rstrip("/")), (TASK_ROOT, task_dir.rstrip("/"))]
    kept = tuple(path.rstrip("/") + "/" for path in [tmp_dir, task_dir, *keep] if path)

    def real(path: object) -> object:
        if isinstance(path, int):
            return path
        text = os.fspath(path)
        as_bytes = isinstance(text, bytes)
        if as_bytes:
            text = os.fsdecode(text)
        if (text + "/").startswith(kept):
            return path
        for shown, actual in prefixes:
            if text == shown or text.startswith(shown + "/"):
                text = actual + text[len(shown) :]
                return os.fsencode(text) if as_bytes else text
        return path

    def tmp_usage() -> int:
        total = 0
        for root, _, files in os.walk(tmp_dir):
            for name in files:
                with contextlib.suppress(OSError):
                    total += os.lstat(os.path.join(root, name)).st_size
        return total

    def check_space(path: object, writing: bool) -> None:
        if not writing or isinstance(path, int):
            return
        text = os.fsdecode(os.fspath(path))
        if text.startswith(tmp_dir) and tmp_usage() >= tmp_bytes:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), os.fspath(path))

    def one_path(function):
        def redirected(*args, **kwargs):
            if args:
                args = (real(args[0]), *args[1:])
            for name in ("file", "path"):
                if name in kwargs:
                    kwargs[name] = real(kwargs[name])
            return function(*args, **kwargs)

        redirected.__wrapped__ = function
        return redirected

    def two_paths(function):
        def redirected(src, dst, *args, **kwargs):
            return function(real(src), real(dst), *args, **kwargs)

        redirected.__wrapped__ = function
        return redirected

    real_open, real_os_open = io.open, os.open

    def open_file(file, mode="r", *args, **kwargs):
        file = real(file)
        check_space(file, any(flag in mode for flag in "wax+"))
        return real_open(file, mode, *args, **kwargs)

    def os_open(path, flags, *args, **kwargs):
        path = real(path)
        check_space(path, bool(flags & (os.O_WRONLY | os.O_RDWR)))
        return real_os_open(path, flags, *args, **kwargs)

    real_getcwd = os.getcwd

    def getcwd() -> str:
        return _Paths.show(real_getcwd())

    builtins.open = io.open = open_file
    os.open = os_open
    os.getcwd = getcwd
    for name in (
        "stat", "lstat", "listdir", "scandir", "mkdir", "rmdir", "remove", "unlink",
        "access", "chdir", "utime", "chmod", "truncate", "readlink",
    ):  # fmt: skip
        setattr(os, name, one_path(getattr(os, name)))
    for name in ("rename", "replace", "link", "symlink"):
        setattr(os, name, two_paths(getattr(os, name)))
    tempfile.tempdir = LAMBDA_TMP
    resource.setrlimit(resource.RLIMIT_FSIZE, (tmp_bytes, tmp_bytes))


# ------------------------------------------------------------------ the loop


def _peak_memory_mb() -> int:
    """This process's own peak RSS (VmHWM): ru_maxrss would include the server's, from
    before the exec (Linux keeps the larger of the two)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def _init(handler_spec: str, cache: dict, protocol) -> float:
    """The Init phase: the handler's module imported before the first request, as AWS's
    runtime does; its duration (ms) goes into the first REPORT line. A module that fails to
    import is imported again by the first invocation, which answers with the error (AWS
    runs Init again at the next invocation after a failed one). Then a ready line."""
    started = time.monotonic()
    # Whatever the import raises (a syntax error, a missing module, a configuration check
    # at import) the first invocation raises again, as its error.
    with contextlib.suppress(Exception):
        cache["handler"] = _load_handler(handler_spec)
    init_ms = (time.monotonic() - started) * 1000
    sys.stderr.flush()
    protocol.write(json.dumps({"ready": True}) + "\n")
    return init_ms


def main() -> None:
    task_dir, site_dir, handler_spec, tmp_dir, tmp_mb, init_phase = sys.argv[1:7]
    _Paths.task_dir = task_dir.rstrip("/")
    sys.path[:0] = [task_dir]
    sys.path.append(site_dir)
    os.chdir(task_dir)
    keep = [site_dir, os.path.dirname(__file__), sys.prefix, sys.base_prefix]
    redirect_paths(task_dir, tmp_dir, int(tmp_mb) * 1024 * 1024, keep)
    # The protocol keeps the real stdout; the handler's prints join stderr (the log).
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    request_filter = _install_logging()
    cache: dict = {}
    version = os.environ["AWS_LAMBDA_FUNCTION_VERSION"]
    memory_size = int(os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"])
    notice = os.environ.pop("LOCALCLOUD_RUNTIME_NOTICE", "")
    if notice:
        print(f"localcloud: {notice}", file=sys.stderr)
    # "init" as the server starts an environment; "first-invoke" when an Init phase ran
    # past its limit and AWS runs it again inside the first invocation.
    init_ms = _init(handler_spec, cache, protocol) if init_phase == "init" else None
    for line in sys.stdin:
        request = json.loads(line)
        request_id = request["request_id"]
        request_filter.request_id = request_id
        print(f"START RequestId: {request_id} Version: {version}", file=sys.stderr)
        started = time.monotonic()
        reply = _invoke(handler_spec, cache, request)
        duration_ms = (time.monotonic() - started) * 1000
        peak_mb = _peak_memory_mb()
        print(f"END RequestId: {request_id}", file=sys.stderr)
        if peak_mb > memory_size:
            # Not enforced here (see localcloud/README.md): never report more than the limit.
            print(
                f"localcloud: this environment's peak RSS is {peak_mb} MB, above the "
                f"function's {memory_size} MB; memory size is not enforced locally",
                file=sys.stderr,
            )
        print(
            f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
            f"Billed Duration: {math.ceil(duration_ms)} ms\t"
            f"Memory Size: {memory_size} MB\t"
            f"Max Memory Used: {min(peak_mb, memory_size)} MB"
            + (f"\tInit Duration: {init_ms:.2f} ms" if init_ms is not None else ""),
            file=sys.stderr,
        )
        init_ms = None  # reported once, on the environment's first invocation
        sys.stderr.flush()
        protocol.write(json.dumps(reply) + "\n")


if __name__ == "__main__":
    main()
