"""Every point where the local cloud extends moto, installed in one place.

EXTENSION_POINTS names each moto attribute we replace or wrap with the parameters we
rely on; tests/integration/test_moto_extension_points.py checks them so that a moto
upgrade that moves one fails loudly instead of silently running moto's original.
"""

from __future__ import annotations

from pathlib import Path

from . import (
    events_targets,
    iam_enforcement,
    iam_service_roles,
    lambda_invoke,
    lambda_permissions,
    request_routing,
    s3_bucket_policy,
    s3_notifications,
    sagemaker_control,
    sagemaker_runtime,
    stepfunctions_api,
    stepfunctions_clients,
    stepfunctions_history,
    stepfunctions_lambda,
    stepfunctions_map,
    stepfunctions_parse,
    stepfunctions_threads,
)
from .lambda_workers import WorkerPool

# (module, attribute path, parameters of the original we depend on, in order)
EXTENSION_POINTS: list[tuple[str, str, tuple[str, ...]]] = [
    ("moto.awslambda.models", "LambdaFunction._invoke_lambda", ("self", "event")),
    (
        "moto.awslambda.models",
        "LambdaFunction.invoke",
        ("self", "body", "request_headers", "response_headers"),
    ),
    ("moto.awslambda.models", "LambdaFunction.__init__", ("self", "account_id", "spec")),
    ("moto.awslambda.models", "LambdaFunction.update_configuration", ("self", "config_updates")),
    ("moto.awslambda.models", "LambdaFunction.get_configuration", ("self",)),
    ("moto.awslambda.policy", "Policy.add_statement", ("self", "raw", "qualifier")),
    (
        "moto.stepfunctions.parser.models",
        "StepFunctionsParserBackend.start_execution",
        ("self", "state_machine_arn", "name", "execution_input"),
    ),
    (
        "moto.stepfunctions.parser.models",
        "StepFunctionsParserBackend._validate_definition",
        ("definition",),
    ),
    ("moto.stepfunctions.responses", "StepFunctionResponse.stepfunction_backend", ()),
    (
        "moto.stepfunctions.parser.asl.eval.event.event_manager",
        "EventManager.add_event",
        ("self", "context", "event_type", "event_details", "timestamp", "update_source_event_id"),
    ),
    (
        "moto.stepfunctions.parser.backend.execution_worker",
        "ExecutionWorker._get_evaluation_environment",
        ("self",),
    ),
    ("moto.stepfunctions.parser.asl.eval.environment", "Environment.set_error", ("self", "error")),
    (
        "moto.stepfunctions.parser.asl.component.common.error_name.failure_event",
        "FailureEvent.__init__",
        ("self", "env", "error_name", "event_type", "event_details"),
    ),
    (
        "moto.stepfunctions.parser.asl.component.state.exec.state_task.service"
        ".state_task_service_lambda",
        "StateTaskServiceLambda._eval_service_task",
        ("self", "env", "resource_runtime_part", "normalised_parameters", "state_credentials"),
    ),
    (
        "moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils",
        "_invoke_lambda_function",
        ("parameters", "region", "state_credentials"),
    ),
    ("moto.stepfunctions.parser.asl.parse.asl_parser", "AmazonStateLanguageParser.parse", ()),
    ("moto.stepfunctions.parser.asl.utils.json_path", "parse", ("path",)),
    ("moto.stepfunctions.parser.asl.component.common.path.result_path", "parse", ("string",)),
    ("moto.backends", "list_of_moto_modules", ()),
    (
        "moto.stepfunctions.parser.asl.component.state.exec.execute_state",
        "ExecutionState._evaluate_with_timeout",
        ("self", "env"),
    ),
    # The name _evaluate_with_timeout starts its state's thread with.
    ("moto.stepfunctions.parser.asl.component.state.exec.execute_state", "Thread", ()),
    ("moto.core.responses", "method_names_from_class", ("clazz",)),
    (
        "moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor"
        ".distributed_item_processor_worker",
        "DistributedItemProcessorWorker._eval_job",
        ("self", "env", "job"),
    ),
    (
        "moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.iterator"
        ".distributed_iterator_worker",
        "DistributedIteratorWorker._eval_job",
        ("self", "env", "job"),
    ),
    (
        "moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration"
        ".distributed_iteration_component",
        "DistributedIterationComponent._map_run",
        ("self", "env", "eval_input"),
    ),
    (
        "moto.stepfunctions.parser.asl.component.state.exec.state_map.state_map",
        "StateMap.from_state_props",
        ("self", "state_props"),
    ),
    (
        "moto.stepfunctions.parser.asl.component.state.exec.state_map.item_reader"
        ".eval.resource_eval_s3",
        "ResourceEvalS3._handle_list_objects_v2",
        ("env", "resource_runtime_part", "state_credentials"),
    ),
    (
        "moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer"
        ".resource_eval.resource_eval_s3",
        "ResourceEvalS3._handle_put_object",
        ("env", "resource_runtime_part", "state_credentials"),
    ),
    ("moto.s3.models", "FakeBucket.get_permission", ("self", "action", "resource")),
    (
        "moto.s3.models",
        "FakeBucket.set_notification_configuration",
        ("self", "notification_config"),
    ),
    ("moto.iam.access_control", "IAMPolicy.is_action_permitted", ("self", "action", "resource")),
    ("moto.s3.notifications", "send_event", ("account_id", "event_name", "bucket", "key")),
    (
        "moto.s3.notifications",
        "_invoke_awslambda",
        ("account_id", "event_body", "fn_arn", "region_name"),
    ),
    (
        "moto.awslambda.models",
        "LambdaBackend.put_function_event_invoke_config",
        ("self", "function_name", "config"),
    ),
    (
        "moto.awslambda.models",
        "LambdaBackend.update_function_event_invoke_config",
        ("self", "function_name", "config"),
    ),
    ("moto.sagemakerruntime.responses", "SageMakerRuntimeResponse.invoke_endpoint", ("self",)),
    ("moto.core.responses", "BaseResponse.use_raw_body", ()),
    ("moto.core.responses", "BaseResponse._enrich_response", ("headers", "body")),
    (
        "moto.sagemaker.models",
        "SageMakerModelBackend.create_endpoint",
        ("self", "endpoint_name", "endpoint_config_name", "tags"),
    ),
    ("moto.sagemaker.models", "SageMakerModelBackend.delete_endpoint", ("self", "endpoint_name")),
    ("moto.events.models", "Rule.send_to_targets", ("self", "original_event", "transform_input")),
    ("moto.events.models", "EventsBackend.put_events", ("self", "events")),
    (
        "moto.sagemaker.models",
        "SageMakerModelBackend.create_transform_job",
        ("self", "transform_job_name", "model_name"),
    ),
    ("moto.sagemaker.models", "SageMakerModelBackend.describe_endpoint_config", ("self",)),
    ("moto.sagemaker.models", "Model.response_object", ()),
    ("moto.sagemaker.responses", "SageMakerResponse.create_model", ("self",)),
    ("moto.sagemaker.responses", "SageMakerResponse.sagemaker_backend", ()),
    ("moto.sagemaker.models", "FakeEndpoint._process_production_variants", ("self",)),
    (
        "moto.core.authorization",
        "ActionAuthenticatorMixin._authenticate_and_authorize_action",
        ("self", "iam_request_cls", "resource"),
    ),
    *[
        (module, "boto_client_for", ("region", "service", "state_credentials"))
        for module in iam_enforcement.SFN_CLIENT_MODULES
    ],
    *[(module, "TMP_THREADS", ()) for module in stepfunctions_threads.TMP_THREAD_MODULES],
]

_installed: dict[str, WorkerPool] = {}


def install(scratch: Path, port: int) -> WorkerPool:
    """Installs every extension once per process; returns the Lambda worker pool."""
    if "pool" in _installed:
        return _installed["pool"]
    scratch.mkdir(parents=True, exist_ok=True)
    pool = WorkerPool(scratch, port)
    lambda_invoke.install(pool)
    lambda_permissions.install()
    stepfunctions_api.install()
    stepfunctions_map.install()
    stepfunctions_parse.install()
    request_routing.install()
    stepfunctions_history.install()
    stepfunctions_lambda.install()
    stepfunctions_threads.install()
    s3_notifications.install()
    s3_bucket_policy.install()
    sagemaker_control.install(scratch)
    events_targets.install()
    sagemaker_runtime.install()
    iam_enforcement.install()
    stepfunctions_clients.install()  # after iam_enforcement: it caches the role's clients
    iam_service_roles.install()
    _installed["pool"] = pool
    return pool


def shutdown() -> None:
    """Stops every worker subprocess (Lambda environments, model containers)."""
    pool = _installed.get("pool")
    if pool is not None:
        pool.shutdown()
    sagemaker_control.shutdown()
