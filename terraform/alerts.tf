resource "aws_sns_topic" "alerts" {
  name              = "${var.project_name}-alerts"
  kms_master_key_id = aws_kms_key.main.arn
}

resource "aws_sns_topic_subscription" "alert_email" {
  count     = var.alert_email == null ? 0 : 1
  topic_arn = aws_sns_topic.alerts.arn
  protocol  = "email"
  endpoint  = var.alert_email
}

data "aws_iam_policy_document" "alert_topic" {
  statement {
    sid     = "AccountManagesTopic"
    actions = ["sns:GetTopicAttributes", "sns:SetTopicAttributes", "sns:Subscribe", "sns:Publish", "sns:ListSubscriptionsByTopic"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
    resources = [aws_sns_topic.alerts.arn]
  }
  statement {
    sid     = "ExecutionFailureRulePublishes"
    actions = ["sns:Publish"]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    resources = [aws_sns_topic.alerts.arn]
    # No Condition: "You can't use Condition blocks in Amazon SNS topic policies for
    # EventBridge" (EventBridge user guide, Using resource-based policies, Amazon SNS
    # permissions).
  }
  statement {
    sid     = "AlarmsPublish"
    actions = ["sns:Publish"]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
    resources = [aws_sns_topic.alerts.arn]
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_sns_topic_policy" "alerts" {
  arn    = aws_sns_topic.alerts.arn
  policy = data.aws_iam_policy_document.alert_topic.json
}

# Catches what the state machines' own Catch cannot: timeouts, aborts, and failures
# outside a Task (for example invalid input to the batch workflow).
resource "aws_cloudwatch_event_rule" "execution_failed" {
  name        = "${var.project_name}-execution-failed"
  description = "A workflow execution failed, timed out or was aborted."
  event_pattern = jsonencode({
    source        = ["aws.states"]
    "detail-type" = ["Step Functions Execution Status Change"]
    detail = {
      status          = ["FAILED", "TIMED_OUT", "ABORTED"]
      stateMachineArn = [module.single_image_workflow.arn, module.batch_workflow.arn]
    }
  })
}

resource "aws_cloudwatch_event_target" "execution_failed_alert" {
  rule      = aws_cloudwatch_event_rule.execution_failed.name
  target_id = "alert-topic"
  arn       = aws_sns_topic.alerts.arn

  # The alert message contract: source, error type, message, execution id, input reference.
  input_transformer {
    input_paths = {
      state_machine = "$.detail.stateMachineArn"
      status        = "$.detail.status"
      execution     = "$.detail.executionArn"
      name          = "$.detail.name"
    }
    input_template = <<-JSON
      {"source": <state_machine>, "error_type": <status>, "message": "workflow execution ended with status <status>", "execution_id": <execution>, "input": {"execution_name": <name>}}
    JSON
  }
}

resource "aws_cloudwatch_metric_alarm" "lambda_errors" {
  for_each = local.lambda

  alarm_name          = "${each.value.function_name}-errors"
  alarm_description   = "The ${each.key} Lambda function reported errors."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = each.value.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]
}

resource "aws_cloudwatch_metric_alarm" "endpoint_5xx" {
  count = length(module.endpoint)

  alarm_name          = "${local.endpoint_name}-5xx-errors"
  alarm_description   = "The endpoint answered with server errors."
  namespace           = "AWS/SageMaker"
  metric_name         = "Invocation5XXErrors"
  dimensions          = { EndpointName = module.endpoint[0].endpoint_name, VariantName = local.variant_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]
}

resource "aws_cloudwatch_metric_alarm" "endpoint_latency" {
  count = length(module.endpoint)

  alarm_name          = "${local.endpoint_name}-model-latency"
  alarm_description   = "The model takes longer than ${var.endpoint_latency_alarm_ms} ms on average."
  namespace           = "AWS/SageMaker"
  metric_name         = "ModelLatency"
  dimensions          = { EndpointName = module.endpoint[0].endpoint_name, VariantName = local.variant_name }
  statistic           = "Average"
  period              = 300
  evaluation_periods  = 3
  datapoints_to_alarm = 2
  # ModelLatency is reported in microseconds.
  threshold           = var.endpoint_latency_alarm_ms * 1000
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]
}

# Every Lambda and state machine may alert; the topic is encrypted, so publishing
# needs the key too. Their policies include this document.
data "aws_iam_policy_document" "publish_alerts" {
  statement {
    sid       = "PublishAlerts"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alerts.arn]
  }
  statement {
    sid       = "UseProjectKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.main.arn]
  }
}
