# Variable validations: a wrong value fails at plan, not late in AWS. A mocked
# provider is enough here, since validation runs before any resource is planned.
#
#   terraform -chdir=terraform test -filter=tests/variables.tftest.hcl

mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_region" {
    defaults = { name = "us-east-1" }
  }
  mock_data "aws_sagemaker_prebuilt_ecr_image" {
    defaults = {
      registry_id   = "763104351884"
      registry_path = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.5.1-cpu-py311"
    }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
}

# The boundaries themselves are valid: without this run, a validation that rejects
# everything would pass every case below.
run "boundary_values_are_accepted" {
  command = plan

  variables {
    confidence_threshold             = 1
    data_capture_sampling_percentage = 0
    class_names                      = ["bicycle", "motorcycle", "scooter_2"]
    model_data_url                   = "s3://scones-artifacts-123456789012-us-east-1/models/run-1/model.tar.gz"
    aws_endpoint_url                 = "http://127.0.0.1:4566"
    alert_email                      = "ops@example.com"
    log_retention_days               = 1
    serving_image_uri                = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.5.1-cpu-py311"
  }
}

run "confidence_threshold_of_zero_is_rejected" {
  command = plan

  variables {
    confidence_threshold = 0
  }

  expect_failures = [var.confidence_threshold]
}

run "confidence_threshold_above_one_is_rejected" {
  command = plan

  variables {
    confidence_threshold = 1.01
  }

  expect_failures = [var.confidence_threshold]
}

run "sampling_percentage_above_100_is_rejected" {
  command = plan

  variables {
    data_capture_sampling_percentage = 101
  }

  expect_failures = [var.data_capture_sampling_percentage]
}

run "negative_sampling_percentage_is_rejected" {
  command = plan

  variables {
    data_capture_sampling_percentage = -1
  }

  expect_failures = [var.data_capture_sampling_percentage]
}

run "fractional_sampling_percentage_is_rejected" {
  command = plan

  variables {
    data_capture_sampling_percentage = 12.5
  }

  expect_failures = [var.data_capture_sampling_percentage]
}

run "project_name_aws_would_refuse_is_rejected" {
  command = plan

  variables {
    project_name = "Scones_Unlimited"
  }

  expect_failures = [var.project_name]
}

run "bucket_name_aws_would_refuse_is_rejected" {
  command = plan

  variables {
    data_bucket_name = "Bad_Bucket"
  }

  expect_failures = [var.data_bucket_name]
}

run "artifacts_bucket_name_aws_would_refuse_is_rejected" {
  command = plan

  variables {
    artifacts_bucket_name = "ab"
  }

  expect_failures = [var.artifacts_bucket_name]
}

run "model_data_url_outside_s3_is_rejected" {
  command = plan

  variables {
    model_data_url = "https://example.com/model.tar.gz"
  }

  expect_failures = [var.model_data_url]
}

run "model_data_url_not_a_tarball_is_rejected" {
  command = plan

  variables {
    model_data_url = "s3://bucket/models/model.zip"
  }

  expect_failures = [var.model_data_url]
}

run "serving_image_outside_ecr_is_rejected" {
  command = plan

  variables {
    serving_image_uri = "nginx:latest"
  }

  expect_failures = [var.serving_image_uri]
}

run "endpoint_url_without_scheme_is_rejected" {
  command = plan

  variables {
    aws_endpoint_url = "127.0.0.1:4566"
  }

  expect_failures = [var.aws_endpoint_url]
}

run "unknown_region_format_is_rejected" {
  command = plan

  variables {
    region = "mars"
  }

  expect_failures = [var.region]
}

run "malformed_alert_email_is_rejected" {
  command = plan

  variables {
    alert_email = "ops-at-example.com"
  }

  expect_failures = [var.alert_email]
}

run "log_retention_cloudwatch_refuses_is_rejected" {
  command = plan

  variables {
    log_retention_days = 2
  }

  expect_failures = [var.log_retention_days]
}

run "single_class_is_rejected" {
  command = plan

  variables {
    class_names = ["bicycle"]
  }

  expect_failures = [var.class_names]
}

run "class_name_with_comma_is_rejected" {
  command = plan

  variables {
    class_names = ["bicycle,red", "motorcycle"]
  }

  expect_failures = [var.class_names]
}

run "duplicate_class_names_are_rejected" {
  command = plan

  variables {
    class_names = ["bicycle", "bicycle"]
  }

  expect_failures = [var.class_names]
}

run "tiny_max_image_bytes_is_rejected" {
  command = plan

  variables {
    max_image_bytes = 0
  }

  expect_failures = [var.max_image_bytes]
}

# InvokeEndpoint API reference: the request Body is at most 6291456 bytes, so a larger
# image would pass serialize and fail at classify.
run "aws_rule_max_image_bytes_fits_one_invoke_endpoint_request" {
  command = plan

  variables {
    max_image_bytes = 6291457
  }

  expect_failures = [var.max_image_bytes]
}

run "endpoint_instance_type_without_ml_prefix_is_rejected" {
  command = plan

  variables {
    endpoint_instance_type = "m5.large"
  }

  expect_failures = [var.endpoint_instance_type]
}

run "zero_endpoint_instances_is_rejected" {
  command = plan

  variables {
    endpoint_instance_count = 0
  }

  expect_failures = [var.endpoint_instance_count]
}

run "input_prefix_without_trailing_slash_is_rejected" {
  command = plan

  variables {
    input_prefixes = ["inputs"]
  }

  expect_failures = [var.input_prefixes]
}
