"""AWS rules: one test per documented AWS constraint that no tool (terraform validate,
checkov, the provider) checks. Each rule is a `run` in terraform/tests/deployment.tftest.hcl
that asserts on the policy JSON and Retry lists the real provider renders; this module runs
the suite once and names, per rule, the AWS documentation page it comes from."""

from __future__ import annotations

import re

import pytest
from conftest import TERRAFORM_DIR, run_terraform

pytestmark = [pytest.mark.terraform, pytest.mark.slow]

RULES = {
    # SNS developer guide, Key management, "Enable compatibility between event sources from
    # AWS services and encrypted topics":
    # https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services
    "aws_rule_eventbridge_key_grant_has_no_source_condition": "sns-key-management",
    # EventBridge user guide, "Using resource-based policies for Amazon EventBridge", Amazon SNS
    # permissions: https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html
    "aws_rule_eventbridge_topic_statement_has_no_condition": "eb-use-resource-based",
    # SageMaker API reference, RecommendationJobInputConfig VolumeKmsKeyId and
    # ProductionVariantCoreDumpConfig KmsKeyId; KMS "Controlling access to grants":
    # https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_RecommendationJobInputConfig.html
    # https://docs.aws.amazon.com/kms/latest/developerguide/grant-authorization.html
    "aws_rule_endpoint_role_may_use_the_volume_and_capture_key": "API_RecommendationJobInputConfig",
    # Step Functions best practice "Handle Lambda service exceptions":
    # https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html
    "aws_rule_lambda_tasks_retry_documented_transient_errors": "bp-lambda-serviceexception",
    # SNS API reference, Publish, Errors: https://docs.aws.amazon.com/sns/latest/api/API_Publish.html
    "aws_rule_sns_retry_names_only_publish_errors": "API_Publish",
}


@pytest.fixture(scope="module")
def suite_output(root_env) -> str:
    result = run_terraform(["test", "-filter=tests/deployment.tftest.hcl"], TERRAFORM_DIR, root_env)
    return result.stdout + result.stderr


@pytest.mark.parametrize("rule", sorted(RULES))
def test_aws_rule_holds(rule: str, suite_output: str):
    status = re.search(rf'run "{rule}"\.\.\. (\w+)', suite_output)

    assert status is not None, (
        f"run {rule} missing from the suite's output:\n{suite_output[-4000:]}"
    )
    assert status.group(1) == "pass", f"{rule} ({RULES[rule]}):\n{suite_output[-6000:]}"
