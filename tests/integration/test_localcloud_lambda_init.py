"""The Lambda Init phase: the handler's module imported before the first invocation.

"Understanding the Lambda execution environment lifecycle"
(docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html): Init (the
function's static code) is limited to 10 seconds and is not the invocation; its time is
the REPORT line's Init Duration.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.support.localcloud_harness import wait_until, zip_source

pytestmark = pytest.mark.integration

SLOW_IMPORT = """
import time

time.sleep(3)  # static initialisation longer than the function's 2 s timeout


def lambda_handler(event, context):
    return {"remaining_ms": context.get_remaining_time_in_millis()}
"""


def report_lines(local_cloud, function: str) -> list[str]:
    logs = local_cloud.client("logs")
    group = f"/aws/lambda/{function}"
    lines = []
    for stream in logs.describe_log_streams(logGroupName=group)["logStreams"]:
        events = logs.get_log_events(logGroupName=group, logStreamName=stream["logStreamName"])
        lines += [e["message"] for e in events["events"] if e["message"].startswith("REPORT")]
    return lines


def test_static_initialisation_is_not_counted_in_the_function_timeout(local_cloud, lambda_role):
    lam = local_cloud.client("lambda")
    lam.create_function(
        FunctionName="slow-import",
        Runtime="python3.11",
        Role=lambda_role,
        Handler="slow_import.lambda_handler",
        Code={"ZipFile": zip_source({"slow_import.py": SLOW_IMPORT})},
        Timeout=2,
        MemorySize=128,
    )

    first = lam.invoke(FunctionName="slow-import", Payload=b"{}")
    second = lam.invoke(FunctionName="slow-import", Payload=b"{}")

    assert "FunctionError" not in first, first["Payload"].read()
    assert 0 < json.loads(first["Payload"].read())["remaining_ms"] <= 2000
    assert "FunctionError" not in second
    lines = wait_until(lambda: (found := report_lines(local_cloud, "slow-import"))[1:] and found)
    init = [re.search(r"Init Duration: ([\d.]+) ms", line) for line in lines]
    assert [bool(found) for found in init] == [True, False]  # the cold start's alone
    assert float(init[0].group(1)) >= 3000
