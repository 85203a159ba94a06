"""The one inference handler: SageMaker PyTorch serving functions over an ONNX model.

Packed into every model artifact as `code/inference.py`. The SageMaker PyTorch serving
container, the local cloud and the tests all call the same four functions:

    model = model_fn(model_dir)
    batch = input_fn(body, content_type)      # PNG/JPEG bytes of any size
    probabilities = predict_fn(batch, model)  # N x classes, class order
    body, content_type = output_fn(probabilities, accept)

Batch Transform sends many images in one request: `application/jsonlines`, one
`{"key": str, "image": <base64 PNG/JPEG>}` per line (SplitType Line, BatchStrategy
MultiRecord). The answer is `text/csv`, one line per input line, in order:
`<key>,<label>,<p0>,<p1>,...` (probabilities in class order), or, for a line that cannot
be classified, `<key>,error,<ErrorName>`. SageMaker fails the whole mini-batch when a
request fails, so one bad line must never fail the request: every other image in it
would be lost. The good images of a request go through ONE session.run.

It runs on ONNX Runtime, numpy and Pillow only (no torch): ONNX Runtime is several
times faster per image and lighter to import than torch. In a network-isolated
container without onnxruntime, the artifact carries it in `code/lib/` (see
`python -m training pack --vendor-onnxruntime`); this module puts `code/lib` first on
the import path. There is no fallback runtime: without onnxruntime, model_fn fails.

Errors are exceptions with an HTTP `status_code` (415 unsupported content type,
406 unsupported Accept, 400 undecodable image). In the SageMaker container they derive
from the inference toolkit's BaseInferenceToolkitError, which its server turns into that
status; any other server maps `status_code` itself (the local cloud does).
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

_VENDORED = Path(__file__).resolve().parent / "lib"
if _VENDORED.is_dir() and str(_VENDORED) not in sys.path:
    sys.path.insert(0, str(_VENDORED))

try:  # Inside SageMaker's serving container: its server maps these to HTTP statuses.
    from sagemaker_inference.errors import BaseInferenceToolkitError as _ErrorBase
except ImportError:
    _ErrorBase = Exception

IMAGE_CONTENT_TYPES = frozenset({"image/png", "image/jpeg", "application/x-image"})
JSON = "application/json"
JSON_LINES = "application/jsonlines"
ACCEPT_TYPES = frozenset({JSON, JSON_LINES, "application/x-jsonlines", "application/jsonl"})
# Batch Transform records: JSON lines in, CSV out.
RECORD_CONTENT_TYPES = frozenset({JSON_LINES, "application/x-jsonlines", "application/jsonl"})
CSV = "text/csv"
ERROR_MARKER = "error"
# A record's key is echoed in the CSV; longer keys are cut (S3 keys are <= 1024 bytes).
MAX_KEY_CHARS = 2048
# Images larger than this are refused before decoding (decompression-bomb guard).
MAX_PIXELS = 40_000_000
# input_fn's signature has no model, so model_fn records the loaded model's input size
# here; predict_fn still checks the shape against the model it is given.
_input_size: tuple[int, int] = (32, 32)


class InferenceError(_ErrorBase):
    """A request the model cannot serve; `status_code` is the HTTP status to answer."""

    status_code = 500
    phrase = "Internal Server Error"

    def __init__(self, message: str):
        Exception.__init__(self, message)
        self.message = message

    def to_json(self) -> str:
        return json.dumps({"error": type(self).__name__, "message": self.message})


class UnsupportedContentTypeError(InferenceError):
    status_code = 415
    phrase = "Unsupported Media Type"


class UnsupportedAcceptError(InferenceError):
    status_code = 406
    phrase = "Not Acceptable"


class InvalidImageError(InferenceError):
    status_code = 400
    phrase = "Bad Request"


class InvalidRecordError(InferenceError):
    """A JSON line that is not {"key": str, "image": base64 str}."""

    status_code = 400
    phrase = "Bad Request"


class ModelLoadError(RuntimeError):
    """The model directory is incomplete or its runtime is missing."""


def _media_type(header: str | None) -> str:
    return (header or "").split(";")[0].strip().lower()


def model_fn(model_dir: str) -> dict[str, Any]:
    """Load `model.onnx` and `metadata.json` from the unpacked artifact."""
    root = Path(model_dir)
    for name in ("model.onnx", "metadata.json"):
        if not (root / name).is_file():
            raise ModelLoadError(f"{root} has no {name}: not a model artifact of this project")
    try:
        import onnxruntime
    except ImportError:
        raise ModelLoadError(
            "onnxruntime is not installed and the artifact has no code/lib; repack with "
            "`python -m training pack --vendor-onnxruntime` for containers without it"
        ) from None
    metadata = json.loads((root / "metadata.json").read_text(encoding="utf-8"))
    options = onnxruntime.SessionOptions()
    # A small fixed thread count: serving runs one image at a time on small instances,
    # and oversubscribing the cores costs more latency than it saves.
    options.intra_op_num_threads = int(os.environ.get("SCONES_ONNX_THREADS", "2"))
    options.inter_op_num_threads = 1
    # No spinning between requests: ONNX Runtime's pool otherwise keeps its threads busy
    # waiting for the next run (its "Thread management" page: allow_spinning defaults to
    # 1), which on a small instance takes the cores the serving stack needs. Measured here:
    # 8.8 ms of CPU per single-image request with spinning, 3.2 ms without, same latency.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = onnxruntime.InferenceSession(
        str(root / "model.onnx"), options, providers=["CPUExecutionProvider"]
    )
    normalization = metadata["normalization"]
    global _input_size
    _input_size = tuple(metadata["input_size"])
    return {
        "session": session,
        "input_name": session.get_inputs()[0].name,
        "metadata": metadata,
        "size": tuple(metadata["input_size"]),
        "mean": np.array(normalization["mean"], dtype=np.float32).reshape(1, 3, 1, 1),
        "std": np.array(normalization["std"], dtype=np.float32).reshape(1, 3, 1, 1),
    }


def decode_image(body: bytes, size: tuple[int, int]) -> np.ndarray:
    """RGB uint8 array of `size` (height, width) from PNG/JPEG bytes, any original size."""
    try:
        with Image.open(io.BytesIO(body)) as image:
            if image.width * image.height > MAX_PIXELS:
                raise InvalidImageError(f"image of {image.width}x{image.height} is too large")
            image = image.convert("RGB")
            if image.size != (size[1], size[0]):
                image = image.resize((size[1], size[0]), Image.Resampling.BILINEAR)
            return np.asarray(image, dtype=np.uint8)
    # PIL reports malformed files through several exception types, SyntaxError included.
    except (
        UnidentifiedImageError,
        Image.DecompressionBombError,
        OSError,
        SyntaxError,
        ValueError,
    ) as error:
        raise InvalidImageError(
            f"the body is not a decodable PNG or JPEG image ({error})"
        ) from None


# Plain classes, not dataclasses: containers may import this file without registering it
# in sys.modules, where dataclasses cannot resolve their string annotations.
class RecordBatch:
    """The records of one Batch Transform request: every line's key, the decoded images of
    the good lines (N x 3 x H x W, in line order) and the error name of each bad line."""

    def __init__(self, keys: list[str], pixels: np.ndarray, errors: dict[int, str]):
        self.keys = keys
        self.pixels = pixels
        self.errors = errors


class RecordPredictions:
    """Probabilities (one row per good line, in line order) with the batch's keys and errors."""

    def __init__(
        self,
        keys: list[str],
        probabilities: np.ndarray,
        errors: dict[int, str],
        class_names: list[str],
    ):
        self.keys = keys
        self.probabilities = probabilities
        self.errors = errors
        self.class_names = class_names


