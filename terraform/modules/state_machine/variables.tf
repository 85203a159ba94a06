variable "name" {
  description = "State machine name."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,80}$", var.name))
    error_message = "name must be 1-80 characters of letters, digits, '-' and '_'."
  }
}

variable "definition" {
  description = "Rendered ASL definition (JSON)."
  type        = string

  validation {
    condition     = can(jsondecode(var.definition).StartAt)
    error_message = "definition must be JSON with a StartAt."
  }
}

variable "policy_json" {
  description = "IAM policy document JSON with what the definition's tasks call (log delivery is added here)."
  type        = string
}

variable "may_start_own_executions" {
  description = "Grant the role starting and stopping executions of this state machine (a Distributed Map runs its items as child executions)."
  type        = bool
  default     = false
}

variable "log_retention_days" {
  description = "Retention of the execution log group."
  type        = number
}

variable "kms_key_arn" {
  description = "CMK that encrypts the log group."
  type        = string
}
