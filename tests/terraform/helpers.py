"""What the Terraform suites share besides fixtures: the paths and running terraform (the
state machine definitions are rendered by deployment/asl_render.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

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
