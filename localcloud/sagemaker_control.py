"""SageMaker control plane: endpoints and transform jobs that really run the model.

Wraps moto's backend where it stops short of AWS:
- `create_endpoint` starts at `Creating` and becomes `InService` once every variant's
  model is loaded through its `code/inference.py` (`Failed`, with the reason, if not);
- `UpdateEndpoint` (not in moto 5.2.5): `Updating` (the new config in
  `PendingDeploymentSummary`) while the new config's models load, then `InService` on
  the new config; if they cannot load, SageMaker rolls back: `InService` on the old
  config, still serving the old models, with the reason in `FailureReason`;
- each variant's container is kept serving by a `ModelHost` (health checks, bounded
  restarts); if every variant's host gives up, the endpoint is `OutOfService`;
- `delete_endpoint` stops the endpoint's model workers;
- `create_transform_job` runs the model over the S3 input as Batch Transform does (SplitType
  Line, MultiRecord mini-batches within MaxPayloadInMB, AssembleWith, `<key>.out` only for
  objects that fully succeeded), refuses a name in use (ResourceInUse) and sends the
  "SageMaker Transform Job State Change" events to EventBridge;
- `CreateModel` keeps `EnableNetworkIsolation`, which moto drops;
- `DescribeModel` leaves out the empty `VpcConfig` moto returns (the AWS provider would
  replace the model on every apply).
"""

from __future__ import annotations

import json
import logging
import random
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from moto.core.responses import ActionResult
from moto.logs.models import logs_backends
from moto.s3.models import s3_backends
from moto.sagemaker.exceptions import ResourceInUseException, ValidationError
from moto.sagemaker.models import FakeTransformJob, Model, SageMakerModelBackend
from moto.sagemaker.responses import SageMakerResponse

from . import iam_enforcement, iam_service_roles
from .data_capture import CaptureWriter
from .lambda_workers import LogSink
from .model_server import (
    ModelHost,
    ModelLoadError,
    log_stream_name,
    start_model_worker,
)

LOG = logging.getLogger(__name__)


@dataclass
class Deployment:
    """What an InService endpoint serves: a model host per variant and its capture config."""

    endpoint_config_name: str
    workers: dict[str, ModelHost]
    weights: dict[str, float]
    data_capture_config: dict[str, Any] = field(default_factory=dict)
    captures: dict[str, CaptureWriter] = field(default_factory=dict)

    def pick_variant(self, target: str | None) -> str | None:
        if target:
            return target if target in self.workers else None
        names = list(self.workers)
        return random.choices(names, weights=[self.weights[n] for n in names])[0]  # noqa: S311

    def stop(self) -> None:
        for worker in self.workers.values():
            worker.stop()
        for writer in self.captures.values():
            writer.close()


_state: dict[str, Any] = {"deployments": {}, "lock": threading.Lock()}


def deployment_for(account_id: str, region: str, endpoint_name: str) -> Deployment | None:
    return _state["deployments"].get((account_id, region, endpoint_name))


def describe_hosts() -> list[dict[str, Any]]:
    """Every served variant's container: state, restarts, pid (the admin route's answer)."""
    with _state["lock"]:
        items = list(_state["deployments"].items())
    return [
        {
            "account_id": account_id,
            "region": region,
            "endpoint_name": endpoint_name,
            "endpoint_config_name": deployment.endpoint_config_name,
            "variants": {name: host.describe() for name, host in deployment.workers.items()},
        }
        for (account_id, region, endpoint_name), deployment in items
    ]


def _endpoint_log(backend: SageMakerModelBackend, endpoint_name: str, variant: str) -> LogSink:
    logs = logs_backends[backend.account_id][backend.region_name]
    return LogSink(logs, f"/aws/sagemaker/Endpoints/{endpoint_name}", log_stream_name(variant))


