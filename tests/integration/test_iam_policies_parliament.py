"""Every IAM policy document the deployment creates passes parliament (duo-labs' IAM
policy linter, pinned in pyproject.toml's dev extra): the identity and trust policies of
every role, and the resource policies of the KMS key, the SNS topic, the S3 buckets and
the Lambda functions (their permissions), each read back from the local cloud after the
real Terraform configuration was applied to it, and found through its Terraform state.

parliament reads every document as an identity policy. A role's trust policy has no
Resource (the role it sits on is the resource), so parliament stops at its first
statement; each trust policy is therefore also checked as "<role> trust, on the role",
its statements given the role's own ARN as Resource, so that its actions, principals and
condition keys are checked as well.

A finding is accepted only where PARLIAMENT_EXCEPTIONS names it, with the reason, and an
exception that no longer matches a finding fails the test too.
"""

from __future__ import annotations

import importlib.resources
import json
import sys
import types
from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError

pytestmark = [pytest.mark.integration, pytest.mark.terraform, pytest.mark.slow]


def _import_parliament():
    """parliament 1.6.4 (the newest) reads its data files through pkg_resources, which
    setuptools 82 removed (duo-labs/parliament#247, open): without it, a stand-in with the
    one function parliament calls, answered by importlib.resources."""
    try:
        import pkg_resources  # noqa: F401
    except ModuleNotFoundError:
        stand_in = types.ModuleType("pkg_resources")
        stand_in.resource_filename = lambda package, name: str(
            importlib.resources.files(package) / name
        )
        sys.modules["pkg_resources"] = stand_in
        try:
            import parliament
        finally:
            del sys.modules["pkg_resources"]
        return parliament
    import parliament

    return parliament


parliament = _import_parliament()

# (policy, parliament finding issue) -> why the finding is accepted. A policy is named by
# the Terraform address of the resource that carries it, with the kind of document
# (trust, inline <name>, key policy, topic policy, bucket policy, function policy).
KMS_KEY_POLICY = "aws_kms_key.main key policy"
PARLIAMENT_EXCEPTIONS: dict[tuple[str, str], str] = {
    ("* trust", "MALFORMED: Statement contains neither Resource nor NotResource"): (
        "A role trust policy is the role's own resource-based policy (IAM User Guide, 'AWS "
        "JSON policy elements: Principal': 'The IAM resource-based policy type is a role "
        "trust policy'): the role it is attached to is the resource, and its statements name "
        "none. The same statements are checked with the role's ARN as Resource "
        "('<role> trust, on the role')."
    ),
    (KMS_KEY_POLICY, "RESOURCE_STAR"): (
        'The Resource of a key policy statement is "*", which stands for the KMS key the '
        "policy is attached to and no other (AWS KMS Developer Guide, 'Creating a key "
        "policy', Resource element; 'Default key policy')."
    ),
    (KMS_KEY_POLICY, "MISMATCHED_TYPE"): (
        "LogsEncryptProjectLogGroups compares kms:EncryptionContext:aws:logs:arn (a log group "
        "ARN) with an ARN operator, as the CloudWatch Logs User Guide's key policy does "
        "('Encrypt log data in CloudWatch Logs using AWS KMS', step 2) and as AWS's managed "
        "policy CloudWatchLogsAPIKeyAccess does with ArnLike; parliament types every "
        "kms:EncryptionContext:* key as String."
    ),
    (KMS_KEY_POLICY, "UNKNOWN_CONDITION_FOR_ACTION"): (
        "LogsEncryptProjectLogGroups grants kms:DescribeKey under the encryption-context "
        "condition, as the CloudWatch Logs User Guide's key policy example does (kms:Describe* "
        "in the same conditional statement). DescribeKey carries no encryption context, so "
        "that one action is never allowed by this statement: inert, not broader."
    ),
    (
        "module.batch_workflow.aws_iam_role.this inline scones-batch-own-executions",
        "RESOURCE_MISMATCH",
    ): (
        "states:DescribeExecution lists two resource types in the Service Authorization "
        "Reference (execution for Standard, express for Express executions), and parliament "
        "wants an ARN of each. The batch state machine and its Distributed Map children are "
        "Standard (ExecutionType STANDARD in batch.asl.json.tftpl): no express ARN exists. "
        "execution:<state machine>/* is the resource the Step Functions Developer Guide gives "
        "for child executions ('IAM policies for using Distributed Map states')."
    ),
}

