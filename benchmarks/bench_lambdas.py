"""Lambda zips: size and cold start, ours against a variant that imports the sagemaker SDK.

    .venv/bin/python -m benchmarks.bench_lambdas [--repeat 5]

Many original solutions put `import sagemaker` at the top of their handlers (to call the
endpoint through the SDK). The Lambda runtime has no sagemaker, so such a function must
bundle it with its dependencies. For each function this measures, side by side in the
same run (the machine is shared, so only the ratios are meaningful):

- zip size: ours, and ours plus the sagemaker closure the variant must bundle (the
  packages sagemaker needs that the runtime's boto3 does not provide, zipped once);
- cold start: a fresh interpreter imports the handler and serves its first event against
  a moto server (and an HTTP stub of the SageMaker runtime for classify_image). Ours runs
  with `-I -S` and only its zip plus boto3's closure on sys.path, as in AWS; the variant
  has the environment's site-packages, which holds sagemaker. Interleaved runs, medians.

Writes benchmarks/results/lambdas.md and lambdas.json.
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import os
import platform
import shlex
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
import zipfile
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from deployment.progress import progress_bar
from tests.support.moto_server import MotoServer

REPO = Path(__file__).resolve().parents[1]

from lambdas import build  # noqa: E402
from lambdas.runtime_site import build_runtime_site, closure  # noqa: E402
from tests.lambdas.lambdas_endpoint_stub import EndpointStub  # noqa: E402
from tests.support.cifar import load_images  # noqa: E402

ARCHIVE = Path(
    os.environ.get(
        "SCONES_SHARED_ARCHIVE", REPO.parent / "shared" / "data" / "cifar-100-scones-dev.tar.gz"
    )
)
RESULTS = REPO / "benchmarks" / "results"
REGION = "us-east-1"
LAMBDA_ZIP_LIMIT_UNZIPPED = 250 * 1024 * 1024  # function + layers, unzipped

# Runs in the child: import the handler, serve one event, report timings and peak memory.
CHILD = """
import json, sys, time, types
started = time.perf_counter()

def peak_rss_mb():
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forking parent.
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024

sys.path[:0] = json.loads(sys.argv[1])
import handler
imported = time.perf_counter()
context = types.SimpleNamespace(aws_request_id=sys.argv[3], function_name="bench")
try:
    handler.lambda_handler(json.loads(sys.argv[2]), context)
    error = None
except Exception as exc:
    error = f"{type(exc).__name__}: {exc}"
served = time.perf_counter()
print(json.dumps({
    "import_ms": (imported - started) * 1000,
    "first_event_ms": (served - imported) * 1000,
    "max_rss_mb": peak_rss_mb(),
    "error": error,
}))
"""


def sagemaker_variant(zip_path: Path, out: Path) -> Path:
    """The same zip with `import sagemaker` at the top of handler.py."""
    with zipfile.ZipFile(zip_path) as source, zipfile.ZipFile(out, "w") as variant:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "handler.py":
                text = data.decode()
                marker = "from __future__ import annotations\n"
                text = text.replace(marker, f"{marker}\nimport sagemaker  # noqa: F401\n", 1)
                data = text.encode()
            variant.writestr(info, data)
    return out


def bundle_size(work: Path) -> dict[str, Any]:
    """What the variant must add to its zip: sagemaker's closure minus the runtime's."""
    runtime = {d.metadata["Name"].lower() for d in closure(("boto3",))}
    extra = [d for d in closure(("sagemaker",)) if d.metadata["Name"].lower() not in runtime]
    files = [
        Path(d.locate_file(f))
        for d in extra
        for f in d.files or []
        if not f.parts[0].startswith("..") and "__pycache__" not in f.parts
    ]
    files = [f for f in files if f.is_file()]
    unzipped = sum(f.stat().st_size for f in files)
    bundle = work / "sagemaker-bundle.zip"
    site = Path(sysconfig.get_paths()["purelib"])
    with zipfile.ZipFile(bundle, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for file in progress_bar(
            files, desc="zipping the sagemaker closure", unit="file", leave=False
        ):
            try:
                archive.write(file, file.relative_to(site).as_posix())
            except ValueError:
                archive.write(file, file.name)
    return {
        "distributions": len(extra),
        "files": len(files),
        "unzipped_bytes": unzipped,
        "zipped_bytes": bundle.stat().st_size,
    }


class Cloud:
    """A moto server and the SageMaker runtime stub, seeded for each function's event."""

    def __init__(self, png: bytes) -> None:
        self.server = MotoServer()
        self.port, self.url = self.server.port, self.server.url
        self.stub = EndpointStub().start()
        self.topic, self.machine = self.server.seed_workflow(
            ["bench-data", "bench-results"], topic="bench", machine="bench-batch"
        )
        s3 = self.server.client("s3", region=REGION)
        s3.put_object(Bucket="bench-data", Key="inputs/bicycle.png", Body=png)

    def stop(self) -> None:
        self.stub.stop()
        self.server.stop()

    def env(self, function: str) -> dict[str, str]:
        specific = {
            "serialize_image_data": {},
            "classify_image": {"ENDPOINT_NAME": "bench", "CLASS_NAMES": "bicycle,motorcycle"},
            "filter_low_confidence": {"CLASS_NAMES": "bicycle,motorcycle"},
            "start_batch_workflow": {"STATE_MACHINE_ARN": self.machine},
            "summarize_batch": {"RESULTS_BUCKET": "bench-results"},
        }[function]
        return {
            "PATH": os.environ.get("PATH", ""),
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": self.stub.url,
            "SAGEMAKER_SUPPRESS_V2_WARNING": "1",
            "ALERT_TOPIC_ARN": self.topic,
            **specific,
        }


