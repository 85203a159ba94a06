"""Fixtures for the Terraform suites: the terraform binary, a CLI config that installs
the AWS provider from the local mirror (no registry, no network), and the Lambda zips
the configuration packages, and the state machine definitions rendered from the real
templates with the real template variables. Where terraform or the mirror is missing,
every test that needs them skips and says why."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
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


@pytest.fixture(scope="session")
def terraform_bin() -> str:
    path = shutil.which("terraform")
    if path is None:
        pytest.skip("terraform is not on PATH: the Terraform suites cannot run")
    return path


@pytest.fixture(scope="session")
def terraform_env(terraform_bin: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for terraform: the generated CLI config, a private data dir, no
    workspace or variables inherited from the caller's shell."""
    work = tmp_path_factory.mktemp("terraform")
    cli_config = work / "terraformrc"
    result = subprocess.run(
        [sys.executable, "scripts/terraform_cli_config.py", "--out", str(cli_config)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        pytest.skip(f"no Terraform provider mirror: {result.stderr.strip()}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_VAR_", "TF_WORKSPACE"))}
    env.update(
        TF_CLI_CONFIG_FILE=str(cli_config),
        TF_DATA_DIR=str(work / "data"),
        TF_IN_AUTOMATION="1",
        TF_INPUT="0",
        CHECKPOINT_DISABLE="1",
    )
    return env


@pytest.fixture(scope="session")
def lambda_zips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real deployment packages, built by the project's own builder."""
    out = tmp_path_factory.mktemp("lambda-zips")
    result = subprocess.run(
        [sys.executable, "lambdas/build.py", "--out", str(out)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, f"lambdas/build.py failed:\n{result.stdout}\n{result.stderr}"
    return out


@pytest.fixture(scope="session")
def root_env(terraform_env: dict[str, str], lambda_zips: Path) -> dict[str, str]:
    """Environment in which the root module has been initialised from the mirror."""
    env = {**terraform_env, "TF_VAR_lambda_artifacts_dir": str(lambda_zips)}
    result = run_terraform(["init", "-backend=false", "-input=false"], TERRAFORM_DIR, env)
    assert result.returncode == 0, explain(result)
    return env


@pytest.fixture(scope="session")
def terraform_test_results(root_env) -> dict[str, subprocess.CompletedProcess[str]]:
    """`terraform test` of every suite in terraform/tests/, run once per session and
    shared by the tests that read its outcome (suites pass, AWS rules hold)."""
    suites = sorted(p.name for p in (TERRAFORM_DIR / "tests").glob("*.tftest.hcl"))
    return {
        suite: run_terraform(["test", f"-filter=tests/{suite}"], TERRAFORM_DIR, root_env)
        for suite in suites
    }


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
_REFERENCE = re.compile(
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


def _stand_in(match: re.Match[str]) -> str:
    reference = match.group(0)
    for pattern, replacement in RENDER_STAND_INS:
        found = re.fullmatch(pattern, reference)
        if found:
            return found.expand(replacement)
    pytest.fail(
        f"terraform/{'/'.join(RENDER_LOCALS_FROM)} locals reference {reference}: give it a "
        "stand-in in RENDER_STAND_INS (tests/terraform/conftest.py)"
    )


def deployed_definitions() -> list[str]:
    """The locals workflow.tf hands to a state machine as its definition."""
    text = (TERRAFORM_DIR / "workflow.tf").read_text(encoding="utf-8")
    return re.findall(r"^\s*definition\s*=\s*local\.(\w+)\s*$", text, flags=re.MULTILINE)


@pytest.fixture(scope="session")
def state_machine_definitions(
    terraform_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict[str, str]]:
    """{target: {state machine: definition JSON}}: every definition workflow.tf deploys,
    rendered by terraform from the real templates through workflow.tf's own locals
    (RENDER_LOCALS_FROM), for the AWS and the local-cloud variables (RENDER_TARGETS).
    The state machine's name is its local without `_definition` (single_image, batch)."""
    names = deployed_definitions()
    assert names, "terraform/workflow.tf hands no `definition = local.<name>` to a state machine"
    locals_text = "\n\n".join(
        _REFERENCE.sub(_stand_in, block)
        for source in RENDER_LOCALS_FROM
        for block in hcl_blocks((TERRAFORM_DIR / source).read_text(encoding="utf-8"), "locals")
    )
    outputs = "\n".join(
        f'output "{name.removesuffix("_definition")}" {{\n  value = local.{name}\n}}\n'
        for name in names
    )
    rendered = {}
    for target, var_files in RENDER_TARGETS.items():
        work = tmp_path_factory.mktemp(f"render-asl-{target}")
        shutil.copytree(TERRAFORM_DIR / "templates", work / "templates")
        shutil.copy(TERRAFORM_DIR / "variables.tf", work / "variables.tf")
        (work / "locals.tf").write_text(locals_text + "\n", encoding="utf-8")
        (work / "outputs.tf").write_text(outputs, encoding="utf-8")
        env = {**terraform_env, "TF_DATA_DIR": str(work / ".terraform")}
        flags = [f"-var-file={(TERRAFORM_DIR / f).as_posix()}" for f in var_files]
        for args in (["init", "-input=false"], ["apply", "-auto-approve", "-input=false", *flags]):
            result = run_terraform(args, work, env)
            assert result.returncode == 0, f"rendering in {work}: {explain(result)}"
        output = run_terraform(["output", "-json"], work, env)
        assert output.returncode == 0, explain(output)
        rendered[target] = {name: o["value"] for name, o in json.loads(output.stdout).items()}
    return rendered
