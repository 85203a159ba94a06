locals {
  endpoint_dimensions = ["EndpointName", local.endpoint_name, "VariantName", local.variant_name]
  workflow_arns = {
    single = module.single_image_workflow.arn
    batch  = module.batch_workflow.arn
  }

  dashboard_widgets = [
    {
      type = "metric", x = 0, y = 0, width = 12, height = 6
      properties = {
        title   = "Endpoint invocations and errors"
        region  = local.region
        stat    = "Sum"
        period  = 300
        view    = "timeSeries"
        metrics = [for m in ["Invocations", "Invocation4XXErrors", "Invocation5XXErrors"] : concat(["AWS/SageMaker", m], local.endpoint_dimensions)]
      }
    },
    {
      type = "metric", x = 12, y = 0, width = 12, height = 6
      properties = {
        title   = "Endpoint latency (microseconds)"
        region  = local.region
        stat    = "Average"
        period  = 300
        view    = "timeSeries"
        metrics = [for m in ["ModelLatency", "OverheadLatency"] : concat(["AWS/SageMaker", m], local.endpoint_dimensions)]
        annotations = {
          horizontal = [{ label = "latency alarm", value = var.endpoint_latency_alarm_ms * 1000 }]
        }
      }
    },
    {
      type = "metric", x = 0, y = 6, width = 12, height = 6
      properties = {
        title  = "Workflow executions"
        region = local.region
        stat   = "Sum"
        period = 300
        view   = "timeSeries"
        metrics = [
          for p in setproduct(keys(local.workflow_arns), ["ExecutionsStarted", "ExecutionsSucceeded"]) :
          ["AWS/States", p[1], "StateMachineArn", local.workflow_arns[p[0]], { label = "${p[0]} ${p[1]}" }]
        ]
      }
    },
    {
      type = "metric", x = 12, y = 6, width = 12, height = 6
      properties = {
        title  = "Workflow failures"
        region = local.region
        stat   = "Sum"
        period = 300
        view   = "timeSeries"
        metrics = [
          for p in setproduct(keys(local.workflow_arns), ["ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"]) :
          ["AWS/States", p[1], "StateMachineArn", local.workflow_arns[p[0]], { label = "${p[0]} ${p[1]}" }]
        ]
      }
    },
    {
      type = "metric", x = 0, y = 12, width = 24, height = 6
      properties = {
        title   = "Lambda errors"
        region  = local.region
        stat    = "Sum"
        period  = 300
        view    = "timeSeries"
        metrics = [for key, fn in local.lambda : ["AWS/Lambda", "Errors", "FunctionName", fn.function_name, { label = key }]]
      }
    },
  ]
}

# Endpoint widgets name the endpoint even before it exists; they fill in once it does.
resource "aws_cloudwatch_dashboard" "main" {
  dashboard_name = "${var.project_name}-workflow"
  dashboard_body = jsonencode({ widgets = local.dashboard_widgets })
}
