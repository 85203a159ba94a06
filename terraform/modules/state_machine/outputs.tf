output "arn" {
  description = "State machine ARN."
  value       = aws_sfn_state_machine.this.arn
}

output "name" {
  description = "State machine name."
  value       = aws_sfn_state_machine.this.name
}

output "role_arn" {
  description = "Execution role ARN."
  value       = aws_iam_role.this.arn
}

output "policy_json" {
  description = "The role's main policy as applied."
  value       = data.aws_iam_policy_document.this.json
}

output "own_executions_policy_json" {
  description = "The role's policy for child executions, or null."
  value       = var.may_start_own_executions ? data.aws_iam_policy_document.own_executions[0].json : null
}
