"""Batches of thousands on the local cloud: does every image end in exactly one outcome?

    .venv/bin/python -m benchmarks.bench_batch_scale [--images 2000]

The real Terraform configuration is applied to a fresh local cloud (with a trained
model); --images PNGs (the 1,000 real CIFAR images of ../shared/data, each under as
many distinct keys as it takes) go through both batch paths, in one run:
- prefix: `{"s3_bucket", "s3_prefix"}`, a Distributed Map over an S3 listing;
- list: `{"images": [...]}`, a Distributed Map over the input list.
For each, the results document written by summarize_batch from the ResultWriter files
is read back and counted against the uploaded keys: missing, duplicated and unknown
keys, outcomes per status, alerts sent (one BatchItemsNotPassed per batch where any image
did not pass, nothing per image), and the execution's wall time. With --inbox N, N uploads
to inbox/ each start a batch of their own (S3 notification -> start_batch_workflow), and
their results documents together are counted against the uploads. Before this change the same
batches failed with States.DataLimitExceeded near 1,000 images and lost every result.

Writes benchmarks/results/batch_scale.md and .json. The machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks.bench_localcloud import (
    ARCHIVE,
    RESULTS,
    clients,
    deployed_cloud,
    group_rss_mb,
    run_execution,
)
from tests.support.trained_model import cifar_pngs, trained_artifact


def upload(s3, bucket: str, pngs: list[Path], count: int, prefix: str) -> list[str]:
    """`count` objects under `prefix`, cycling through the real PNGs; returns their keys."""
    keys = [f"{prefix}{i // len(pngs)}/{pngs[i % len(pngs)].name}" for i in range(count)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(
            pool.map(
                lambda i: s3.put_object(
                    Bucket=bucket, Key=keys[i], Body=pngs[i % len(pngs)].read_bytes()
                ),
                range(count),
            )
        )
    return keys


def count_outcomes(s3, results_uri: str, keys: list[str]) -> dict:
    bucket, key = results_uri.removeprefix("s3://").split("/", 1)
    document = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    seen = Counter(r.get("s3_key") for r in document["results"])
    expected = set(keys)
    return {
        "results_in_document": len(document["results"]),
        "statuses": dict(Counter(r["status"] for r in document["results"])),
        "missing": len(expected - set(seen)),
        "duplicated": sum(1 for k, n in seen.items() if n > 1),
        "unknown": len(set(seen) - expected),
        "exactly_one_each": seen == Counter(expected),
    }


def alert_queue(url: str, topic_arn: str) -> str:
    """An SQS queue subscribed to the alert topic, to count the alerts each batch sends."""
    sqs = clients(url)("sqs")
    queue_url = sqs.create_queue(QueueName="bench-alerts")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    clients(url)("sns").subscribe(
        TopicArn=topic_arn, Protocol="sqs", Endpoint=arn["Attributes"]["QueueArn"]
    )
    return queue_url


def drain_alerts(url: str, queue_url: str) -> list[dict]:
    sqs, alerts = clients(url)("sqs"), []
    while True:
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
        ).get("Messages", [])
        if not messages:
            return alerts
        alerts += [json.loads(json.loads(m["Body"])["Message"]) for m in messages]
        for m in messages:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])


def run_path(url: str, outputs: dict, payload: dict, keys: list[str], queue_url: str) -> dict:
    client = clients(url)
    drain_alerts(url, queue_url)
    seconds, outcome, summary = run_execution(
        client("stepfunctions"), outputs["batch_state_machine_arn"], payload
    )
    result = {"images": len(keys), "seconds": round(seconds, 1), "execution": outcome}
    if outcome == "SUCCEEDED":
        result.update(count_outcomes(client("s3"), summary["results_uri"], keys))
        result["images_per_s"] = round(len(keys) / seconds, 1)
    time.sleep(2)  # the alert is published just before the execution ends
    result["alerts"] = dict(Counter(a.get("error_type") for a in drain_alerts(url, queue_url)))
    return result


def inbox_path(url: str, outputs: dict, pngs: list[Path], count: int, queue_url: str) -> dict:
    """`count` uploads to inbox/: each S3 event starts one batch execution of its own;
    their results documents together must name every upload exactly once."""
    client = clients(url)
    sfn, s3, machine = client("stepfunctions"), client("s3"), outputs["batch_state_machine_arn"]
    pages = sfn.get_paginator("list_executions")

    def executions() -> list[dict]:
        return [e for page in pages.paginate(stateMachineArn=machine) for e in page["executions"]]

    drain_alerts(url, queue_url)
    before = {e["executionArn"] for e in executions()}
    started = time.perf_counter()
    keys = upload(s3, outputs["data_bucket"], pngs, count, "inbox/scale/")
    deadline = started + 3600
    while True:
        new = [e for e in executions() if e["executionArn"] not in before]
        finished = [e for e in new if e["status"] != "RUNNING"]
        if len(finished) >= count or time.perf_counter() > deadline:
            break
        time.sleep(2)
    seconds = time.perf_counter() - started
    seen: Counter = Counter()
    statuses: Counter = Counter()
    for execution in finished:
        output = json.loads(
            sfn.describe_execution(executionArn=execution["executionArn"]).get("output") or "{}"
        )
        if "results_uri" in output:
            bucket, key = output["results_uri"].removeprefix("s3://").split("/", 1)
            document = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
            seen.update(r.get("s3_key") for r in document["results"])
            statuses.update(r["status"] for r in document["results"])
    time.sleep(2)
    alerts = drain_alerts(url, queue_url)
    dead_letters = sqs_depth(client("sqs"), outputs["inbox_dead_letter_queue_url"])
    return {
        "images": count,
        "seconds": round(seconds, 1),
        "execution": dict(Counter(e["status"] for e in new)),
        "images_per_s": round(count / seconds, 1),
        "results_in_document": sum(seen.values()),
        "statuses": dict(statuses),
        "missing": len(set(keys) - set(seen)),
        "duplicated": sum(1 for n in seen.values() if n > 1),
        "unknown": len(set(seen) - set(keys)),
        "exactly_one_each": seen == Counter(keys),
        "alerts": dict(Counter(a.get("error_type") for a in alerts)),
        "dead_letters": dead_letters,
    }


def sqs_depth(sqs, queue_url: str) -> int:
    """Messages in a queue, visible or in flight (the inbox's events that were given up on)."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(value) for value in attributes.values())


def write_results(results: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "batch_scale.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = [
        "# Batches at scale on the local cloud",
        "",
        f"Command: `{results['command']}`  ",
        f"{results['when']}; 2 shared cores, noisy.",
        "",
        "| path | images | execution | s | images/s | in document | missing | duplicated "
        "| unknown | exactly one each | statuses | alerts |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results["paths"].items():
        lines.append(
            f"| {name} | {r['images']} | {r['execution']} | {r['seconds']} | "
            f"{r.get('images_per_s', '-')} | {r.get('results_in_document', '-')} | "
            f"{r.get('missing', '-')} | {r.get('duplicated', '-')} | {r.get('unknown', '-')} | "
            f"{r.get('exactly_one_each', '-')} | {r.get('statuses', '-')} | {r.get('alerts')} |"
        )
    if "inbox" in results["paths"]:
        lines += [
            "",
            "Inbox events given up on (in the dead-letter queue): "
            f"{results['paths']['inbox']['dead_letters']}.",
        ]
    lines += [
        "",
        f"Memory of the local cloud and its workers afterwards: "
        f"{results['memory_after_mb']:.0f} MB.",
    ]
    (RESULTS / "batch_scale.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--inbox", type=int, default=0, help="uploads to inbox/ (0: skip)")
    args = parser.parse_args(argv)
    if shutil.which("terraform") is None:
        print("bench_batch_scale: terraform is not on PATH", file=sys.stderr)
        return 1
    command = " ".join(
        [".venv/bin/python", "-m", "benchmarks.bench_batch_scale", *(argv or sys.argv[1:])]
    )
    results: dict = {"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "paths": {}}
    artifact = trained_artifact(ARCHIVE)
    cifar = cifar_pngs(ARCHIVE, artifact.parent / "cifar")
    pngs = sorted(cifar.rglob("*.png"))
    with tempfile.TemporaryDirectory() as tmp, deployed_cloud(Path(tmp), artifact) as deployed:
        url, outputs, process = deployed
        s3, bucket = clients(url)("s3"), outputs["data_bucket"]
        queue_url = alert_queue(url, outputs["alert_topic_arn"])
        print(f"prefix path: {args.images} images", flush=True)
        keys = upload(s3, bucket, pngs, args.images, "inputs/scale-prefix/")
        payload = {"s3_bucket": bucket, "s3_prefix": "inputs/scale-prefix/"}
        results["paths"]["prefix"] = run_path(url, outputs, payload, keys, queue_url)
        print(json.dumps(results["paths"]["prefix"]), flush=True)
        print(f"list path: {args.images} images", flush=True)
        keys = upload(s3, bucket, pngs, args.images, "inputs/scale-list/")
        payload = {"images": [{"s3_bucket": bucket, "s3_key": k} for k in keys]}
        results["paths"]["list"] = run_path(url, outputs, payload, keys, queue_url)
        print(json.dumps(results["paths"]["list"]), flush=True)
        if args.inbox:
            print(f"inbox path: {args.inbox} uploads, one batch each", flush=True)
            results["paths"]["inbox"] = inbox_path(url, outputs, pngs, args.inbox, queue_url)
            print(json.dumps(results["paths"]["inbox"]), flush=True)
        results["memory_after_mb"] = round(group_rss_mb(process.pid), 1)
    results["command"] = command
    write_results(results)
    print(f"wrote {RESULTS / 'batch_scale.md'} and {RESULTS / 'batch_scale.json'}")
    ok = all(r.get("exactly_one_each") for r in results["paths"].values())
    ok = ok and results["paths"].get("inbox", {}).get("dead_letters", 0) == 0
    ok = ok and all(
        results["paths"][name]["alerts"] == {"BatchItemsNotPassed": 1}
        for name in ("prefix", "list")
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