def _record(line: bytes, size: tuple[int, int]) -> tuple[str, np.ndarray | None, str | None]:
    """(key, pixels or None, error name or None) for one JSON line; never raises."""
    try:
        record = json.loads(line)
    except ValueError:
        return "", None, InvalidRecordError.__name__
    if not isinstance(record, dict):
        return "", None, InvalidRecordError.__name__
    key = record.get("key")
    key = key[:MAX_KEY_CHARS] if isinstance(key, str) else ""
    image = record.get("image")
    if not key or not isinstance(image, str) or not image:
        return key, None, InvalidRecordError.__name__
    try:
        body = base64.b64decode(image, validate=True)
    except (ValueError, binascii.Error):
        return key, None, InvalidRecordError.__name__
    try:
        return key, decode_image(body, size), None
    except InvalidImageError:
        return key, None, InvalidImageError.__name__


def records_fn(request_body: bytes) -> RecordBatch:
    """Decode a JSON-lines request; a bad line becomes a named error, never an exception."""
    body = request_body.encode() if isinstance(request_body, str) else bytes(request_body)
    keys: list[str] = []
    images: list[np.ndarray] = []
    errors: dict[int, str] = {}
    for index, line in enumerate(line for line in body.splitlines() if line.strip()):
        key, pixels, error = _record(line, _input_size)
        keys.append(key)
        if error is None:
            images.append(pixels)
        else:
            errors[index] = error
    if not keys:
        raise InvalidRecordError("the body has no JSON lines")
    stacked = (
        np.stack(images).astype(np.float32).transpose(0, 3, 1, 2) / 255.0
        if images
        else np.zeros((0, 3, *_input_size), dtype=np.float32)
    )
    return RecordBatch(keys, stacked, errors)


