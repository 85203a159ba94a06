data "aws_iam_policy_document" "assume" {
  statement {
    sid     = "StepFunctionsAssumesRole"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["states.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "this" {
  name               = "${var.name}-sfn"
  assume_role_policy = data.aws_iam_policy_document.assume.json
}

resource "aws_cloudwatch_log_group" "this" {
  # The /aws/vendedlogs/ prefix keeps the log-delivery resource policy small.
  name              = "/aws/vendedlogs/states/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

data "aws_iam_policy_document" "this" {
  source_policy_documents = [var.policy_json]

  # Step Functions configures log delivery through these; AWS documents that they
  # take no resource narrower than "*".
  statement {
    sid = "DeliverExecutionLogs"
    actions = [
      "logs:CreateLogDelivery",
      "logs:DeleteLogDelivery",
      "logs:DescribeLogGroups",
      "logs:DescribeResourcePolicies",
      "logs:GetLogDelivery",
      "logs:ListLogDeliveries",
      "logs:PutResourcePolicy",
      "logs:UpdateLogDelivery",
    ]
    resources = ["*"]
  }
}

# The Distributed Map's child executions need the state machine's own ARN, which only
# exists once it is created: a separate policy breaks the cycle.
data "aws_iam_policy_document" "own_executions" {
  count = var.may_start_own_executions ? 1 : 0

  statement {
    sid       = "StartChildExecutions"
    actions   = ["states:StartExecution"]
    resources = [aws_sfn_state_machine.this.arn]
  }

  statement {
    sid     = "ManageChildExecutions"
    actions = ["states:DescribeExecution", "states:StopExecution"]
    resources = [
      "${replace(aws_sfn_state_machine.this.arn, ":stateMachine:", ":execution:")}/*",
      "${replace(aws_sfn_state_machine.this.arn, ":stateMachine:", ":execution:")}:*",
    ]
  }
}

resource "aws_iam_role_policy" "this" {
  name   = "${var.name}-permissions"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.this.json
}

resource "aws_iam_role_policy" "own_executions" {
  count  = var.may_start_own_executions ? 1 : 0
  name   = "${var.name}-own-executions"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.own_executions[0].json
}

resource "aws_sfn_state_machine" "this" {
  name       = var.name
  role_arn   = aws_iam_role.this.arn
  definition = var.definition

  logging_configuration {
    log_destination        = "${aws_cloudwatch_log_group.this.arn}:*"
    include_execution_data = false
    level                  = "ERROR"
  }

  tracing_configuration {
    enabled = false
  }

  depends_on = [aws_iam_role_policy.this]
}
