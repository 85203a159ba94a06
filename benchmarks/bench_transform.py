"""The offline path (Batch Transform) against the Map batch path, on one local cloud.

    .venv/bin/python -m benchmarks.bench_transform [--images 1000] [--transform-only 10000]

The real Terraform configuration is applied to a fresh local cloud (with a trained
model); --images PNGs (the 1,000 real CIFAR images of ../shared/data, each under as many
distinct keys as it takes) go through both paths, in one run:
- transform: serialize_batch -> transform/input/ PUT -> start_transform_job -> the
  transform job -> transform/output/*.out PUT -> evaluate_transform_output -> the results
  document, timed from the serialize_batch call until the document can be read;
- map: the batch state machine with {"images": [...]} (a Distributed Map), timed until
  the execution ends (summarize_batch has written its document by then).
Each document is counted against the uploaded keys (exactly one outcome per image). The
server and its workers' memory (the process group's RSS) is sampled through each path.
For comparison, the model's own batch throughput: code/inference.py in this process,
JSON lines of 64 images per request (what a transform job sends), and one image per
request (what the endpoint does for the Map path).

--transform-only N runs N more images through the transform path alone (the Map path at
10,000 would take ~15 minutes on this machine: benchmarks/results/batch_scale.md).

AWS cost per 1,000 images of each path, from the Lambda durations the local cloud
reports (REPORT lines, this machine's speed) and the public prices in PRICES; the
formulas are written into the results file. Writes benchmarks/results/transform.md and
.json. The machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import shutil
import statistics
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.bench_batch_scale import alert_queue, count_outcomes, run_path, upload
from benchmarks.bench_localcloud import (
    ARCHIVE,
    RESULTS,
    clients,
    deployed_cloud,
    group_rss_mb,
)
from tests.support.trained_model import cifar_pngs, trained_artifact
from training.artifact import load_inference

REQUEST_IMAGES = 64
# Public prices, us-east-1, on-demand, read 2026 (see the pages). Change here, re-run.
PRICES = {
    "lambda_gb_s": (
        0.0000166667,
        "AWS Lambda x86 duration, per GB-s (first tier); https://aws.amazon.com/lambda/pricing/ "
        "and https://docs.aws.amazon.com/whitepapers/latest/how-aws-pricing-works/lambda.html",
    ),
    "lambda_request": (
        0.20 / 1e6,
        "AWS Lambda, $0.20 per 1M requests; same pages",
    ),
    "sfn_transition": (
        0.025 / 1000,
        "Step Functions Standard, $0.025 per 1,000 state transitions (US East (N. Virginia)); "
        "https://aws.amazon.com/step-functions/pricing/",
    ),
    "ml_m5_large_hour": (
        0.115,
        "SageMaker ml.m5.large, $0.115 per hour, real-time inference and Batch Transform "
        "alike (us-east-1 on-demand); https://aws.amazon.com/sagemaker/pricing/ (the stored "
        "copy of that page did not show the table: the usual published figure, check it)",
    ),
    "s3_put": (
        0.005 / 1000,
        "S3 Standard PUT/COPY/POST/LIST, $0.005 per 1,000; https://aws.amazon.com/s3/pricing/ "
        "(figure as quoted by https://c3x.dev/blog/s3-request-fees-explained)",
    ),
    "s3_get": (
        0.0004 / 1000,
        "S3 Standard GET/HEAD, $0.0004 per 1,000; same pages",
    ),
}
# Assumptions the formulas state (not measured here).
TRANSFORM_STARTUP_S = 300  # instance provisioning + container start, billed with the job
ENDPOINT_BUSY = 1.0  # the endpoint does nothing but these images
ENDPOINT_IMAGES_PER_DAY = 1000  # or: it stays up all day for 1,000 images
# States a Map child enters (batch_item.asl: Choice, Serialize, Classify, Filter, Record*)
# and the parent's (ChooseSource, Map, SummarizeBatch, AnyItemNotPassed, PublishBatchAlert,
# BatchDone): Step Functions bills each state transition.
CHILD_TRANSITIONS = 5
PARENT_TRANSITIONS = 6
REPORT = re.compile(r"REPORT RequestId: \S+\tDuration: ([0-9.]+) ms.*Memory Size: (\d+) MB")


class RssSampler:
    """Peak RSS of the local cloud's process group, sampled every 0.5 s."""

    def __init__(self, pgid: int):
        self.pgid, self.peak, self._stop = pgid, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self.peak = max(self.peak, group_rss_mb(self.pgid))

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# ------------------------------------------------------------------ the model alone


