variable "project_name" {
  description = "Prefix of every resource name. Lowercase letters, digits and hyphens, so it is valid in bucket, function and state machine names."
  type        = string
  default     = "scones"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,18}[a-z0-9]$", var.project_name))
    error_message = "project_name must be 3-20 characters of a-z, 0-9 and '-', starting with a letter and not ending with '-'."
  }
}

variable "region" {
  description = "AWS region to deploy to (the local cloud accepts any)."
  type        = string
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must look like an AWS region, for example us-east-1."
  }
}

variable "aws_endpoint_url" {
  description = "URL of the local cloud (moto server) that answers every AWS API, or null for AWS itself."
  type        = string
  default     = null

  validation {
    condition     = var.aws_endpoint_url == null || can(regex("^https?://[^/\\s]+/?$", var.aws_endpoint_url))
    error_message = "aws_endpoint_url must be null or an http(s) URL with no path, for example http://127.0.0.1:4566."
  }
}

variable "tags" {
  description = "Tags added to every resource (merged with the project's own)."
  type        = map(string)
  default     = {}
}

variable "data_bucket_name" {
  description = "Name of the data bucket (datasets, workflow inputs and results); null derives one from the project, account and region."
  type        = string
  default     = null

  validation {
    condition     = var.data_bucket_name == null || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.data_bucket_name))
    error_message = "data_bucket_name must be a valid S3 bucket name: 3-63 characters of a-z, 0-9, '.' and '-'."
  }
}

variable "artifacts_bucket_name" {
  description = "Name of the artifacts bucket (models, data capture); null derives one from the project, account and region."
  type        = string
  default     = null

  validation {
    condition     = var.artifacts_bucket_name == null || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.artifacts_bucket_name))
    error_message = "artifacts_bucket_name must be a valid S3 bucket name: 3-63 characters of a-z, 0-9, '.' and '-'."
  }
}

variable "force_destroy_buckets" {
  description = "Let terraform destroy delete non-empty buckets (for throwaway deployments such as the local cloud)."
  type        = bool
  default     = false
}

variable "deny_insecure_transport" {
  description = "Bucket policies deny requests without TLS. Leave on; the local cloud evaluates the condition as met, so it keeps the same policies as AWS."
  type        = bool
  default     = true
}

variable "input_prefixes" {
  description = "Data bucket prefixes the workflow may read images from."
  type        = list(string)
  default     = ["inputs/", "inbox/", "cifar/"]

  validation {
    condition     = length(var.input_prefixes) > 0 && alltrue([for p in var.input_prefixes : can(regex("^[A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()-]+)*/$", p))])
    error_message = "input_prefixes must be non-empty S3 prefixes ending in '/', with no leading '/'."
  }
}

variable "results_retention_days" {
  description = "Days batch results are kept under results/ in the data bucket."
  type        = number
  default     = 90

  validation {
    condition     = var.results_retention_days >= 1 && floor(var.results_retention_days) == var.results_retention_days
    error_message = "results_retention_days must be a whole number of days, at least 1."
  }
}

variable "capture_retention_days" {
  description = "Days the endpoint's captured inferences are kept under data-capture/ in the artifacts bucket."
  type        = number
  default     = 90

  validation {
    condition     = var.capture_retention_days >= 1 && floor(var.capture_retention_days) == var.capture_retention_days
    error_message = "capture_retention_days must be a whole number of days, at least 1."
  }
}

variable "noncurrent_version_retention_days" {
  description = "Days overwritten or deleted object versions are kept in both buckets."
  type        = number
  default     = 30

  validation {
    condition     = var.noncurrent_version_retention_days >= 1 && floor(var.noncurrent_version_retention_days) == var.noncurrent_version_retention_days
    error_message = "noncurrent_version_retention_days must be a whole number of days, at least 1."
  }
}

variable "lambda_functions_file" {
  description = "The one list of Lambda functions shared with the local cloud; null means lambdas/functions.json in the repository."
  type        = string
  default     = null
}

variable "lambda_artifacts_dir" {
  description = "Directory holding <name>.zip for every function (written by `make package`); null means build/lambdas in the repository."
  type        = string
  default     = null
}

variable "log_retention_days" {
  description = "Retention of the Lambda and state machine log groups, in days (a value CloudWatch Logs accepts)."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of the values CloudWatch Logs accepts: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653."
  }
}

variable "class_names" {
  description = "Class labels in the model's output order (index 0 first)."
  type        = list(string)
  default     = ["bicycle", "motorcycle"]

  validation {
    condition     = length(var.class_names) >= 2 && length(distinct(var.class_names)) == length(var.class_names) && alltrue([for c in var.class_names : can(regex("^[a-z0-9_]+$", c))])
    error_message = "class_names must hold at least two distinct labels of a-z, 0-9 and '_' (they travel comma-separated)."
  }
}

