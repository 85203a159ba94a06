"""What the Terraform suites share besides fixtures: the paths, running terraform, and the
pieces that render the state machine definitions from workflow.tf's own locals."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
TERRAFORM_DIR = REPO_ROOT / "terraform"
COLOURED_COMMANDS = frozenset({"init", "validate", "test", "plan", "apply", "destroy", "output"})


def run_terraform(
    args: list[str], cwd: Path, env: dict[str, str], timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """Runs terraform (without colour where the command takes the flag)."""
    flags = ["-no-color"] if args[0] in COLOURED_COMMANDS else []
    return subprocess.run(
        ["terraform", *args, *flags],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def explain(result: subprocess.CompletedProcess[str]) -> str:
    """The end of a failed command's output, for assertion messages."""
    return f"exit {result.returncode}\n{result.stdout[-6000:]}\n{result.stderr[-4000:]}"


# ------------------------------------------------------- rendered state machine definitions

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
# none of these fails the fixture with its name: add its stand-in here.
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
    pytest.fail(
        f"terraform/{'/'.join(RENDER_LOCALS_FROM)} locals reference {reference}: give it a "
        "stand-in in RENDER_STAND_INS (tests/terraform/helpers.py)"
    )


def deployed_definitions() -> list[str]:
    """The locals workflow.tf hands to a state machine as its definition."""
    text = (TERRAFORM_DIR / "workflow.tf").read_text(encoding="utf-8")
    return re.findall(r"^\s*definition\s*=\s*local\.(\w+)\s*$", text, flags=re.MULTILINE)
