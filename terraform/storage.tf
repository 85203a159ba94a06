module "data_bucket" {
  source = "./modules/secure_bucket"

  name                    = local.data_bucket_name
  kms_key_arn             = aws_kms_key.main.arn
  force_destroy           = var.force_destroy_buckets
  deny_insecure_transport = var.deny_insecure_transport
  noncurrent_version_days = var.noncurrent_version_retention_days
  expiring_prefixes = [
    { prefix = local.results_prefix, days = var.results_retention_days },
    { prefix = local.map_results_prefix, days = var.results_retention_days },
  ]
}

module "artifacts_bucket" {
  source = "./modules/secure_bucket"

  name                    = local.artifacts_bucket_name
  kms_key_arn             = aws_kms_key.main.arn
  force_destroy           = var.force_destroy_buckets
  deny_insecure_transport = var.deny_insecure_transport
  noncurrent_version_days = var.noncurrent_version_retention_days
  expiring_prefixes = [
    { prefix = local.data_capture_prefix, days = var.capture_retention_days },
  ]
}

# Uploads to inbox/ start the batch workflow through a small Lambda.
resource "aws_lambda_permission" "inbox_notification" {
  statement_id   = "AllowDataBucketInboxNotifications"
  action         = "lambda:InvokeFunction"
  function_name  = module.trigger_lambda["start_batch_workflow"].function_name
  principal      = "s3.amazonaws.com"
  source_arn     = module.data_bucket.arn
  source_account = local.account_id
}

resource "aws_s3_bucket_notification" "inbox" {
  bucket = module.data_bucket.id

  lambda_function {
    id                  = "start-batch-workflow-on-inbox-upload"
    lambda_function_arn = module.trigger_lambda["start_batch_workflow"].arn
    events              = ["s3:ObjectCreated:*"]
    filter_prefix       = local.inbox_prefix
  }

  # The offline path (transform.tf). S3 refuses a configuration whose filters overlap for
  # the same event type; these prefixes are disjoint from inbox/ and from each other.
  lambda_function {
    id                  = "start-transform-job-on-transform-input"
    lambda_function_arn = module.step_lambda["start_transform_job"].arn
    events              = ["s3:ObjectCreated:*"]
    filter_prefix       = local.transform_input_prefix
    filter_suffix       = ".jsonl"
  }

  lambda_function {
    id                  = "evaluate-transform-output"
    lambda_function_arn = module.step_lambda["evaluate_transform_output"].arn
    events              = ["s3:ObjectCreated:*"]
    filter_prefix       = local.transform_output_prefix
    filter_suffix       = ".out"
  }

  depends_on = [
    aws_lambda_permission.inbox_notification,
    aws_lambda_permission.transform_input_notification,
    aws_lambda_permission.transform_output_notification,
  ]
}
