variable "function_name" {
  description = "Full function name."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,64}$", var.function_name))
    error_message = "function_name must be 1-64 characters of letters, digits, '-' and '_'."
  }
}

variable "description" {
  description = "What the function does."
  type        = string
  default     = ""
}

variable "handler" {
  description = "Handler entry point, for example handler.lambda_handler."
  type        = string
}

variable "runtime" {
  description = "Lambda runtime, for example python3.13."
  type        = string

  # Python runtimes on Amazon Linux 2023 that AWS still supports and this provider knows
  # ("Lambda runtimes", AWS Lambda developer guide: python3.11 and 3.10 deprecated 2026-06-30).
  validation {
    condition     = contains(["python3.12", "python3.13"], var.runtime)
    error_message = "runtime must be python3.12 or python3.13 (AWS deprecated python3.11 and older on 2026-06-30); change it in lambdas/functions.json."
  }
}

variable "memory_mb" {
  description = "Memory in MB."
  type        = number
}

variable "timeout_s" {
  description = "Timeout in seconds."
  type        = number
}

variable "zip_path" {
  description = "Path of the deployment package (written by `make package`)."
  type        = string
}

variable "environment" {
  description = "Environment variables; a null value means the caller knows no value for that name."
  type        = map(string)
  default     = {}
}

variable "policy_json" {
  description = "IAM policy document JSON with what the function's code calls (its own log stream is added here)."
  type        = string

  validation {
    condition     = var.policy_json != null
    error_message = "No IAM policy for this function: add one for every function of lambdas/functions.json in terraform/lambda.tf."
  }
}

variable "log_retention_days" {
  description = "Retention of the function's log group."
  type        = number
}

variable "kms_key_arn" {
  description = "CMK that encrypts the log group."
  type        = string
}
