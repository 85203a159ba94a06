"""The state machine definitions as the deployment creates them, rendered by terraform.

workflow.tf builds each definition in `locals` from the templates in
terraform/templates/ (templatefile, merged with the shared failure states). To get
exactly what `terraform apply` would hand to CreateStateMachine, without an apply, the
`locals` blocks of RENDER_LOCALS_FROM are copied verbatim into a scratch module next to
the templates and variables.tf, with each reference to a resource, module or data source
replaced by what AWS returns for it (RENDER_STAND_INS), and one output per definition;
`terraform apply` of that module (no provider, no resources) prints them.

Users: the asl-validator and moto tests (tests/terraform/), and the state machine
drawings (deployment/asl_diagram.py).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

from deployment.outputs import TERRAFORM_DIR

# Where the template variables come from: the `locals` blocks of these root-module files,
# copied verbatim (workflow.tf's templatefile calls and their arguments; main.tf's
# partition, prefixes and names), with terraform/variables.tf for the variables.
RENDER_LOCALS_FROM = ("main.tf", "workflow.tf")
# The variable values of each target: variables.tf's defaults for AWS, the local cloud's
# variable file for the local target.
RENDER_TARGETS = {"aws": [], "local": ["environments/local.tfvars"]}
# Resource, module and data source attributes only exist after an apply. Each reference
# the copied locals make is replaced by the HCL expression of what AWS (or the local
# cloud, which answers with the same ARN patterns) returns for it. A reference matching
# none of these is a RenderError naming it: add its stand-in here.
RENDER_STAND_INS: tuple[tuple[str, str], ...] = (
    (r"data\.aws_partition\.current\.partition", '"aws"'),
    (r"data\.aws_caller_identity\.current\.account_id", '"123456789012"'),
    (r"data\.aws_region\.current\.(?:name|region|id)", "var.region"),
    (
        r'module\.(?:step|trigger)_lambda\["(?P<key>\w+)"\]\.arn',
        '"arn:${local.partition}:lambda:${local.region}:${local.account_id}:function:'
        '${var.project_name}-${replace("\\g<key>", "_", "-")}"',
    ),
    (r"module\.(?P<bucket>\w+_bucket)\.id", "local.\\g<bucket>_name"),
    (
        r"module\.(?P<bucket>\w+_bucket)\.arn",
        '"arn:${local.partition}:s3:::${local.\\g<bucket>_name}"',
    ),
    (
        r"aws_sns_topic\.alerts\.arn",
        '"arn:${local.partition}:sns:${local.region}:${local.account_id}:${var.project_name}-alerts"',
    ),
)
REFERENCE = re.compile(
    r"(?<![\w.])(?:data\.aws_\w+\.\w+|aws_\w+\.\w+|module\.\w+)"
    r'(?:\[\s*"[^"]*"\s*\])?(?:\.\w+)+'
)


class RenderError(RuntimeError):
    """The definitions could not be rendered; the message says what to change or run."""


def hcl_blocks(text: str, block: str) -> list[str]:
    """Every top-level `<block> { ... }` of a Terraform file, braces matched (the
    configuration's braces balance inside strings too: they are interpolations)."""
    blocks = []
    for start in re.finditer(rf"^{block}\s*{{", text, flags=re.MULTILINE):
        depth, end = 0, start.end() - 1
        for end in range(start.end() - 1, len(text)):
            depth += {"{": 1, "}": -1}.get(text[end], 0)
            if depth == 0:
                break
        blocks.append(text[start.start() : end + 1])
    return blocks


def stand_in(match: re.Match[str]) -> str:
    reference = match.group(0)
    for pattern, replacement in RENDER_STAND_INS:
        found = re.fullmatch(pattern, reference)
        if found:
            return found.expand(replacement)
    raise RenderError(
        f"terraform/{'/'.join(RENDER_LOCALS_FROM)} locals reference {reference}: give it a "
        "stand-in in RENDER_STAND_INS (deployment/asl_render.py)"
    )


def deployed_definitions(terraform_dir: Path = TERRAFORM_DIR) -> list[str]:
    """The locals workflow.tf hands to a state machine as its definition."""
    text = (terraform_dir / "workflow.tf").read_text(encoding="utf-8")
    return re.findall(r"^\s*definition\s*=\s*local\.(\w+)\s*$", text, flags=re.MULTILINE)


def _terraform(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    result = subprocess.run(
        ["terraform", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    if result.returncode != 0:
        raise RenderError(
            f"terraform {args[0]} in {cwd} failed (exit {result.returncode}):\n"
            f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        )
    return result.stdout


def render_definitions(
    work: Path, env: dict[str, str], targets: dict[str, list[str]] | None = None,
    terraform_dir: Path = TERRAFORM_DIR,
) -> dict[str, dict[str, str]]:  # fmt: skip
    """{target: {state machine: definition JSON}} for every definition workflow.tf
    deploys, rendered in scratch modules under `work`. The state machine's name is its
    local without `_definition` (single_image, batch)."""
    if shutil.which("terraform") is None:
        raise RenderError("terraform is not on PATH: install Terraform 1.9+ (see README)")
    names = deployed_definitions(terraform_dir)
    if not names:
        raise RenderError(
            "terraform/workflow.tf hands no `definition = local.<name>` to a state machine"
        )
    locals_text = "\n\n".join(
        REFERENCE.sub(stand_in, block)
        for source in RENDER_LOCALS_FROM
        for block in hcl_blocks((terraform_dir / source).read_text(encoding="utf-8"), "locals")
    )
    outputs = "\n".join(
        f'output "{name.removesuffix("_definition")}" {{\n  value = local.{name}\n}}\n'
        for name in names
    )
    rendered = {}
    for target, var_files in (RENDER_TARGETS if targets is None else targets).items():
        module = work / f"render-asl-{target}"
        shutil.rmtree(module, ignore_errors=True)
        shutil.copytree(terraform_dir / "templates", module / "templates")
        shutil.copy(terraform_dir / "variables.tf", module / "variables.tf")
        (module / "locals.tf").write_text(locals_text + "\n", encoding="utf-8")
        (module / "outputs.tf").write_text(outputs, encoding="utf-8")
        module_env = {**env, "TF_DATA_DIR": str(module / ".terraform")}
        module_env.pop("TF_WORKSPACE", None)  # the scratch module's own default state
        flags = [f"-var-file={(terraform_dir / f).as_posix()}" for f in var_files]
        for args in (["init"], ["apply", "-auto-approve", *flags]):
            _terraform([*args, "-input=false", "-no-color"], module, module_env)
        output = json.loads(_terraform(["output", "-json"], module, module_env))
        rendered[target] = {name: value["value"] for name, value in output.items()}
    return rendered