def model_throughput(artifact: Path, pngs: list[Path], work: Path) -> dict:
    """images/s of code/inference.py in this process: 64-image JSON-lines requests (as a
    transform job sends) and single-image requests (as the endpoint serves them)."""
    model_dir = work / "model"
    model_dir.mkdir()
    with tarfile.open(artifact) as tar:
        tar.extractall(model_dir, filter="data")
    inference = load_inference(model_dir)
    model = inference.model_fn(str(model_dir))
    lines = [
        json.dumps({"key": f"s3://b/{p.name}", "image": base64.b64encode(p.read_bytes()).decode()})
        for p in pngs
    ]
    requests = [
        "\n".join(lines[i : i + REQUEST_IMAGES]).encode()
        for i in range(0, len(lines), REQUEST_IMAGES)
    ]

    def batched() -> float:
        started = time.perf_counter()
        for body in requests:
            batch = inference.input_fn(body, "application/jsonlines")
            inference.output_fn(inference.predict_fn(batch, model), "text/csv")
        return time.perf_counter() - started

    bodies = [p.read_bytes() for p in pngs]

    def single() -> float:
        started = time.perf_counter()
        for body in bodies:
            batch = inference.input_fn(body, "image/png")
            inference.output_fn(inference.predict_fn(batch, model), "application/json")
        return time.perf_counter() - started

    batched()  # warm-up
    batched_s = statistics.median(batched() for _ in range(3))
    single_s = statistics.median(single() for _ in range(3))
    return {
        "images": len(pngs),
        "request_images": REQUEST_IMAGES,
        "batched_images_per_s": round(len(pngs) / batched_s, 1),
        "single_images_per_s": round(len(pngs) / single_s, 1),
    }


# ------------------------------------------------------------------ measurements


def lambda_reports(url: str, names: dict[str, str], since_ms: int) -> dict[str, dict]:
    """Per function: invocations, total duration (s) and GB-s from its REPORT lines."""
    logs = clients(url)("logs")
    out = {}
    for key, name in names.items():
        durations, gb_s = [], 0.0
        kwargs = {"logGroupName": f"/aws/lambda/{name}", "startTime": since_ms}
        try:
            while True:
                page = logs.filter_log_events(**kwargs)
                for event in page.get("events", []):
                    match = REPORT.search(event["message"])
                    if match:
                        seconds = float(match.group(1)) / 1000
                        durations.append(seconds)
                        gb_s += seconds * int(match.group(2)) / 1024
                if not page.get("nextToken"):
                    break
                kwargs["nextToken"] = page["nextToken"]
        except logs.exceptions.ResourceNotFoundException:
            pass
        if durations:
            out[key] = {
                "invocations": len(durations),
                "seconds": round(sum(durations), 2),
                "gb_s": round(gb_s, 3),
            }
    return out


