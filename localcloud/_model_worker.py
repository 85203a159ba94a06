"""The serving container's side of a model worker: runs inside the subprocess.

Started as `python -I -S -u _model_worker.py <model dir> <site dirs>`: sys.path is the
artifact's `code/` directory, the standard library and the serving packages
(numpy, pillow, onnxruntime), never the project, as in the SageMaker PyTorch container
that imports `code/inference.py` from the extracted `model.tar.gz`. The model is loaded
once through `model_fn`; each request goes through `input_fn` -> `predict_fn` ->
`output_fn`. One JSON request per line on stdin, one reply per line on the protocol pipe.
A `{"ping": true}` line is the health check (SageMaker's `GET /ping`): answered at once
with `{"ok": true, "pong": true}` by a container that still reads its requests.
"""

import base64
import importlib
import json
import os
import re
import sys
import traceback

DEFAULT_ACCEPT = "application/json"
# Exception names that mean "this content type is not served" (HTTP 415).
_UNSUPPORTED = re.compile(r"Unsupported.*(Content|Media|Accept|Format|Type)", re.IGNORECASE)


def status_for(exc: BaseException) -> int:
    """The HTTP status the container answers for an exception from the handler."""
    for attribute in ("status_code", "http_status", "status"):
        value = getattr(exc, attribute, None)
        if isinstance(value, int) and 400 <= value < 600:
            return value
    if _UNSUPPORTED.search(type(exc).__name__):
        return 415
    if isinstance(exc, ValueError | OSError | KeyError | TypeError):
        return 400  # undecodable or malformed input (PIL raises OSError subclasses)
    return 500


def _serve(handler, model, request: dict) -> dict:
    body = base64.b64decode(request["body_b64"])
    accept = request.get("accept") or DEFAULT_ACCEPT
    try:
        data = handler.input_fn(body, request["content_type"])
        prediction = handler.predict_fn(data, model)
        output = handler.output_fn(prediction, accept)
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        message = json.dumps({"message": str(exc), "error": type(exc).__name__})
        return {"ok": False, "status": status_for(exc), "message": message}
    content_type = accept if accept != "*/*" else DEFAULT_ACCEPT
    if isinstance(output, tuple):
        output, content_type = output
    if isinstance(output, str):
        output = output.encode("utf-8")
    return {
        "ok": True,
        "body_b64": base64.b64encode(bytes(output)).decode("ascii"),
        "content_type": content_type,
    }


def main() -> None:
    model_dir, site_dirs = sys.argv[1], sys.argv[2]
    sys.path[:0] = [os.path.join(model_dir, "code")]
    sys.path.extend(p for p in site_dirs.split(os.pathsep) if p)
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    try:
        # Its own minimal import, not training.artifact.load_inference: the emulator (and
        # this worker, one fresh process per model) must not import `training`.
        handler = importlib.import_module("inference")
        model = handler.model_fn(model_dir)
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        protocol.write(json.dumps({"ready": False, "message": f"{type(exc).__name__}: {exc}"}))
        protocol.write("\n")
        return
    protocol.write(json.dumps({"ready": True}) + "\n")
    for line in sys.stdin:
        request = json.loads(line)
        reply = (
            {"ok": True, "pong": True} if request.get("ping") else _serve(handler, model, request)
        )
        protocol.write(json.dumps(reply) + "\n")


if __name__ == "__main__":
    main()
