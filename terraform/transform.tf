# The offline path (issue 14): S3 PUT -> Batch Transform -> threshold on the CSV output.
#
#   serialize_batch            writes transform/input/<batch>/part-<n>.jsonl (+ the manifest)
#   start_transform_job        S3 notification on transform/input/ (*.jsonl): one job per part
#   SageMaker Batch Transform  the endpoint's model, writes transform/output/<batch>/<part>.jsonl.out
#   evaluate_transform_output  S3 notification on transform/output/ (*.out), and a failed
#                              job's EventBridge event: results/transform-<batch>.json + alert
#
# The notifications sit in the data bucket's one notification configuration (storage.tf),
# on prefixes disjoint from inbox/ and from each other, and no function writes where it is
# notified: nothing triggers itself.

variable "transform_instance_type" {
  description = "Instance type of the Batch Transform jobs (billed per second while a job runs)."
  type        = string
  default     = "ml.m5.large"

  validation {
    condition     = can(regex("^ml\\.[a-z0-9]+\\.[a-z0-9]+$", var.transform_instance_type))
    error_message = "transform_instance_type must be a SageMaker instance type such as ml.m5.large."
  }
}

variable "transform_max_payload_mb" {
  description = "MaxPayloadInMB of a transform job: the size of one request (a mini-batch of JSON lines). serialize_batch rejects an image whose line would not fit."
  type        = number
  default     = 6

  # CreateTransformJob, MaxPayloadInMB: 0-100; it must be >= the size of a single record.
  validation {
    condition     = var.transform_max_payload_mb >= 1 && var.transform_max_payload_mb <= 100 && floor(var.transform_max_payload_mb) == var.transform_max_payload_mb
    error_message = "transform_max_payload_mb must be a whole number from 1 to 100 (CreateTransformJob MaxPayloadInMB)."
  }
}

variable "transform_part_images" {
  description = "Most images per transform input object; each object is one transform job."
  type        = number
  default     = 10000

  validation {
    condition     = var.transform_part_images >= 1 && floor(var.transform_part_images) == var.transform_part_images
    error_message = "transform_part_images must be a positive whole number."
  }
}

variable "transform_part_mb" {
  description = "Most MiB per transform input object (serialize_batch holds one in memory)."
  type        = number
  default     = 50

  validation {
    condition     = var.transform_part_mb >= 1 && var.transform_part_mb <= 200 && floor(var.transform_part_mb) == var.transform_part_mb
    error_message = "transform_part_mb must be a whole number from 1 to 200 (serialize_batch's memory bounds it)."
  }
}

locals {
  transform_input_prefix        = "transform/input/"
  transform_output_prefix       = "transform/output/"
  transform_batches_prefix      = "transform/batches/"
  transform_part_results_prefix = "transform/part-results/"
  transform_results_prefix      = "${local.results_prefix}transform-"
  # Job names: [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}; start_transform_job appends "-" + 32 hex.
  transform_job_prefix = "${var.project_name}-transform"
  model_name           = try(module.endpoint[0].model_name, "")

  transform_environment_values = {
    DATA_BUCKET              = module.data_bucket.id
    MODEL_NAME               = local.model_name
    TRANSFORM_JOB_PREFIX     = local.transform_job_prefix
    KMS_KEY_ARN              = aws_kms_key.main.arn
    TRANSFORM_INSTANCE_TYPE  = var.transform_instance_type
    TRANSFORM_MAX_PAYLOAD_MB = tostring(var.transform_max_payload_mb)
    TRANSFORM_PART_IMAGES    = tostring(var.transform_part_images)
    TRANSFORM_PART_MB        = tostring(max(var.transform_part_mb, var.transform_max_payload_mb))
  }
  transform_lambda_policies = {
    serialize_batch           = data.aws_iam_policy_document.serialize_batch.json
    start_transform_job       = data.aws_iam_policy_document.start_transform_job.json
    evaluate_transform_output = data.aws_iam_policy_document.evaluate_transform_output.json
  }
  transform_job_arn_pattern = "arn:${local.partition}:sagemaker:${local.region}:${local.account_id}:transform-job/${local.transform_job_prefix}-*"
}

data "aws_iam_policy_document" "serialize_batch" {
  source_policy_documents = [
    data.aws_iam_policy_document.publish_alerts.json,
    data.aws_iam_policy_document.read_input_images.json,
    data.aws_iam_policy_document.list_input_images.json,
  ]
  statement {
    sid     = "WriteTransformInput"
    actions = ["s3:PutObject"]
    resources = [
      "${module.data_bucket.arn}/${local.transform_input_prefix}*",
      "${module.data_bucket.arn}/${local.transform_batches_prefix}*",
      # A batch whose every image was rejected gets its results document here.
      "${module.data_bucket.arn}/${local.transform_results_prefix}*",
    ]
  }
}

