"""The deployment's own IAM, enforced by the local cloud for its workload (issue 16).

Each role runs the workflow with its policy as Terraform wrote it; taking away one
statement the workflow needs makes it fail with AccessDenied naming that action (in the
local cloud's log, as AWS's message: "User: <role session> is not authorized to perform:
<action> on resource: <arn> because ...", "Troubleshoot access denied error messages",
IAM User Guide), and putting it back makes it pass again. A TLS-only bucket policy
Deny wins over the role's Allow ("Policy evaluation logic": an explicit deny in any
policy overrides an allow). Statements no workflow needs are reported.
"""

from __future__ import annotations

import json
import re
import uuid
from contextlib import contextmanager

import pytest

from tests.support.localcloud_harness import wait_until

pytestmark = pytest.mark.integration


def role_name_of(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def function_role(deployment, function_key: str) -> str:
    name = deployment.output("lambda_function_names")[function_key]
    config = deployment.cloud.client("lambda").get_function_configuration(FunctionName=name)
    return role_name_of(config["Role"])


def machine_role(deployment, machine_output: str) -> str:
    sfn = deployment.cloud.client("stepfunctions")
    machine = sfn.describe_state_machine(stateMachineArn=deployment.output(machine_output))
    return role_name_of(machine["roleArn"])


@contextmanager
def without_statement(deployment, role: str, sid: str):
    """The role's inline policy without the statement `sid`, restored on the way out."""
    iam = deployment.cloud.client("iam")
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        statements = document["Statement"]
        kept = [s for s in statements if s.get("Sid") != sid]
        if len(kept) < len(statements):
            break
    else:
        pytest.fail(f"role {role} has no statement {sid!r}: the deployment changed")
    iam.put_role_policy(
        RoleName=role, PolicyName=name, PolicyDocument=json.dumps({**document, "Statement": kept})
    )
    try:
        yield
    finally:
        iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=json.dumps(document))


def denials(deployment, role: str, action: str, since: int) -> list[str]:
    """AccessDenied lines in the local cloud's log (after byte `since`) for this role
    and action."""
    text = deployment.cloud.log.read_bytes()[since:].decode(errors="replace")
    pattern = re.compile(
        rf"AccessDenied: User: arn:aws:sts::\d+:assumed-role/{re.escape(role)}/\S+ is not "
        rf"authorized to perform: {re.escape(action)} on resource: \S+ (because|with) .*"
    )
    return [m.group(0) for m in pattern.finditer(text)]


def log_mark(deployment) -> int:
    return deployment.cloud.log.stat().st_size


def wait_for_denial(deployment, role: str, action: str, since: int) -> str:
    lines = wait_until(lambda: denials(deployment, role, action, since), timeout=60)
    assert lines, f"no AccessDenied for {role} doing {action} in {deployment.cloud.log}"
    return lines[0]


def single_image(deployment, image, prefix: str) -> dict:
    item = deployment.upload(f"inputs/{prefix}-{uuid.uuid4().hex[:8]}.png", image.path.read_bytes())
    return deployment.run("single_image_state_machine_arn", item)


def single_image_without(deployment, role: str, sid: str, image, prefix: str) -> tuple[dict, int]:
    """The single-image workflow run once while `role` lacks `sid`: (execution, log mark)."""
    mark = log_mark(deployment)
    with without_statement(deployment, role, sid):
        return single_image(deployment, image, prefix), mark


def test_serialize_needs_read_input_images(deployment):
    role = function_role(deployment, "serialize_image_data")
    image = deployment.images["confident"]
    denied, mark = single_image_without(deployment, role, "ReadInputImages", image, "iam-serialize")

    assert denied["status"] == "FAILED"
    assert "AccessDenied" in denied.get("cause", "")
    line = wait_for_denial(deployment, role, "s3:GetObject", mark)
    assert "because no identity-based policy allows the s3:GetObject action" in line
    assert single_image(deployment, image, "iam-serialize")["status"] == "SUCCEEDED"


def test_classify_needs_invoke_endpoint(deployment):
    role = function_role(deployment, "classify_image")
    image = deployment.images["confident"]
    denied, mark = single_image_without(deployment, role, "InvokeEndpoint", image, "iam-classify")

    assert denied["status"] == "FAILED"
    line = wait_for_denial(deployment, role, "sagemaker:InvokeEndpoint", mark)
    assert f"endpoint/{deployment.output('endpoint_name')}" in line
    assert single_image(deployment, image, "iam-classify")["status"] == "SUCCEEDED"


