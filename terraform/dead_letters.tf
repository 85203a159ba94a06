# start_batch_workflow is invoked asynchronously: S3 queues each inbox/ upload's event
# with Lambda. On a function error Lambda retries it twice (one minute, then two minutes
# later) and then discards it ("How Lambda handles errors and retries with asynchronous
# invocation", Lambda developer guide). The function alerts on each failed attempt; the
# on-failure destination keeps the event itself, with the error, so it can be re-driven
# (terraform/README.md, "Failed inbox events").

variable "inbox_event_max_age_s" {
  description = "Seconds Lambda keeps an inbox/ upload's event in start_batch_workflow's asynchronous queue (retries included) before it goes to the dead-letter queue."
  type        = number
  default     = 3600

  # PutFunctionEventInvokeConfig, MaximumEventAgeInSeconds: 60 to 21600.
  validation {
    condition     = var.inbox_event_max_age_s >= 60 && var.inbox_event_max_age_s <= 21600 && floor(var.inbox_event_max_age_s) == var.inbox_event_max_age_s
    error_message = "inbox_event_max_age_s must be a whole number of seconds from 60 to 21600 (Lambda's MaximumEventAgeInSeconds)."
  }
}

variable "dead_letter_retention_days" {
  description = "Days a failed inbox/ event's record stays in the dead-letter queue (SQS keeps messages 14 days at most)."
  type        = number
  default     = 14

  validation {
    condition     = var.dead_letter_retention_days >= 1 && var.dead_letter_retention_days <= 14 && floor(var.dead_letter_retention_days) == var.dead_letter_retention_days
    error_message = "dead_letter_retention_days must be a whole number from 1 to 14 (SQS MessageRetentionPeriod is 60 s to 14 days)."
  }
}

# A standard queue: Lambda destinations do not support FIFO queues. Encrypted with the
# project's key; the function's role already holds kms:GenerateDataKey and kms:Decrypt on
# it (publish_alerts, "UseProjectKey"), which sending to an SSE-KMS queue needs, and the
# key policy lets IAM policies grant that ("AccountAdministersKey").
resource "aws_sqs_queue" "inbox_dead_letters" {
  name                              = "${var.project_name}-inbox-dead-letters"
  kms_master_key_id                 = aws_kms_key.main.arn
  kms_data_key_reuse_period_seconds = 300
  message_retention_seconds         = var.dead_letter_retention_days * 86400
}

resource "aws_lambda_function_event_invoke_config" "start_batch_workflow" {
  function_name                = module.trigger_lambda["start_batch_workflow"].function_name
  maximum_retry_attempts       = 2
  maximum_event_age_in_seconds = var.inbox_event_max_age_s

  # Lambda sends the invocation record (requestContext, requestPayload = the S3 event,
  # responseContext, responsePayload = the error) with the function's execution role.
  destination_config {
    on_failure {
      destination = aws_sqs_queue.inbox_dead_letters.arn
    }
  }
}

# Records a failed event only: alert as soon as one waits in the queue.
resource "aws_cloudwatch_metric_alarm" "inbox_dead_letters" {
  alarm_name          = "${aws_sqs_queue.inbox_dead_letters.name}-not-empty"
  alarm_description   = "An inbox/ upload's event failed every attempt of start_batch_workflow and waits in ${aws_sqs_queue.inbox_dead_letters.name}: read it and re-drive it (terraform/README.md, Failed inbox events)."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.inbox_dead_letters.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]
}

output "inbox_dead_letter_queue_url" {
  description = "SQS queue holding the invocation record of every inbox/ event start_batch_workflow failed on (make redrive)."
  value       = aws_sqs_queue.inbox_dead_letters.url
}

output "inbox_dead_letter_queue_arn" {
  description = "ARN of the inbox/ dead-letter queue (start_batch_workflow's on-failure destination)."
  value       = aws_sqs_queue.inbox_dead_letters.arn
}
