output "endpoint_name" {
  description = "Endpoint name."
  value       = aws_sagemaker_endpoint.this.name
}

output "endpoint_arn" {
  description = "Endpoint ARN."
  value       = aws_sagemaker_endpoint.this.arn
}

output "endpoint_config_name" {
  description = "Endpoint configuration name."
  value       = aws_sagemaker_endpoint_configuration.this.name
}

output "model_name" {
  description = "Model name."
  value       = aws_sagemaker_model.this.name
}

output "data_capture_config" {
  description = "The endpoint configuration's data capture settings."
  value       = aws_sagemaker_endpoint_configuration.this.data_capture_config[0]
}

output "production_variant" {
  description = "The endpoint configuration's production variant."
  value       = aws_sagemaker_endpoint_configuration.this.production_variants[0]
}

output "primary_container" {
  description = "The model's container (image, artifact, environment)."
  value       = aws_sagemaker_model.this.primary_container[0]
}