def test_single_image_machine_needs_publish_alerts(deployment):
    role = machine_role(deployment, "single_image_state_machine_arn")
    image = deployment.images["unsure"]  # low confidence: the machine's Catch alerts
    denied, mark = single_image_without(deployment, role, "PublishAlerts", image, "iam-alert")

    line = wait_for_denial(deployment, role, "sns:Publish", mark)
    assert deployment.output("alert_topic_arn") in line
    # The alert's Catch keeps the original error; the publish itself failed as SNS says.
    assert denied["error"] == "ThresholdNotMetError"
    history = deployment.cloud.client("stepfunctions").get_execution_history(
        executionArn=denied["executionArn"], maxResults=1000
    )["events"]
    failed = [e["taskFailedEventDetails"] for e in history if e["type"] == "TaskFailed"]
    assert any("AuthorizationError" in f.get("error", "") for f in failed), failed
    restored = single_image(deployment, image, "iam-alert")
    assert restored["status"] == "FAILED"
    assert restored["error"] == "ThresholdNotMetError"


def test_single_image_machine_needs_invoke_workflow_steps(deployment):
    role = machine_role(deployment, "single_image_state_machine_arn")
    image = deployment.images["confident"]
    denied, mark = single_image_without(
        deployment, role, "InvokeWorkflowSteps", image, "iam-invoke"
    )

    assert denied["status"] == "FAILED"
    assert denied["error"] == "Lambda.AccessDeniedException"
    wait_for_denial(deployment, role, "lambda:InvokeFunction", mark)
    assert single_image(deployment, image, "iam-invoke")["status"] == "SUCCEEDED"


def test_batch_machine_needs_to_start_its_own_children(deployment):
    role = machine_role(deployment, "batch_state_machine_arn")
    prefix = f"inputs/iam-batch-{uuid.uuid4().hex[:8]}/"
    for image in deployment.images["all"][-2:]:
        deployment.upload(f"{prefix}{image.path.name}", image.path.read_bytes())
    batch = {"s3_bucket": deployment.output("data_bucket"), "s3_prefix": prefix}
    mark = log_mark(deployment)

    with without_statement(deployment, role, "StartChildExecutions"):
        denied = deployment.run("batch_state_machine_arn", batch)

    assert denied["status"] == "FAILED"
    assert "states:StartExecution" in denied.get("cause", "")
    wait_for_denial(deployment, role, "states:StartExecution", mark)
    assert deployment.run("batch_state_machine_arn", batch)["status"] == "SUCCEEDED"


def test_inbox_trigger_needs_start_batch_workflow(deployment):
    role = function_role(deployment, "start_batch_workflow")
    sfn = deployment.cloud.client("stepfunctions")
    machine = deployment.output("batch_state_machine_arn")
    image = deployment.images["confident"]

    def started() -> set[str]:
        return {
            e["executionArn"] for e in sfn.list_executions(stateMachineArn=machine)["executions"]
        }

    before = started()
    mark = log_mark(deployment)
    with without_statement(deployment, role, "StartBatchWorkflow"):
        deployment.upload(f"inbox/iam-{uuid.uuid4().hex[:8]}.png", image.path.read_bytes())
        wait_for_denial(deployment, role, "states:StartExecution", mark)
        deployment.cloud.admin("s3/drain", {"timeout": 60})
    assert started() == before

    deployment.upload(f"inbox/iam-{uuid.uuid4().hex[:8]}.png", image.path.read_bytes())
    assert wait_until(lambda: started() - before, timeout=60)


def test_endpoint_capture_needs_write_data_capture(deployment):
    role = role_name_of(deployment.output("sagemaker_role_arn"))
    runtime = deployment.cloud.client("sagemaker-runtime")
    body = deployment.images["confident"].path.read_bytes()
    mark = log_mark(deployment)

    with without_statement(deployment, role, "WriteDataCapture"):
        runtime.invoke_endpoint(
            EndpointName=deployment.output("endpoint_name"), ContentType="image/png", Body=body
        )
        line = wait_for_denial(deployment, role, "s3:PutObject", mark)

    assert deployment.output("data_capture_s3_uri").removeprefix("s3://").split("/")[0] in line


def test_tls_only_bucket_policy_deny_wins_over_the_role_allow(deployment):
    """Requests here are evaluated as TLS (every AWS endpoint is); told that this role's
    are not, the data bucket's DenyInsecureTransport statement denies what the role's
    ReadInputImages allows."""
    role = function_role(deployment, "serialize_image_data")
    image = deployment.images["confident"]
    mark = log_mark(deployment)

    deployment.cloud.admin("iam/transport", {"role": role, "secure": False})
    try:
        denied = single_image(deployment, image, "iam-tls")
    finally:
        deployment.cloud.admin("iam/transport", {"role": role, "secure": True})

    assert denied["status"] == "FAILED"
    line = wait_for_denial(deployment, role, "s3:GetObject", mark)
    assert line.endswith("with an explicit deny in a resource-based policy")
    assert single_image(deployment, image, "iam-tls")["status"] == "SUCCEEDED"