data "aws_iam_policy_document" "start_transform_job" {
  source_policy_documents = [data.aws_iam_policy_document.publish_alerts.json]
  # Only the project's job names ("Actions, resources, and condition keys for Amazon
  # SageMaker": CreateTransformJob's resource is transform-job; AddTags for its Tags).
  statement {
    sid       = "CreateTransformJobs"
    actions   = ["sagemaker:CreateTransformJob", "sagemaker:AddTags"]
    resources = [local.transform_job_arn_pattern]
  }
  # The job runs with the model's execution role. PassRole of that role only, and only to
  # SageMaker (iam:PassedToService, as in "IAM policies for Amazon SageMaker", Step
  # Functions developer guide).
  statement {
    sid       = "PassSageMakerRole"
    actions   = ["iam:PassRole"]
    resources = [aws_iam_role.sagemaker.arn]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["sagemaker.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "evaluate_transform_output" {
  source_policy_documents = [data.aws_iam_policy_document.publish_alerts.json]
  statement {
    sid     = "ReadTransformFiles"
    actions = ["s3:GetObject"]
    resources = [
      "${module.data_bucket.arn}/${local.transform_input_prefix}*",
      "${module.data_bucket.arn}/${local.transform_output_prefix}*",
      "${module.data_bucket.arn}/${local.transform_batches_prefix}*",
      "${module.data_bucket.arn}/${local.transform_part_results_prefix}*",
    ]
  }
  statement {
    sid       = "ListTransformFiles"
    actions   = ["s3:ListBucket"]
    resources = [module.data_bucket.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.transform_input_prefix}*", "${local.transform_part_results_prefix}*"]
    }
  }
  statement {
    sid     = "WriteResults"
    actions = ["s3:PutObject"]
    resources = [
      "${module.data_bucket.arn}/${local.transform_part_results_prefix}*",
      "${module.data_bucket.arn}/${local.transform_results_prefix}*",
    ]
  }
}

# What the transform job itself reads and writes, with the SageMaker execution role.
resource "aws_iam_role_policy" "sagemaker_transform" {
  name   = "${var.project_name}-sagemaker-transform"
  role   = aws_iam_role.sagemaker.id
  policy = data.aws_iam_policy_document.sagemaker_transform.json
}

data "aws_iam_policy_document" "sagemaker_transform" {
  statement {
    sid       = "ReadTransformInput"
    actions   = ["s3:GetObject"]
    resources = ["${module.data_bucket.arn}/${local.transform_input_prefix}*"]
  }
  statement {
    sid       = "ListTransformInput"
    actions   = ["s3:ListBucket"]
    resources = [module.data_bucket.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.transform_input_prefix}*"]
    }
  }
  statement {
    sid       = "WriteTransformOutput"
    actions   = ["s3:PutObject"]
    resources = ["${module.data_bucket.arn}/${local.transform_output_prefix}*"]
  }
}

resource "aws_lambda_permission" "transform_input_notification" {
  statement_id   = "AllowDataBucketTransformInputNotifications"
  action         = "lambda:InvokeFunction"
  function_name  = module.step_lambda["start_transform_job"].function_name
  principal      = "s3.amazonaws.com"
  source_arn     = module.data_bucket.arn
  source_account = local.account_id
}

resource "aws_lambda_permission" "transform_output_notification" {
  statement_id   = "AllowDataBucketTransformOutputNotifications"
  action         = "lambda:InvokeFunction"
  function_name  = module.step_lambda["evaluate_transform_output"].function_name
  principal      = "s3.amazonaws.com"
  source_arn     = module.data_bucket.arn
  source_account = local.account_id
}

# A job that fails or is stopped writes no .out for the part it failed on: this rule
# alerts, and evaluate_transform_output records the part's images as errors and the
# batch as failed ("SageMaker Transform Job State Change", Events that Amazon SageMaker
# sends to Amazon EventBridge).
resource "aws_cloudwatch_event_rule" "transform_job_failed" {
  name        = "${var.project_name}-transform-job-failed"
  description = "A Batch Transform job of the offline path failed or was stopped."
  event_pattern = jsonencode({
    source        = ["aws.sagemaker"]
    "detail-type" = ["SageMaker Transform Job State Change"]
    detail = {
      TransformJobStatus = ["Failed", "Stopped"]
      TransformJobName   = [{ prefix = "${local.transform_job_prefix}-" }]
    }
  })
}

resource "aws_cloudwatch_event_target" "transform_job_failed_alert" {
  rule      = aws_cloudwatch_event_rule.transform_job_failed.name
  target_id = "alert-topic"
  arn       = aws_sns_topic.alerts.arn

  # The alert message contract, as execution_failed's (alerts.tf).
  input_transformer {
    input_paths = {
      job    = "$.detail.TransformJobName"
      status = "$.detail.TransformJobStatus"
      reason = "$.detail.FailureReason"
      input  = "$.detail.TransformInput.DataSource.S3DataSource.S3Uri"
    }
    input_template = <<-JSON
      {"source": "sagemaker-transform", "error_type": "TransformJob<status>", "message": "transform job <job> ended <status>: <reason>", "request_id": <job>, "input": {"s3_uri": <input>}}
    JSON
  }
}

resource "aws_cloudwatch_event_target" "transform_job_failed_record" {
  rule      = aws_cloudwatch_event_rule.transform_job_failed.name
  target_id = "record-failed-batch"
  arn       = module.step_lambda["evaluate_transform_output"].arn
}

resource "aws_lambda_permission" "transform_job_failed_event" {
  statement_id  = "AllowTransformJobFailedRule"
  action        = "lambda:InvokeFunction"
  function_name = module.step_lambda["evaluate_transform_output"].function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.transform_job_failed.arn
}

output "model_name" {
  description = "The endpoint's SageMaker model, which the transform jobs run; empty before a model."
  value       = local.model_name
}

output "transform_input_s3_uri" {
  description = "Transform input objects (JSON lines) here start a Batch Transform job each."
  value       = "s3://${module.data_bucket.id}/${trimsuffix(local.transform_input_prefix, "/")}"
}

output "transform_results_prefix" {
  description = "Key prefix of the offline path's results documents (<prefix><batch id>.json) in the data bucket."
  value       = local.transform_results_prefix
}
