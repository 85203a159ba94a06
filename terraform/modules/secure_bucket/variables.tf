variable "name" {
  description = "Bucket name."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.name))
    error_message = "name must be a valid S3 bucket name."
  }
}

variable "kms_key_arn" {
  description = "Customer managed KMS key for default encryption (SSE-KMS)."
  type        = string
}

variable "force_destroy" {
  description = "Allow destroying the bucket while it still holds objects."
  type        = bool
  default     = false
}

variable "expiring_prefixes" {
  description = "Prefixes whose objects expire, with their age in days."
  type = list(object({
    prefix = string
    days   = number
  }))
  default = []
}

variable "noncurrent_version_days" {
  description = "Days overwritten or deleted versions are kept."
  type        = number
  default     = 30
}

variable "deny_insecure_transport" {
  description = "Add the bucket policy statement that denies requests without TLS."
  type        = bool
  default     = true
}
