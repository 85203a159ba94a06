# SageMaker's prebuilt images live in AWS-owned registries that differ per region; the
# provider knows them, so no account id is written here.
data "aws_sagemaker_prebuilt_ecr_image" "serving" {
  repository_name = var.serving_image_repository
  image_tag       = var.serving_image_tag
}

data "aws_sagemaker_prebuilt_ecr_image" "training" {
  repository_name = var.training_image_repository
  image_tag       = var.training_image_tag
}

locals {
  serving_image_uri      = coalesce(var.serving_image_uri, data.aws_sagemaker_prebuilt_ecr_image.serving.registry_path)
  model_artifacts_s3_uri = "s3://${module.artifacts_bucket.id}/${trimsuffix(local.models_prefix, "/")}"
  # SageMaker appends /<endpoint>/<variant>/... to the destination: no trailing "/".
  data_capture_s3_uri = "s3://${module.artifacts_bucket.id}/${trimsuffix(local.data_capture_prefix, "/")}"

  # <account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag> -> the repository's ARN.
  image_repository_arns = distinct([
    for image in [local.serving_image_uri, data.aws_sagemaker_prebuilt_ecr_image.training.registry_path] :
    format("arn:%s:ecr:%s:%s:repository/%s", local.partition,
      regex("^[0-9]{12}\\.dkr\\.ecr\\.([a-z0-9-]+)\\.", image)[0],
      regex("^([0-9]{12})\\.", image)[0],
    regex("^[^/]+/([^:@]+)", image)[0])
  ])
}

data "aws_iam_policy_document" "sagemaker_assume" {
  statement {
    sid     = "SageMakerAssumesRole"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["sagemaker.amazonaws.com"]
    }
  }
}

# One execution role for training jobs (make train) and the endpoint.
resource "aws_iam_role" "sagemaker" {
  name               = "${var.project_name}-sagemaker"
  assume_role_policy = data.aws_iam_policy_document.sagemaker_assume.json
}

data "aws_iam_policy_document" "sagemaker" {
  statement {
    sid       = "ReadTrainingData"
    actions   = ["s3:GetObject"]
    resources = ["${module.data_bucket.arn}/${local.training_data_prefix}*"]
  }
  statement {
    sid       = "ListTrainingData"
    actions   = ["s3:ListBucket"]
    resources = [module.data_bucket.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.training_data_prefix}*"]
    }
  }
  statement {
    sid       = "ReadAndWriteModelArtifacts"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${module.artifacts_bucket.arn}/${local.models_prefix}*"]
  }
  statement {
    sid       = "ListModelArtifacts"
    actions   = ["s3:ListBucket"]
    resources = [module.artifacts_bucket.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.models_prefix}*"]
    }
  }
  # The model the endpoint serves may live outside the artifacts bucket (a model trained
  # elsewhere, the tests' own): the role must read exactly that object, or the endpoint
  # fails with "Could not access model data" (found by the local cloud's IAM, issue 16).
  dynamic "statement" {
    for_each = var.model_data_url == null ? [] : [var.model_data_url]
    content {
      sid       = "ReadDeployedModel"
      actions   = ["s3:GetObject"]
      resources = ["arn:${local.partition}:s3:::${trimprefix(statement.value, "s3://")}"]
    }
  }
  statement {
    sid       = "WriteDataCapture"
    actions   = ["s3:PutObject"]
    resources = ["${module.artifacts_bucket.arn}/${local.data_capture_prefix}*"]
  }
  # The endpoint config names this key for the instance's storage volume and for captured
  # data (SSE-KMS). SageMaker's API reference: a role writing SSE-KMS output with a given
  # key "must include permissions to call kms:Encrypt" (ProductionVariantCoreDumpConfig,
  # the capture config's sibling in CreateEndpointConfig); S3 asks GenerateDataKey to
  # write and Decrypt to read back.
  statement {
    sid       = "UseProjectKey"
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.main.arn]
  }
  # "The SageMaker execution role must have kms:CreateGrant permission in order to encrypt
  # data on the storage volume of the endpoints" (API reference, RecommendationJobInputConfig
  # VolumeKmsKeyId). Only for grants SageMaker makes for its volume: kms:GrantIsForAWSResource
  # ("Controlling access to grants", KMS developer guide). Its own statement, since the
  # condition key exists only on the grant operations.
  statement {
    sid       = "GrantKeyToEndpointVolume"
    actions   = ["kms:CreateGrant"]
    resources = [aws_kms_key.main.arn]
    condition {
      test     = "Bool"
      variable = "kms:GrantIsForAWSResource"
      values   = ["true"]
    }
  }
  statement {
    sid       = "PullImages"
    actions   = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
    resources = local.image_repository_arns
  }
  # ECR issues registry tokens only for "*".
  statement {
    sid       = "GetRegistryToken"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }
  statement {
    sid       = "WriteSageMakerLogs"
    actions   = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"]
    resources = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/sagemaker/*"]
  }
}

resource "aws_iam_role_policy" "sagemaker" {
  name   = "${var.project_name}-sagemaker-permissions"
  role   = aws_iam_role.sagemaker.id
  policy = data.aws_iam_policy_document.sagemaker.json
}

# Created only once make train has recorded a model artifact, so the first apply
# works before any training.
module "endpoint" {
  source = "./modules/sagemaker_endpoint"
  count  = var.model_data_url == null ? 0 : 1

  name_prefix        = var.project_name
  endpoint_name      = local.endpoint_name
  variant_name       = local.variant_name
  execution_role_arn = aws_iam_role.sagemaker.arn
  image_uri          = local.serving_image_uri
  model_data_url     = var.model_data_url
  network_isolation  = var.model_network_isolation
  # The PyTorch serving container runs the artifact's own code/inference.py.
  environment = {
    SAGEMAKER_PROGRAM          = "inference.py"
    SAGEMAKER_SUBMIT_DIRECTORY = "/opt/ml/model/code"
    SAGEMAKER_REGION           = local.region
  }
  instance_type                    = var.endpoint_instance_type
  instance_count                   = var.endpoint_instance_count
  kms_key_arn                      = aws_kms_key.main.arn
  data_capture_destination         = local.data_capture_s3_uri
  data_capture_sampling_percentage = var.data_capture_sampling_percentage

  depends_on = [aws_iam_role_policy.sagemaker]
}