variable "confidence_threshold" {
  description = "Minimum probability of the top class for an inference to pass; in (0, 1]."
  type        = number
  default     = 0.93

  validation {
    condition     = var.confidence_threshold > 0 && var.confidence_threshold <= 1
    error_message = "confidence_threshold must be in (0, 1]."
  }
}

variable "max_image_bytes" {
  description = "Largest image serialize accepts, in bytes; larger ones fail as UnsupportedImageError."
  type        = number
  default     = 5242880

  validation {
    # Every image ends up in one InvokeEndpoint request, whose body AWS caps at 6 MiB
    # (InvokeEndpoint API reference: Body, maximum length 6291456).
    condition     = var.max_image_bytes >= 1024 && var.max_image_bytes <= 6291456 && floor(var.max_image_bytes) == var.max_image_bytes
    error_message = "max_image_bytes must be a whole number between 1024 and 6291456 (6 MiB, the largest request body InvokeEndpoint accepts)."
  }
}

variable "batch_max_concurrency" {
  description = "How many images of a batch are classified at once (0 lets Step Functions decide)."
  type        = number
  default     = 10

  validation {
    condition     = var.batch_max_concurrency >= 0 && var.batch_max_concurrency <= 1000 && floor(var.batch_max_concurrency) == var.batch_max_concurrency
    error_message = "batch_max_concurrency must be a whole number from 0 to 1000."
  }
}

variable "model_data_url" {
  description = "S3 URI of the trained model.tar.gz (written by `make train`); null until a model exists, and then no endpoint is created."
  type        = string
  default     = null

  validation {
    condition     = var.model_data_url == null || can(regex("^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.+\\.tar\\.gz$", var.model_data_url))
    error_message = "model_data_url must be null or an S3 URI of a .tar.gz, for example s3://bucket/models/run/model.tar.gz."
  }
}

variable "serving_image_uri" {
  description = "Container image that serves the model; null uses SageMaker's prebuilt PyTorch inference image (serving_image_repository:serving_image_tag)."
  type        = string
  default     = null

  validation {
    condition     = var.serving_image_uri == null || can(regex("^[0-9]{12}\\.dkr\\.ecr\\.[a-z0-9-]+\\.amazonaws\\.com(\\.cn)?/[a-z0-9._/-]+[:@].+$", var.serving_image_uri))
    error_message = "serving_image_uri must be null or an ECR image URI: <account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag>."
  }
}

variable "serving_image_repository" {
  description = "Repository of the prebuilt SageMaker serving image used when serving_image_uri is null."
  type        = string
  default     = "pytorch-inference"
}

variable "serving_image_tag" {
  description = "Tag of the prebuilt serving image (the PyTorch CPU inference container that runs the artifact's code/inference.py)."
  type        = string
  default     = "2.5.1-cpu-py311"
}

variable "model_network_isolation" {
  description = "Run the serving container without network access (the artifact vendors what code/inference.py needs)."
  type        = bool
  default     = true
}

variable "endpoint_instance_type" {
  description = "Instance type of the endpoint's production variant."
  type        = string
  default     = "ml.m5.large"

  validation {
    condition     = can(regex("^ml\\.[a-z0-9]+\\.[a-z0-9]+$", var.endpoint_instance_type))
    error_message = "endpoint_instance_type must be a SageMaker instance type such as ml.m5.large."
  }
}

variable "endpoint_instance_count" {
  description = "Instances behind the endpoint."
  type        = number
  default     = 1

  validation {
    condition     = var.endpoint_instance_count >= 1 && floor(var.endpoint_instance_count) == var.endpoint_instance_count
    error_message = "endpoint_instance_count must be a whole number, at least 1."
  }
}

variable "data_capture_sampling_percentage" {
  description = "Share of endpoint requests whose input and output are captured to S3, 0-100."
  type        = number
  default     = 100

  validation {
    condition     = var.data_capture_sampling_percentage >= 0 && var.data_capture_sampling_percentage <= 100 && floor(var.data_capture_sampling_percentage) == var.data_capture_sampling_percentage
    error_message = "data_capture_sampling_percentage must be a whole number from 0 to 100."
  }
}

variable "alert_email" {
  description = "E-mail address subscribed to the alert topic (AWS asks it to confirm); null for none."
  type        = string
  default     = null

  validation {
    condition     = var.alert_email == null || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alert_email))
    error_message = "alert_email must be null or an e-mail address."
  }
}

variable "endpoint_latency_alarm_ms" {
  description = "Average model latency, in milliseconds over 5 minutes, above which the latency alarm fires."
  type        = number
  default     = 500

  validation {
    condition     = var.endpoint_latency_alarm_ms > 0
    error_message = "endpoint_latency_alarm_ms must be positive."
  }
}

variable "training_image_repository" {
  description = "Repository of the prebuilt SageMaker training image (make train TARGET=aws); the SageMaker role may pull from it."
  type        = string
  default     = "pytorch-training"
}

variable "training_image_tag" {
  description = "Tag of the prebuilt training image."
  type        = string
  default     = "2.5.1-cpu-py311"
}
