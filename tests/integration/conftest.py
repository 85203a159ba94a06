"""Integration fixtures: a real local cloud on a free port, and Terraform applied to it.

The local cloud runs as its own process (`python -m localcloud serve`), never inside
pytest: its extensions patch moto, and other suites use moto's in-process mocks.

pytest-terraform (live mode, never replay) runs the real `terraform init/plan/apply`
of the root module in `terraform/` against that cloud and destroys it at the end of the
session; the `tf_resources.json` it writes next to the module is a build output
(.gitignore), never replayed as if it came from AWS.
"""

from __future__ import annotations

import json
import re
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from pytest_terraform import terraform
from pytest_terraform import tf as pytest_terraform_internals

from tests.support.builds import build_lambda_zips, write_terraform_cli_config
from tests.support.localcloud_harness import (
    REPO_ROOT,
    LocalCloud,
    start_local_cloud,
    stop_local_cloud,
    wait_for_execution,
    wait_until,
    zip_source,
)
from tests.support.trained_model import cifar_pngs, trained_artifact
from workflow.scoring import score_images

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def local_cloud(tmp_path_factory: pytest.TempPathFactory) -> LocalCloud:
    """One local cloud for the session (fresh, empty, on a free port)."""
    cloud = start_local_cloud(tmp_path_factory.mktemp("localcloud"))
    yield cloud
    stop_local_cloud(cloud)


@pytest.fixture(scope="session")
def lambda_role(local_cloud: LocalCloud) -> str:
    iam = local_cloud.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    arn = iam.create_role(RoleName="test-lambda", AssumeRolePolicyDocument=json.dumps(trust))[
        "Role"
    ]["Arn"]
    # The local cloud enforces IAM for the workload (issue 16): the probe functions and
    # machines on this role stand in for any code, so the role may do anything. The
    # deployment's own roles are tested as Terraform writes them (test_deployed_iam.py).
    allow_all = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
    }
    iam.put_role_policy(
        RoleName="test-lambda",
        PolicyName="probe-may-do-anything",
        PolicyDocument=json.dumps(allow_all),
    )
    return arn


@pytest.fixture(scope="session")
def probe_function(local_cloud: LocalCloud, lambda_role: str) -> str:
    """A Lambda function whose handler does what its event asks (tests/integration/probe)."""
    source = (HERE / "probe_handler.py").read_text()
    local_cloud.client("lambda").create_function(
        FunctionName="probe",
        Runtime="python3.11",
        Role=lambda_role,
        Handler="probe_handler.lambda_handler",
        Code={"ZipFile": zip_source({"probe_handler.py": source})},
        # The local cloud counts a cold start in the timeout: room for a loaded machine's.
        # The timeout itself is tested on a function of its own (test_localcloud_lambda).
        Timeout=60,
        MemorySize=128,
        Environment={"Variables": {"GREETING": "hello from the zip"}},
    )
    return "probe"


# ------------------------------------------------------------------ Terraform on it


class _ConfigOnceConfigured:
    """pytest-terraform reads the pytest config when its decorator runs; in a conftest
    that is before pytest_configure, so it gets this stand-in, filled in just after."""

    config = None

    def __getattr__(self, name: str):
        return getattr(type(self).config, name)


def pytest_configure(config: pytest.Config) -> None:
    _ConfigOnceConfigured.config = config


if pytest_terraform_internals.PytestConfig.value is None:
    pytest_terraform_internals.PytestConfig.value = _ConfigOnceConfigured()
# Live mode, always: replay would pass off a recorded state as if it came from a cloud.
terraform("terraform", scope="session", name="local_terraform", replay=False)

MODEL_BUCKET = "scones-test-models"
LOCAL_TFVARS = REPO_ROOT / "terraform" / "environments" / "local.tfvars"


def tfvars_as_environment(path: Path) -> dict[str, str]:
    """`name = value` lines of a .tfvars file as TF_VAR_ variables (scalars only)."""
    variables = {}
    for line in path.read_text().splitlines():
        match = re.match(r'^\s*(\w+)\s*=\s*(".*"|[^#\s]+)', line)
        if match:
            name, value = match.groups()
            variables[f"TF_VAR_{name}"] = value[1:-1] if value.startswith('"') else value
    return variables


