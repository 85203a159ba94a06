"""Under CI=true a skip is a failure (STYLE.md: a check that cannot run must fail, not
skip, where the project installs what it needs).

Locally a suite whose tool is missing (checkov, Chromium, Terraform, the provider mirror,
node and asl-validator, onnxruntime) skips and says why; CI runs `make test`, whose setup
installs all of them (`make setup tf-config asl-validator browser`), so there a skip can
only mean the setup broke, and it fails with the skip's reason. Expected failures
(xfail) stay what they are. tests/conftest.py registers these hooks.
"""

from __future__ import annotations

import os

import pytest

FALSE = ("", "0", "false", "no")


def under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in FALSE


def _skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def _fail(report: pytest.TestReport | pytest.CollectReport) -> None:
    reason = _skip_reason(report)
    report.outcome = "failed"
    report.longrepr = f"CI=true: a skip is a failure (the setup installs what it needs): {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    if under_ci() and report.skipped and not hasattr(report, "wasxfail"):
        _fail(report)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):
    """A module-level skip (pytest.importorskip) skips during collection."""
    outcome = yield
    report = outcome.get_result()
    if under_ci() and report.skipped:
        _fail(report)
