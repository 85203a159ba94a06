"""Distributed Map on the local cloud: child failures tolerated or not, results written to S3.

AWS pages this checks:
- "ResultWriter (Map)", section "Exporting to Amazon S3"
  (docs.aws.amazon.com/step-functions/latest/dg/input-output-resultwriter.html):
  the Map's output is {"MapRunArn", "ResultWriterDetails": {"Bucket", "Key"}}; manifest.json
  and the result files SUCCEEDED_<n>.json / FAILED_<n>.json sit under
  <Prefix>/<map run id>/; the manifest has DestinationBucket, MapRunArn and ResultFiles
  {FAILED, PENDING, SUCCEEDED: [{"Key", "Size"}]}; each file is a JSON array of child
  executions (ExecutionArn, Input, InputDetails, Name, Output/OutputDetails or
  Error/Cause, StartDate, StateMachineArn, Status, StopDate).
- "Tolerated failure threshold for Distributed Map state"
  (docs.aws.amazon.com/step-functions/latest/dg/maprun-fail-threshold.html): the default
  threshold is zero (any failed child fails the Map Run with
  States.ExceedToleratedFailureThreshold); with a percentage of 100 the workflow does not
  fail even if every child fails.
"""

from __future__ import annotations

import json

import pytest

from tests.support.localcloud_harness import wait_for_execution

pytestmark = pytest.mark.integration

BUCKET = "distributed-map-results"
ITEMS = [{"n": n, "fail": n % 5 == 0} for n in range(20)]  # 4 of 20 fail


def machine(tolerance: dict, result_writer: bool = True, items: dict | None = None) -> str:
    child = {
        "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
        "StartAt": "Check",
        "States": {
            "Check": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.fail", "BooleanEquals": True, "Next": "Boom"}],
                "Default": "Done",
            },
            "Boom": {"Type": "Fail", "Error": "ItemFailed", "Cause": "asked to fail"},
            "Done": {
                "Type": "Pass",
                "Parameters": {"doubled.$": "States.MathAdd($.n, $.n)"},
                "End": True,
            },
        },
    }
    state = {
        "Type": "Map",
        "ItemProcessor": child,
        "Label": "Items",
        **(items or {"ItemsPath": "$.items"}),
        **tolerance,
        "End": True,
    }
    if result_writer:
        state["ResultWriter"] = {
            "Resource": "arn:aws:states:::s3:putObject",
            "Parameters": {"Bucket": BUCKET, "Prefix": "runs/batch-1"},
        }
    return json.dumps({"StartAt": "Fan", "States": {"Fan": state}})


@pytest.fixture(scope="module")
def bucket(local_cloud) -> str:
    local_cloud.client("s3").create_bucket(Bucket=BUCKET)
    return BUCKET


def run(local_cloud, lambda_role, name: str, definition: str, execution_input: dict) -> dict:
    sfn = local_cloud.client("stepfunctions")
    arn = sfn.create_state_machine(name=name, definition=definition, roleArn=lambda_role)[
        "stateMachineArn"
    ]
    started = sfn.start_execution(stateMachineArn=arn, input=json.dumps(execution_input))
    return wait_for_execution(sfn, started["executionArn"])


def read_json(s3, key: str):
    return json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())


def test_result_writer_writes_manifest_and_result_files(local_cloud, lambda_role, bucket):
    s3 = local_cloud.client("s3")
    definition = machine({"ToleratedFailurePercentage": 100})

    execution = run(local_cloud, lambda_role, "dmap-writer", definition, {"items": ITEMS})

    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    output = json.loads(execution["output"])
    map_run_arn = output["MapRunArn"]
    assert ":mapRun:dmap-writer/Items:" in map_run_arn
    map_run_id = map_run_arn.rsplit(":", 1)[1]
    folder = f"runs/batch-1/{map_run_id}/"
    assert output["ResultWriterDetails"] == {"Bucket": BUCKET, "Key": folder + "manifest.json"}

    manifest = read_json(s3, folder + "manifest.json")
    assert manifest["DestinationBucket"] == BUCKET
    assert manifest["MapRunArn"] == map_run_arn
    assert set(manifest["ResultFiles"]) == {"FAILED", "PENDING", "SUCCEEDED"}
    assert manifest["ResultFiles"]["PENDING"] == []
    [succeeded_file] = manifest["ResultFiles"]["SUCCEEDED"]
    [failed_file] = manifest["ResultFiles"]["FAILED"]
    assert succeeded_file["Key"] == folder + "SUCCEEDED_0.json"
    assert failed_file["Key"] == folder + "FAILED_0.json"
    for listed in (succeeded_file, failed_file):
        head = s3.head_object(Bucket=BUCKET, Key=listed["Key"])
        assert head["ContentLength"] == listed["Size"]

    succeeded = read_json(s3, succeeded_file["Key"])
    failed = read_json(s3, failed_file["Key"])
    assert len(succeeded) == 16 and len(failed) == 4

    child_machine = map_run_arn.split(":mapRun:")[0] + ":stateMachine:dmap-writer/Items"
    entry = next(e for e in succeeded if json.loads(e["Input"])["n"] == 3)
    assert set(entry) >= {
        "ExecutionArn", "Input", "InputDetails", "Name", "Output", "OutputDetails",
        "StartDate", "StateMachineArn", "Status", "StopDate",
    }  # fmt: skip
    assert entry["Status"] == "SUCCEEDED"
    assert json.loads(entry["Output"]) == {"doubled": 6}
    assert entry["InputDetails"] == {"Included": True}
    assert entry["OutputDetails"] == {"Included": True}
    assert entry["StateMachineArn"] == child_machine
    assert entry["ExecutionArn"] == (
        child_machine.replace(":stateMachine:", ":execution:") + ":" + entry["Name"]
    )
    assert entry["StartDate"].endswith("Z") and entry["StartDate"] <= entry["StopDate"]

    assert sorted(json.loads(e["Input"])["n"] for e in failed) == [0, 5, 10, 15]
    for entry in failed:
        assert entry["Status"] == "FAILED"
        assert entry["Error"] == "ItemFailed"
        assert entry["Cause"] == "asked to fail"
        assert "Output" not in entry
    assert len({e["Name"] for e in succeeded + failed}) == 20


