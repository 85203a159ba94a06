locals {
  # A new model or capture setting gets new names, so the endpoint switches over to
  # resources that already exist (create_before_destroy) instead of losing them.
  model_suffix  = substr(sha256(jsonencode([var.image_uri, var.model_data_url, var.environment, var.network_isolation])), 0, 10)
  config_suffix = substr(sha256(jsonencode([local.model_suffix, var.instance_type, var.instance_count, var.data_capture_destination, var.data_capture_sampling_percentage, var.data_capture_json_content_types])), 0, 10)
}

resource "aws_sagemaker_model" "this" {
  name                     = "${var.name_prefix}-model-${local.model_suffix}"
  execution_role_arn       = var.execution_role_arn
  enable_network_isolation = var.network_isolation

  primary_container {
    image          = var.image_uri
    model_data_url = var.model_data_url
    environment    = var.environment
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_sagemaker_endpoint_configuration" "this" {
  name        = "${var.name_prefix}-config-${local.config_suffix}"
  kms_key_arn = var.kms_key_arn

  production_variants {
    variant_name           = var.variant_name
    model_name             = aws_sagemaker_model.this.name
    instance_type          = var.instance_type
    initial_instance_count = var.instance_count
  }

  data_capture_config {
    enable_capture              = true
    initial_sampling_percentage = var.data_capture_sampling_percentage
    destination_s3_uri          = var.data_capture_destination
    kms_key_id                  = var.kms_key_arn

    capture_options {
      capture_mode = "Input"
    }
    capture_options {
      capture_mode = "Output"
    }

    capture_content_type_header {
      json_content_types = var.data_capture_json_content_types
    }
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_sagemaker_endpoint" "this" {
  name                 = var.endpoint_name
  endpoint_config_name = aws_sagemaker_endpoint_configuration.this.name
}
