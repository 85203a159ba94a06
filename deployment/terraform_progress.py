"""`terraform apply` / `destroy` that show how far they are: resources done / planned.

    python -m deployment.terraform_progress [-chdir=DIR] apply|destroy [FLAG ...]

Runs `terraform [-chdir=DIR] apply|destroy -json -auto-approve -input=false FLAG ...` and
reads Terraform's machine-readable UI: one JSON message per line, each with a `type`
(https://developer.hashicorp.com/terraform/internals/machine-readable-ui). Of those it
uses `refresh_complete` (planning: resources read), `change_summary` (operation `plan`:
what will change; `apply` / `destroy`: the closing "Apply complete! ..." line),
`apply_start` / `apply_progress` / `apply_complete` / `apply_errored` (each resource
instance's change) and `diagnostic` (errors and warnings, with their address, file and
line). Without `-json`, Terraform says nothing between the plan and each resource's
line, and on a log file a 75 s apply is a silent gap.

It prints a progress bar (deployment.progress: tqdm on a terminal, a short line at most
every 10 s in a log) with resources done / planned, elapsed time and the resource that
has been running longest; then Terraform's own summary line with the time taken; then
every diagnostic as plain text. The exit status is Terraform's.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TextIO

from deployment.progress import progress_bar

COMMANDS = ("apply", "destroy")
# -json needs -auto-approve for apply and destroy (Terraform cannot ask for approval).
ADDED_FLAGS = ("-json", "-auto-approve", "-input=false")
# The running resource's address is cut to its end, so that the bar keeps its width.
POSTFIX_CHARS = 34
PLANNING = "{desc}, {n} resources read [{elapsed}]"
APPLYING = "{desc} {percentage:3.0f}%|{bar}| {n}/{total} resources [{elapsed}<{remaining}]{postfix}"


@dataclass
class Outcome:
    """What one run did: the summary line, the diagnostics, the exit status."""

    returncode: int = 0
    summary: str = ""  # "Apply complete! Resources: 3 added, 0 changed, 0 destroyed."
    planned: int = 0  # resource changes in the plan
    done: int = 0  # of those, completed
    errors: list[str] = field(default_factory=list)  # formatted error diagnostics
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0


def format_diagnostic(diagnostic: dict) -> str:
    """A diagnostic as Terraform's text UI shows it: severity and summary, where, detail."""
    severity = str(diagnostic.get("severity", "error")).capitalize()
    lines = [f"{severity}: {diagnostic.get('summary', '').strip()}"]
    where = diagnostic.get("range") or {}
    if where.get("filename"):
        place = f"  on {where['filename']} line {where.get('start', {}).get('line', '?')}"
        context = (diagnostic.get("snippet") or {}).get("context")
        lines.append(place + (f", in {context}" if context else "") + ":")
    if diagnostic.get("address"):
        lines.append(f"  with {diagnostic['address']}")
    detail = str(diagnostic.get("detail") or "").strip()
    lines.extend(f"  {line}" if line else "" for line in detail.splitlines())
    return "\n".join(lines)