def events(png: bytes) -> dict[str, dict[str, Any]]:
    image = {"s3_bucket": "bench-data", "s3_key": "inputs/bicycle.png"}
    record = {"eventName": "ObjectCreated:Put"}
    record["s3"] = {"bucket": {"name": "bench-data"}, "object": {"key": "inbox/a.png"}}
    return {
        "serialize_image_data": image,
        "classify_image": {
            **image,
            "content_type": "image/png",
            "image_data": base64.b64encode(png).decode(),
        },
        "filter_low_confidence": {**image, "inferences": [0.97, 0.03]},
        "start_batch_workflow": {"Records": [record]},
        "summarize_batch": {"execution_name": "bench", "results": [{**image, "status": "passed"}]},
    }


def cold_start(path: list[Path], event: dict, env: dict, run_id: str) -> dict[str, float]:
    started = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-I", "-S", "-c", CHILD, json.dumps([str(p) for p in path]),
         json.dumps(event), run_id],
        env=env, capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    wall_ms = (time.perf_counter() - started) * 1000
    lines = completed.stdout.strip().splitlines()
    if completed.returncode != 0 or not lines:
        raise SystemExit(f"bench_lambdas.py: a cold start failed:\n{completed.stderr[-2000:]}")
    result = json.loads(lines[-1])
    if result.pop("error"):
        raise SystemExit(f"bench_lambdas.py: the first event failed: {completed.stdout}")
    return {**result, "process_ms": wall_ms}


def median_of(runs: list[dict[str, float]], field: str) -> float:
    return round(statistics.median(r[field] for r in runs), 1)


def measure(repeat: int, work: Path, png: bytes) -> dict[str, Any]:
    ours = build.build(work / "zips")
    variants = {n: sagemaker_variant(p, work / f"{n}-sagemaker.zip") for n, p in ours.items()}
    runtime = build_runtime_site(work / "runtime")
    site = Path(sysconfig.get_paths()["purelib"])
    # The moto server's request log would drown the progress bar.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    cloud = Cloud(png)
    try:
        inputs = events(png)
        runs: dict[str, dict[str, list]] = {n: {"ours": [], "sagemaker": []} for n in ours}
        plan = [(n, r) for r in range(repeat) for n in sorted(ours)]
        for name, rep in progress_bar(plan, desc="cold starts (ours, sagemaker)", unit="pair"):
            env = cloud.env(name)
            runs[name]["ours"].append(
                cold_start([ours[name], runtime], inputs[name], env, f"ours-{rep}")
            )
            runs[name]["sagemaker"].append(
                cold_start([variants[name], site], inputs[name], env, f"sagemaker-{rep}")
            )
    finally:
        cloud.stop()
    bundle = bundle_size(work)
    functions = {}
    for name, path in ours.items():
        mine, theirs = runs[name]["ours"], runs[name]["sagemaker"]
        ratio = median_of(theirs, "process_ms") / median_of(mine, "process_ms")
        functions[name] = {
            "zip_bytes": path.stat().st_size,
            "sagemaker_zip_bytes": variants[name].stat().st_size + bundle["zipped_bytes"],
            **{f"{field}_median": median_of(mine, field) for field in mine[0]},
            **{f"sagemaker_{field}_median": median_of(theirs, field) for field in theirs[0]},
            "process_ms_ratio": round(ratio, 1),
            "runs": runs[name],
        }  # fmt: skip
    return {"functions": functions, "sagemaker_bundle": bundle}


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "boto3": metadata.version("boto3"),
        "sagemaker": metadata.version("sagemaker"),
    }


