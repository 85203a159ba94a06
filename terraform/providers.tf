locals {
  # The local cloud (moto server) answers every service on one URL.
  local_cloud = var.aws_endpoint_url != null
}

provider "aws" {
  region = var.region

  # The local cloud accepts any credentials; AWS uses the usual credential chain.
  access_key                  = local.local_cloud ? "test" : null
  secret_key                  = local.local_cloud ? "test" : null
  skip_credentials_validation = local.local_cloud
  skip_metadata_api_check     = local.local_cloud
  skip_region_validation      = local.local_cloud
  # moto answers sts:GetCallerIdentity, so account ids come from the target either way.
  skip_requesting_account_id = false
  s3_use_path_style          = local.local_cloud
  # An API the local cloud lacks should fail at once, not after minutes of retries.
  max_retries = local.local_cloud ? 2 : null

  dynamic "endpoints" {
    for_each = local.local_cloud ? [var.aws_endpoint_url] : []
    content {
      cloudwatch = endpoints.value
      events     = endpoints.value
      iam        = endpoints.value
      kms        = endpoints.value
      lambda     = endpoints.value
      logs       = endpoints.value
      s3         = endpoints.value
      sagemaker  = endpoints.value
      sfn        = endpoints.value
      sns        = endpoints.value
      sqs        = endpoints.value
      sts        = endpoints.value
    }
  }

  default_tags {
    tags = local.tags
  }
}