def _deploy(backend: SageMakerModelBackend, endpoint: Any, config_name: str) -> None:
    """Loads every variant's model, then swaps the endpoint over to it.

    CreateEndpoint (nothing served yet): `InService`, or `Failed` with the reason.
    UpdateEndpoint: `InService` on the new config, or, if it cannot be loaded, rolled
    back: `InService` on the config it had, serving what it served, with `FailureReason`.
    """
    key = (backend.account_id, backend.region_name, endpoint.endpoint_name)
    hosts: dict[str, ModelHost] = {}
    updating = endpoint.endpoint_status == "Updating"
    try:
        config = backend.describe_endpoint_config(config_name)
        weights = {}
        for variant in config["ProductionVariants"]:
            name = variant["VariantName"]
            model = backend.describe_model(variant["ModelName"])
            log = _endpoint_log(backend, endpoint.endpoint_name, name)

            def start(model: Any = model, log: LogSink = log):
                return start_model_worker(backend.account_id, model, _state["scratch"], log)

            hosts[name] = ModelHost(
                f"{endpoint.endpoint_name}/{name}", start, log, _on_unhealthy(backend, endpoint)
            )
            weights[name] = float(variant.get("InitialVariantWeight") or 1.0)
    except (ModelLoadError, ValidationError, KeyError) as exc:
        for host in hosts.values():
            host.stop()
        reason = str(getattr(exc, "message", None) or exc)[:1024]
        endpoint.failure_reason = reason
        endpoint.pending_deployment_summary = None
        if updating:
            endpoint.endpoint_status = "InService"  # rolled back to the config it had
            LOG.warning("endpoint %s: update rolled back: %s", endpoint.endpoint_name, reason)
        else:
            endpoint.endpoint_status = "Failed"
            LOG.warning("endpoint %s failed: %s", endpoint.endpoint_name, reason)
        endpoint.last_modified_time = datetime.now(UTC)
        return
    capture = config.get("DataCaptureConfig") or {}
    deployment = Deployment(config_name, hosts, weights, capture)
    if capture.get("EnableCapture", True) and capture.get("DestinationS3Uri"):
        s3 = s3_backends[backend.account_id]["global"]
        models = {
            v["VariantName"]: backend.describe_model(v["ModelName"])
            for v in config["ProductionVariants"]
        }

        def put_as(model: Any) -> Any:
            def put(bucket: str, key: str, body: bytes) -> None:
                # A variant's capture is written with its own model's execution role
                # (issue 16); a denial is logged by the writer and the records are lost,
                # as SageMaker loses them.
                iam_service_roles.check_s3(
                    model.execution_role_arn,
                    iam_service_roles.SAGEMAKER_SESSION,
                    backend.region_name,
                    "s3:PutObject",
                    f"{bucket}/{key}",
                )
                s3.put_object(bucket, key, body)

            return put

        deployment.captures = {
            name: CaptureWriter(
                capture["DestinationS3Uri"], endpoint.endpoint_name, name, put_as(models[name])
            )
            for name in hosts
        }
    with _state["lock"]:
        if backend.endpoints.get(endpoint.endpoint_name) is not endpoint:
            deployment.stop()  # deleted while its models were loading
            return
        previous = _state["deployments"].get(key)
        _state["deployments"][key] = deployment
    if previous is not None:
        previous.stop()
    endpoint.endpoint_config_name = config_name
    endpoint.production_variants = endpoint._process_production_variants(
        config["ProductionVariants"]
    )
    endpoint.data_capture_config = config.get("DataCaptureConfig")
    endpoint.pending_deployment_summary = None
    endpoint.failure_reason = None
    endpoint.endpoint_status = "InService"
    endpoint.last_modified_time = datetime.now(UTC)


def _on_unhealthy(backend: SageMakerModelBackend, endpoint: Any):
    """When every variant's host has given up, the endpoint takes no requests."""

    def unhealthy(host: ModelHost) -> None:
        key = (backend.account_id, backend.region_name, endpoint.endpoint_name)
        deployment = _state["deployments"].get(key)
        if deployment is None or host not in deployment.workers.values():
            return
        if all(h.state == "Unhealthy" for h in deployment.workers.values()):
            endpoint.endpoint_status = "OutOfService"
            endpoint.failure_reason = f"variant {host.name}: {host.reason}"[:1024]
            endpoint.last_modified_time = datetime.now(UTC)

    return unhealthy


def _start_deploy(backend: SageMakerModelBackend, endpoint: Any, config_name: str) -> None:
    threading.Thread(
        target=_deploy, args=(backend, endpoint, config_name), name="deploy", daemon=True
    ).start()