def transform_path(url: str, outputs: dict, keys: list[str], pgid: int) -> dict:
    client = clients(url)
    s3, sagemaker = client("s3"), client("sagemaker")
    bucket = outputs["data_bucket"]
    batch_id = f"bench-{len(keys)}-{time.strftime('%H%M%S')}"
    event = {"images": [{"s3_bucket": bucket, "s3_key": k} for k in keys], "batch_id": batch_id}
    since = int(time.time() * 1000)
    with RssSampler(pgid) as memory:
        started = time.perf_counter()
        response = client("lambda").invoke(
            FunctionName=outputs["lambda_function_names"]["serialize_batch"],
            Payload=json.dumps(event),
        )
        serialized = json.loads(response["Payload"].read())
        serialize_s = time.perf_counter() - started
        if "FunctionError" in response:
            raise RuntimeError(f"serialize_batch failed: {serialized}")
        result_bucket, result_key = serialized["results_uri"][5:].split("/", 1)
        deadline = time.monotonic() + 3600
        while time.monotonic() < deadline:
            try:
                document = json.loads(
                    s3.get_object(Bucket=result_bucket, Key=result_key)["Body"].read()
                )
                break
            except s3.exceptions.NoSuchKey:
                time.sleep(0.2)
        else:
            raise RuntimeError(f"no results document {serialized['results_uri']} in an hour")
        seconds = time.perf_counter() - started
    time.sleep(1)  # the last REPORT line is written after the document
    jobs = [
        sagemaker.describe_transform_job(TransformJobName=s["TransformJobName"])
        for s in sagemaker.list_transform_jobs(MaxResults=100)["TransformJobSummaries"]
    ]
    jobs = [
        j
        for j in jobs
        if f"/transform/input/{batch_id}/"
        in j["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"]
    ]
    job_s = sum((j["TransformEndTime"] - j["TransformStartTime"]).total_seconds() for j in jobs)
    result = {
        "images": len(keys),
        "batch_status": document["status"],
        "parts": len(serialized["parts"]),
        "jobs": [j["TransformJobStatus"] for j in jobs],
        "serialize_s": round(serialize_s, 1),
        "jobs_s": round(job_s, 1),
        "seconds": round(seconds, 1),
        "images_per_s": round(len(keys) / seconds, 1),
        "job_images_per_s": round(len(keys) / job_s, 1) if job_s else None,
        "peak_memory_mb": round(memory.peak),
        **count_outcomes(s3, serialized["results_uri"], keys),
    }
    result["lambdas"] = lambda_reports(url, outputs["lambda_function_names"], since)
    return result


def map_path(url: str, outputs: dict, keys: list[str], queue_url: str, pgid: int) -> dict:
    bucket = outputs["data_bucket"]
    payload = {"images": [{"s3_bucket": bucket, "s3_key": k} for k in keys]}
    since = int(time.time() * 1000)
    with RssSampler(pgid) as memory:
        result = run_path(url, outputs, payload, keys, queue_url)
    result["peak_memory_mb"] = round(memory.peak)
    result["lambdas"] = lambda_reports(url, outputs["lambda_function_names"], since)
    return result


# ------------------------------------------------------------------ cost


def dollars(name: str) -> float:
    return PRICES[name][0]


def lambda_cost(lambdas: dict[str, dict], per: float) -> float:
    gb_s = sum(f["gb_s"] for f in lambdas.values())
    calls = sum(f["invocations"] for f in lambdas.values())
    return (gb_s * dollars("lambda_gb_s") + calls * dollars("lambda_request")) * per


def transform_cost(r: dict, model: dict) -> dict:
    """Per 1,000 images. The job's duration on AWS: the images at the model's own batched
    rate (ml.m5.large has 2 vCPUs, as this machine), plus the start-up it is billed for."""
    n, parts, per = r["images"], r["parts"], 1000 / r["images"]
    job_s = n / model["batched_images_per_s"] + TRANSFORM_STARTUP_S * parts
    sagemaker = job_s / 3600 * dollars("ml_m5_large_hour") * per
    # PUT: manifest + parts + SageMaker's .out + part results + results document;
    # GET: every image (serialize_batch) + SageMaker's read of each part + evaluate's reads
    # of input, output, manifest and part results; LIST: evaluate's listings (PUT price).
    puts = 2 + 3 * parts + (1 + parts)
    gets = n + 4 * parts + 1
    s3 = (puts * dollars("s3_put") + gets * dollars("s3_get")) * per
    lam = lambda_cost(r["lambdas"], per)
    return {
        "lambda": lam,
        "sagemaker_job": sagemaker,
        "s3": s3,
        "total": lam + sagemaker + s3,
        "job_seconds_billed": round(job_s, 1),
    }


