"""AWS rules: one test per documented AWS constraint that no tool (terraform validate,
checkov, the provider) checks. Each rule is a `run "aws_rule_*"` in a terraform/tests suite
that asserts on what the real provider renders (policy JSON, Retry lists, definitions) or
on a variable validation; this module runs each suite once and names, per rule, the AWS
documentation page it comes from. A rule the suites no longer hold fails here by name."""

from __future__ import annotations

import re

import pytest

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
    # Step Functions quotas (256 KiB per state input/output, 25,000 history events) and
    # "ResultWriter (Map)": https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html
    # https://docs.aws.amazon.com/step-functions/latest/dg/input-output-resultwriter.html
    "aws_rule_batch_results_bypass_state_payload_and_history_limits": "service-quotas",
}
# Variable validations that refuse what AWS would refuse later, at apply or at run time.
VARIABLE_RULES = {
    # SageMaker Runtime API reference, InvokeEndpoint, Body: maximum length 6291456:
    # https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpoint.html
    "aws_rule_max_image_bytes_fits_one_invoke_endpoint_request": "API_runtime_InvokeEndpoint",
}
SUITE_OF = {
    **dict.fromkeys(RULES, "deployment.tftest.hcl"),
    **dict.fromkeys(VARIABLE_RULES, "variables.tftest.hcl"),
}


@pytest.mark.parametrize("rule", sorted(SUITE_OF))
def test_aws_rule_holds(rule: str, terraform_test_results):
    result = terraform_test_results[SUITE_OF[rule]]
    output = result.stdout + result.stderr
    status = re.search(rf'run "{rule}"\.\.\. (\w+)', output)

    assert status is not None, f"run {rule} missing from the suite's output:\n{output[-4000:]}"
    page = {**RULES, **VARIABLE_RULES}[rule]
    assert status.group(1) == "pass", f"{rule} ({page}):\n{output[-6000:]}"