class Follower:
    """Turns Terraform's JSON messages into a progress bar and an Outcome."""

    def __init__(self, command: str, out: TextIO) -> None:
        self.command, self.out = command, out
        self.outcome = Outcome()
        self.started = time.monotonic()
        self.running: dict[str, float] = {}  # resource address -> when its change started
        self.bar = progress_bar(
            desc=f"terraform {command}: planning", file=out, leave=False, bar_format=PLANNING
        )
        self.applying = False

    def line(self, text: str) -> None:
        """One line of Terraform's stdout: a JSON message, or plain text passed through."""
        text = text.rstrip("\n")
        try:
            message = json.loads(text)
        except ValueError:
            message = None
        if not isinstance(message, dict):
            if text.strip():
                self.bar.write(text, file=self.out)
            return
        self.message(message)

    def message(self, message: dict) -> None:
        kind = message.get("type")
        hook = message.get("hook") or {}
        address = (hook.get("resource") or {}).get("addr", "")
        if kind == "refresh_complete" and not self.applying:
            self.bar.update(1)
        elif kind == "change_summary":
            self.change_summary(message)
        elif kind in ("apply_start", "apply_complete") and hook.get("action") == "read":
            return  # a data source read during apply: not a change the plan counted
        elif kind == "apply_start":
            self.running[address] = time.monotonic()
            self.show_running()
        elif kind == "apply_progress":
            self.show_running()
        elif kind == "apply_complete":
            self.running.pop(address, None)
            self.outcome.done += 1
            self.show_running(advance=1)
        elif kind == "apply_errored":
            self.running.pop(address, None)
            self.bar.write(f"  {message.get('@message', address + ': errored')}", file=self.out)
            self.show_running()
        elif kind == "diagnostic":
            diagnostic = message.get("diagnostic") or {}
            kept = self.outcome.errors if diagnostic.get("severity") == "error" else None
            (kept if kept is not None else self.outcome.warnings).append(
                format_diagnostic(diagnostic)
            )

    def change_summary(self, message: dict) -> None:
        changes = message.get("changes") or {}
        elapsed = time.monotonic() - self.started
        if changes.get("operation") == "plan":
            planned = sum(int(changes.get(k, 0)) for k in ("add", "change", "remove"))
            self.outcome.planned = planned
            self.bar.close()
            print(f"terraform {self.command}: {message.get('@message', '')} "
                  f"(planned in {elapsed:.0f} s)", file=self.out, flush=True)  # fmt: skip
            self.applying = True
            self.bar = progress_bar(
                total=planned, desc=f"terraform {self.command}", file=self.out, bar_format=APPLYING
            )
        else:
            self.outcome.summary = str(message.get("@message", ""))

    def show_running(self, advance: int = 0) -> None:
        """Advance the bar; its postfix names the change that has been running longest."""
        if self.running:
            oldest = min(self.running, key=self.running.__getitem__)
            seconds = time.monotonic() - self.running[oldest]
            shown = oldest if len(oldest) <= POSTFIX_CHARS else ".." + oldest[-POSTFIX_CHARS:]
            self.bar.set_postfix_str(f"{shown} ({seconds:.0f} s)", refresh=False)
        else:
            self.bar.set_postfix_str("", refresh=False)
        self.bar.update(advance)

    def finish(self, returncode: int) -> Outcome:
        self.bar.close()
        outcome = self.outcome
        outcome.returncode, outcome.seconds = returncode, time.monotonic() - self.started
        if outcome.summary:
            print(f"{outcome.summary} ({outcome.seconds:.0f} s)", file=self.out)
        for text in (*outcome.warnings, *outcome.errors):
            print(f"\n{text}", file=self.out)
        if returncode != 0:
            stage = (
                f"after {outcome.done} of {outcome.planned} planned changes"
                if self.applying
                else "before it had a plan"
            )
            errors = "; the errors are above" if outcome.errors else ""
            print(f"\nterraform {self.command} failed (exit {returncode}) {stage}{errors}",
                  file=self.out)  # fmt: skip
        self.out.flush()
        return outcome


def follow(command: str, lines: Iterable[str], out: TextIO, returncode: int = 0) -> Outcome:
    """Reads a recorded or live message stream to the end (the unit tests feed one)."""
    follower = Follower(command, out)
    for text in lines:
        follower.line(text)
    return follower.finish(returncode)


def terraform_command(args: list[str]) -> tuple[list[str], str]:
    """`terraform` with the global options first, the subcommand, the added flags, the
    rest; and the subcommand. A usage error (ValueError) for anything but apply/destroy."""
    options = [a for a in args if a.startswith("-chdir=")]
    rest = [a for a in args if not a.startswith("-chdir=")]
    if not rest or rest[0] not in COMMANDS:
        raise ValueError(
            f"expected [-chdir=DIR] {'|'.join(COMMANDS)} [FLAG ...], got {' '.join(args)!r}"
        )
    command, flags = rest[0], rest[1:]
    added = [flag for flag in ADDED_FLAGS if flag not in flags]
    return ["terraform", *options, command, *added, *flags], command


def run(
    args: list[str], env: dict[str, str] | None = None, cwd: str | None = None,
    out: TextIO | None = None,
) -> Outcome:  # fmt: skip
    """Runs `terraform ARGS` (see terraform_command) with progress on `out` (stdout)."""
    out = out or sys.stdout
    command, subcommand = terraform_command(args)
    process = subprocess.Popen(
        command, env=env, cwd=cwd, stdout=subprocess.PIPE, text=True, bufsize=1
    )  # stderr passes straight through: Terraform writes little there, and only when broken
    follower = Follower(subcommand, out)
    assert process.stdout is not None
    for text in process.stdout:
        follower.line(text)
    return follower.finish(process.wait())


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        command, _ = terraform_command(argv)
    except ValueError as error:
        print(f"python -m deployment.terraform_progress: {error}", file=sys.stderr)
        return 2
    print(f"$ {' '.join(command)}", flush=True)
    try:
        return run(argv).returncode
    except FileNotFoundError:
        print("terraform is not on PATH: install Terraform 1.9+ (see README)", file=sys.stderr)
        return 127


if __name__ == "__main__":
    sys.exit(main())