def map_cost(r: dict, model: dict) -> dict:
    """Per 1,000 images: Lambda (serialize, classify, filter per image + summarize), state
    transitions, the endpoint's instance time amortised, S3."""
    n, per = r["images"], 1000 / r["images"]
    lam = lambda_cost(r["lambdas"], per)
    sfn = (n * CHILD_TRANSITIONS + PARENT_TRANSITIONS) * dollars("sfn_transition") * per
    endpoint_s = 1000 / model["single_images_per_s"]
    utilisation = {
        "100% busy": ENDPOINT_BUSY,
        f"up 24 h for {ENDPOINT_IMAGES_PER_DAY:,} images a day": endpoint_s
        * ENDPOINT_IMAGES_PER_DAY
        / 1000
        / 86400,
    }
    endpoint = {
        name: endpoint_s / u / 3600 * dollars("ml_m5_large_hour") for name, u in utilisation.items()
    }
    # GET: every image (serialize); ResultWriter PUTs manifest + ~2 result files and
    # summarize_batch reads them, then PUTs the results document.
    s3 = ((n * dollars("s3_get")) + 4 * dollars("s3_put") + 3 * dollars("s3_get")) * per
    return {
        "lambda": lam,
        "step_functions": sfn,
        "s3": s3,
        "endpoint": endpoint,
        "total": {k: lam + sfn + s3 + v for k, v in endpoint.items()},
        "endpoint_seconds": round(endpoint_s, 1),
    }


# ------------------------------------------------------------------ report


def money(value: float) -> str:
    return f"${value:.5f}" if value < 1 else f"${value:.2f}"