def _wrap_create_endpoint(original: Any) -> Any:
    def create_endpoint(self: SageMakerModelBackend, endpoint_name: str, *a: Any, **kw: Any):
        endpoint = original(self, endpoint_name, *a, **kw)
        endpoint.endpoint_status = "Creating"
        _start_deploy(self, endpoint, endpoint.endpoint_config_name)
        return endpoint

    create_endpoint.__wrapped__ = original  # type: ignore[attr-defined]
    return create_endpoint


def _wrap_delete_endpoint(original: Any) -> Any:
    def delete_endpoint(self: SageMakerModelBackend, endpoint_name: str) -> None:
        original(self, endpoint_name)
        with _state["lock"]:
            key = (self.account_id, self.region_name, endpoint_name)
            deployment = _state["deployments"].pop(key, None)
        if deployment is not None:
            deployment.stop()

    delete_endpoint.__wrapped__ = original  # type: ignore[attr-defined]
    return delete_endpoint


IN_PROGRESS = ("Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting")


def update_endpoint(self: SageMakerResponse) -> ActionResult:
    """UpdateEndpoint: `Updating` while the new config loads; the old one serves meanwhile."""
    backend = self.sagemaker_backend
    name = self._get_param("EndpointName")
    config_name = self._get_param("EndpointConfigName")
    endpoint = backend.endpoints.get(name)
    if endpoint is None:
        raise ValidationError(message=f"Could not find endpoint '{name}'.")
    if endpoint.endpoint_status in IN_PROGRESS:
        raise ValidationError(message=f'Cannot update in-progress endpoint "{endpoint.arn}".')
    config = backend.describe_endpoint_config(config_name)
    endpoint.pending_deployment_summary = {
        "EndpointConfigName": config_name,
        "ProductionVariants": [
            {"VariantName": v["VariantName"]} for v in config["ProductionVariants"]
        ],
        "StartTime": datetime.now(UTC),
    }
    if self._get_param("DeploymentConfig"):
        endpoint.last_deployment_config = self._get_param("DeploymentConfig")
    endpoint.failure_reason = None
    endpoint.endpoint_status = "Updating"
    endpoint.last_modified_time = datetime.now(UTC)
    _start_deploy(backend, endpoint, config_name)
    return ActionResult({"EndpointArn": endpoint.arn})


def _wrap_model_response(original: property) -> property:
    def response_object(self: Model) -> dict[str, Any]:
        response = original.fget(self)
        if not response.get("VpcConfig"):
            response.pop("VpcConfig", None)
        return response

    return property(response_object)


def _wrap_create_model(original: Any) -> Any:
    def create_model(self: SageMakerResponse) -> ActionResult:
        result = original(self)
        # moto drops EnableNetworkIsolation (always False): the provider would replace
        # a network-isolated model on every apply.
        model = self.sagemaker_backend.describe_model(self._get_param("ModelName"))
        model.enable_network_isolation = bool(self._get_param("EnableNetworkIsolation", False))
        return result

    create_model.__wrapped__ = original  # type: ignore[attr-defined]
    return create_model


def _output_key(prefix_key: str, key: str, output_prefix: str) -> str:
    """SageMaker writes <output path>/<input key relative to the input prefix>.out."""
    base = prefix_key if prefix_key.endswith("/") else prefix_key.rpartition("/")[0] + "/"
    relative = key[len(base) :] if base != "/" else key
    return f"{output_prefix.rstrip('/')}/{relative}.out".lstrip("/")


MIB = 1024 * 1024
# CreateTransformJob: MaxPayloadInMB 0-100, default 6; a record larger than it fails the job.
DEFAULT_MAX_PAYLOAD_MB = 6
MAX_PAYLOAD_MB = 100
TRANSFORM_JOB_STATE_CHANGE = "SageMaker Transform Job State Change"


class TransformFailure(Exception):
    """Why a transform job failed (its FailureReason)."""


def _records(body: bytes, split_type: str | None) -> list[bytes]:
    """SplitType Line: the object's lines, each a record (empty lines carry none); None:
    the whole object is one record. RecordIO/TFRecord are not split here."""
    if split_type == "Line":
        return [line for line in body.splitlines() if line.strip()]
    if split_type in (None, "", "None"):
        return [body]
    raise TransformFailure(
        f"ClientError: SplitType {split_type} is not supported by the local cloud"
    )


