"""Benchmark of the Terraform checks: time of init + validate + `terraform test` on a
warm cache, next to a baseline measured in the same run (a configuration that only
loads the AWS provider, i.e. the fixed cost every AWS configuration pays), and the
number of resources in a plan.

The plan is made against a moto server started here on a free loopback port (the
offline stand-in for AWS: plan only reads the caller identity), once without a model
and once with `model_data_url` set, and the resources to create are counted in
`terraform show -json`.

    .venv/bin/python -m benchmarks.bench_terraform [--repeats 3] [--skip-tests]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.support.builds import build_lambda_zips, write_terraform_cli_config
from tests.support.network import free_port

REPO_ROOT = Path(__file__).resolve().parents[1]
TERRAFORM_DIR = REPO_ROOT / "terraform"
RESULTS = REPO_ROOT / "benchmarks" / "results"
MODEL_URL = "s3://bench-artifacts/models/run/model.tar.gz"

BASELINE_CONFIG = """
terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = "= 5.100.0" }
  }
}
provider "aws" { region = "us-east-1" }
data "aws_partition" "current" {}
"""


def terraform(args: list[str], cwd: Path, env: dict[str, str]) -> float:
    """Runs one terraform command, fails loudly, returns its wall time in seconds."""
    start = time.perf_counter()
    result = subprocess.run(["terraform", *args], cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(
            f"error: terraform {' '.join(args)} failed:\n{result.stdout[-3000:]}{result.stderr}"
        )
    return elapsed


def timed(args: list[str], cwd: Path, env: dict[str, str], repeats: int) -> dict[str, float]:
    samples = [terraform(args, cwd, env) for _ in range(repeats)]
    return {"median_s": round(statistics.median(samples), 2), "min_s": round(min(samples), 2)}


def base_env(work: Path) -> dict[str, str]:
    config = work / "terraformrc"
    write_terraform_cli_config(config)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_VAR_", "TF_WORKSPACE"))}
    env.update(TF_CLI_CONFIG_FILE=str(config), TF_IN_AUTOMATION="1", CHECKPOINT_DISABLE="1")
    return env


def build_zips(work: Path) -> Path:
    return build_lambda_zips(work / "lambdas")


def count_planned(env: dict[str, str], work: Path, extra: list[str]) -> dict[str, int]:
    plan = work / "bench.tfplan"
    terraform(["plan", "-input=false", "-lock=false", f"-out={plan}", *extra], TERRAFORM_DIR, env)
    shown = subprocess.run(
        ["terraform", "show", "-json", str(plan)],
        cwd=TERRAFORM_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    changes = json.loads(shown.stdout)["resource_changes"]
    managed = [c for c in changes if c["mode"] == "managed" and "create" in c["change"]["actions"]]
    by_type: dict[str, int] = {}
    for change in managed:
        by_type[change["type"]] = by_type.get(change["type"], 0) + 1
    return {"total": len(managed), **dict(sorted(by_type.items()))}


def plan_counts(env: dict[str, str], work: Path) -> dict[str, dict[str, int]]:
    port = free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.3)
        common = [f"-var=aws_endpoint_url=http://127.0.0.1:{port}"]
        return {
            "before_a_model": count_planned(env, work, common),
            "with_a_model": count_planned(env, work, [*common, f"-var=model_data_url={MODEL_URL}"]),
        }
    finally:
        server.terminate()
        server.wait(timeout=10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-tests", action="store_true", help="leave out terraform test")
    args = parser.parse_args()
    if shutil.which("terraform") is None:
        sys.exit("error: terraform is not on PATH")

    with tempfile.TemporaryDirectory(prefix="bench-terraform-") as tmp:
        work = Path(tmp)
        env = base_env(work)
        ours = {
            **env,
            "TF_DATA_DIR": str(work / "ours"),
            "TF_VAR_lambda_artifacts_dir": str(build_zips(work)),
        }
        baseline_dir = work / "baseline"
        baseline_dir.mkdir()
        (baseline_dir / "main.tf").write_text(BASELINE_CONFIG, encoding="utf-8")
        baseline = {**env, "TF_DATA_DIR": str(work / "baseline-data")}

        init = ["init", "-backend=false", "-input=false"]
        print("cold init (empty data dir) ...", flush=True)
        cold = {
            "ours": terraform(init, TERRAFORM_DIR, ours),
            "baseline": terraform(init, baseline_dir, baseline),
        }
        results: dict[str, object] = {"cold_init_s": {k: round(v, 2) for k, v in cold.items()}}
        for name, command in (("init_warm", init), ("validate", ["validate"])):
            print(f"{name} x{args.repeats} ...", flush=True)
            results[name] = {
                "ours": timed(command, TERRAFORM_DIR, ours, args.repeats),
                "baseline": timed(command, baseline_dir, baseline, args.repeats),
            }
        if not args.skip_tests:
            print("terraform test (every suite, once) ...", flush=True)
            results["terraform_test_s"] = round(terraform(["test"], TERRAFORM_DIR, ours), 2)
        print("plan against a local moto server ...", flush=True)
        results["planned_resources"] = plan_counts(ours, work)

    ratios = {
        name: round(results[name]["ours"]["median_s"] / results[name]["baseline"]["median_s"], 2)
        for name in ("init_warm", "validate")
    }
    results["ratio_ours_to_baseline"] = ratios
    write_results(
        results, " ".join([".venv/bin/python", "benchmarks/bench_terraform.py", *sys.argv[1:]])
    )
    print(json.dumps(results, indent=2))
    print(f"wrote {RESULTS / 'terraform.md'} and {RESULTS / 'terraform.json'}")
    return 0


def write_results(results: dict[str, object], command: str) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {"command": command, "terraform": terraform_version(), **results}
    (RESULTS / "terraform.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    init, validate = results["init_warm"], results["validate"]
    cold, ratio = results["cold_init_s"], results["ratio_ours_to_baseline"]
    planned = results["planned_resources"]
    lines = [
        "# Terraform checks: time and size",
        "",
        f"Command: `{command}` (machine: 2 shared cores; timings are noisy, compare the ratios).",
        f"Terraform {payload['terraform']}, hashicorp/aws 5.100.0 from the local mirror.",
        "Baseline: a configuration that only loads the AWS provider, measured in the same run.",
        "",
        "| step | ours (median s) | baseline (median s) | ratio |",
        "|---|---|---|---|",
        row("init, cold (empty data dir)", cold["ours"], cold["baseline"], ""),
        row(
            "init, warm", init["ours"]["median_s"], init["baseline"]["median_s"], ratio["init_warm"]
        ),
        row(
            "validate",
            validate["ours"]["median_s"],
            validate["baseline"]["median_s"],
            ratio["validate"],
        ),
    ]
    if "terraform_test_s" in results:
        lines.append(row("terraform test (all suites)", results["terraform_test_s"], "", ""))
        warm_total = (
            init["ours"]["median_s"] + validate["ours"]["median_s"] + results["terraform_test_s"]
        )
        lines += [
            "",
            f"init + validate + terraform test on a warm cache: **{round(warm_total, 1)} s**.",
        ]
    lines += [
        "",
        "Resources in a plan (managed resources to create; `terraform plan` against a moto",
        "server on loopback, counted from `terraform show -json`):",
        "",
        f"- before a model: **{planned['before_a_model']['total']}**",
        f"- with `model_data_url`: **{planned['with_a_model']['total']}**",
        "",
        "| resource type | before a model | with a model |",
        "|---|---|---|",
    ]
    types = sorted(set(planned["before_a_model"]) | set(planned["with_a_model"]) - {"total"})
    for name in (t for t in types if t != "total"):
        before, after = planned["before_a_model"], planned["with_a_model"]
        lines.append(row(name, before.get(name, 0), after.get(name, 0)))
    (RESULTS / "terraform.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def row(*cells: object) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def terraform_version() -> str:
    out = subprocess.run(
        ["terraform", "version", "-json"], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)["terraform_version"]


if __name__ == "__main__":
    sys.exit(main())