@dataclass
class Deployment:
    """The real Terraform configuration applied to the session's local cloud."""

    cloud: LocalCloud
    outputs: dict
    runner: object
    images: dict

    def output(self, name: str):
        return self.outputs[name]

    def upload(self, key: str, body: bytes) -> dict:
        """Puts `body` in the data bucket; returns the single-image input naming it."""
        bucket = self.output("data_bucket")
        self.cloud.client("s3").put_object(Bucket=bucket, Key=key, Body=body)
        return {"s3_bucket": bucket, "s3_key": key}

    def run(self, machine_output: str, payload: object) -> dict:
        """Starts the state machine named by a Terraform output; waits for its end."""
        sfn = self.cloud.client("stepfunctions")
        arn = self.output(machine_output)
        started = sfn.start_execution(stateMachineArn=arn, input=json.dumps(payload))
        return wait_for_execution(sfn, started["executionArn"])

    def results(self, results_uri: str) -> dict:
        """The batch results document summarize_batch wrote."""
        bucket, key = results_uri.removeprefix("s3://").split("/", 1)
        return json.loads(self.cloud.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


@pytest.fixture(scope="session")
def terraform_environment(local_cloud: LocalCloud, shared_archive, tmp_path_factory):
    """Everything `terraform apply` needs, as Makefile's `apply TARGET=local` gives it:
    the Lambda zips, the trained model in S3, the local variables and the CLI config."""
    if shutil.which("terraform") is None:
        pytest.skip("terraform is not on PATH")
    work = tmp_path_factory.mktemp("terraform-inputs")
    build_lambda_zips(work / "lambdas")
    cli_config = write_terraform_cli_config(work / "terraformrc")
    artifact = trained_artifact(shared_archive)
    s3 = local_cloud.client("s3")
    s3.create_bucket(Bucket=MODEL_BUCKET)
    s3.put_object(Bucket=MODEL_BUCKET, Key="model.tar.gz", Body=artifact.read_bytes())
    environment = {
        **tfvars_as_environment(LOCAL_TFVARS),
        "TF_VAR_aws_endpoint_url": local_cloud.url,
        "TF_VAR_lambda_artifacts_dir": str(work / "lambdas"),
        "TF_VAR_model_data_url": f"s3://{MODEL_BUCKET}/model.tar.gz",
        "TF_CLI_CONFIG_FILE": str(cli_config),
    }
    # pytest-terraform finds the module by name under this directory: the root module in
    # terraform/ itself is applied (set here: its own pytest_configure resets it).
    pytest_terraform_internals.LazyModuleDir.value = str(REPO_ROOT)
    with pytest.MonkeyPatch.context() as patch:
        for name, value in environment.items():
            patch.setenv(name, value)
        # pytest-terraform keeps its own state file: no workspace from `make test`.
        patch.delenv("TF_WORKSPACE", raising=False)
        yield {"artifact": artifact, "work": work}


@pytest.fixture(scope="session")
def workflow_images(terraform_environment, shared_archive) -> dict:
    """Real CIFAR test PNGs the trained model is most and least sure about."""
    artifact = terraform_environment["artifact"]
    model_dir = terraform_environment["work"] / "model"
    with tarfile.open(artifact) as archive:
        archive.extractall(model_dir, filter="data")
    pngs = sorted((cifar_pngs(shared_archive, artifact.parent / "cifar") / "test").rglob("*.png"))
    scored = sorted(score_images(model_dir, pngs), key=lambda s: s.confidence)
    threshold = 0.93
    if scored[-1].confidence < threshold or scored[0].confidence >= threshold:
        pytest.fail(f"the test model gives no image on each side of {threshold}")
    return {"confident": scored[-1], "unsure": scored[0], "all": scored}


@pytest.fixture(scope="module")
def alerts(deployment, request):
    """The alert topic's messages, read through an SQS queue of this test module's own
    (subscribed before its tests run): `alerts(match)` waits for those matching."""
    sqs = deployment.cloud.client("sqs")
    name = "alerts-" + request.module.__name__.rsplit(".", 1)[-1].replace("_", "-")
    queue_url = sqs.create_queue(QueueName=name[:80])["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    deployment.cloud.client("sns").subscribe(
        TopicArn=deployment.output("alert_topic_arn"), Protocol="sqs", Endpoint=queue_arn
    )
    collected: list[dict] = []

    def received(match=lambda m: True, timeout: float = 30) -> list[dict]:
        def poll() -> list[dict]:
            messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            collected.extend(json.loads(json.loads(m["Body"])["Message"]) for m in messages)
            return [m for m in collected if match(m)]

        return wait_until(poll, timeout=timeout)

    return received


@pytest.fixture(scope="session")
def deployment(
    local_cloud: LocalCloud, terraform_environment, workflow_images, local_terraform
) -> Deployment:
    outputs = {name: value["value"] for name, value in local_terraform.outputs.items()}
    endpoint = outputs.get("endpoint_name")
    if not endpoint:
        pytest.fail("the applied configuration has no endpoint although a model was given")
    status = local_cloud.client("sagemaker").describe_endpoint(EndpointName=endpoint)
    assert status["EndpointStatus"] == "InService", status.get("FailureReason")
    return Deployment(local_cloud, outputs, local_terraform.terraform, workflow_images)
