locals {
  lambda_functions_file = coalesce(var.lambda_functions_file, "${path.module}/../lambdas/functions.json")
  lambda_artifacts_dir  = coalesce(var.lambda_artifacts_dir, "${path.module}/../build/lambdas")
  lambda_functions      = jsondecode(file(local.lambda_functions_file)).functions

  # Functions that start a state machine are created after the state machines; every
  # other function is a step the state machines call, created before them.
  trigger_function_names = toset([for name, f in local.lambda_functions : name if contains(f.environment, "STATE_MACHINE_ARN")])
  step_functions         = { for name, f in local.lambda_functions : name => f if !contains(local.trigger_function_names, name) }
  trigger_functions      = { for name, f in local.lambda_functions : name => f if contains(local.trigger_function_names, name) }

  # Values for the environment variable NAMES that lambdas/functions.json lists.
  step_environment_values = merge({
    ALERT_TOPIC_ARN = aws_sns_topic.alerts.arn
    MAX_IMAGE_BYTES = tostring(var.max_image_bytes)
    ENDPOINT_NAME   = local.endpoint_name
    CLASS_NAMES     = join(",", var.class_names)
    THRESHOLD       = tostring(var.confidence_threshold)
    RESULTS_BUCKET  = module.data_bucket.id
  }, local.transform_environment_values) # the offline path's (transform.tf)
  trigger_environment_values = merge(local.step_environment_values, {
    STATE_MACHINE_ARN = module.batch_workflow.arn
  })

  # Split like the functions, for the same reason: no dependency cycle.
  step_lambda_policies = merge({
    serialize_image_data  = data.aws_iam_policy_document.serialize_image_data.json
    classify_image        = data.aws_iam_policy_document.classify_image.json
    filter_low_confidence = data.aws_iam_policy_document.filter_low_confidence.json
    summarize_batch       = data.aws_iam_policy_document.summarize_batch.json
  }, local.transform_lambda_policies)
  trigger_lambda_policies = {
    start_batch_workflow = data.aws_iam_policy_document.start_batch_workflow.json
  }

  input_object_arns = [for p in var.input_prefixes : "${module.data_bucket.arn}/${p}*"]

  lambda = merge(module.step_lambda, module.trigger_lambda)
}

module "step_lambda" {
  source   = "./modules/lambda_function"
  for_each = local.step_functions

  function_name      = "${var.project_name}-${replace(each.key, "_", "-")}"
  description        = each.value.description
  handler            = each.value.handler
  runtime            = each.value.runtime
  memory_mb          = each.value.memory_mb
  timeout_s          = each.value.timeout_s
  zip_path           = "${local.lambda_artifacts_dir}/${each.key}.zip"
  environment        = { for env in each.value.environment : env => lookup(local.step_environment_values, env, null) }
  policy_json        = lookup(local.step_lambda_policies, each.key, null)
  log_retention_days = var.log_retention_days
  kms_key_arn        = aws_kms_key.main.arn
}

module "trigger_lambda" {
  source   = "./modules/lambda_function"
  for_each = local.trigger_functions

  function_name      = "${var.project_name}-${replace(each.key, "_", "-")}"
  description        = each.value.description
  handler            = each.value.handler
  runtime            = each.value.runtime
  memory_mb          = each.value.memory_mb
  timeout_s          = each.value.timeout_s
  zip_path           = "${local.lambda_artifacts_dir}/${each.key}.zip"
  environment        = { for env in each.value.environment : env => lookup(local.trigger_environment_values, env, null) }
  policy_json        = lookup(local.trigger_lambda_policies, each.key, null)
  log_retention_days = var.log_retention_days
  kms_key_arn        = aws_kms_key.main.arn
}

# Reading and listing the input prefixes: statements several roles include.
data "aws_iam_policy_document" "read_input_images" {
  statement {
    sid       = "ReadInputImages"
    actions   = ["s3:GetObject"]
    resources = local.input_object_arns
  }
}

data "aws_iam_policy_document" "list_input_images" {
  statement {
    sid       = "ListInputImages"
    actions   = ["s3:ListBucket"]
    resources = [module.data_bucket.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = [for p in var.input_prefixes : "${p}*"]
    }
  }
}

data "aws_iam_policy_document" "serialize_image_data" {
  source_policy_documents = [
    data.aws_iam_policy_document.publish_alerts.json,
    data.aws_iam_policy_document.read_input_images.json,
  ]
}

data "aws_iam_policy_document" "classify_image" {
  # Images too large to pass inline arrive as an S3 reference.
  source_policy_documents = [
    data.aws_iam_policy_document.publish_alerts.json,
    data.aws_iam_policy_document.read_input_images.json,
  ]
  dynamic "statement" {
    for_each = module.endpoint
    content {
      sid       = "InvokeEndpoint"
      actions   = ["sagemaker:InvokeEndpoint"]
      resources = [statement.value.endpoint_arn]
    }
  }
}

data "aws_iam_policy_document" "filter_low_confidence" {
  source_policy_documents = [data.aws_iam_policy_document.publish_alerts.json]
}

data "aws_iam_policy_document" "summarize_batch" {
  source_policy_documents = [data.aws_iam_policy_document.publish_alerts.json]
  statement {
    sid       = "ReadMapResults"
    actions   = ["s3:GetObject"]
    resources = ["${module.data_bucket.arn}/${local.map_results_prefix}*"]
  }
  statement {
    sid       = "WriteBatchResults"
    actions   = ["s3:PutObject"]
    resources = ["${module.data_bucket.arn}/${local.results_prefix}*"]
  }
}

data "aws_iam_policy_document" "start_batch_workflow" {
  source_policy_documents = [data.aws_iam_policy_document.publish_alerts.json]
  statement {
    sid       = "StartBatchWorkflow"
    actions   = ["states:StartExecution"]
    resources = [module.batch_workflow.arn]
  }
  # Lambda sends the record of an event that failed every attempt with this role
  # (on-failure destination, dead_letters.tf); the queue's key is in UseProjectKey.
  statement {
    sid       = "RecordFailedEvents"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.inbox_dead_letters.arn]
  }
}
