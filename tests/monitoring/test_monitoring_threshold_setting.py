"""The report's confidence threshold: --threshold, else Terraform's output, else 0.93."""

from __future__ import annotations

import re
from pathlib import Path

from monitoring.cli import build_parser
from monitoring.settings import DEFAULT_THRESHOLD, resolve

OUTPUTS_TF = Path(__file__).resolve().parents[2] / "terraform" / "outputs.tf"
LOCATION = {"data_capture_s3_uri": "s3://artifacts/data-capture/"}


def test_threshold_comes_from_the_output_terraform_really_declares():
    declared = re.findall(r'^output "(\w*threshold\w*)"', OUTPUTS_TF.read_text(), re.M)
    assert declared == ["confidence_threshold"]
    args = build_parser().parse_args(["report"])

    # an output of another name (none in this configuration) is not read
    settings = resolve(args, {**LOCATION, declared[0]: 0.8, "threshold": 0.5})

    assert settings.limits.threshold == 0.8


def test_threshold_flag_wins_over_terraform():
    args = build_parser().parse_args(["report", "--threshold", "0.5"])

    assert resolve(args, {**LOCATION, "confidence_threshold": 0.8}).limits.threshold == 0.5


def test_threshold_defaults_to_the_workflows_without_terraform():
    args = build_parser().parse_args(["report"])

    assert resolve(args, LOCATION).limits.threshold == DEFAULT_THRESHOLD == 0.93