def test_any_failed_child_fails_the_map_run_by_default(local_cloud, lambda_role, bucket):
    definition = machine({}, result_writer=False)

    execution = run(local_cloud, lambda_role, "dmap-strict", definition, {"items": ITEMS})

    assert execution["status"] == "FAILED"
    assert execution["error"] == "States.ExceedToleratedFailureThreshold"


def test_failures_within_the_tolerated_count_pass(local_cloud, lambda_role, bucket):
    sfn = local_cloud.client("stepfunctions")
    within = run(
        local_cloud,
        lambda_role,
        "dmap-count-4",
        machine({"ToleratedFailureCount": 4}, result_writer=False),
        {"items": ITEMS},
    )
    over = run(
        local_cloud,
        lambda_role,
        "dmap-count-3",
        machine({"ToleratedFailureCount": 3}, result_writer=False),
        {"items": ITEMS},
    )

    assert within["status"] == "SUCCEEDED", within.get("cause")
    assert over["status"] == "FAILED"
    assert over["error"] == "States.ExceedToleratedFailureThreshold"
    assert sfn.describe_execution(executionArn=over["executionArn"])["status"] == "FAILED"


def test_items_read_with_list_objects_v2_are_written_too(local_cloud, lambda_role, bucket):
    s3 = local_cloud.client("s3")
    for n in range(3):
        s3.put_object(Bucket=BUCKET, Key=f"inputs/item-{n}.json", Body=b"{}")
    reader = {
        "ItemReader": {
            "Resource": "arn:aws:states:::s3:listObjectsV2",
            "Parameters": {"Bucket": BUCKET, "Prefix": "inputs/"},
        },
        "ItemSelector": {
            "n.$": "$$.Map.Item.Index",
            "fail": False,
            "key.$": "$$.Map.Item.Value.Key",
        },
    }
    definition = machine({}, items=reader)

    execution = run(local_cloud, lambda_role, "dmap-reader", definition, {})

    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    manifest_key = json.loads(execution["output"])["ResultWriterDetails"]["Key"]
    manifest = read_json(s3, manifest_key)
    assert manifest["ResultFiles"]["FAILED"] == []
    entries = read_json(s3, manifest["ResultFiles"]["SUCCEEDED"][0]["Key"])
    keys = sorted(json.loads(e["Input"])["key"] for e in entries)
    assert keys == [f"inputs/item-{n}.json" for n in range(3)]


def reader_over(prefix: str) -> dict:
    return {
        "ItemReader": {
            "Resource": "arn:aws:states:::s3:listObjectsV2",
            "Parameters": {"Bucket": BUCKET, "Prefix": prefix},
        },
        "ItemSelector": {"n.$": "$$.Map.Item.Index", "fail": False},
    }


def test_list_objects_v2_reads_past_the_first_page_of_1000_keys(local_cloud, lambda_role, bucket):
    """ListObjectsV2 answers at most 1,000 keys a page (S3 API reference); the ItemReader
    gives the Map every object under the prefix ("ItemReader (Map)")."""
    s3 = local_cloud.client("s3")
    for n in range(1001):
        s3.put_object(Bucket=BUCKET, Key=f"many/{n:04d}.json", Body=b"{}")

    execution = run(
        local_cloud, lambda_role, "dmap-pages", machine({}, items=reader_over("many/")), {}
    )

    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    manifest = read_json(s3, json.loads(execution["output"])["ResultWriterDetails"]["Key"])
    entries = [e for f in manifest["ResultFiles"]["SUCCEEDED"] for e in read_json(s3, f["Key"])]
    assert len(entries) == 1001


def test_an_empty_prefix_is_a_map_over_no_items(local_cloud, lambda_role, bucket):
    s3 = local_cloud.client("s3")

    execution = run(
        local_cloud, lambda_role, "dmap-empty", machine({}, items=reader_over("none/")), {}
    )

    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    manifest = read_json(s3, json.loads(execution["output"])["ResultWriterDetails"]["Key"])
    assert manifest["ResultFiles"]["SUCCEEDED"] == [] and manifest["ResultFiles"]["FAILED"] == []
