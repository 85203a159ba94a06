"""The offline path's layout in the data bucket, shared by its three functions.

    transform/batches/<batch id>.json            the batch manifest (serialize_batch)
    transform/input/<batch id>/part-<n>.jsonl    transform input: one image a JSON line
    transform/output/<batch id>/part-<n>.jsonl.out   SageMaker's CSV answer per part
    transform/part-results/<batch id>/part-<n>.json  one part's per-item results
    results/transform-<batch id>.json            the batch's results document

Only `transform/input/` (suffix .jsonl) and `transform/output/` (suffix .out) are
notified; the rest is written where no notification fires, so nothing triggers itself.
"""

from __future__ import annotations

import re

from common.errors import InvalidEventError

INPUT_PREFIX = "transform/input/"
OUTPUT_PREFIX = "transform/output/"
BATCHES_PREFIX = "transform/batches/"
PART_RESULTS_PREFIX = "transform/part-results/"
RESULTS_PREFIX = "results/"
INPUT_SUFFIX = ".jsonl"
OUTPUT_SUFFIX = ".out"  # SageMaker appends it to the input object's name
CONTENT_TYPE = "application/jsonlines"
ACCEPT = "text/csv"
ERROR_MARKER = "error"

BATCH_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_PART = re.compile(r"^[A-Za-z0-9_.-]{1,200}$")


def manifest_key(batch_id: str) -> str:
    return f"{BATCHES_PREFIX}{batch_id}.json"


def input_key(batch_id: str, index: int) -> str:
    return f"{INPUT_PREFIX}{batch_id}/part-{index:05d}{INPUT_SUFFIX}"


def output_prefix(batch_id: str) -> str:
    return f"{OUTPUT_PREFIX}{batch_id}/"


def part_result_key(batch_id: str, part: str) -> str:
    return f"{PART_RESULTS_PREFIX}{batch_id}/{part}.json"


def results_key(batch_id: str) -> str:
    return f"{RESULTS_PREFIX}transform-{batch_id}.json"


def split_input_key(key: str) -> tuple[str, str]:
    """(batch id, part name) of `transform/input/<batch id>/<part>.jsonl`."""
    return _split(key, INPUT_PREFIX, INPUT_SUFFIX)


def split_output_key(key: str) -> tuple[str, str]:
    """(batch id, part name) of `transform/output/<batch id>/<part>.jsonl.out`."""
    return _split(key, OUTPUT_PREFIX, INPUT_SUFFIX + OUTPUT_SUFFIX)


def _split(key: str, prefix: str, suffix: str) -> tuple[str, str]:
    rest = key.removeprefix(prefix)
    batch_id, sep, name = rest.partition("/")
    part = name.removesuffix(suffix)
    if (
        not key.startswith(prefix)
        or not sep
        or not name.endswith(suffix)
        or not BATCH_ID.match(batch_id)
        or not _PART.match(part)
    ):
        raise InvalidEventError(
            f"{key[:200]!r} is not {prefix}<batch id>/<part>{suffix} "
            f"(batch id: letters, digits, '-', '_', at most 64)"
        )
    return batch_id, part
