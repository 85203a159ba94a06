locals {
  single_image_state_machine_name = "${var.project_name}-single-image"
  batch_state_machine_name        = "${var.project_name}-batch"

  # Transient failures only (CONTRACTS.md, "Events"): the named input errors would fail
  # the same way again, so they are never retried. The Lambda.* names are those of the
  # Step Functions best practice "Handle Lambda service exceptions"; the same page says a
  # function timeout (or out-of-memory crash) is reported as Lambda.Unknown.
  transient_lambda_errors = [
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "Lambda.Unknown",
    "EndpointUnavailableError",
  ]
  lambda_retry = jsonencode([{
    ErrorEquals     = local.transient_lambda_errors
    IntervalSeconds = 2
    MaxAttempts     = 4
    BackoffRate     = 2
    MaxDelaySeconds = 30
    JitterStrategy  = "FULL"
  }])
  # Publish's transient errors in the SNS API reference (Publish, Errors): InternalError
  # (500) and KMSThrottlingException, named <Service>.<Error>Exception as Step Functions
  # names service errors. ThrottledException is not one of Publish's errors.
  sns_retry = jsonencode([{
    ErrorEquals     = ["SNS.InternalErrorException", "SNS.KMSThrottlingException"]
    IntervalSeconds = 1
    MaxAttempts     = 3
    BackoffRate     = 2
  }])

  step_arns = {
    partition              = local.partition
    serialize_function_arn = module.step_lambda["serialize_image_data"].arn
    classify_function_arn  = module.step_lambda["classify_image"].arn
    filter_function_arn    = module.step_lambda["filter_low_confidence"].arn
    lambda_retry           = local.lambda_retry
  }

  # Every state machine ends a failure the same way (templates/failure_alert.asl.json.tftpl):
  # the Lambda's error message kept without its stack trace, one alert naming the
  # execution and the input by reference (never its bytes), then the original error.
  alert_inputs = {
    single_image = { "s3_bucket.$" = "$.s3_bucket", "s3_key.$" = "$.s3_key", "execution_name.$" = "$$.Execution.Name" }
    batch        = { "execution_name.$" = "$$.Execution.Name" }
  }
  failure_states = {
    for machine, name in { single_image = local.single_image_state_machine_name, batch = local.batch_state_machine_name } :
    machine => jsondecode(templatefile("${path.module}/templates/failure_alert.asl.json.tftpl", {
      partition          = local.partition
      alert_topic_arn    = aws_sns_topic.alerts.arn
      state_machine_name = name
      sns_retry          = local.sns_retry
      alert_input        = jsonencode(local.alert_inputs[machine])
    }))
  }

  single_image_states     = jsondecode(templatefile("${path.module}/templates/single_image.asl.json.tftpl", local.step_arns))
  single_image_definition = jsonencode(merge(local.single_image_states, { States = merge(local.single_image_states.States, local.failure_states["single_image"]) }))

  # Both Map states run the item definition; its state names get a prefix per Map
  # because the States Language wants names unique across the whole state machine.
  batch_item_definitions = {
    for source, prefix in { list = "List", prefix = "Prefix" } :
    source => templatefile("${path.module}/templates/batch_item.asl.json.tftpl", merge(local.step_arns, { name_prefix = prefix }))
  }

  # Every child execution's result goes to S3, whatever the batch's size: a Map state's
  # output is capped at 256 KiB (about 1,000 items), a results file is not.
  # ToleratedFailurePercentage is 100 in the template: an item records its own outcome,
  # and one that fails anyway is in FAILED_0.json, which summarize_batch records as an error.
  map_results_writer = jsonencode({
    Resource   = "arn:${local.partition}:states:::s3:putObject"
    Parameters = { Bucket = module.data_bucket.id, Prefix = trimsuffix(local.map_results_prefix, "/") }
  })

  batch_states = jsondecode(templatefile("${path.module}/templates/batch.asl.json.tftpl", {
    partition              = local.partition
    list_item_definition   = local.batch_item_definitions["list"]
    prefix_item_definition = local.batch_item_definitions["prefix"]
    result_writer          = local.map_results_writer
    summarize_function_arn = module.step_lambda["summarize_batch"].arn
    alert_topic_arn        = aws_sns_topic.alerts.arn
    state_machine_name     = local.batch_state_machine_name
    max_concurrency        = var.batch_max_concurrency
    lambda_retry           = local.lambda_retry
    sns_retry              = local.sns_retry
  }))
  batch_definition = jsonencode(merge(local.batch_states, { States = merge(local.batch_states.States, local.failure_states["batch"]) }))
}

module "single_image_workflow" {
  source = "./modules/state_machine"

  name               = local.single_image_state_machine_name
  definition         = local.single_image_definition
  policy_json        = data.aws_iam_policy_document.single_image_workflow.json
  log_retention_days = var.log_retention_days
  kms_key_arn        = aws_kms_key.main.arn
}

module "batch_workflow" {
  source = "./modules/state_machine"

  name                     = local.batch_state_machine_name
  definition               = local.batch_definition
  policy_json              = data.aws_iam_policy_document.batch_workflow.json
  may_start_own_executions = true
  log_retention_days       = var.log_retention_days
  kms_key_arn              = aws_kms_key.main.arn
}

data "aws_iam_policy_document" "single_image_workflow" {
  source_policy_documents = [data.aws_iam_policy_document.publish_alerts.json]
  statement {
    sid     = "InvokeWorkflowSteps"
    actions = ["lambda:InvokeFunction"]
    resources = [
      module.step_lambda["serialize_image_data"].arn,
      module.step_lambda["classify_image"].arn,
      module.step_lambda["filter_low_confidence"].arn,
    ]
  }
}

data "aws_iam_policy_document" "batch_workflow" {
  # The Distributed Map's ItemReader lists the prefix it is given.
  source_policy_documents = [
    data.aws_iam_policy_document.publish_alerts.json,
    data.aws_iam_policy_document.list_input_images.json,
  ]
  statement {
    sid     = "InvokeWorkflowSteps"
    actions = ["lambda:InvokeFunction"]
    resources = [
      module.step_lambda["serialize_image_data"].arn,
      module.step_lambda["classify_image"].arn,
      module.step_lambda["filter_low_confidence"].arn,
      module.step_lambda["summarize_batch"].arn,
    ]
  }
  # ResultWriter writes the children's results (and reads back its multipart uploads);
  # "IAM policies for using Distributed Map states", Step Functions developer guide.
  statement {
    sid       = "WriteMapResults"
    actions   = ["s3:PutObject", "s3:GetObject", "s3:ListMultipartUploadParts", "s3:AbortMultipartUpload"]
    resources = ["${module.data_bucket.arn}/${local.map_results_prefix}*"]
  }
}