# Resource types whose state holds a policy document: read_documents reads each back from
# the resource it sits on (a role's policies from the role, a bucket's from the bucket, ...).
READ_BACK = {
    "aws_iam_role",
    "aws_iam_role_policy",
    "aws_kms_key",
    "aws_sns_topic",
    "aws_sns_topic_policy",
    "aws_s3_bucket",
    "aws_s3_bucket_policy",
    "aws_lambda_function",
    "aws_lambda_permission",
}
POLICY_ATTRIBUTES = ("policy", "assume_role_policy", "inline_policy")


def state_resources(module: dict) -> Iterator[dict]:
    """Every managed resource of `terraform show -json`'s module, child modules included."""
    for resource in module.get("resources", ()):
        if resource["mode"] == "managed":
            yield resource
    for child in module.get("child_modules", ()):
        yield from state_resources(child)


def as_text(document) -> str:
    """boto3 decodes IAM documents into dicts; the other services return strings."""
    return document if isinstance(document, str) else json.dumps(document)


def read_documents(cloud, resource: dict) -> Iterator[tuple[str, str]]:
    """(policy name, document JSON) of every policy the resource carries in the cloud."""
    address, values = resource["address"], resource["values"]
    kind = resource["type"]
    if kind == "aws_iam_role":
        iam = cloud.client("iam")
        role = iam.get_role(RoleName=values["name"])["Role"]
        trust = as_text(role["AssumeRolePolicyDocument"])
        yield f"{address} trust", trust
        on_role = json.loads(trust)
        for statement in on_role["Statement"]:
            statement.setdefault("Resource", role["Arn"])
        yield f"{address} trust, on the role", json.dumps(on_role)
        for name in iam.list_role_policies(RoleName=values["name"])["PolicyNames"]:
            document = iam.get_role_policy(RoleName=values["name"], PolicyName=name)
            yield f"{address} inline {name}", as_text(document["PolicyDocument"])
        for attached in iam.list_attached_role_policies(RoleName=values["name"])[
            "AttachedPolicies"
        ]:
            if attached["PolicyArn"].split(":")[4] == "aws":
                continue  # AWS managed: AWS's document, not the deployment's
            policy = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]
            version = iam.get_policy_version(
                PolicyArn=attached["PolicyArn"], VersionId=policy["DefaultVersionId"]
            )
            yield (
                f"{address} managed {policy['PolicyName']}",
                as_text(version["PolicyVersion"]["Document"]),
            )
    elif kind == "aws_kms_key":
        kms = cloud.client("kms")
        yield (
            f"{address} key policy",
            kms.get_key_policy(KeyId=values["key_id"], PolicyName="default")["Policy"],
        )
    elif kind == "aws_sns_topic":
        attributes = cloud.client("sns").get_topic_attributes(TopicArn=values["arn"])
        if "Policy" in attributes["Attributes"]:
            yield f"{address} topic policy", attributes["Attributes"]["Policy"]
    elif kind == "aws_s3_bucket":
        try:
            policy = cloud.client("s3").get_bucket_policy(Bucket=values["bucket"])["Policy"]
        except ClientError as error:
            if error.response["Error"]["Code"] != "NoSuchBucketPolicy":
                raise
        else:
            yield f"{address} bucket policy", policy
    elif kind == "aws_lambda_function":
        try:
            policy = cloud.client("lambda").get_policy(FunctionName=values["function_name"])
        except ClientError as error:
            if error.response["Error"]["Code"] != "ResourceNotFoundException":
                raise
        else:
            yield f"{address} function policy", policy["Policy"]


