"""deployment.terraform_progress on Terraform's machine-readable UI as Terraform 1.11.4
wrote it (terraform_recorded/: the configuration and how each stream was made): the
plan, resources done / planned, the summary line, and errors with their message."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from deployment.progress import LOG_COLUMNS
from deployment.terraform_progress import follow, terraform_command

RECORDED = Path(__file__).parent / "terraform_recorded"


def recorded(name: str) -> list[str]:
    return (RECORDED / name).read_text(encoding="utf-8").splitlines(keepends=True)


def test_apply_reports_the_plan_progress_and_terraforms_summary():
    out = io.StringIO()  # not a terminal: the log form

    outcome = follow("apply", recorded("apply_changed.jsonl"), out)

    text = out.getvalue()
    assert (outcome.planned, outcome.done, outcome.errors) == (4, 4, [])
    assert outcome.summary == "Apply complete! Resources: 0 added, 3 changed, 1 destroyed."
    assert "terraform apply: Plan: 0 to add, 3 to change, 1 to destroy." in text
    assert "4/4 resources" in text
    assert text.splitlines()[-1].startswith(outcome.summary + " (")


def test_progress_in_a_log_is_short_whole_lines():
    out = io.StringIO()

    follow("apply", recorded("apply_changed.jsonl"), out)

    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert all(len(line) <= LOG_COLUMNS for line in lines), lines
    assert not any("{" in line for line in lines), "a JSON message leaked into the output"


def test_a_failed_resource_surfaces_terraforms_error_and_the_exit_status():
    out = io.StringIO()

    outcome = follow("apply", recorded("apply_errored.jsonl"), out, returncode=1)

    text = out.getvalue()
    assert (outcome.returncode, outcome.planned, outcome.done) == (1, 5, 4)
    assert len(outcome.errors) == 1
    assert outcome.errors[0].startswith("Error: local-exec provisioner error\n")
    assert "exit status 3. Output: boom" in text
    assert 'on main.tf line 24, in resource "terraform_data" "bad":' in text
    assert "terraform_data.bad[0]: Creation errored after 0s" in text
    assert "terraform apply failed (exit 1) after 4 of 5 planned changes" in text
    assert outcome.summary == ""


def test_an_error_before_the_plan_says_so():
    diagnostic = (
        '{"@level":"error","@message":"Error: Value for undeclared variable","diagnostic":'
        '{"severity":"error","summary":"Value for undeclared variable","detail":"A variable '
        'named \\"nope\\" was assigned on the command line."},"type":"diagnostic"}\n'
    )
    out = io.StringIO()

    outcome = follow("apply", [recorded("apply_changed.jsonl")[0], diagnostic], out, 1)

    assert outcome.errors == [
        'Error: Value for undeclared variable\n  A variable named "nope" was assigned on the '
        "command line."
    ]
    assert "failed (exit 1) before it had a plan; the errors are above" in out.getvalue()


def test_text_that_is_not_a_message_passes_through():
    out = io.StringIO()

    follow("destroy", ["panic: something Terraform printed as text\n"], out, 2)

    assert "panic: something Terraform printed as text" in out.getvalue().splitlines()


def test_the_command_gets_json_and_auto_approve_once():
    command, subcommand = terraform_command(
        ["-chdir=terraform", "apply", "-auto-approve", "-var-file=environments/local.tfvars"]
    )

    assert subcommand == "apply"
    assert command == [
        "terraform", "-chdir=terraform", "apply", "-json", "-input=false", "-auto-approve",
        "-var-file=environments/local.tfvars",
    ]  # fmt: skip


@pytest.mark.parametrize("args", [[], ["plan"], ["-chdir=terraform", "output"]])
def test_only_apply_and_destroy_are_wrapped(args):
    with pytest.raises(ValueError, match=r"apply\|destroy"):
        terraform_command(args)


def test_a_data_source_read_during_apply_is_not_counted_as_a_change():
    out = io.StringIO()

    outcome = follow("apply", recorded("apply_data_source.jsonl"), out, returncode=1)

    assert (outcome.planned, outcome.done) == (1, 1)
    assert outcome.errors[0].startswith("Error: Unable to find remote state\n")
    assert "after 1 of 1 planned changes" in out.getvalue()