def input_fn(request_body: bytes, content_type: str) -> np.ndarray | RecordBatch:
    """Decode one image into a float32 1 x 3 x H x W batch in [0, 1] (normalised later),
    or, for `application/jsonlines`, every record of a Batch Transform request."""
    media_type = _media_type(content_type)
    if media_type in RECORD_CONTENT_TYPES:
        return records_fn(request_body)
    if media_type not in IMAGE_CONTENT_TYPES:
        supported = ", ".join(sorted(IMAGE_CONTENT_TYPES))
        raise UnsupportedContentTypeError(
            f"content type {content_type!r} is not supported; send one of: {supported}"
        )
    if isinstance(request_body, str):
        raise InvalidImageError("the body is text, not image bytes")
    body = bytes(request_body)
    if not body:
        raise InvalidImageError("the body is empty")
    pixels = decode_image(body, _input_size)
    return (pixels.astype(np.float32) / 255.0).transpose(2, 0, 1)[np.newaxis]


def predict_fn(
    input_data: np.ndarray | RecordBatch, model: dict[str, Any]
) -> np.ndarray | RecordPredictions:
    """Class probabilities, N x classes in class order (flip TTA is in the graph)."""
    if isinstance(input_data, RecordBatch):
        pixels = input_data.pixels
        probabilities = (
            predict_fn(pixels, model)
            if len(pixels)
            else np.zeros((0, len(model["metadata"]["class_names"])), dtype=np.float32)
        )
        return RecordPredictions(
            input_data.keys,
            probabilities,
            input_data.errors,
            list(model["metadata"]["class_names"]),
        )
    if input_data.shape[1:] != (3, *model["size"]):
        raise InvalidImageError(
            f"input of shape {input_data.shape} does not match the model's {model['size']}"
        )
    normalised = ((input_data - model["mean"]) / model["std"]).astype(np.float32, copy=False)
    (probabilities,) = model["session"].run(None, {model["input_name"]: normalised})
    return probabilities


def csv_fn(prediction: RecordPredictions) -> str:
    """One CSV line per record, in record order: key,label,p0,p1,... or key,error,<Name>."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    rows = iter(np.asarray(prediction.probabilities, dtype=np.float64).tolist())
    for index, key in enumerate(prediction.keys):
        if index in prediction.errors:
            writer.writerow([key, ERROR_MARKER, prediction.errors[index]])
            continue
        row = next(rows)
        label = prediction.class_names[int(np.argmax(row))]
        writer.writerow([key, label, *(f"{p:.6f}" for p in row)])
    return buffer.getvalue()


def output_fn(prediction: np.ndarray | RecordPredictions, accept: str | None) -> tuple[str, str]:
    """(body, content type): a JSON list of probabilities, or JSON lines per Accept; for
    Batch Transform records, CSV lines (`text/csv`, also for an Accept of */* or none)."""
    media_type = _media_type(accept)
    if isinstance(prediction, RecordPredictions):
        if media_type in ("", "*/*", CSV):
            return csv_fn(prediction), CSV
        raise UnsupportedAcceptError(
            f"Accept {accept!r} is not supported for JSON-lines records; ask for {CSV}"
        )
    rows = np.asarray(prediction, dtype=np.float64).reshape(len(prediction), -1).tolist()
    if media_type in ("", "*/*", JSON):
        return json.dumps(rows[0] if len(rows) == 1 else rows), JSON
    if media_type in ACCEPT_TYPES:
        lines = "".join(json.dumps({"prediction": row}) + "\n" for row in rows)
        return lines, media_type
    supported = ", ".join(sorted(ACCEPT_TYPES))
    raise UnsupportedAcceptError(f"Accept {accept!r} is not supported; ask for one of: {supported}")
