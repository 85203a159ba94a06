"""Runs one handler invocation in a fresh interpreter, as a Lambda cold start would."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

# Prints the result, or the error's type and message, as one JSON line on stdout.
INVOKE = """
import json, sys, types
sys.path[:0] = json.loads(sys.argv[1])
import handler
context = types.SimpleNamespace(aws_request_id="req-subprocess", function_name="f")
try:
    print(json.dumps({"result": handler.lambda_handler(json.loads(sys.argv[2]), context)}))
except Exception as exc:
    print(json.dumps({"error_type": type(exc).__name__, "message": str(exc)}))
"""


def invoke_fresh(
    path: list[Path],
    event: Any,
    env: dict[str, str],
    isolated: bool = False,
    timeout: float = 120,
) -> tuple[dict[str, Any], subprocess.CompletedProcess[str]]:
    """`python [-I -S] -c INVOKE` with `path` in front of sys.path and only `env` set.

    isolated: -I -S leaves the standard library alone on sys.path (no site-packages).
    """
    flags = ["-I", "-S"] if isolated else []
    completed = subprocess.run(
        [
            sys.executable,
            *flags,
            "-c",
            INVOKE,
            json.dumps([str(p) for p in path]),
            json.dumps(event),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    lines = completed.stdout.strip().splitlines()
    if completed.returncode != 0 or not lines:
        raise AssertionError(
            f"the interpreter failed ({completed.returncode}):\n{completed.stderr}"
        )
    return json.loads(lines[-1]), completed