def _mini_batches(
    records: list[bytes], strategy: str | None, limit: int, split: bool
) -> list[bytes]:
    """Request bodies: one record each (SingleRecord), or as many records as fit in
    MaxPayloadInMB (MultiRecord), joined by newlines as SageMaker splits them."""
    batches: list[bytes] = []
    current: list[bytes] = []
    size = 0
    for record in records:
        if len(record) > limit:
            raise TransformFailure(
                f"ClientError: a record of {len(record)} bytes is larger than MaxPayloadInMB "
                f"({limit // MIB} MB): raise MaxPayloadInMB or split the record"
            )
        joined = len(record) + (1 if split else 0)
        if current and (strategy != "MultiRecord" or size + joined > limit):
            batches.append(b"".join(current))
            current, size = [], 0
        current.append(record + b"\n" if split else record)
        size += joined
    if current:
        batches.append(b"".join(current))
    return batches


def _assemble(answers: list[bytes], assemble_with: str | None) -> bytes:
    """AssembleWith Line: a newline after every answer that does not end with one;
    None: the answers concatenated as they are."""
    if assemble_with == "Line":
        return b"".join(a if a.endswith(b"\n") else a + b"\n" for a in answers)
    return b"".join(answers)


def _emit_state_change(backend: SageMakerModelBackend, job: FakeTransformJob) -> None:
    """The EventBridge event SageMaker sends on each status change ("Events that Amazon
    SageMaker sends to Amazon EventBridge", Transform job state change): source
    aws.sagemaker, the job's ARN as resource, DescribeTransformJob's fields as detail."""
    from moto.events.models import events_backends

    detail = backend.describe_transform_job(job.transform_job_name)
    try:
        events_backends[backend.account_id][backend.region_name].put_events(
            [
                {
                    "Source": "aws.sagemaker",
                    "DetailType": TRANSFORM_JOB_STATE_CHANGE,
                    "Detail": json.dumps(detail, default=str),
                    "Resources": [job.arn],
                }
            ]
        )
    except Exception:  # a failed delivery never changes the job, as in AWS
        LOG.exception("transform job %s: state change event not delivered", job.arn)


def _run_transform(backend: SageMakerModelBackend, job: FakeTransformJob) -> None:
    """Runs the model over every object under the input prefix as SageMaker does: split
    (SplitType), batched into requests (BatchStrategy, MaxPayloadInMB), the answers
    assembled (AssembleWith) into `<output path>/<key relative to the prefix>.out` only for
    an object whose every request succeeded; any failed object fails the job, after the
    others were written (TransformOutput S3OutputPath, SageMaker API reference)."""
    s3 = s3_backends[backend.account_id]["global"]
    logs = logs_backends[backend.account_id][backend.region_name]
    log = LogSink(logs, "/aws/sagemaker/TransformJobs", f"{job.transform_job_name}/local")
    worker = None
    failures: list[str] = []
    try:
        source = job.transform_input["DataSource"]["S3DataSource"]
        in_bucket, _, prefix = source["S3Uri"][5:].partition("/")
        out_bucket, _, out_prefix = job.transform_output["S3OutputPath"][5:].partition("/")
        content_type = job.transform_input.get("ContentType") or "application/octet-stream"
        accept = job.transform_output.get("Accept")
        split_type = job.transform_input.get("SplitType")
        limit = int(job.max_payload_in_mb or DEFAULT_MAX_PAYLOAD_MB) * MIB
        model = backend.describe_model(job.model_name)

        def check_s3(model: Any, action: str, uri: str, prefix: str | None = None) -> None:
            """The job's S3 calls are its model role's (issue 16): a denial is a ClientError."""
            try:
                iam_service_roles.check_transform_s3(model, action, uri, prefix)
            except iam_enforcement.AccessDeniedError as denied:
                raise TransformFailure(f"ClientError: {denied}") from None

        check_s3(model, "s3:ListBucket", in_bucket, prefix)
        keys = sorted(k for k in s3.get_bucket(in_bucket).keys if k.startswith(prefix))
        if not keys:
            raise TransformFailure(f"ClientError: no input objects under {source['S3Uri']}")
        worker = start_model_worker(backend.account_id, model, _state["scratch"], log)
        for key in keys:
            try:
                check_s3(model, "s3:GetObject", f"{in_bucket}/{key}")
                check_s3(
                    model, "s3:PutObject", f"{out_bucket}/{_output_key(prefix, key, out_prefix)}"
                )
                body = s3.get_object(in_bucket, key).value
                requests = _mini_batches(
                    _records(body, split_type), job.batch_strategy, limit, split_type == "Line"
                )
                answers = []
                for request in requests:
                    reply = worker.invoke(request, content_type, accept)
                    if not reply.ok:
                        raise TransformFailure(
                            f"ClientError: {key}: the model answered {reply.status}: "
                            f"{reply.body.decode(errors='replace')[:300]}"
                        )
                    answers.append(reply.body)
            except TransformFailure as exc:
                failures.append(str(exc))
                log.write(f"s3://{in_bucket}/{key} failed: {exc}")
                continue
            output = _assemble(answers, job.transform_output.get("AssembleWith"))
            s3.put_object(out_bucket, _output_key(prefix, key, out_prefix), output)
            log.write(f"transformed s3://{in_bucket}/{key} in {len(requests)} request(s)")
        if failures:
            raise TransformFailure("; ".join(failures))
        job.transform_job_status = "Completed"
    except (TransformFailure, ModelLoadError, ValidationError, KeyError) as exc:
        job.failure_reason = str(getattr(exc, "message", None) or exc)[:1024]
        job.transform_job_status = "Failed"
        log.write(f"transform job failed: {job.failure_reason}")
    finally:
        if worker is not None:
            worker.stop()
        job.transform_end_time = job.last_modified_time = datetime.now(UTC)
        _emit_state_change(backend, job)


