"""Serves a SageMaker model's `model.tar.gz` through its `code/inference.py`.

Each endpoint variant (and each transform job) gets its own worker subprocess, the way
SageMaker gives it its own container: the artifact's code never runs inside the cloud's
process (its imports, crashes and memory stay out of the server), the server process
does not need onnxruntime, and stopping an endpoint frees its memory. A request costs
one pipe round trip, well under a millisecond next to the inference itself.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import os
import queue
import site
import sys
import tarfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from moto.s3.models import s3_backends

from .pipe_worker import PipeWorker

WORKER_SCRIPT = Path(__file__).with_name("_model_worker.py")
LOAD_TIMEOUT_S = float(os.environ.get("LOCALCLOUD_MODEL_LOAD_TIMEOUT", "180"))
INVOKE_TIMEOUT_S = 60.0  # SageMaker's limit for a real-time invocation


class ModelLoadError(Exception):
    """The artifact could not be fetched, unpacked or loaded through model_fn."""


@dataclass
class ModelReply:
    ok: bool
    body: bytes
    content_type: str
    status: int = 200


def split_s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://") or "/" not in uri[5:]:
        raise ModelLoadError(f"not an s3://bucket/key URI: {uri!r}")
    bucket, key = uri[5:].split("/", 1)
    return bucket, key


def fetch_object(account_id: str, uri: str) -> bytes:
    """Reads an object straight from moto's S3 backend (same process, no HTTP)."""
    bucket, key = split_s3_uri(uri)
    try:
        obj = s3_backends[account_id]["global"].get_object(bucket, key)
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
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
        env.update(environment)
        env.update({"SM_MODEL_DIR": str(model_dir), "OMP_NUM_THREADS": "1"})
        self._start(
            [sys.executable, "-I", "-S", "-u", str(WORKER_SCRIPT), str(model_dir), _site_dirs()],
            model_dir,
            env,
        )
        self._wait_ready()

    def _log_line(self, line: str) -> None:
        if self._log is not None:
            self._log.write(line)

    def _wait_ready(self) -> None:
        try:
            hello = self._replies.get(timeout=LOAD_TIMEOUT_S)
        except queue.Empty:
            self.stop()
            raise ModelLoadError(f"model_fn did not finish within {LOAD_TIMEOUT_S:.0f} s") from None
        if not hello or not hello.get("ready"):
            self.stop()
            reason = (hello or {}).get("message", "the worker exited while loading")
            raise ModelLoadError(f"loading the model through code/inference.py failed: {reason}")

    def invoke(self, body: bytes, content_type: str, accept: str | None) -> ModelReply:
        request = {
            "body_b64": base64.b64encode(body).decode("ascii"),
            "content_type": content_type,
            "accept": accept,
        }
        with self._lock:
            assert self.process.stdin is not None
            try:
                self.process.stdin.write(json.dumps(request) + "\n")
                self.process.stdin.flush()
                reply = self._replies.get(timeout=INVOKE_TIMEOUT_S)
            except (queue.Empty, BrokenPipeError, OSError):
                reply = None
        if reply is None:
            self.stop()
            message = json.dumps({"message": "the model container stopped answering"})
            return ModelReply(False, message.encode(), "application/json", 500)
        if reply["ok"]:
            return ModelReply(True, base64.b64decode(reply["body_b64"]), reply["content_type"])
        return ModelReply(False, reply["message"].encode(), "application/json", reply["status"])


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
    tarball = fetch_object(account_id, container["ModelDataUrl"])
    model_dir = unpack_artifact(tarball, scratch)
    return ModelWorker(model_dir, dict(container.get("Environment") or {}), log)


def log_stream_name(variant: str) -> str:
    return f"{variant}/{datetime.now(UTC):%Y%m%d}-{uuid.uuid4().hex[:12]}-{int(time.time())}"
