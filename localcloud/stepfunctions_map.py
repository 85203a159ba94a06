"""Distributed Map as AWS runs it: child executions recorded, failures tolerated, results written.

moto 5.2.5 runs a DISTRIBUTED ItemProcessor's items inline (`DistributedItemProcessorWorker
._eval_job`, one call per item, whether the items come from ItemsPath or an ItemReader),
but:
- it keeps nothing about each child but its output: a failed child's output is `None`
  and the Map goes on as if nothing failed, whatever ToleratedFailure* say;
- its ResultWriter (`ResourceEvalS3._handle_put_object`) writes a manifest with empty
  ResultFiles and throws the children's results away.

Here each child's run is recorded as the child execution AWS would have started (name,
ARN, input, output or error, dates, status); after the Map Run the failures are held
against the tolerated failure threshold (`States.ExceedToleratedFailureThreshold`); and
the ResultWriter writes AWS's layout under `<Prefix>/<map run id>/`: `manifest.json` and
`SUCCEEDED_<n>.json` / `FAILED_<n>.json` (JSON arrays of child execution entries).
"""

from __future__ import annotations

import datetime
import json
import threading
import uuid
from typing import Any

from moto.stepfunctions.parser.api import ExecutionFailedEventDetails, HistoryEventType
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
    StatesErrorName,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
    StatesErrorNameType,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.item_reader.eval.resource_eval_s3 import (  # noqa: E501
    ResourceEvalS3 as ItemReaderS3,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.distributed_iteration_component import (  # noqa: E501
    DistributedIterationComponent,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor.distributed_item_processor_worker import (  # noqa: E501
    DistributedItemProcessorWorker,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.iterator.distributed_iterator_worker import (  # noqa: E501
    DistributedIteratorWorker,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.resource_eval.resource_eval_s3 import (  # noqa: E501
    ResourceEvalS3,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.state_map import StateMap
from moto.stepfunctions.parser.asl.component.state.exec.state_map.tolerated_failure import (
    ToleratedFailureCountDecl,
    ToleratedFailurePercentageDecl,
)
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.eval.program_state import (
    ProgramError,
    ProgramStopped,
    ProgramTimedOut,
)
from moto.stepfunctions.parser.asl.utils.encoding import to_json_str

# "Exporting to Amazon S3" (ResultWriter (Map)): a result file grows to at most 5 GB,
# then Step Functions starts the next one (SUCCEEDED_0.json, SUCCEEDED_1.json, ...).
RESULT_FILE_MAX_BYTES = 5 * 1024**3
_RESULT_STATUSES = ("FAILED", "PENDING", "SUCCEEDED")


def _timestamp(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _children(map_run_record: Any) -> list[dict[str, Any]]:
    """The child executions recorded for one Map Run (created on first use)."""
    with _LOCK:
        if not hasattr(map_run_record, "localcloud_children"):
            map_run_record.localcloud_children = []
        return map_run_record.localcloud_children


_LOCK = threading.Lock()


def child_entry(
    map_run_record: Any, child_input: Any, started: datetime.datetime, env: Environment, job: Any
) -> dict[str, Any]:
    """One child execution as a ResultWriter file lists it (Transformation NONE)."""
    name = str(uuid.uuid4())
    state_machine_arn = map_run_record.map_state_machine_arn
    execution_arn = state_machine_arn.replace(":stateMachine:", ":execution:", 1) + ":" + name
    entry: dict[str, Any] = {
        "ExecutionArn": execution_arn,
        "Input": to_json_str(child_input, separators=(",", ":")),
        "InputDetails": {"Included": True},
        "Name": name,
    }
    state = env.program_state()
    if isinstance(state, ProgramError):
        error = state.error or {}
        status = "FAILED"
        failure = {"Error": error.get("error"), "Cause": error.get("cause")}
    elif isinstance(state, ProgramTimedOut):
        status, failure = "TIMED_OUT", {"Error": "States.Timeout", "Cause": None}
    elif isinstance(state, ProgramStopped):
        status, failure = "ABORTED", {"Error": None, "Cause": None}
    elif job.job_output is None and not _succeeded_with_null(env):
        # moto caught an error before the child's program ran (e.g. its ItemSelector).
        status, failure = "FAILED", {"Error": "States.Runtime", "Cause": None}
    else:
        status, failure = "SUCCEEDED", {}
    if status == "SUCCEEDED":
        entry["Output"] = to_json_str(job.job_output, separators=(",", ":"))
        entry["OutputDetails"] = {"Included": True}
        entry["RedriveCount"] = 0
        entry["RedriveStatus"] = "NOT_REDRIVABLE"
        entry["RedriveStatusReason"] = "Execution is SUCCEEDED and cannot be redriven"
    else:
        entry.update({key: value for key, value in failure.items() if value is not None})
        entry["RedriveCount"] = 0
        entry["RedriveStatus"] = "REDRIVABLE"
    entry.update(
        {
            "StartDate": _timestamp(started),
            "StateMachineArn": state_machine_arn,
            "Status": status,
            "StopDate": _timestamp(datetime.datetime.now(datetime.UTC)),
        }
    )
    return dict(sorted(entry.items()))


def _succeeded_with_null(env: Environment) -> bool:
    try:
        return env.states.get_input() is None and not isinstance(env.program_state(), ProgramError)
    except Exception:
        return False


def _wrap_eval_job(original: Any) -> Any:
    def _eval_job(self: Any, env: Environment, job: Any) -> None:
        started = datetime.datetime.now(datetime.UTC)
        captured: dict[str, Any] = {"input": job.job_input}
        eval_input = self._eval_input

        def capturing_eval_input(env_frame: Environment) -> None:
            eval_input(env_frame=env_frame)
            captured["input"] = env_frame.states.get_input()

        self._eval_input = capturing_eval_input  # the child's input after ItemSelector
        try:
            original(self, env, job)
        finally:
            del self._eval_input
        record = self._map_run_record
        entry = child_entry(record, captured["input"], started, env, job)
        children = _children(record)
        with _LOCK:
            children.append((job.job_index, entry))

    _eval_job.__wrapped__ = original  # type: ignore[attr-defined]
    return _eval_job


def _wrap_from_state_props(original: Any) -> Any:
    def from_state_props(self: StateMap, state_props: Any) -> None:
        original(self, state_props)
        # moto fills in 0 for an absent threshold; AWS only applies the ones given.
        self.iteration_component.localcloud_tolerance_given = (
            state_props.get(ToleratedFailureCountDecl) is not None,
            state_props.get(ToleratedFailurePercentageDecl) is not None,
        )

    from_state_props.__wrapped__ = original  # type: ignore[attr-defined]
    return from_state_props


def exceeds_threshold(
    failed: int, total: int, count: float, percentage: float, given: tuple[bool, bool]
) -> bool:
    """The "Tolerated failure threshold for Distributed Map state" rule."""
    count_given, percentage_given = given
    if not count_given and not percentage_given:
        return failed > 0  # both default to zero: any failed child fails the Map Run
    over_count = count_given and failed > count
    over_percentage = percentage_given and total > 0 and failed * 100.0 / total > percentage
    return over_count or over_percentage


def _wrap_map_run(original: Any) -> Any:
    def _map_run(self: DistributedIterationComponent, env: Environment, eval_input: Any) -> None:
        original(self, env, eval_input)
        record = eval_input.map_run_record
        children = [entry for _, entry in _children(record)]
        failed = sum(1 for child in children if child["Status"] != "SUCCEEDED")
        given = getattr(self, "localcloud_tolerance_given", (False, False))
        if not exceeds_threshold(
            failed,
            len(children),
            record.tolerated_failure_count,
            record.tolerated_failure_percentage,
            given,
        ):
            return
        error = StatesErrorNameType.StatesExceedToleratedFailureThreshold.to_name()
        cause = "The specified tolerated failure threshold was exceeded"
        raise FailureEventException(
            failure_event=FailureEvent(
                env=env,
                error_name=StatesErrorName(
                    typ=StatesErrorNameType.StatesExceedToleratedFailureThreshold
                ),
                event_type=HistoryEventType.ExecutionFailed,
                event_details=EventDetails(
                    executionFailedEventDetails=ExecutionFailedEventDetails(
                        error=error, cause=cause
                    )
                ),
            )
        )

    _map_run.__wrapped__ = original  # type: ignore[attr-defined]
    return _map_run


def result_files(entries: list[dict[str, Any]], cap: int = RESULT_FILE_MAX_BYTES) -> list[bytes]:
    """The JSON arrays one status's entries are written as, each at most `cap` bytes."""
    files: list[bytes] = []
    current: list[bytes] = []
    size = 2
    for entry in entries:
        encoded = json.dumps(entry, separators=(",", ":")).encode()
        added = len(encoded) + (1 if current else 0)
        if current and size + added > cap:
            files.append(b"[" + b",".join(current) + b"]")
            current, size = [], 2
            added = len(encoded)
        current.append(encoded)
        size += added
    if current:
        files.append(b"[" + b",".join(current) + b"]")
    return files


def _handle_put_object(
    env: Environment, resource_runtime_part: Any, state_credentials: Any
) -> None:
    """Writes manifest.json and the result files; the Map's output points at the manifest."""
    parameters = env.stack.pop()
    env.stack.pop()  # the children's outputs: the entries below carry them
    s3_client = ResourceEvalS3._get_s3_client(
        resource_runtime_part=resource_runtime_part, state_credentials=state_credentials
    )
    map_run_record = env.map_run_record_pool_manager.get_all().pop()
    map_run_uuid = map_run_record.map_run_arn.split(":")[-1]
    bucket = parameters["Bucket"]
    prefix = parameters.get("Prefix") or ""
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    folder = f"{prefix}{map_run_uuid}/"
    children = sorted(_children(map_run_record), key=lambda pair: pair[0])
    by_status: dict[str, list[dict[str, Any]]] = {status: [] for status in _RESULT_STATUSES}
    for _, entry in children:
        status = entry["Status"]
        by_status["SUCCEEDED" if status == "SUCCEEDED" else "FAILED"].append(entry)
    manifest_files: dict[str, list[dict[str, Any]]] = {status: [] for status in _RESULT_STATUSES}
    for status in _RESULT_STATUSES:
        for index, body in enumerate(result_files(by_status[status])):
            key = f"{folder}{status}_{index}.json"
            s3_client.put_object(Bucket=bucket, Key=key, Body=body)
            manifest_files[status].append({"Key": key, "Size": len(body)})
    manifest = {
        "DestinationBucket": bucket,
        "MapRunArn": map_run_record.map_run_arn,
        "ResultFiles": manifest_files,
    }
    key = f"{folder}manifest.json"
    s3_client.put_object(Bucket=bucket, Key=key, Body=json.dumps(manifest).encode())
    env.stack.append(
        {
            "MapRunArn": map_run_record.map_run_arn,
            "ResultWriterDetails": {"Bucket": bucket, "Key": key},
        }
    )


def _integer_percentages_as_floats(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            key: float(value)
            if key == "ToleratedFailurePercentage" and type(value) is int
            else _integer_percentages_as_floats(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_integer_percentages_as_floats(value) for value in node]
    return node


def as_moto_parses_it(definition: str) -> str:
    """moto's grammar takes only a decimal ToleratedFailurePercentage (100.0, not 100);
    AWS takes any number from 0 to 100. Text that is no JSON is left to the parser.
    (Applied to every parse by stepfunctions_parse.)"""
    if "ToleratedFailurePercentage" not in definition:
        return definition
    try:
        document = json.loads(definition)
    except (TypeError, ValueError):
        return definition
    return json.dumps(_integer_percentages_as_floats(document))


def _list_objects_v2(env: Environment, resource_runtime_part: Any, state_credentials: Any) -> None:
    """ItemReader s3:listObjectsV2 gives the Map every object under the prefix ("ItemReader
    (Map)", Step Functions developer guide: a Distributed Map is built for millions of
    objects), though one ListObjectsV2 page holds at most 1,000 keys (S3 API reference).
    moto read the first page only, and failed on an empty prefix (no "Contents")."""
    s3 = ItemReaderS3._get_s3_client(resource_runtime_part, state_credentials)
    parameters = env.stack.pop()
    objects: list[dict[str, Any]] = []
    for page in s3.get_paginator("list_objects_v2").paginate(**parameters):
        objects.extend(page.get("Contents", []))
    env.stack.append(objects)


def install() -> None:
    ItemReaderS3._handle_list_objects_v2 = staticmethod(_list_objects_v2)
    DistributedItemProcessorWorker._eval_job = _wrap_eval_job(
        DistributedItemProcessorWorker._eval_job
    )
    DistributedIteratorWorker._eval_job = _wrap_eval_job(DistributedIteratorWorker._eval_job)
    StateMap.from_state_props = _wrap_from_state_props(StateMap.from_state_props)
    DistributedIterationComponent._map_run = _wrap_map_run(DistributedIterationComponent._map_run)
    ResourceEvalS3._handle_put_object = staticmethod(_handle_put_object)
