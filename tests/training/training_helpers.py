"""Constants and helpers shared by the training suite's fixtures and tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# Small enough to train in seconds, large enough to be clearly better than chance.
# refit_full 0 and one member: validation stays held out and one net selects its epoch,
# so the selection tests have something to check (the refit default, an ensemble, has its
# own tests).
SMOKE_HYPERPARAMETERS = {"epochs": "4", "seed": "0", "refit_full": "0", "members": "1"}
DATA_BUCKET, ARTIFACTS_BUCKET = "scones-data", "scones-artifacts"


def run_module(module: str, *args: str, env: dict | None = None, cwd: Path | None = None):
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        check=False,
    )