@pytest.fixture(scope="module")
def policy_documents(deployment) -> dict[str, str]:
    """{policy name: document JSON} for every policy the applied configuration created,
    found through its Terraform state and read back from the local cloud."""
    state = deployment.runner.show()
    resources = list(state_resources(state["values"]["root_module"]))
    unread = sorted(
        r["address"]
        for r in resources
        if r["type"] not in READ_BACK and any(r["values"].get(a) for a in POLICY_ATTRIBUTES)
    )
    assert not unread, f"these resources hold a policy this test does not read back: {unread}"
    documents = {}
    for resource in resources:
        documents.update(read_documents(deployment.cloud, resource))
    return documents


def expected_policies(resources: list[dict]) -> set[str]:
    """The policy names the state says must exist: one per policy-holding resource."""
    owners = {  # (type, identifying value) -> address of the resource the policy sits on
        (r["type"], r["values"][key]): r["address"]
        for r in resources
        for key in ("name", "arn", "bucket", "function_name")
        if r["type"] in ("aws_iam_role", "aws_sns_topic", "aws_s3_bucket", "aws_lambda_function")
        and r["values"].get(key)
    }
    expected = set()
    for r in resources:
        values = r["values"]
        if r["type"] == "aws_iam_role":
            expected.add(f"{r['address']} trust")
        elif r["type"] == "aws_iam_role_policy":
            expected.add(f"{owners['aws_iam_role', values['role']]} inline {values['name']}")
        elif r["type"] == "aws_kms_key":
            expected.add(f"{r['address']} key policy")
        elif r["type"] == "aws_sns_topic_policy":
            expected.add(f"{owners['aws_sns_topic', values['arn']]} topic policy")
        elif r["type"] == "aws_s3_bucket_policy":
            expected.add(f"{owners['aws_s3_bucket', values['bucket']]} bucket policy")
        elif r["type"] == "aws_lambda_permission":
            function = values["function_name"].rsplit(":", 1)[-1]
            expected.add(f"{owners['aws_lambda_function', function]} function policy")
    return expected


def test_every_policy_in_the_state_is_read_back(policy_documents, deployment):
    resources = list(state_resources(deployment.runner.show()["values"]["root_module"]))
    expected = expected_policies(resources)

    assert expected <= set(policy_documents), sorted(expected - set(policy_documents))
    for kind in (" trust", " inline ", " key policy", " topic policy", " bucket policy"):
        assert any(kind in name for name in policy_documents), kind
    assert any(name.endswith(" function policy") for name in policy_documents)


def findings(document: str) -> list[tuple[str, str]]:
    """(issue, detail) of every parliament finding on the document (its default auditors,
    as the `parliament` command runs them)."""
    policy = parliament.analyze_policy_string(document, ignore_private_auditors=True)
    return [
        (f.issue, f.detail if isinstance(f.detail, str) else json.dumps(f.detail, default=str))
        for f in policy.findings
    ]


def exception_for(name: str, issue: str, detail: str) -> tuple[str, str] | None:
    """The PARLIAMENT_EXCEPTIONS key that accepts the finding: its policy is the name, or
    "*<suffix>" for every name ending so; its issue is the issue, or "<issue>: <detail>"."""
    for policy, accepted in PARLIAMENT_EXCEPTIONS:
        named = policy == name or (policy.startswith("*") and name.endswith(policy[1:]))
        if named and accepted in (issue, f"{issue}: {detail}"):
            return policy, accepted
    return None


def test_parliament_finds_nothing_unexplained(policy_documents):
    unexplained = {}
    used = set()
    for name, document in sorted(policy_documents.items()):
        for issue, detail in findings(document):
            exception = exception_for(name, issue, detail)
            if exception:
                used.add(exception)
            else:
                unexplained.setdefault(name, []).append(f"{issue}: {detail}")

    assert not unexplained, json.dumps(unexplained, indent=2)
    assert used == set(PARLIAMENT_EXCEPTIONS), (
        f"exceptions no longer needed: {sorted(set(PARLIAMENT_EXCEPTIONS) - used)}"
    )


def test_parliament_reports_a_known_bad_policy():
    """The check is live: parliament flags an unknown action and a mismatched resource."""
    bad = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "s3:GetObjekt", "Resource": "*"},
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::bucket"},
        ],
    }

    issues = {issue for issue, _ in findings(json.dumps(bad))}

    assert {"UNKNOWN_ACTION", "RESOURCE_MISMATCH"} <= issues, issues
