"""The state machine definitions, rendered by Terraform's templatefile exactly as the
deployment renders them, parse in moto's ASL interpreter: the local cloud runs the same
definitions as AWS."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import TERRAFORM_DIR, explain, run_terraform

pytestmark = pytest.mark.terraform

asl_parser = pytest.importorskip(
    "moto.stepfunctions.parser.asl.parse.asl_parser", reason="moto's ASL parser is not installed"
)

ARN = "arn:aws:{service}:us-east-1:123456789012:{resource}"
RENDER = """
locals {{
  retry = jsonencode([{{
    ErrorEquals = ["Lambda.ServiceException"], IntervalSeconds = 2, MaxAttempts = 3, BackoffRate = 2
  }}])
  steps = {{
    partition              = "aws"
    serialize_function_arn = "{serialize}"
    classify_function_arn  = "{classify}"
    filter_function_arn    = "{filter}"
    lambda_retry           = local.retry
  }}
  item = templatefile("{templates}/batch_item.asl.json.tftpl", local.steps)
}}

output "single_image" {{
  value = templatefile("{templates}/single_image.asl.json.tftpl", merge(local.steps, {{
    alert_topic_arn = "{topic}", state_machine_name = "single", sns_retry = local.retry
  }}))
}}

output "batch" {{
  value = templatefile("{templates}/batch.asl.json.tftpl", {{
    partition = "aws", item_definition = local.item, summarize_function_arn = "{summarize}",
    alert_topic_arn = "{topic}", state_machine_name = "batch", max_concurrency = 4,
    lambda_retry = local.retry, sns_retry = local.retry
  }})
}}
"""


@pytest.fixture(scope="module")
def definitions(terraform_env, tmp_path_factory) -> dict[str, str]:
    """Both definitions, rendered by terraform from the real templates."""
    work = tmp_path_factory.mktemp("render-asl")
    function = {
        name: ARN.format(service="lambda", resource=f"function:{name}")
        for name in ("serialize", "classify", "filter", "summarize")
    }
    (work / "main.tf").write_text(
        RENDER.format(
            templates=(TERRAFORM_DIR / "templates").as_posix(),
            topic=ARN.format(service="sns", resource="alerts"),
            **function,
        ),
        encoding="utf-8",
    )
    env = {**terraform_env, "TF_DATA_DIR": str(work / ".terraform")}
    for args in (["init", "-input=false"], ["apply", "-auto-approve", "-input=false"]):
        result = run_terraform(args, work, env)
        assert result.returncode == 0, explain(result)
    output = run_terraform(["output", "-json"], work, env)
    assert output.returncode == 0, explain(output)
    return {name: value["value"] for name, value in json.loads(output.stdout).items()}


@pytest.mark.parametrize("name", ["single_image", "batch"])
def test_definition_parses_in_moto_interpreter(name: str, definitions: dict[str, str]):
    program, _ = asl_parser.AmazonStateLanguageParser.parse(definitions[name])

    assert type(program).__name__ == "Program"


def test_batch_item_processor_is_the_same_for_list_and_prefix(definitions: dict[str, str]):
    states = json.loads(definitions["batch"])["States"]
    inline = states["ClassifyEachImage"]["ItemProcessor"]
    distributed = states["ClassifyEachObjectUnderPrefix"]["ItemProcessor"]

    assert inline["ProcessorConfig"] == {"Mode": "INLINE"}
    assert distributed["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    assert inline["States"] == distributed["States"]


def test_rendered_templates_hold_no_unrendered_placeholder(definitions: dict[str, str]):
    leftovers = {name: "${" in text for name, text in definitions.items()}

    assert leftovers == {"single_image": False, "batch": False}


def test_templates_type_no_arn_by_hand():
    for template in Path(TERRAFORM_DIR / "templates").glob("*.asl.json.tftpl"):
        text = template.read_text(encoding="utf-8")

        assert "arn:aws" not in text, f"{template.name} has a hand-typed ARN"
