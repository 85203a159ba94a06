"""Running `python -m monitoring` in this process with its output captured."""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

from monitoring.cli import main
from tests.monitoring.monitoring_captures import ENDPOINT


def make_report_args(capture_root: Path, manifest_path: Path, out: Path) -> list[str]:
    return [
        "report",
        "--capture-dir",
        str(capture_root),
        "--endpoint",
        ENDPOINT,
        "--manifest",
        str(manifest_path),
        "--out",
        str(out / "report"),
        "--terraform-dir",
        str(out / "no-terraform"),
    ]


@dataclass(frozen=True)
class Ran:
    code: int
    stdout: str
    stderr: str
    out: Path

    def summary(self) -> dict:
        return json.loads((self.out / "summary.json").read_text())


def run_cli(args: list[str]) -> Ran:
    """`python -m monitoring` in this process, its output captured."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(args)
    out = Path(args[args.index("--out") + 1]) if "--out" in args else Path("reports/monitoring")
    return Ran(code, stdout.getvalue(), stderr.getvalue(), out)
