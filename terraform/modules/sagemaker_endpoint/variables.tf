variable "name_prefix" {
  description = "Prefix of the model and endpoint configuration names (a hash of their settings is appended)."
  type        = string
}

variable "endpoint_name" {
  description = "Endpoint name (stable across model updates)."
  type        = string
}

variable "variant_name" {
  description = "Production variant name."
  type        = string
  default     = "AllTraffic"
}

variable "execution_role_arn" {
  description = "Role SageMaker assumes to pull the image, read the model and write captured data."
  type        = string
}

variable "image_uri" {
  description = "Serving container image."
  type        = string
}

variable "model_data_url" {
  description = "S3 URI of model.tar.gz."
  type        = string
}

variable "environment" {
  description = "Environment of the serving container."
  type        = map(string)
  default     = {}
}

variable "network_isolation" {
  description = "Run the container without network access."
  type        = bool
  default     = true
}

variable "instance_type" {
  description = "Instance type."
  type        = string
}

variable "instance_count" {
  description = "Instance count."
  type        = number
}

variable "kms_key_arn" {
  description = "CMK for the instance volume and the captured data."
  type        = string
}

variable "data_capture_destination" {
  description = "S3 URI the endpoint writes captured requests and responses to."
  type        = string
}

variable "data_capture_sampling_percentage" {
  description = "Share of requests captured, 0-100."
  type        = number
}

variable "data_capture_json_content_types" {
  description = "Content types captured as JSON text; anything else (images) is captured base64-encoded."
  type        = list(string)
  default     = ["application/json", "application/jsonlines"]
}
