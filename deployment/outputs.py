"""Terraform's outputs for a target (local cloud or AWS): the one reader every CLI uses.

Local and AWS state live in separate Terraform workspaces (`local`, `default`), so the
target picks the workspace. No Terraform, no state or no outputs all read as {}:
callers decide whether a missing value is an error (and say which flag to pass).

    python -m deployment.outputs data_bucket --target local   # prints the value or nothing
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
TERRAFORM_DIR = REPO_ROOT / "terraform"
CLI_CONFIG = REPO_ROOT / "build" / "terraformrc"
WORKSPACES = {"local": "local", "aws": "default"}


def terraform_outputs(target: str = "local", terraform_dir: Path | None = None) -> dict:
    """`terraform output -json` as {name: value} for the target's workspace."""
    if target not in WORKSPACES:
        raise ValueError(f"target must be one of {sorted(WORKSPACES)}, got {target!r}")
    directory = terraform_dir or TERRAFORM_DIR
    if shutil.which("terraform") is None or not directory.is_dir():
        return {}
    env = {**os.environ, "TF_WORKSPACE": WORKSPACES[target]}
    if CLI_CONFIG.is_file():
        env["TF_CLI_CONFIG_FILE"] = str(CLI_CONFIG)
    try:
        done = subprocess.run(
            ["terraform", f"-chdir={directory}", "output", "-json", "-no-color"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        outputs = json.loads(done.stdout or "{}") if done.returncode == 0 else {}
    except (OSError, subprocess.TimeoutExpired, json.JSONDecodeError):
        return {}
    if not isinstance(outputs, dict):
        return {}
    return {name: item.get("value") for name, item in outputs.items() if isinstance(item, dict)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deployment.outputs", description=__doc__)
    parser.add_argument("name", help="the output to print, e.g. data_bucket")
    parser.add_argument("--target", choices=sorted(WORKSPACES), default="local")
    args = parser.parse_args(argv)
    value = terraform_outputs(args.target).get(args.name)
    if value is not None:
        print(value if isinstance(value, str) else json.dumps(value))
    return 0


if __name__ == "__main__":
    sys.exit(main())
