# The deployment, applied with the real AWS provider and every managed resource
# overridden: nothing reaches AWS, yet the provider validates the configuration and
# renders the IAM policy documents for real, so their JSON can be asserted.
#
#   terraform -chdir=terraform test   (after `make package` and `make tf-config`)

provider "aws" {
  region                      = "us-east-1"
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = true
}

override_data {
  target = data.aws_caller_identity.current
  values = { account_id = "123456789012", arn = "arn:aws:iam::123456789012:user/test", user_id = "AIDTEST" }
}

# Every managed resource is overridden: no AWS call is made, while the real provider
# still validates the configuration and renders every aws_iam_policy_document.
# A resource added to the configuration needs its override here, or this suite tries AWS.
# One override per resource instance: Terraform 1.11 does not match the instances of a
# for_each module (module.step_lambda["x"]) with a target that leaves the key out, a mock
# provider would also mock the policy documents these runs assert on, and an
# override_module would replace the outputs the runs check. `values` holds what the
# provider validates (ARNs) or an assertion spells out; the rest is generated.
override_resource {
  target = aws_kms_key.main
  values = { arn = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555", key_id = "11111111-2222-3333-4444-555555555555" }
}
override_resource { target = aws_kms_alias.main }
override_resource { target = aws_lambda_permission.inbox_notification }
override_resource { target = aws_s3_bucket_notification.inbox }
override_resource {
  target = aws_iam_role.sagemaker
  values = { arn = "arn:aws:iam::123456789012:role/scones-sagemaker" }
}
override_resource { target = aws_iam_role_policy.sagemaker }
override_resource {
  target = aws_sns_topic.alerts
  values = { arn = "arn:aws:sns:us-east-1:123456789012:scones-alerts" }
}
override_resource { target = aws_sns_topic_subscription.alert_email }
override_resource { target = aws_sns_topic_policy.alerts }
override_resource {
  target = aws_cloudwatch_event_rule.execution_failed
  values = { arn = "arn:aws:events:us-east-1:123456789012:rule/scones-execution-failed" }
}
override_resource { target = aws_cloudwatch_event_target.execution_failed_alert }
override_resource { target = aws_cloudwatch_metric_alarm.lambda_errors }
override_resource { target = aws_cloudwatch_metric_alarm.endpoint_5xx }
override_resource { target = aws_cloudwatch_metric_alarm.endpoint_latency }
override_resource {
  target = aws_sqs_queue.inbox_dead_letters
  values = { arn = "arn:aws:sqs:us-east-1:123456789012:scones-inbox-dead-letters", url = "https://sqs.us-east-1.amazonaws.com/123456789012/scones-inbox-dead-letters", name = "scones-inbox-dead-letters" }
}
override_resource { target = aws_lambda_function_event_invoke_config.start_batch_workflow }
override_resource { target = aws_cloudwatch_metric_alarm.inbox_dead_letters }
override_resource { target = aws_cloudwatch_dashboard.main }
override_resource {
  target = module.data_bucket.aws_s3_bucket.this
  values = { id = "scones-data-123456789012-us-east-1", arn = "arn:aws:s3:::scones-data-123456789012-us-east-1" }
}
override_resource { target = module.data_bucket.aws_s3_bucket_ownership_controls.this }
override_resource { target = module.data_bucket.aws_s3_bucket_public_access_block.this }
override_resource { target = module.data_bucket.aws_s3_bucket_versioning.this }
override_resource { target = module.data_bucket.aws_s3_bucket_server_side_encryption_configuration.this }
override_resource { target = module.data_bucket.aws_s3_bucket_lifecycle_configuration.this }
override_resource { target = module.data_bucket.aws_s3_bucket_policy.this }
override_resource {
  target = module.artifacts_bucket.aws_s3_bucket.this
  values = { id = "scones-artifacts-123456789012-us-east-1", arn = "arn:aws:s3:::scones-artifacts-123456789012-us-east-1" }
}
override_resource { target = module.artifacts_bucket.aws_s3_bucket_ownership_controls.this }
override_resource { target = module.artifacts_bucket.aws_s3_bucket_public_access_block.this }
override_resource { target = module.artifacts_bucket.aws_s3_bucket_versioning.this }
override_resource { target = module.artifacts_bucket.aws_s3_bucket_server_side_encryption_configuration.this }
override_resource { target = module.artifacts_bucket.aws_s3_bucket_lifecycle_configuration.this }
override_resource { target = module.artifacts_bucket.aws_s3_bucket_policy.this }
override_resource {
  target = module.step_lambda["serialize_image_data"].aws_iam_role.this
  values = { arn = "arn:aws:iam::123456789012:role/scones-serialize-image-data-lambda", id = "scones-serialize-image-data-lambda" }
}
override_resource {
  target = module.step_lambda["serialize_image_data"].aws_cloudwatch_log_group.this
  values = { arn = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/scones-serialize-image-data" }
}
override_resource { target = module.step_lambda["serialize_image_data"].aws_iam_role_policy.this }
override_resource {
  target = module.step_lambda["serialize_image_data"].aws_lambda_function.this
  values = { arn = "arn:aws:lambda:us-east-1:123456789012:function:scones-serialize-image-data" }
}
override_resource {
  target = module.step_lambda["classify_image"].aws_iam_role.this
  values = { arn = "arn:aws:iam::123456789012:role/scones-classify-image-lambda", id = "scones-classify-image-lambda" }
}
override_resource {
  target = module.step_lambda["classify_image"].aws_cloudwatch_log_group.this
  values = { arn = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/scones-classify-image" }
}
override_resource { target = module.step_lambda["classify_image"].aws_iam_role_policy.this }
override_resource {
  target = module.step_lambda["classify_image"].aws_lambda_function.this
  values = { arn = "arn:aws:lambda:us-east-1:123456789012:function:scones-classify-image" }
}
override_resource {
  target = module.step_lambda["filter_low_confidence"].aws_iam_role.this
  values = { arn = "arn:aws:iam::123456789012:role/scones-filter-low-confidence-lambda", id = "scones-filter-low-confidence-lambda" }
}
override_resource {
  target = module.step_lambda["filter_low_confidence"].aws_cloudwatch_log_group.this
  values = { arn = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/scones-filter-low-confidence" }
}
override_resource { target = module.step_lambda["filter_low_confidence"].aws_iam_role_policy.this }
override_resource {
  target = module.step_lambda["filter_low_confidence"].aws_lambda_function.this
  values = { arn = "arn:aws:lambda:us-east-1:123456789012:function:scones-filter-low-confidence" }
}
override_resource {
  target = module.step_lambda["summarize_batch"].aws_iam_role.this
  values = { arn = "arn:aws:iam::123456789012:role/scones-summarize-batch-lambda", id = "scones-summarize-batch-lambda" }
}
override_resource {
  target = module.step_lambda["summarize_batch"].aws_cloudwatch_log_group.this
  values = { arn = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/scones-summarize-batch" }
}
override_resource { target = module.step_lambda["summarize_batch"].aws_iam_role_policy.this }
override_resource {
  target = module.step_lambda["summarize_batch"].aws_lambda_function.this
  values = { arn = "arn:aws:lambda:us-east-1:123456789012:function:scones-summarize-batch" }
}
override_resource {
  target = module.trigger_lambda["start_batch_workflow"].aws_iam_role.this
  values = { arn = "arn:aws:iam::123456789012:role/scones-start-batch-workflow-lambda", id = "scones-start-batch-workflow-lambda" }
}
override_resource {
  target = module.trigger_lambda["start_batch_workflow"].aws_cloudwatch_log_group.this
  values = { arn = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/scones-start-batch-workflow" }
}
override_resource { target = module.trigger_lambda["start_batch_workflow"].aws_iam_role_policy.this }
override_resource {
  target = module.trigger_lambda["start_batch_workflow"].aws_lambda_function.this
  values = { arn = "arn:aws:lambda:us-east-1:123456789012:function:scones-start-batch-workflow" }
}
override_resource {
  target = module.single_image_workflow.aws_iam_role.this
  values = { arn = "arn:aws:iam::123456789012:role/scones-single-image-sfn", id = "scones-single-image-sfn" }
}
override_resource {
  target = module.single_image_workflow.aws_cloudwatch_log_group.this
  values = { arn = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/vendedlogs/states/scones-single-image" }
}
override_resource { target = module.single_image_workflow.aws_iam_role_policy.this }
override_resource { target = module.single_image_workflow.aws_iam_role_policy.own_executions }
override_resource {
  target = module.single_image_workflow.aws_sfn_state_machine.this
  values = { arn = "arn:aws:states:us-east-1:123456789012:stateMachine:scones-single-image" }
}
override_resource {
  target = module.batch_workflow.aws_iam_role.this
  values = { arn = "arn:aws:iam::123456789012:role/scones-batch-sfn", id = "scones-batch-sfn" }
}
override_resource {
  target = module.batch_workflow.aws_cloudwatch_log_group.this
  values = { arn = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/vendedlogs/states/scones-batch" }
}
override_resource { target = module.batch_workflow.aws_iam_role_policy.this }
override_resource { target = module.batch_workflow.aws_iam_role_policy.own_executions }
override_resource {
  target = module.batch_workflow.aws_sfn_state_machine.this
  values = { arn = "arn:aws:states:us-east-1:123456789012:stateMachine:scones-batch" }
}
override_resource {
  target = module.endpoint[0].aws_sagemaker_model.this
  values = { arn = "arn:aws:sagemaker:us-east-1:123456789012:model/scones-model" }
}
override_resource {
  target = module.endpoint[0].aws_sagemaker_endpoint_configuration.this
  values = { arn = "arn:aws:sagemaker:us-east-1:123456789012:endpoint-config/scones-config" }
}
override_resource {
  target = module.endpoint[0].aws_sagemaker_endpoint.this
  values = { arn = "arn:aws:sagemaker:us-east-1:123456789012:endpoint/scones-endpoint" }
}

run "single_image_workflow_is_consistent" {
  command = apply

  # Every transition lands on a state that exists.
  assert {
    condition = alltrue(flatten([
      for d in [jsondecode(local.single_image_definition)] : concat(
        [contains(keys(d.States), d.StartAt)],
        [for n, s in d.States : contains(keys(d.States), s.Next) if can(s.Next)],
        [for n, s in d.States : contains(keys(d.States), s.Default) if can(s.Default)],
        flatten([for n, s in d.States : [for c in s.Choices : contains(keys(d.States), c.Next)] if can(s.Choices)]),
        flatten([for n, s in d.States : [for c in s.Catch : contains(keys(d.States), c.Next)] if can(s.Catch)]),
        [for n, s in d.States : can(s.Next) || try(s.End, false) || contains(["Choice", "Fail", "Succeed"], s.Type)],
      )
    ]))
    error_message = "single image ASL: a Next, Default, Choice or Catch target does not exist, or a state has no way on."
  }

  # Every Task retries transient errors and catches everything else.
  assert {
    condition = alltrue([
      for n, s in jsondecode(local.single_image_definition).States :
      can(s.Retry) && anytrue([for c in try(s.Catch, []) : contains(c.ErrorEquals, "States.ALL")])
      if s.Type == "Task"
    ])
    error_message = "single image ASL: a Task lacks its Retry or a States.ALL Catch."
  }

  assert {
    condition = alltrue([
      for n, s in jsondecode(local.single_image_definition).States :
      length(setsubtract(
        ["Lambda.ClientExecutionTimeoutException", "Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException", "Lambda.TooManyRequestsException", "Lambda.Unknown", "EndpointUnavailableError"],
        flatten([for r in s.Retry : r.ErrorEquals])
      )) == 0
      if try(s.Resource, "") == "arn:aws:states:::lambda:invoke"
    ])
    error_message = "single image ASL: a Lambda task does not retry every transient error."
  }

  # The named input errors would fail the same way again: never retried.
  assert {
    condition = alltrue(flatten([
      for n, s in jsondecode(local.single_image_definition).States : [
        for r in try(s.Retry, []) :
        length(setintersection(r.ErrorEquals, ["InvalidEventError", "ImageNotFoundError", "UnsupportedImageError", "EndpointResponseError", "ThresholdNotMetError", "ConfigurationError", "States.ALL", "States.TaskFailed"])) == 0
        && r.BackoffRate > 1 && r.MaxAttempts >= 2
      ]
    ]))
    error_message = "single image ASL: a Retry covers a named input error or a catch-all, or has no backoff."
  }

  assert {
    condition = [
      for name in ["SerializeImageData", "ClassifyImage", "FilterLowConfidence"] :
      jsondecode(local.single_image_definition).States[name].Parameters.FunctionName
      ] == [
      module.step_lambda["serialize_image_data"].arn,
      module.step_lambda["classify_image"].arn,
      module.step_lambda["filter_low_confidence"].arn,
    ]
    error_message = "single image ASL: the steps do not call serialize -> classify -> filter."
  }

  # Failures alert first and then fail with the original error, so a low-confidence
  # image ends as a FAILED execution with error ThresholdNotMetError.
  assert {
    condition = alltrue([
      for n, s in jsondecode(local.single_image_definition).States :
      alltrue([for c in s.Catch : c.Next == "CheckErrorCause" && c.ResultPath == "$.error"])
      if s.Type == "Task" && n != "PublishFailureAlert"
    ])
    error_message = "single image ASL: a step's Catch does not lead to the alert with the error at $.error."
  }

  # Input that is not an object with s3_bucket and s3_key alerts too, then fails as
  # InvalidEventError (a Catch could not add $.error to a list or a string).
  assert {
    condition = (
      jsondecode(local.single_image_definition).StartAt == "CheckInput"
      && jsondecode(local.single_image_definition).States.CheckInput.Default == "RejectInput"
      && jsondecode(local.single_image_definition).States.RejectInput.ResultPath == "$"
      && jsondecode(local.single_image_definition).States.RejectInput.Result.error.Error == "InvalidEventError"
      && jsondecode(local.single_image_definition).States.RejectInput.Next == "PublishFailureAlert"
    )
    error_message = "single image ASL: bad input does not alert and fail as InvalidEventError."
  }

  # A Lambda's error payload (with its stack trace) is cut to its message before the alert.
  assert {
    condition = (
      jsondecode(local.single_image_definition).States.CheckErrorCause.Choices[1].Next == "ParseLambdaErrorPayload"
      && jsondecode(local.single_image_definition).States.CheckErrorCause.Default == "PublishFailureAlert"
      && jsondecode(local.single_image_definition).States.KeepLambdaErrorMessage.Parameters["Cause.$"] == "$.lambda_error.payload.errorMessage"
      && jsondecode(local.batch_definition).States.CheckErrorCause == jsondecode(local.single_image_definition).States.CheckErrorCause
    )
    error_message = "ASL: the alert does not keep only the Lambda's error message."
  }

  assert {
    condition = (
      jsondecode(local.single_image_definition).States.PublishFailureAlert.Resource == "arn:aws:states:::sns:publish"
      && jsondecode(local.single_image_definition).States.PublishFailureAlert.Parameters.TopicArn == aws_sns_topic.alerts.arn
      && jsondecode(local.single_image_definition).States.PublishFailureAlert.Next == "FailWithOriginalError"
      && jsondecode(local.single_image_definition).States.PublishFailureAlert.Catch[0].Next == "FailWithOriginalError"
      && jsondecode(local.single_image_definition).States.FailWithOriginalError.Type == "Fail"
      && jsondecode(local.single_image_definition).States.FailWithOriginalError.ErrorPath == "$.error.Error"
      && jsondecode(local.single_image_definition).States.FailWithOriginalError.CausePath == "$.error.Cause"
    )
    error_message = "single image ASL: the alert does not go to the topic or is not followed by a Fail with the original error."
  }

  assert {
    condition = toset(keys(jsondecode(local.single_image_definition).States.PublishFailureAlert.Parameters.Message)) == toset(
      ["source", "error_type.$", "message.$", "execution_id.$", "input"]
    ) && toset(keys(jsondecode(local.single_image_definition).States.PublishFailureAlert.Parameters.Message.input)) == toset(["s3_bucket.$", "s3_key.$", "execution_name.$"])
    error_message = "single image ASL: the alert message lacks a field of the alert contract, or carries more than a reference to the input."
  }
}

run "batch_workflow_is_consistent" {
  command = apply

  # The top level and both item processors: every transition lands on a state that exists.
  assert {
    condition = alltrue(flatten([
      for d in [
        jsondecode(local.batch_definition),
        jsondecode(local.batch_definition).States.ClassifyEachImage.ItemProcessor,
        jsondecode(local.batch_definition).States.ClassifyEachObjectUnderPrefix.ItemProcessor,
        ] : concat(
        [contains(keys(d.States), d.StartAt)],
        [for n, s in d.States : contains(keys(d.States), s.Next) if can(s.Next)],
        [for n, s in d.States : contains(keys(d.States), s.Default) if can(s.Default)],
        flatten([for n, s in d.States : [for c in s.Choices : contains(keys(d.States), c.Next)] if can(s.Choices)]),
        flatten([for n, s in d.States : [for c in s.Catch : contains(keys(d.States), c.Next)] if can(s.Catch)]),
        [for n, s in d.States : can(s.Next) || try(s.End, false) || contains(["Choice", "Fail", "Succeed"], s.Type)],
      )
    ]))
    error_message = "batch ASL: a Next, Default, Choice or Catch target does not exist, or a state has no way on."
  }

  assert {
    condition = alltrue(flatten([
      for d in [
        jsondecode(local.batch_definition),
        jsondecode(local.batch_definition).States.ClassifyEachImage.ItemProcessor,
        jsondecode(local.batch_definition).States.ClassifyEachObjectUnderPrefix.ItemProcessor,
        ] : [
        for n, s in d.States :
        can(s.Retry) && anytrue([for c in try(s.Catch, []) : contains(c.ErrorEquals, "States.ALL")])
        && alltrue([for r in s.Retry : length(setintersection(r.ErrorEquals, ["InvalidEventError", "ImageNotFoundError", "UnsupportedImageError", "EndpointResponseError", "ThresholdNotMetError", "ConfigurationError", "States.ALL", "States.TaskFailed"])) == 0 && r.BackoffRate > 1])
        if s.Type == "Task"
      ]
    ]))
    error_message = "batch ASL: a Task lacks Retry or a States.ALL Catch, or retries a named input error."
  }

  # One bad image never stops the batch: each outcome is recorded with its status.
  assert {
    condition = alltrue(flatten([
      for n, p in {
        List   = jsondecode(local.batch_definition).States.ClassifyEachImage.ItemProcessor,
        Prefix = jsondecode(local.batch_definition).States.ClassifyEachObjectUnderPrefix.ItemProcessor,
        } : [
        p.States["${n}FilterLowConfidence"].Catch[0].ErrorEquals == ["ThresholdNotMetError"],
        p.States["${n}FilterLowConfidence"].Catch[0].Next == "${n}RecordLowConfidence",
        p.States["${n}FilterLowConfidence"].Catch[1].Next == "${n}RecordError",
        p.States["${n}SerializeImageData"].Catch[0].Next == "${n}RecordError",
        p.States["${n}ClassifyImage"].Catch[0].Next == "${n}RecordError",
        p.States["${n}RecordPassed"].Parameters.status == "passed",
        p.States["${n}RecordLowConfidence"].Parameters.status == "low_confidence",
        p.States["${n}RecordError"].Parameters.status == "error",
        p.States["${n}RecordError"].Parameters["error.$"] == "$.error",
      ]
    ]))
    error_message = "batch ASL: an item outcome is not recorded as passed, low_confidence or error."
  }

  assert {
    condition = (
      jsondecode(local.batch_definition).States.ClassifyEachImage.ItemsPath == "$.images"
      && jsondecode(local.batch_definition).States.ClassifyEachObjectUnderPrefix.ItemReader.Resource == "arn:aws:states:::s3:listObjectsV2"
      && jsondecode(local.batch_definition).States.ClassifyEachObjectUnderPrefix.ItemSelector["s3_key.$"] == "$$.Map.Item.Value.Key"
    )
    error_message = "batch ASL: the list is read from the input and the S3 prefix through listObjectsV2."
  }

  assert {
    condition = (
      jsondecode(local.batch_definition).States.SummarizeBatch.Parameters.FunctionName == module.step_lambda["summarize_batch"].arn
      && jsondecode(local.batch_definition).States.SummarizeBatch.Parameters.Payload["map_run.$"] == "$.map_run"
      && jsondecode(local.batch_definition).States.AnyItemNotPassed.Choices[0].Next == "PublishBatchAlert"
      && jsondecode(local.batch_definition).States.AnyItemNotPassed.Default == "BatchDone"
      && jsondecode(local.batch_definition).States.PublishBatchAlert.Parameters.TopicArn == aws_sns_topic.alerts.arn
    )
    error_message = "batch ASL: results are not summarised, or no alert goes out when an item did not pass."
  }

  assert {
    condition = (
      jsondecode(local.batch_definition).States.RejectInput.Result.error.Error == "InvalidEventError"
      && jsondecode(local.batch_definition).States.RejectInput.ResultPath == "$"
      && jsondecode(local.batch_definition).States.RejectInput.Next == "PublishFailureAlert"
    )
    error_message = "batch ASL: input with neither images nor a prefix must alert, then fail as InvalidEventError."
  }
}

# Step Functions quotas ("Maximum input or output size for a task, state, or execution":
# 256 KiB; "Maximum execution history size": 25,000 events) and "ResultWriter (Map)":
# a batch's results go to S3 and each image is a child execution with its own history.
run "aws_rule_batch_results_bypass_state_payload_and_history_limits" {
  command = apply

  # Both paths are Distributed Maps whose results go to S3 (ResultWriter): no 256 KiB
  # state output and no 25,000-event parent history, whatever the batch's size.
  assert {
    condition = alltrue([
      for m in [
        jsondecode(local.batch_definition).States.ClassifyEachImage,
        jsondecode(local.batch_definition).States.ClassifyEachObjectUnderPrefix,
      ] : m.ItemProcessor.ProcessorConfig.Mode == "DISTRIBUTED"
      && m.ResultWriter.Resource == "arn:aws:states:::s3:putObject"
      && m.ResultWriter.Parameters.Bucket == module.data_bucket.id
      && m.ResultWriter.Parameters.Prefix == "map-results"
      && m.ToleratedFailurePercentage == 100
      && m.Catch[0].ErrorEquals == ["States.ALL"] && m.Catch[0].Next == "CheckErrorCause"
    ])
    error_message = "batch ASL: a Map is not Distributed with a ResultWriter, a tolerated failure percentage and a Catch."
  }

}

run "iam_policies_hold_exactly_what_each_role_uses" {
  command = apply

  assert {
    condition = {
      for st in jsondecode(module.step_lambda["serialize_image_data"].policy_json).Statement :
      st.Sid => [toset(flatten([st.Action])), toset(flatten([st.Resource]))]
      } == {
      PublishAlerts   = [toset(["sns:Publish"]), toset([aws_sns_topic.alerts.arn])]
      UseProjectKey   = [toset(["kms:Decrypt", "kms:GenerateDataKey"]), toset([aws_kms_key.main.arn])]
      ReadInputImages = [toset(["s3:GetObject"]), toset([for p in ["inputs", "inbox", "cifar"] : "${module.data_bucket.arn}/${p}/*"])]
      WriteOwnLogs    = [toset(["logs:CreateLogStream", "logs:PutLogEvents"]), toset(["${module.step_lambda["serialize_image_data"].log_group_arn}:*"])]
    }
    error_message = "serialize_image_data's policy differs: ${module.step_lambda["serialize_image_data"].policy_json}"
  }

  assert {
    condition = {
      for st in jsondecode(module.step_lambda["classify_image"].policy_json).Statement :
      st.Sid => [toset(flatten([st.Action])), toset(flatten([st.Resource]))]
      } == {
      PublishAlerts   = [toset(["sns:Publish"]), toset([aws_sns_topic.alerts.arn])]
      UseProjectKey   = [toset(["kms:Decrypt", "kms:GenerateDataKey"]), toset([aws_kms_key.main.arn])]
      ReadInputImages = [toset(["s3:GetObject"]), toset([for p in ["inputs", "inbox", "cifar"] : "${module.data_bucket.arn}/${p}/*"])]
      WriteOwnLogs    = [toset(["logs:CreateLogStream", "logs:PutLogEvents"]), toset(["${module.step_lambda["classify_image"].log_group_arn}:*"])]
    }
    error_message = "classify_image's policy differs (no endpoint yet, so no InvokeEndpoint): ${module.step_lambda["classify_image"].policy_json}"
  }

  assert {
    condition = {
      for st in jsondecode(module.step_lambda["filter_low_confidence"].policy_json).Statement :
      st.Sid => [toset(flatten([st.Action])), toset(flatten([st.Resource]))]
      } == {
      PublishAlerts = [toset(["sns:Publish"]), toset([aws_sns_topic.alerts.arn])]
      UseProjectKey = [toset(["kms:Decrypt", "kms:GenerateDataKey"]), toset([aws_kms_key.main.arn])]
      WriteOwnLogs  = [toset(["logs:CreateLogStream", "logs:PutLogEvents"]), toset(["${module.step_lambda["filter_low_confidence"].log_group_arn}:*"])]
    }
    error_message = "filter_low_confidence's policy differs: ${module.step_lambda["filter_low_confidence"].policy_json}"
  }

  assert {
    condition = {
      for st in jsondecode(module.step_lambda["summarize_batch"].policy_json).Statement :
      st.Sid => [toset(flatten([st.Action])), toset(flatten([st.Resource]))]
      } == {
      PublishAlerts     = [toset(["sns:Publish"]), toset([aws_sns_topic.alerts.arn])]
      UseProjectKey     = [toset(["kms:Decrypt", "kms:GenerateDataKey"]), toset([aws_kms_key.main.arn])]
      ReadMapResults    = [toset(["s3:GetObject"]), toset(["${module.data_bucket.arn}/map-results/*"])]
      WriteBatchResults = [toset(["s3:PutObject"]), toset(["${module.data_bucket.arn}/results/*"])]
      WriteOwnLogs      = [toset(["logs:CreateLogStream", "logs:PutLogEvents"]), toset(["${module.step_lambda["summarize_batch"].log_group_arn}:*"])]
    }
    error_message = "summarize_batch's policy differs: ${module.step_lambda["summarize_batch"].policy_json}"
  }

  assert {
    condition = {
      for st in jsondecode(module.trigger_lambda["start_batch_workflow"].policy_json).Statement :
      st.Sid => [toset(flatten([st.Action])), toset(flatten([st.Resource]))]
      } == {
      PublishAlerts      = [toset(["sns:Publish"]), toset([aws_sns_topic.alerts.arn])]
      UseProjectKey      = [toset(["kms:Decrypt", "kms:GenerateDataKey"]), toset([aws_kms_key.main.arn])]
      StartBatchWorkflow = [toset(["states:StartExecution"]), toset([module.batch_workflow.arn])]
      RecordFailedEvents = [toset(["sqs:SendMessage"]), toset([aws_sqs_queue.inbox_dead_letters.arn])]
      WriteOwnLogs       = [toset(["logs:CreateLogStream", "logs:PutLogEvents"]), toset(["${module.trigger_lambda["start_batch_workflow"].log_group_arn}:*"])]
    }
    error_message = "start_batch_workflow's policy differs: ${module.trigger_lambda["start_batch_workflow"].policy_json}"
  }

  assert {
    condition = {
      for st in jsondecode(module.single_image_workflow.policy_json).Statement :
      st.Sid => toset(flatten([st.Action])) if st.Sid != "DeliverExecutionLogs"
      } == {
      PublishAlerts       = toset(["sns:Publish"])
      UseProjectKey       = toset(["kms:Decrypt", "kms:GenerateDataKey"])
      InvokeWorkflowSteps = toset(["lambda:InvokeFunction"])
    }
    error_message = "the single image workflow's policy has other statements or actions: ${module.single_image_workflow.policy_json}"
  }

  assert {
    condition = [
      for st in jsondecode(module.single_image_workflow.policy_json).Statement : toset(st.Resource) if st.Sid == "InvokeWorkflowSteps"
      ] == [toset([
        module.step_lambda["serialize_image_data"].arn,
        module.step_lambda["classify_image"].arn,
        module.step_lambda["filter_low_confidence"].arn,
    ])]
    error_message = "the single image workflow may invoke other functions than its three steps."
  }

  assert {
    condition = {
      for st in jsondecode(module.batch_workflow.policy_json).Statement :
      st.Sid => [toset(flatten([st.Action])), toset(flatten([st.Resource]))] if st.Sid != "DeliverExecutionLogs"
      } == {
      PublishAlerts = [toset(["sns:Publish"]), toset([aws_sns_topic.alerts.arn])]
      UseProjectKey = [toset(["kms:Decrypt", "kms:GenerateDataKey"]), toset([aws_kms_key.main.arn])]
      InvokeWorkflowSteps = [toset(["lambda:InvokeFunction"]), toset([
        module.step_lambda["serialize_image_data"].arn,
        module.step_lambda["classify_image"].arn,
        module.step_lambda["filter_low_confidence"].arn,
        module.step_lambda["summarize_batch"].arn,
      ])]
      ListInputImages = [toset(["s3:ListBucket"]), toset([module.data_bucket.arn])]
      WriteMapResults = [toset(["s3:PutObject", "s3:GetObject", "s3:ListMultipartUploadParts", "s3:AbortMultipartUpload"]), toset(["${module.data_bucket.arn}/map-results/*"])]
    }
    error_message = "the batch workflow's policy differs: ${module.batch_workflow.policy_json}"
  }

  assert {
    condition = {
      for st in jsondecode(module.batch_workflow.own_executions_policy_json).Statement :
      st.Sid => [toset(flatten([st.Action])), toset(flatten([st.Resource]))]
      } == {
      StartChildExecutions = [toset(["states:StartExecution"]), toset([module.batch_workflow.arn])]
      ManageChildExecutions = [toset(["states:DescribeExecution", "states:StopExecution"]), toset([
        "arn:aws:states:us-east-1:123456789012:execution:scones-batch/*",
        "arn:aws:states:us-east-1:123456789012:execution:scones-batch:*",
      ])]
    }
    error_message = "the batch workflow may not manage exactly its own child executions: ${module.batch_workflow.own_executions_policy_json}"
  }

  assert {
    condition     = module.single_image_workflow.own_executions_policy_json == null
    error_message = "the single image workflow has no Distributed Map and must not start executions."
  }

  assert {
    condition = {
      for st in jsondecode(data.aws_iam_policy_document.sagemaker.json).Statement :
      st.Sid => [toset(flatten([st.Action])), toset(flatten([st.Resource]))]
      } == {
      ReadTrainingData           = [toset(["s3:GetObject"]), toset(["${module.data_bucket.arn}/cifar/*"])]
      ListTrainingData           = [toset(["s3:ListBucket"]), toset([module.data_bucket.arn])]
      ReadAndWriteModelArtifacts = [toset(["s3:GetObject", "s3:PutObject"]), toset(["${module.artifacts_bucket.arn}/models/*"])]
      ListModelArtifacts         = [toset(["s3:ListBucket"]), toset([module.artifacts_bucket.arn])]
      WriteDataCapture           = [toset(["s3:PutObject"]), toset(["${module.artifacts_bucket.arn}/data-capture/*"])]
      UseProjectKey              = [toset(["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]), toset([aws_kms_key.main.arn])]
      GrantKeyToEndpointVolume   = [toset(["kms:CreateGrant"]), toset([aws_kms_key.main.arn])]
      PullImages = [toset(["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]), toset([
        "arn:aws:ecr:us-east-1:${data.aws_sagemaker_prebuilt_ecr_image.serving.registry_id}:repository/pytorch-inference",
        "arn:aws:ecr:us-east-1:${data.aws_sagemaker_prebuilt_ecr_image.training.registry_id}:repository/pytorch-training",
      ])]
      GetRegistryToken   = [toset(["ecr:GetAuthorizationToken"]), toset(["*"])]
      WriteSageMakerLogs = [toset(["logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"]), toset(["arn:aws:logs:us-east-1:123456789012:log-group:/aws/sagemaker/*"])]
    }
    error_message = "the SageMaker role's policy differs: ${data.aws_iam_policy_document.sagemaker.json}"
  }

  # No Allow statement anywhere grants a wildcard action.
  assert {
    condition = alltrue(flatten([
      for doc in [
        module.step_lambda["serialize_image_data"].policy_json,
        module.step_lambda["classify_image"].policy_json,
        module.step_lambda["filter_low_confidence"].policy_json,
        module.step_lambda["summarize_batch"].policy_json,
        module.trigger_lambda["start_batch_workflow"].policy_json,
        module.single_image_workflow.policy_json,
        module.batch_workflow.policy_json,
        module.batch_workflow.own_executions_policy_json,
        data.aws_iam_policy_document.sagemaker.json,
        data.aws_iam_policy_document.kms_key.json,
        data.aws_iam_policy_document.alert_topic.json,
        ] : [
        for st in jsondecode(doc).Statement : [for a in flatten([st.Action]) : !strcontains(a, "*")] if st.Effect == "Allow"
      ]
    ]))
    error_message = "an Allow statement grants a wildcard action."
  }

  assert {
    condition = alltrue([
      for doc in [module.data_bucket.policy_json, module.artifacts_bucket.policy_json] : anytrue([
        for st in jsondecode(doc).Statement :
        st.Effect == "Deny" && st.Condition.Bool["aws:SecureTransport"] == "false"
      ])
    ])
    error_message = "a bucket policy does not deny requests without TLS."
  }
}

run "every_lambda_gets_its_environment" {
  command = apply

  assert {
    condition     = toset(keys(output.lambda_function_names)) == toset(["serialize_image_data", "classify_image", "filter_low_confidence", "summarize_batch", "start_batch_workflow", "serialize_batch", "start_transform_job", "evaluate_transform_output"])
    error_message = "not exactly one function per entry of lambdas/functions.json: ${jsonencode(output.lambda_function_names)}"
  }

  assert {
    condition = module.step_lambda["serialize_image_data"].environment == tomap({
      ALERT_TOPIC_ARN = aws_sns_topic.alerts.arn
      MAX_IMAGE_BYTES = "5242880"
    })
    error_message = "serialize_image_data's environment differs."
  }

  assert {
    condition = module.step_lambda["classify_image"].environment == tomap({
      ALERT_TOPIC_ARN = aws_sns_topic.alerts.arn
      ENDPOINT_NAME   = "scones-endpoint"
      CLASS_NAMES     = "bicycle,motorcycle"
    })
    error_message = "classify_image's environment differs."
  }

  assert {
    condition = module.step_lambda["filter_low_confidence"].environment == tomap({
      ALERT_TOPIC_ARN = aws_sns_topic.alerts.arn
      THRESHOLD       = "0.93"
      CLASS_NAMES     = "bicycle,motorcycle"
    })
    error_message = "filter_low_confidence's environment differs: ${jsonencode(module.step_lambda["filter_low_confidence"].environment)}"
  }

  assert {
    condition = module.step_lambda["summarize_batch"].environment == tomap({
      ALERT_TOPIC_ARN = aws_sns_topic.alerts.arn
      RESULTS_BUCKET  = module.data_bucket.id
    })
    error_message = "summarize_batch's environment differs."
  }

  assert {
    condition = module.trigger_lambda["start_batch_workflow"].environment == tomap({
      ALERT_TOPIC_ARN   = aws_sns_topic.alerts.arn
      STATE_MACHINE_ARN = module.batch_workflow.arn
    })
    error_message = "start_batch_workflow's environment differs."
  }

  assert {
    condition = (
      aws_s3_bucket_notification.inbox.lambda_function[0].lambda_function_arn == module.trigger_lambda["start_batch_workflow"].arn
      && aws_s3_bucket_notification.inbox.lambda_function[0].filter_prefix == "inbox/"
    )
    error_message = "uploads to inbox/ do not start the batch workflow's trigger."
  }
}

run "thresholds_and_classes_reach_the_functions" {
  command = apply

  variables {
    confidence_threshold = 0.8
    class_names          = ["cat", "dog", "bird"]
    max_image_bytes      = 2048
  }

  assert {
    condition = (
      module.step_lambda["filter_low_confidence"].environment.THRESHOLD == "0.8"
      && module.step_lambda["filter_low_confidence"].environment.CLASS_NAMES == "cat,dog,bird"
      && module.step_lambda["classify_image"].environment.CLASS_NAMES == "cat,dog,bird"
      && module.step_lambda["serialize_image_data"].environment.MAX_IMAGE_BYTES == "2048"
    )
    error_message = "variables do not reach the functions' environment."
  }
}

run "no_endpoint_before_a_model_exists" {
  command = apply

  assert {
    condition     = length(module.endpoint) == 0 && output.endpoint_name == null
    error_message = "the model, endpoint config and endpoint must not exist without model_data_url."
  }

  assert {
    condition     = length(aws_cloudwatch_metric_alarm.endpoint_5xx) == 0 && length(aws_cloudwatch_metric_alarm.endpoint_latency) == 0
    error_message = "endpoint alarms exist without an endpoint."
  }

  assert {
    condition     = output.data_capture_s3_uri == "s3://scones-artifacts-123456789012-us-east-1/data-capture"
    error_message = "data capture destination differs: ${output.data_capture_s3_uri}"
  }
}

run "endpoint_with_data_capture_once_a_model_exists" {
  command = apply

  variables {
    model_data_url                   = "s3://scones-artifacts-123456789012-us-east-1/models/run-1/model.tar.gz"
    data_capture_sampling_percentage = 37
  }

  assert {
    condition     = length(module.endpoint) == 1 && output.endpoint_name == "scones-endpoint"
    error_message = "the endpoint must exist once model_data_url is set."
  }

  assert {
    condition = (
      module.endpoint[0].data_capture_config.enable_capture
      && module.endpoint[0].data_capture_config.initial_sampling_percentage == 37
      && module.endpoint[0].data_capture_config.destination_s3_uri == "s3://scones-artifacts-123456789012-us-east-1/data-capture"
      && module.endpoint[0].data_capture_config.kms_key_id == aws_kms_key.main.arn
      && toset([for o in module.endpoint[0].data_capture_config.capture_options : o.capture_mode]) == toset(["Input", "Output"])
      && toset(module.endpoint[0].data_capture_config.capture_content_type_header[0].json_content_types) == toset(["application/json", "application/jsonlines"])
    )
    error_message = "data capture settings differ: ${jsonencode(module.endpoint[0].data_capture_config)}"
  }

  assert {
    condition = (
      module.endpoint[0].primary_container.model_data_url == "s3://scones-artifacts-123456789012-us-east-1/models/run-1/model.tar.gz"
      && module.endpoint[0].primary_container.image == data.aws_sagemaker_prebuilt_ecr_image.serving.registry_path
      && endswith(module.endpoint[0].primary_container.image, "/pytorch-inference:2.5.1-cpu-py311")
      && module.endpoint[0].primary_container.environment.SAGEMAKER_PROGRAM == "inference.py"
      && module.endpoint[0].production_variant.variant_name == "AllTraffic"
    )
    error_message = "the model does not serve the artifact through the prebuilt PyTorch image: ${jsonencode(module.endpoint[0].primary_container)}"
  }

  assert {
    condition = [
      for st in jsondecode(module.step_lambda["classify_image"].policy_json).Statement :
      [flatten([st.Action]), flatten([st.Resource])] if st.Sid == "InvokeEndpoint"
    ] == [[["sagemaker:InvokeEndpoint"], [module.endpoint[0].endpoint_arn]]]
    error_message = "classify_image may not invoke exactly the endpoint."
  }

  assert {
    condition     = length(aws_cloudwatch_metric_alarm.endpoint_5xx) == 1 && length(aws_cloudwatch_metric_alarm.endpoint_latency) == 1
    error_message = "the endpoint's 5XX and latency alarms are missing."
  }
}

run "alerts_and_dashboard_cover_the_workflow" {
  command = apply

  assert {
    condition     = toset(keys(aws_cloudwatch_metric_alarm.lambda_errors)) == toset(keys(output.lambda_function_names))
    error_message = "not every Lambda function has an error alarm."
  }

  assert {
    condition     = alltrue([for a in aws_cloudwatch_metric_alarm.lambda_errors : a.alarm_actions == toset([aws_sns_topic.alerts.arn])])
    error_message = "a Lambda error alarm does not alert through the topic."
  }

  assert {
    condition = (
      toset(jsondecode(aws_cloudwatch_event_rule.execution_failed.event_pattern).detail.status) == toset(["FAILED", "TIMED_OUT", "ABORTED"])
      && toset(jsondecode(aws_cloudwatch_event_rule.execution_failed.event_pattern).detail.stateMachineArn) == toset([module.single_image_workflow.arn, module.batch_workflow.arn])
      && aws_cloudwatch_event_target.execution_failed_alert.arn == aws_sns_topic.alerts.arn
    )
    error_message = "failed, timed-out and aborted executions of both workflows do not alert."
  }

  assert {
    condition     = aws_sns_topic.alerts.kms_master_key_id == aws_kms_key.main.arn
    error_message = "the alert topic is not encrypted with the project's key."
  }

  assert {
    condition = toset(flatten([
      for w in jsondecode(aws_cloudwatch_dashboard.main.dashboard_body).widgets : [for m in w.properties.metrics : "${m[0]}/${m[1]}"]
      ])) == toset([
      "AWS/SageMaker/Invocations", "AWS/SageMaker/Invocation4XXErrors", "AWS/SageMaker/Invocation5XXErrors",
      "AWS/SageMaker/ModelLatency", "AWS/SageMaker/OverheadLatency",
      "AWS/States/ExecutionsStarted", "AWS/States/ExecutionsSucceeded",
      "AWS/States/ExecutionsFailed", "AWS/States/ExecutionsTimedOut", "AWS/States/ExecutionsAborted",
      "AWS/Lambda/Errors",
    ])
    error_message = "the dashboard does not show the endpoint's invocations, errors and latency, the workflows' executions and failures, and the Lambdas' errors."
  }

  assert {
    condition = toset(flatten([
      for w in jsondecode(aws_cloudwatch_dashboard.main.dashboard_body).widgets : [for m in w.properties.metrics : m[3] if m[1] == "Errors"]
    ])) == toset(values(output.lambda_function_names))
    error_message = "the dashboard does not show every Lambda's errors."
  }
}

# start_batch_workflow is invoked asynchronously (S3). Lambda developer guide:
# "How Lambda handles errors and retries with asynchronous invocation" (2 retries, then the
# event is discarded), "Capturing records of Lambda asynchronous invocations" (on-failure
# destination: a standard SQS queue, the execution role needs sqs:SendMessage; a queue
# encrypted with a customer managed key needs the role allowed to use the key), SQS
# "Available CloudWatch metrics" (ApproximateNumberOfMessagesVisible).
run "failed_inbox_events_reach_an_encrypted_dead_letter_queue_that_alerts" {
  command = apply

  assert {
    condition = (
      aws_lambda_function_event_invoke_config.start_batch_workflow.function_name == module.trigger_lambda["start_batch_workflow"].function_name
      && aws_lambda_function_event_invoke_config.start_batch_workflow.maximum_retry_attempts == 2
      && aws_lambda_function_event_invoke_config.start_batch_workflow.maximum_event_age_in_seconds == 3600
      && aws_lambda_function_event_invoke_config.start_batch_workflow.destination_config[0].on_failure[0].destination == aws_sqs_queue.inbox_dead_letters.arn
      && length(aws_lambda_function_event_invoke_config.start_batch_workflow.destination_config[0].on_success) == 0
    )
    error_message = "start_batch_workflow's failed events do not go to the dead-letter queue after 2 retries."
  }

  assert {
    condition = (
      aws_sqs_queue.inbox_dead_letters.kms_master_key_id == aws_kms_key.main.arn
      && aws_sqs_queue.inbox_dead_letters.message_retention_seconds == 14 * 86400
      && aws_sqs_queue.inbox_dead_letters.fifo_queue != true
    )
    error_message = "the dead-letter queue must be a standard queue encrypted with the project's key, keeping records 14 days."
  }

  # Sending to the SSE-KMS queue: sqs:SendMessage on it, and the key for the data key.
  assert {
    condition = length([
      for st in jsondecode(module.trigger_lambda["start_batch_workflow"].policy_json).Statement : st
      if contains(flatten([st.Resource]), aws_kms_key.main.arn)
      && length(setsubtract(["kms:GenerateDataKey", "kms:Decrypt"], flatten([st.Action]))) == 0
    ]) == 1
    error_message = "start_batch_workflow's role cannot use the dead-letter queue's key."
  }

  assert {
    condition = anytrue([
      for st in jsondecode(data.aws_iam_policy_document.kms_key.json).Statement :
      contains(flatten([try(st.Principal.AWS, [])]), "arn:aws:iam::123456789012:root")
      && length(setsubtract(["kms:GenerateDataKey", "kms:Decrypt"], flatten([st.Action]))) == 0
    ])
    error_message = "the key policy does not let IAM policies grant use of the key."
  }

  assert {
    condition = (
      aws_cloudwatch_metric_alarm.inbox_dead_letters.namespace == "AWS/SQS"
      && aws_cloudwatch_metric_alarm.inbox_dead_letters.metric_name == "ApproximateNumberOfMessagesVisible"
      && aws_cloudwatch_metric_alarm.inbox_dead_letters.dimensions == tomap({ QueueName = aws_sqs_queue.inbox_dead_letters.name })
      && aws_cloudwatch_metric_alarm.inbox_dead_letters.threshold == 0
      && aws_cloudwatch_metric_alarm.inbox_dead_letters.comparison_operator == "GreaterThanThreshold"
      && aws_cloudwatch_metric_alarm.inbox_dead_letters.alarm_actions == toset([aws_sns_topic.alerts.arn])
    )
    error_message = "no alarm alerts through the topic when a record waits in the dead-letter queue."
  }

  assert {
    condition = (
      output.inbox_dead_letter_queue_url == aws_sqs_queue.inbox_dead_letters.url
      && output.inbox_dead_letter_queue_arn == aws_sqs_queue.inbox_dead_letters.arn
    )
    error_message = "the dead-letter queue's URL and ARN are not outputs."
  }
}

run "inbox_event_age_outside_lambdas_range_is_refused" {
  command = plan

  variables {
    inbox_event_max_age_s = 59
  }

  expect_failures = [var.inbox_event_max_age_s]
}

run "tls_only_bucket_policy_can_be_left_out_for_the_local_cloud" {
  command = apply

  variables {
    deny_insecure_transport = false
  }

  assert {
    condition     = module.data_bucket.policy_json == null && module.artifacts_bucket.policy_json == null
    error_message = "deny_insecure_transport = false must leave the buckets without the TLS-only policy."
  }
}

# ---------------------------------------------------------------------------- AWS rules
# One run per documented AWS constraint that no tool checks (tests/terraform/test_aws_rules.py
# runs them and names each page). They read the policy JSON the provider rendered.

# SNS developer guide, "Key management" > "Enable compatibility between event sources from
# AWS services and encrypted topics" (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html):
# aws:SourceAccount / aws:SourceArn in a KMS key policy are not supported for
# EventBridge-to-encrypted topics; the service needs kms:GenerateDataKey and kms:Decrypt.
run "aws_rule_eventbridge_key_grant_has_no_source_condition" {
  command = apply

  assert {
    condition = length([
      for st in jsondecode(data.aws_iam_policy_document.kms_key.json).Statement : st
      if contains(flatten([try(st.Principal.Service, [])]), "events.amazonaws.com")
      && !can(st.Condition)
      && length(setsubtract(["kms:Decrypt", "kms:GenerateDataKey"], flatten([st.Action]))) == 0
    ]) == 1
    error_message = "the key policy must let events.amazonaws.com Decrypt and GenerateDataKey without any Condition: ${data.aws_iam_policy_document.kms_key.json}"
  }
}

# EventBridge user guide, "Using resource-based policies for Amazon EventBridge" > "Amazon SNS
# permissions" (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html#eb-sns-permissions):
# "You can't use Condition blocks in Amazon SNS topic policies for EventBridge".
run "aws_rule_eventbridge_topic_statement_has_no_condition" {
  command = apply

  assert {
    condition = length([
      for st in jsondecode(data.aws_iam_policy_document.alert_topic.json).Statement : st
      if contains(flatten([try(st.Principal.Service, [])]), "events.amazonaws.com")
      && contains(flatten([st.Action]), "sns:Publish") && !can(st.Condition)
    ]) == 1
    error_message = "the topic policy must let events.amazonaws.com publish without a Condition: ${data.aws_iam_policy_document.alert_topic.json}"
  }
}

# SageMaker API reference, RecommendationJobInputConfig VolumeKmsKeyId
# (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_RecommendationJobInputConfig.html):
# the execution role "must have kms:CreateGrant permission in order to encrypt data on the
# storage volume of the endpoints"; KMS developer guide, "Controlling access to grants"
# (https://docs.aws.amazon.com/kms/latest/developerguide/grant-authorization.html) for
# kms:GrantIsForAWSResource. ProductionVariantCoreDumpConfig KmsKeyId: kms:Encrypt for SSE-KMS output.
run "aws_rule_endpoint_role_may_use_the_volume_and_capture_key" {
  command = apply

  assert {
    condition = length([
      for st in jsondecode(data.aws_iam_policy_document.sagemaker.json).Statement : st
      if contains(flatten([st.Action]), "kms:CreateGrant")
      && try(st.Condition.Bool["kms:GrantIsForAWSResource"], "") == "true"
      && contains(flatten([st.Resource]), aws_kms_key.main.arn)
    ]) == 1
    error_message = "the SageMaker role needs kms:CreateGrant on the key for AWS resources: ${data.aws_iam_policy_document.sagemaker.json}"
  }

  assert {
    condition = length(setsubtract(["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"], flatten([
      for st in jsondecode(data.aws_iam_policy_document.sagemaker.json).Statement : flatten([st.Action])
      if contains(flatten([st.Resource]), aws_kms_key.main.arn) && !can(st.Condition)
    ]))) == 0
    error_message = "the SageMaker role needs kms:Encrypt, kms:Decrypt and kms:GenerateDataKey on the key: ${data.aws_iam_policy_document.sagemaker.json}"
  }
}

# Step Functions developer guide, best practice "Handle Lambda service exceptions"
# (https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html):
# retry Lambda.ClientExecutionTimeoutException, ServiceException, AWSLambdaException,
# SdkClientException; a function timeout is reported as Lambda.Unknown.
run "aws_rule_lambda_tasks_retry_documented_transient_errors" {
  command = apply

  assert {
    condition = length(setsubtract(
      ["Lambda.ClientExecutionTimeoutException", "Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException", "Lambda.Unknown"],
      flatten([for r in jsondecode(local.lambda_retry) : r.ErrorEquals])
    )) == 0
    error_message = "the Lambda Retry misses a documented transient error: ${local.lambda_retry}"
  }
}

# SNS API reference, Publish > Errors (https://docs.aws.amazon.com/sns/latest/api/API_Publish.html):
# the errors Publish can return; ThrottledException is not one of them.
run "aws_rule_sns_retry_names_only_publish_errors" {
  command = apply

  assert {
    condition = length(setsubtract(
      flatten([for r in jsondecode(local.sns_retry) : r.ErrorEquals]),
      ["SNS.InternalErrorException", "SNS.KMSThrottlingException"]
    )) == 0
    error_message = "the SNS Retry names an error Publish does not return: ${local.sns_retry}"
  }
}

# ------------------------------------------------------------------ the offline path (transform.tf)

override_resource { target = aws_iam_role_policy.sagemaker_transform }
override_resource { target = aws_lambda_permission.transform_input_notification }
override_resource { target = aws_lambda_permission.transform_output_notification }
override_resource { target = aws_lambda_permission.transform_job_failed_event }
override_resource {
  target = aws_cloudwatch_event_rule.transform_job_failed
  values = { arn = "arn:aws:events:us-east-1:123456789012:rule/scones-transform-job-failed" }
}
override_resource { target = aws_cloudwatch_event_target.transform_job_failed_alert }
override_resource { target = aws_cloudwatch_event_target.transform_job_failed_record }
override_resource {
  target = module.step_lambda["serialize_batch"].aws_iam_role.this
  values = { arn = "arn:aws:iam::123456789012:role/scones-serialize-batch-lambda", id = "scones-serialize-batch-lambda" }
}
override_resource {
  target = module.step_lambda["serialize_batch"].aws_cloudwatch_log_group.this
  values = { arn = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/scones-serialize-batch" }
}
override_resource { target = module.step_lambda["serialize_batch"].aws_iam_role_policy.this }
override_resource {
  target = module.step_lambda["serialize_batch"].aws_lambda_function.this
  values = { arn = "arn:aws:lambda:us-east-1:123456789012:function:scones-serialize-batch" }
}
override_resource {
  target = module.step_lambda["start_transform_job"].aws_iam_role.this
  values = { arn = "arn:aws:iam::123456789012:role/scones-start-transform-job-lambda", id = "scones-start-transform-job-lambda" }
}
override_resource {
  target = module.step_lambda["start_transform_job"].aws_cloudwatch_log_group.this
  values = { arn = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/scones-start-transform-job" }
}
override_resource { target = module.step_lambda["start_transform_job"].aws_iam_role_policy.this }
override_resource {
  target = module.step_lambda["start_transform_job"].aws_lambda_function.this
  values = { arn = "arn:aws:lambda:us-east-1:123456789012:function:scones-start-transform-job" }
}
override_resource {
  target = module.step_lambda["evaluate_transform_output"].aws_iam_role.this
  values = { arn = "arn:aws:iam::123456789012:role/scones-evaluate-transform-output-lambda", id = "scones-evaluate-transform-output-lambda" }
}
override_resource {
  target = module.step_lambda["evaluate_transform_output"].aws_cloudwatch_log_group.this
  values = { arn = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/scones-evaluate-transform-output" }
}
override_resource { target = module.step_lambda["evaluate_transform_output"].aws_iam_role_policy.this }
override_resource {
  target = module.step_lambda["evaluate_transform_output"].aws_lambda_function.this
  values = { arn = "arn:aws:lambda:us-east-1:123456789012:function:scones-evaluate-transform-output" }
}

# S3 user guide, "Configuring event notifications using object key name filtering"
# (https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-how-to-filtering.html):
# the bucket has ONE notification configuration, and S3 rejects filters that overlap for
# the same event type. SageMaker API reference: CreateTransformJob (MaxPayloadInMB 0-100,
# BatchStrategy MultiRecord with SplitType Line), TransformOutput (Accept, AssembleWith,
# KmsKeyId; `<input>.out`), TransformResources (VolumeKmsKeyId), TransformJobSummary (job
# names [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}, ARN transform-job/<name>); "IAM policies for
# Amazon SageMaker" (Step Functions developer guide, https://docs.aws.amazon.com/step-functions/latest/dg/sagemaker-iam.html):
# iam:PassRole of the SageMaker role with iam:PassedToService sagemaker.amazonaws.com;
# "Events that Amazon SageMaker sends to Amazon EventBridge"
# (https://docs.aws.amazon.com/sagemaker/latest/dg/automating-sagemaker-with-eventbridge.html):
# source aws.sagemaker, detail-type "SageMaker Transform Job State Change".
run "offline_path_notifications_iam_and_failure_rule" {
  command = apply

  variables {
    model_data_url = "s3://scones-artifacts/models/model.tar.gz"
  }

  # Three notifications on prefixes that never overlap, each to its own function.
  assert {
    condition = length(aws_s3_bucket_notification.inbox.lambda_function) == 3 && alltrue([
      for a in aws_s3_bucket_notification.inbox.lambda_function : alltrue([
        for b in aws_s3_bucket_notification.inbox.lambda_function :
        a.id == b.id || (!startswith(a.filter_prefix, b.filter_prefix) && !startswith(b.filter_prefix, a.filter_prefix))
      ])
    ])
    error_message = "the data bucket's notifications overlap, which S3 rejects"
  }

  assert {
    condition = {
      for n in aws_s3_bucket_notification.inbox.lambda_function : n.filter_prefix => [n.lambda_function_arn, n.filter_suffix == null ? "" : n.filter_suffix]
      } == {
      "inbox/"            = [module.trigger_lambda["start_batch_workflow"].arn, ""]
      "transform/input/"  = [module.step_lambda["start_transform_job"].arn, ".jsonl"]
      "transform/output/" = [module.step_lambda["evaluate_transform_output"].arn, ".out"]
    }
    error_message = "the notifications do not start the offline path's functions on their prefixes"
  }

  # No function writes where it is notified: nothing triggers itself.
  assert {
    condition = alltrue([
      for st in jsondecode(module.step_lambda["evaluate_transform_output"].policy_json).Statement :
      !contains(flatten([st.Action]), "s3:PutObject") || alltrue([
        for r in flatten([st.Resource]) : !strcontains(r, "/transform/output/") && !strcontains(r, "/transform/input/")
      ])
    ])
    error_message = "evaluate_transform_output may write where a notification fires"
  }

  # CreateTransformJob on the project's job names only; PassRole of the SageMaker role to SageMaker only.
  assert {
    condition = length([
      for st in jsondecode(module.step_lambda["start_transform_job"].policy_json).Statement : st
      if contains(flatten([st.Action]), "sagemaker:CreateTransformJob")
      && flatten([st.Resource]) == ["arn:aws:sagemaker:us-east-1:123456789012:transform-job/scones-transform-*"]
    ]) == 1
    error_message = "CreateTransformJob must be scoped to transform-job/scones-transform-*: ${module.step_lambda["start_transform_job"].policy_json}"
  }

  assert {
    condition = length([
      for st in jsondecode(module.step_lambda["start_transform_job"].policy_json).Statement : st
      if contains(flatten([st.Action]), "iam:PassRole")
      && flatten([st.Resource]) == [aws_iam_role.sagemaker.arn]
      && try(st.Condition.StringEquals["iam:PassedToService"], "") == "sagemaker.amazonaws.com"
    ]) == 1
    error_message = "PassRole must name the SageMaker role and iam:PassedToService sagemaker.amazonaws.com"
  }

  # The job's role reads transform/input/ and writes transform/output/ (and the key, UseProjectKey).
  assert {
    condition = {
      for st in jsondecode(data.aws_iam_policy_document.sagemaker_transform.json).Statement : st.Sid => flatten([st.Resource])
      } == {
      ReadTransformInput   = ["arn:aws:s3:::scones-data-123456789012-us-east-1/transform/input/*"]
      ListTransformInput   = ["arn:aws:s3:::scones-data-123456789012-us-east-1"]
      WriteTransformOutput = ["arn:aws:s3:::scones-data-123456789012-us-east-1/transform/output/*"]
    }
    error_message = "the SageMaker role's transform rights differ: ${data.aws_iam_policy_document.sagemaker_transform.json}"
  }

  # Environment: the endpoint's model, a job-name prefix that leaves room for the hash.
  assert {
    condition     = local.transform_environment_values.MODEL_NAME == module.endpoint[0].model_name && length(local.transform_job_prefix) <= 30
    error_message = "start_transform_job must get the endpoint's model and a job prefix of at most 30 characters"
  }

  assert {
    condition     = local.transform_environment_values.KMS_KEY_ARN == aws_kms_key.main.arn && tonumber(local.transform_environment_values.TRANSFORM_MAX_PAYLOAD_MB) <= 100
    error_message = "transform output and volume use the project key; MaxPayloadInMB is at most 100"
  }

  # A failed or stopped job alerts (to the topic, with the alert contract) and is recorded.
  assert {
    condition = jsondecode(aws_cloudwatch_event_rule.transform_job_failed.event_pattern) == {
      source        = ["aws.sagemaker"]
      "detail-type" = ["SageMaker Transform Job State Change"]
      detail        = { TransformJobStatus = ["Failed", "Stopped"], TransformJobName = [{ prefix = "scones-transform-" }] }
    }
    error_message = "the failure rule must match the project's failed transform jobs"
  }

  assert {
    condition = (
      aws_cloudwatch_event_target.transform_job_failed_alert.arn == aws_sns_topic.alerts.arn
      && aws_cloudwatch_event_target.transform_job_failed_record.arn == module.step_lambda["evaluate_transform_output"].arn
      && aws_lambda_permission.transform_job_failed_event.principal == "events.amazonaws.com"
      && aws_lambda_permission.transform_job_failed_event.source_arn == aws_cloudwatch_event_rule.transform_job_failed.arn
    )
    error_message = "the failure rule must alert the topic and invoke evaluate_transform_output"
  }
}
