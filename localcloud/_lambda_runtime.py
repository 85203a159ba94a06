"""The Lambda runtime's side of a warm worker: runs inside the subprocess, stdlib only.

Started as `python -I -S -u _lambda_runtime.py <task dir> <site dir> <handler>`, so that
neither the project nor the server's site-packages are importable: sys.path is the
function's extracted zip, the standard library and a site dir holding boto3 only, as on
the Lambda runtime. One JSON request per line on stdin, one JSON reply per line on the
protocol pipe (the original stdout); whatever the handler prints or logs goes to stderr,
which the server forwards to CloudWatch Logs.
"""

import importlib
import json
import logging
import os
import resource
import sys
import time
import traceback


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


def _error_payload(exc: BaseException, error_type: str | None = None) -> dict:
    # The runtime's own frame is not the user's code: AWS leaves it out too.
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename != __file__]
    return {
        "errorMessage": str(exc),
        "errorType": error_type or type(exc).__name__,
        "stackTrace": traceback.format_list(frames),
    }


def _load_handler(spec: str):
    module_name, _, function_name = spec.rpartition(".")
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except Exception as exc:
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
    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


def _invoke(handler_spec: str, cache: dict, request: dict) -> dict:
    """One invocation: the reply is {"ok": true, "payload": <JSON text>} or the error."""
    try:
        if "handler" not in cache:
            cache["handler"] = _load_handler(handler_spec)
        result = cache["handler"](request["event"], LambdaContext(request))
    except _RuntimeError as exc:
        return {"ok": False, "error": _error_payload(exc, exc.error_type)}
    except Exception as exc:
        payload = _error_payload(exc)
        # The runtime logs the error before replying, as AWS does.
        print(f"[ERROR] {payload['errorType']}: {payload['errorMessage']}", file=sys.stderr)
        print("".join(traceback.format_exception(exc)).rstrip(), file=sys.stderr)
        return {"ok": False, "error": payload}
    try:
        return {"ok": True, "payload": json.dumps(result)}
    except (TypeError, ValueError) as exc:
        return {
            "ok": False,
            "error": {
                "errorMessage": f"Unable to marshal response: {exc}",
                "errorType": "Runtime.MarshalError",
                "stackTrace": [],
            },
        }


def main() -> None:
    task_dir, site_dir, handler_spec = sys.argv[1:4]
    sys.path[:0] = [task_dir]
    sys.path.append(site_dir)
    os.chdir(task_dir)
    # The protocol keeps the real stdout; the handler's prints join stderr (the log).
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    request_filter = _install_logging()
    cache: dict = {}
    version = os.environ["AWS_LAMBDA_FUNCTION_VERSION"]
    for line in sys.stdin:
        request = json.loads(line)
        request_id = request["request_id"]
        request_filter.request_id = request_id
        print(f"START RequestId: {request_id} Version: {version}", file=sys.stderr)
        started = time.monotonic()
        reply = _invoke(handler_spec, cache, request)
        duration_ms = (time.monotonic() - started) * 1000
        max_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        print(f"END RequestId: {request_id}", file=sys.stderr)
        print(
            f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
            f"Billed Duration: {int(duration_ms) + 1} ms\t"
            f"Memory Size: {os.environ['AWS_LAMBDA_FUNCTION_MEMORY_SIZE']} MB\t"
            f"Max Memory Used: {max_rss_mb} MB",
            file=sys.stderr,
        )
        sys.stderr.flush()
        protocol.write(json.dumps(reply) + "\n")


if __name__ == "__main__":
    main()