def memory_note(report: dict[str, Any]) -> str:
    """Which functions the variant's peak memory would not fit (functions.json memory_mb)."""
    memory = {n: f["memory_mb"] for n, f in build.load_functions().items()}
    over = [
        f"{name} ({f['sagemaker_max_rss_mb_median']:.0f} MB > {memory[name]} MB)"
        for name, f in sorted(report["functions"].items())
        if name in memory and f["sagemaker_max_rss_mb_median"] > memory[name]
    ]
    if not over:
        return "Every variant's peak memory fits its function's memory_mb."
    return (
        f"With sagemaker, peak memory exceeds memory_mb in functions.json for: {', '.join(over)}."
    )


def markdown(report: dict[str, Any]) -> str:
    bundle = report["sagemaker_bundle"]
    mb = 1024 * 1024
    lines = [
        "# Lambda zips: size and cold start vs. `import sagemaker`",
        "",
        f"Command: `{report['command']}`  ",
        f"Date: {report['date']}; {report['repeat']} interleaved cold starts per function "
        f"and variant, medians.  ",
        f"Machine: {report['machine']['cpus']} CPUs shared with other jobs (load average "
        f"{', '.join(f'{x:.1f}' for x in report['machine']['load_average'])} at the end): "
        "absolute times are noisy, compare the ratios.  ",
        f"Python {report['machine']['python']}, boto3 {report['machine']['boto3']}, "
        f"sagemaker {report['machine']['sagemaker']}.",
        "",
        "Cold start = a fresh interpreter that imports the handler and serves its first "
        "event against a moto server (classify_image: against an HTTP stub of the "
        "SageMaker runtime API). Ours runs with only its zip and boto3 on sys.path.",
        "",
        "| function | zip (ours) | zip (+sagemaker) | import ms (ours / sm) | first event ms "
        "(ours / sm) | process ms (ours / sm) | ratio | peak RSS MB (ours / sm) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, f in sorted(report["functions"].items()):
        lines.append(
            f"| {name} | {f['zip_bytes'] / 1024:.1f} KiB | {f['sagemaker_zip_bytes'] / mb:.1f} MiB "
            f"| {f['import_ms_median']:.0f} / {f['sagemaker_import_ms_median']:.0f} "
            f"| {f['first_event_ms_median']:.0f} / {f['sagemaker_first_event_ms_median']:.0f} "
            f"| {f['process_ms_median']:.0f} / {f['sagemaker_process_ms_median']:.0f} "
            f"| {f['process_ms_ratio']}x "
            f"| {f['max_rss_mb_median']:.0f} / {f['sagemaker_max_rss_mb_median']:.0f} |"
        )
    over = bundle["unzipped_bytes"] > LAMBDA_ZIP_LIMIT_UNZIPPED
    lines += [
        "",
        f"The sagemaker variant must bundle {bundle['distributions']} distributions "
        f"({bundle['files']} files) that the runtime lacks: {bundle['zipped_bytes'] / mb:.1f} MiB "
        f"zipped, {bundle['unzipped_bytes'] / mb:.1f} MiB unzipped, "
        + ("over" if over else "under")
        + " Lambda's 250 MiB unzipped limit for a function and its layers"
        + (" (it cannot be deployed as a zip at all)." if over else "."),
        memory_note(report),
        "",
        "Raw runs are in `lambdas.json`.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="cold starts per variant")
    parser.add_argument(
        "--render", action="store_true", help="only rewrite lambdas.md from lambdas.json"
    )
    args = parser.parse_args(argv)
    if args.render:
        report = json.loads((RESULTS / "lambdas.json").read_text())
        (RESULTS / "lambdas.md").write_text(markdown(report))
        print(f"wrote {RESULTS / 'lambdas.md'} from {RESULTS / 'lambdas.json'}")
        return 0
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if not ARCHIVE.is_file():
        print(f"bench_lambdas.py: the CIFAR-100 subset is missing at {ARCHIVE}", file=sys.stderr)
        return 2
    png = load_images(ARCHIVE, 1)[0].png()
    with tempfile.TemporaryDirectory(prefix="bench-lambdas-") as work:
        measured = measure(args.repeat, Path(work), png)
    report = {
        "command": shlex.join(["python", "benchmarks/bench_lambdas.py", *sys.argv[1:]]),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "repeat": args.repeat,
        "machine": machine(),
        **measured,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "lambdas.json").write_text(json.dumps(report, indent=1) + "\n")
    (RESULTS / "lambdas.md").write_text(markdown(report))
    print(markdown(report))
    print(f"wrote {RESULTS / 'lambdas.md'} and {RESULTS / 'lambdas.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
