output "function_name" {
  description = "Function name."
  value       = aws_lambda_function.this.function_name
}

output "arn" {
  description = "Function ARN (unqualified)."
  value       = aws_lambda_function.this.arn
}

output "role_arn" {
  description = "Execution role ARN."
  value       = aws_iam_role.this.arn
}

output "log_group_name" {
  description = "Log group of the function."
  value       = aws_cloudwatch_log_group.this.name
}

output "policy_json" {
  description = "The execution role's policy as applied."
  value       = data.aws_iam_policy_document.this.json
}

output "environment" {
  description = "Environment variables as deployed."
  value       = aws_lambda_function.this.environment[0].variables
}

output "log_group_arn" {
  description = "Log group ARN of the function."
  value       = aws_cloudwatch_log_group.this.arn
}
