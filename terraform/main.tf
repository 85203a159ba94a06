data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name

  tags = merge(var.tags, {
    Project   = var.project_name
    ManagedBy = "terraform"
    Workspace = terraform.workspace
  })

  data_bucket_name      = coalesce(var.data_bucket_name, "${var.project_name}-data-${local.account_id}-${var.region}")
  artifacts_bucket_name = coalesce(var.artifacts_bucket_name, "${var.project_name}-artifacts-${local.account_id}-${var.region}")

  # Prefixes every part agrees on (CONTRACTS.md, "Data bucket prefixes"), each ending in "/".
  training_data_prefix = "cifar/"
  inbox_prefix         = "inbox/"
  results_prefix       = "results/"
  map_results_prefix   = "map-results/"
  models_prefix        = "models/"
  data_capture_prefix  = "data-capture/"

  endpoint_name = "${var.project_name}-endpoint"
  variant_name  = "AllTraffic"
}
