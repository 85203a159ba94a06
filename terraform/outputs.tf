output "region" {
  description = "Region of the deployment."
  value       = local.region
}

output "data_bucket" {
  description = "Data bucket: cifar/ (ETL), inbox/ (starts the batch workflow), inputs/ (make classify), results/ (batch results)."
  value       = module.data_bucket.id
}

output "artifacts_bucket" {
  description = "Artifacts bucket: models/ and data-capture/."
  value       = module.artifacts_bucket.id
}

output "data_s3_uri" {
  description = "Where make etl uploads the dataset."
  value       = "s3://${module.data_bucket.id}/${trimsuffix(local.training_data_prefix, "/")}"
}

output "inbox_s3_uri" {
  description = "Images uploaded here are classified by the batch workflow."
  value       = "s3://${module.data_bucket.id}/${trimsuffix(local.inbox_prefix, "/")}"
}

output "inputs_s3_uri" {
  description = "Where make classify uploads local images before starting the workflow."
  value       = "s3://${module.data_bucket.id}/inputs"
}

output "results_s3_uri" {
  description = "Where batch results are written."
  value       = "s3://${module.data_bucket.id}/${trimsuffix(local.results_prefix, "/")}"
}

output "model_artifacts_s3_uri" {
  description = "Where make train writes model.tar.gz."
  value       = local.model_artifacts_s3_uri
}

output "data_capture_s3_uri" {
  description = "Destination of the endpoint's data capture (records under <endpoint>/<variant>/yyyy/mm/dd/hh/)."
  value       = local.data_capture_s3_uri
}

output "sagemaker_role_arn" {
  description = "Execution role for SageMaker training jobs and the endpoint."
  value       = aws_iam_role.sagemaker.arn
}

output "kms_key_arn" {
  description = "The deployment's KMS key (buckets, alerts, logs, endpoint)."
  value       = aws_kms_key.main.arn
}

output "alert_topic_arn" {
  description = "SNS topic every alert goes to."
  value       = aws_sns_topic.alerts.arn
}

output "single_image_state_machine_arn" {
  description = "Workflow for one image: input {s3_bucket, s3_key}."
  value       = module.single_image_workflow.arn
}

output "batch_state_machine_arn" {
  description = "Workflow for many images: input {images: [...]} or {s3_bucket, s3_prefix}."
  value       = module.batch_workflow.arn
}

output "lambda_function_names" {
  description = "Deployed function name for every entry of lambdas/functions.json."
  value       = { for key, fn in local.lambda : key => fn.function_name }
}

output "endpoint_name" {
  description = "SageMaker endpoint name; null until model_data_url is set."
  value       = one(module.endpoint[*].endpoint_name)
}

output "endpoint_variant_name" {
  description = "Production variant of the endpoint (part of the data capture path)."
  value       = local.variant_name
}

output "serving_image_uri" {
  description = "Image that serves the model."
  value       = local.serving_image_uri
}

output "training_image_uri" {
  description = "Prebuilt training image the SageMaker role may pull."
  value       = data.aws_sagemaker_prebuilt_ecr_image.training.registry_path
}

output "class_names" {
  description = "Class labels in model output order."
  value       = var.class_names
}

output "confidence_threshold" {
  description = "Threshold below which an inference fails (the monitoring report draws it)."
  value       = var.confidence_threshold
}

output "data_capture_sampling_percentage" {
  description = "Share of endpoint requests captured."
  value       = var.data_capture_sampling_percentage
}

output "dashboard_name" {
  description = "CloudWatch dashboard with the endpoint, workflows and Lambdas."
  value       = aws_cloudwatch_dashboard.main.dashboard_name
}