_JOB_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")


def _wrap_create_transform_job(original: Any) -> Any:
    def create_transform_job(self: SageMakerModelBackend, *a: Any, **kw: Any) -> FakeTransformJob:
        name = kw.get("transform_job_name", a[0] if a else None)
        if not isinstance(name, str) or not _JOB_NAME.match(name):
            raise ValidationError(
                message=f"1 validation error detected: Value '{name}' at 'transformJobName' "
                "failed to satisfy constraint: Member must satisfy regular expression pattern: "
                "[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"
            )
        # A job's name is taken for good (jobs are never deleted); moto would overwrite it.
        if name in self.transform_jobs:
            arn = FakeTransformJob.arn_formatter(name, self.account_id, self.region_name)
            raise ResourceInUseException(
                message="Job name must be unique within an AWS account and region, and a job "
                f"with this name already exists ({arn})"
            )
        payload = kw.get("max_payload_in_mb")
        if payload is not None and not 0 <= int(payload) <= MAX_PAYLOAD_MB:
            raise ValidationError(
                message=f"MaxPayloadInMB must be 0-{MAX_PAYLOAD_MB}, got {payload}"
            )
        self.describe_model(kw.get("model_name", a[1] if len(a) > 1 else None))
        job = original(self, *a, **kw)
        job.transform_job_status = "InProgress"
        _emit_state_change(self, job)
        threading.Thread(target=_run_transform, args=(self, job), daemon=True).start()
        return job

    create_transform_job.__wrapped__ = original  # type: ignore[attr-defined]
    return create_transform_job


def shutdown() -> None:
    with _state["lock"]:
        deployments = list(_state["deployments"].values())
        _state["deployments"].clear()
    for deployment in deployments:
        deployment.stop()


def install(scratch: Path) -> None:
    _state["scratch"] = scratch
    SageMakerModelBackend.create_endpoint = _wrap_create_endpoint(
        SageMakerModelBackend.create_endpoint
    )
    SageMakerModelBackend.delete_endpoint = _wrap_delete_endpoint(
        SageMakerModelBackend.delete_endpoint
    )
    SageMakerModelBackend.create_transform_job = _wrap_create_transform_job(
        SageMakerModelBackend.create_transform_job
    )
    SageMakerResponse.update_endpoint = update_endpoint
    SageMakerResponse.create_model = _wrap_create_model(SageMakerResponse.create_model)
    Model.response_object = _wrap_model_response(Model.response_object)