# Statements no workflow on the local cloud uses, each with the reason it stays. A
# statement missing here that nothing uses fails the test: remove it from the Terraform,
# or add it with the reason (what on AWS needs it).
LOGS = "the local cloud writes a function's log lines itself, not with the role"
ALERTS = "a Lambda publishes an alert only for an unexpected error, which no path here raises"
ALERT_KEY = "KMS for those alerts on the encrypted topic"
FUNCTIONS = (
    "classify_image",
    "evaluate_transform_output",
    "filter_low_confidence",
    "serialize_batch",
    "serialize_image_data",
    "start_batch_workflow",
    "start_transform_job",
    "summarize_batch",
)
NOT_USED_HERE: dict[tuple[str, str], str] = {
    **{(f"lambda:{name}", "WriteOwnLogs"): LOGS for name in FUNCTIONS},
    **{
        (f"lambda:{name}", "PublishAlerts"): ALERTS
        for name in FUNCTIONS
        if name != "evaluate_transform_output"
    },
    ("lambda:evaluate_transform_output", "PublishAlerts"): (
        "the offline path's summary alert, which may go out after the results document the "
        "test waits for"
    ),
    **{
        (f"lambda:{name}", "UseProjectKey"): ALERT_KEY
        for name in (
            "classify_image",
            "filter_low_confidence",
            "start_batch_workflow",
            "start_transform_job",
        )
    },
    ("lambda:classify_image", "ReadInputImages"): "images too large to pass inline (none here)",
    ("lambda:serialize_batch", "ListInputImages"): "a batch given as a prefix to serialize_batch",
    ("lambda:start_batch_workflow", "RecordFailedEvents"): (
        "no path here fails an event three times; "
        "test_failed_events_are_recorded_only_with_record_failed_events needs it"
    ),
    ("lambda:start_transform_job", "PassSageMakerRole"): (
        "CreateTransformJob passes no role (the model's was passed at CreateModel): a "
        "candidate for removal once checked on AWS"
    ),
    ("machine:batch_state_machine", "DeliverExecutionLogs"): "no execution log delivery here",
    (
        "machine:single_image_state_machine",
        "DeliverExecutionLogs",
    ): "no execution log delivery here",
    ("machine:batch_state_machine", "ManageChildExecutions"): (
        "Distributed Map children run inline: never described or stopped"
    ),
    ("sagemaker", "ReadTrainingData"): "training jobs (make train on AWS)",
    ("sagemaker", "ListTrainingData"): "training jobs (make train on AWS)",
    ("sagemaker", "ReadAndWriteModelArtifacts"): "training output; the tests' model is elsewhere",
    ("sagemaker", "ListModelArtifacts"): "training output; the tests' model is elsewhere",
    ("sagemaker", "PullImages"): "no container images are pulled here",
    ("sagemaker", "GetRegistryToken"): "no container images are pulled here",
    ("sagemaker", "GrantKeyToEndpointVolume"): "no instance volumes here",
    ("sagemaker", "WriteSageMakerLogs"): "the local cloud writes endpoint logs itself",
}
# Listed, yet used in some runs: the summary alert may go out before the usage is read.
MAY_BE_USED = {("lambda:evaluate_transform_output", "PublishAlerts")}


def test_failed_events_are_recorded_only_with_record_failed_events(deployment):
    """Lambda sends an on-failure record with the function's execution role ("Capturing
    records of Lambda asynchronous invocations": delivery fails on permission errors)."""
    cloud = deployment.cloud
    lam, sqs = cloud.client("lambda"), cloud.client("sqs")
    function = deployment.output("lambda_function_names")["start_batch_workflow"]
    role = function_role(deployment, "start_batch_workflow")
    queue_url = deployment.output("inbox_dead_letter_queue_url")
    environment = lam.get_function_configuration(FunctionName=function)["Environment"]
    # Every attempt fails (a machine that does not exist), so the event is discarded.
    missing = f"{deployment.output('batch_state_machine_arn')}-missing"
    broken = {**environment["Variables"], "STATE_MACHINE_ARN": missing}
    mark = log_mark(deployment)
    with without_statement(deployment, role, "RecordFailedEvents"):
        lam.update_function_configuration(FunctionName=function, Environment={"Variables": broken})
        try:
            image = deployment.images["confident"]
            deployment.upload(
                f"inbox/iam-record-{uuid.uuid4().hex[:8]}.png", image.path.read_bytes()
            )
            line = wait_for_denial(deployment, role, "sqs:SendMessage", mark)
        finally:
            lam.update_function_configuration(FunctionName=function, Environment=environment)

    assert deployment.output("inbox_dead_letter_queue_arn") in line
    assert wait_until(
        lambda: "not delivered to" in cloud.log.read_bytes()[mark:].decode(errors="replace"),
        timeout=30,
    )
    assert sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1).get("Messages") is None