def write_results(results: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "transform.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    t, m, model = results["paths"]["transform"], results["paths"]["map"], results["model"]
    ct, cm = results["cost"]["transform"], results["cost"]["map"]
    lines = [
        "# Offline path (Batch Transform) vs the Map batch path, on the local cloud",
        "",
        f"Command: `{results['command']}`  ",
        f"{results['when']}; 2 shared cores, noisy. One local cloud, the real Terraform "
        "configuration, a model trained by the tests' helper, the 1,000 real CIFAR PNGs "
        "of `../shared/data/` under distinct keys.",
        "",
        "| path | images | s to the results document | images/s | exactly one each | "
        "missing / duplicated / unknown | statuses | peak memory, server + workers (MB) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    runs = [("transform", t), ("map (batch state machine, `images`)", m)]
    if "transform_only" in results["paths"]:
        runs.append(("transform (alone)", results["paths"]["transform_only"]))
    for name, r in runs:
        lines.append(
            f"| {name} | {r['images']} | {r['seconds']} | {r['images_per_s']} | "
            f"{r.get('exactly_one_each')} | {r.get('missing')} / {r.get('duplicated')} / "
            f"{r.get('unknown')} | {r.get('statuses')} | {r['peak_memory_mb']} |"
        )
    lines += [
        "",
        f"Transform path, {t['images']} images: serialize_batch {t['serialize_s']} s, "
        f"{t['parts']} part(s), job(s) {t['jobs']} running {t['jobs_s']} s "
        f"({t['job_images_per_s']} images/s inside the job); batch `{t['batch_status']}`.",
        f"Map path: execution {m['execution']}, alerts {m['alerts']}.",
    ]
    if "transform_only" in results["paths"]:
        more = results["paths"]["transform_only"]
        lines.append(
            f"Transform path alone, {more['images']} images: serialize_batch "
            f"{more['serialize_s']} s, job {more['jobs_s']} s ({more['job_images_per_s']} "
            f"images/s inside the job). The Map path at {more['images']} images was not run: "
            f"at {m['images_per_s']} images/s it would take "
            f"~{more['images'] / m['images_per_s'] / 60:.0f} minutes."
        )
    lines += [
        f"Memory after both paths: {results['memory_after_mb']:.0f} MB.",
        "",
        "## The model alone, for comparison",
        "",
        f"`code/inference.py` in-process over the same {model['images']} PNGs (median of 3): "
        f"**{model['batched_images_per_s']} images/s** with JSON lines of "
        f"{model['request_images']} images per request, {model['single_images_per_s']} "
        "images/s one image per request.",
        "",
        f"- Transform path end to end: {t['images_per_s']} images/s = "
        f"{100 * t['images_per_s'] / model['batched_images_per_s']:.0f}% of the model's "
        f"batched rate; inside the job: {t['job_images_per_s']} images/s = "
        f"{100 * (t['job_images_per_s'] or 0) / model['batched_images_per_s']:.0f}%.",
        f"- Map path: {m.get('images_per_s')} images/s = "
        f"{100 * (m.get('images_per_s') or 0) / model['single_images_per_s']:.0f}% of the "
        "model's one-image-per-request rate.",
        "",
        "## AWS cost per 1,000 images",
        "",
        "Lambda durations are the local cloud's REPORT lines (this machine's speed, each "
        "function's configured memory); uploading the images is the same for both paths and "
        "not counted.",
        "",
        "```",
        "Lambda      = sum(duration_s x memory_GB) x $/GB-s + invocations x $/request",
        "Transform   = Lambda(serialize_batch + start_transform_job + evaluate_transform_output)",
        "            + ml.m5.large $/h x (N / model batched images/s"
        f" + {TRANSFORM_STARTUP_S} s start-up x parts) / 3600",
        "            + S3: PUT (2 + 3 x parts + LISTs 1 + parts) x $/PUT"
        " + GET (N + 4 x parts + 1) x $/GET",
        "Map         = Lambda(serialize + classify + filter per image, summarize_batch)",
        f"            + ({CHILD_TRANSITIONS} x N + {PARENT_TRANSITIONS}) state transitions"
        " x $/transition",
        "            + ml.m5.large $/h x (N / model single-image images/s) / utilisation / 3600",
        "            + S3: GET N + 3, PUT 4",
        "all x 1000 / N",
        "```",
        "",
        "| path | Lambda | Step Functions | SageMaker | S3 | total |",
        "|---|---|---|---|---|---|",
        f"| transform (job billed {ct['job_seconds_billed']} s incl. start-up) | "
        f"{money(ct['lambda'])} | - | {money(ct['sagemaker_job'])} | {money(ct['s3'])} | "
        f"**{money(ct['total'])}** |",
    ]
    if "transform_only" in results["cost"]:
        c10 = results["cost"]["transform_only"]
        lines.append(
            f"| transform, {results['paths']['transform_only']['images']} images in one job "
            f"(billed {c10['job_seconds_billed']} s) | {money(c10['lambda'])} | - | "
            f"{money(c10['sagemaker_job'])} | {money(c10['s3'])} | **{money(c10['total'])}** |"
        )
    for util, endpoint in cm["endpoint"].items():
        lines.append(
            f"| map, endpoint {util} ({cm['endpoint_seconds']} s of instance per 1,000 "
            f"images when busy) | {money(cm['lambda'])} | {money(cm['step_functions'])} | "
            f"{money(endpoint)} | {money(cm['s3'])} | **{money(cm['total'][util])}** |"
        )
    lines += [
        "",
        f"The transform job's start-up ({TRANSFORM_STARTUP_S} s, an assumption: provisioning "
        "and the container's start, not measured here) dominates its cost at this size; at "
        "10,000 images per job it is spread ten times thinner. The endpoint runs whether or "
        "not images arrive: its share per 1,000 images is its hourly price over the images "
        "it actually serves. Its busy rate is the model's one-image rate measured here "
        "(ml.m5.large has 2 vCPUs, like this machine; the local endpoint was not the Map "
        "path's bottleneck: Lambda and Step Functions were). Step Functions' state "
        "transitions dominate the Map path's cost.",
        "",
        "Prices (us-east-1, on-demand):",
        "",
    ]
    lines += [f"- `{k}` = {v[0]:.10g}: {v[1]}" for k, v in PRICES.items()]
    lines += [
        "",
        "Lambda per function (invocations, seconds, GB-s): transform "
        f"{json.dumps(t['lambdas'])}; map {json.dumps(m['lambdas'])}.",
    ]
    if results.get("note"):
        lines += ["", results["note"]]
    (RESULTS / "transform.md").write_text("\n".join(lines) + "\n")


def price(results: dict) -> None:
    paths, model = results["paths"], results["model"]
    results["cost"] = {
        "transform": transform_cost(paths["transform"], model),
        "map": map_cost(paths["map"], model),
    }
    if "transform_only" in paths:
        results["cost"]["transform_only"] = transform_cost(paths["transform_only"], model)
    results["prices"] = {k: {"usd": v[0], "source": v[1]} for k, v in PRICES.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--transform-only", type=int, default=0, metavar="N")
    parser.add_argument(
        "--reprice",
        action="store_true",
        help="recompute the costs of the last results/transform.json with PRICES; no run",
    )
    args = parser.parse_args(argv)
    if args.reprice:
        results = json.loads((RESULTS / "transform.json").read_text())
        price(results)
        write_results(results)
        print(f"rewrote {RESULTS / 'transform.md'} and {RESULTS / 'transform.json'}")
        return 0
    if shutil.which("terraform") is None:
        print("bench_transform: terraform is not on PATH", file=sys.stderr)
        return 1
    command = " ".join(
        [".venv/bin/python", "-m", "benchmarks.bench_transform", *(argv or sys.argv[1:])]
    )
    results: dict = {"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "paths": {}}
    artifact = trained_artifact(ARCHIVE)
    cifar = cifar_pngs(ARCHIVE, artifact.parent / "cifar")
    pngs = sorted(cifar.rglob("*.png"))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        print("1/4 the model alone", flush=True)
        results["model"] = model_throughput(artifact, pngs, work)
        print(json.dumps(results["model"]), flush=True)
        with deployed_cloud(work, artifact) as (url, outputs, process):
            s3, bucket = clients(url)("s3"), outputs["data_bucket"]
            queue_url = alert_queue(url, outputs["alert_topic_arn"])
            print(f"2/4 transform path: {args.images} images", flush=True)
            keys = upload(s3, bucket, pngs, args.images, "inputs/bench-transform/")
            results["paths"]["transform"] = transform_path(url, outputs, keys, process.pid)
            print(json.dumps(results["paths"]["transform"]), flush=True)
            print(f"3/4 map path: {args.images} images", flush=True)
            keys = upload(s3, bucket, pngs, args.images, "inputs/bench-map/")
            results["paths"]["map"] = map_path(url, outputs, keys, queue_url, process.pid)
            print(json.dumps(results["paths"]["map"]), flush=True)
            if args.transform_only:
                print(f"4/4 transform path alone: {args.transform_only} images", flush=True)
                keys = upload(s3, bucket, pngs, args.transform_only, "inputs/bench-more/")
                results["paths"]["transform_only"] = transform_path(url, outputs, keys, process.pid)
                print(json.dumps(results["paths"]["transform_only"]), flush=True)
            results["memory_after_mb"] = round(group_rss_mb(process.pid), 1)
    results["command"] = command
    price(results)
    write_results(results)
    print(f"wrote {RESULTS / 'transform.md'} and {RESULTS / 'transform.json'}")
    ok = all(r.get("exactly_one_each") for r in results["paths"].values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
