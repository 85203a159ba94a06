"""Where the local cloud keeps its pid file, log and scratch files (never its AWS state)."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def state_dir(port: int) -> Path:
    """build/localcloud/<port>/: one directory per running instance, so tests on other
    ports never touch the default instance's pid file."""
    root = Path(os.environ.get("LOCALCLOUD_STATE_DIR", REPO_ROOT / "build" / "localcloud"))
    return root / str(port)


def pid_file(port: int) -> Path:
    return state_dir(port) / "server.pid"


def log_file(port: int) -> Path:
    return state_dir(port) / "server.log"


def scratch_dir(port: int) -> Path:
    """Extracted Lambda zips and model artifacts; wiped on every start."""
    return state_dir(port) / "scratch"