def project_roles(deployment) -> dict[str, str]:
    """Role name -> what it is, for every role the deployment creates."""
    roles = {
        function_role(deployment, key): f"lambda:{key}"
        for key in deployment.output("lambda_function_names")
    }
    for machine in ("single_image_state_machine_arn", "batch_state_machine_arn"):
        roles[machine_role(deployment, machine)] = f"machine:{machine.removesuffix('_arn')}"
    roles[role_name_of(deployment.output("sagemaker_role_arn"))] = "sagemaker"
    return roles


def statements_of(deployment, role: str) -> set[str]:
    iam = deployment.cloud.client("iam")
    sids = set()
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        sids |= {s.get("Sid", "") for s in document["Statement"]}
    return sids


def run_every_path(deployment) -> None:
    """Each path the deployment offers, once: single image (passed, low confidence,
    broken), batch over a list and over a prefix, an inbox upload, the offline path."""
    from tests.integration.test_deployed_transform import results, serialize

    run_id = uuid.uuid4().hex[:8]
    confident, unsure = deployment.images["confident"], deployment.images["unsure"]
    single_image(deployment, confident, f"usage-{run_id}")
    single_image(deployment, unsure, f"usage-{run_id}")
    broken = deployment.upload(f"inputs/usage-{run_id}/broken.png", b"not an image")
    deployment.run("single_image_state_machine_arn", broken)
    prefix = f"inputs/usage-{run_id}/batch/"
    items = [
        deployment.upload(f"{prefix}confident.png", confident.path.read_bytes()),
        deployment.upload(f"{prefix}unsure.png", unsure.path.read_bytes()),
    ]
    deployment.run("batch_state_machine_arn", {"images": [*items, broken]})
    batch = {"s3_bucket": deployment.output("data_bucket"), "s3_prefix": prefix}
    deployment.run("batch_state_machine_arn", batch)
    sfn = deployment.cloud.client("stepfunctions")
    machine = deployment.output("batch_state_machine_arn")
    before = {e["executionArn"] for e in sfn.list_executions(stateMachineArn=machine)["executions"]}
    deployment.upload(f"inbox/usage-{run_id}.png", confident.path.read_bytes())
    assert wait_until(
        lambda: (
            {e["executionArn"] for e in sfn.list_executions(stateMachineArn=machine)["executions"]}
            - before
        ),
        timeout=60,
    )
    serialize(deployment, items, f"usage-{run_id}")
    results(deployment, f"usage-{run_id}")


def test_statements_no_workflow_needs_are_reported(deployment):
    """Every statement a role has is used by some path, or is listed in NOT_USED_HERE
    with the reason; a listed statement the deployment no longer has, or that a path
    now uses, fails too (its reason would be stale)."""
    deployment.cloud.admin("iam/usage/reset", {})

    run_every_path(deployment)

    used = deployment.cloud.admin("iam/usage")["roles"]
    unused, existing = {}, set()
    for role, kind in project_roles(deployment).items():
        role_used = {
            u["sid"] for arn, entries in used.items() if arn.endswith(f"/{role}") for u in entries
        }
        sids = statements_of(deployment, role)
        existing |= {(kind, sid) for sid in sids}
        for sid in sorted(sids - role_used):
            unused[(kind, sid)] = NOT_USED_HERE.get((kind, sid), "NO REASON: remove it or say why")
    report = "\n".join(f"  {kind} {sid}: {why}" for (kind, sid), why in sorted(unused.items()))
    print(f"statements no workflow used here:\n{report}")
    assert set(unused) <= set(NOT_USED_HERE), f"statements no path needs:\n{report}"
    assert set(NOT_USED_HERE) <= existing, f"listed but gone: {set(NOT_USED_HERE) - existing}"
    now_used = set(NOT_USED_HERE) - set(unused) - MAY_BE_USED
    assert not now_used, f"listed in NOT_USED_HERE but used: remove them there: {now_used}"
