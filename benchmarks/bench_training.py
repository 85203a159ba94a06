"""Benchmark: the classifier against two baselines, and its serving runtimes.

Training (same run, same channels, same seeds): test accuracy (mean, spread), wall and
CPU seconds, peak RSS, for
- ours: training/train.py exactly as the launchers run it (airbench-style net);
- logistic regression on normalised pixels (full-batch L-BFGS);
- ResNet-18 (CIFAR variant, written here: no torchvision), SGD + one-cycle, flip+translate.
Validation is carved from train (stratified, seed 0); test is used for the report only.

Serving, through the artifact's own code/inference.py functions (input_fn -> predict_fn
-> output_fn): ONNX Runtime (what the artifact uses) against torch eager and TorchScript
doing predict_fn's work; import time, resident memory, p50/p99 latency at batch 1 and
throughput at batch 64. Each measurement runs in its own subprocess.

    .venv/bin/python -m benchmarks.bench_training [--seeds 0,1,2] [--resnet-epochs 8]

The machine may be shared: every number is taken in the same run as its baseline, and
the load average is recorded with the results.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
ARCHIVE = REPO.parent / "shared" / "data" / "cifar-100-scones-dev.tar.gz"
THREADS = 2


# ------------------------------------------------------------------ child processes


def run_child(command: list[str], env: dict | None = None, result: Path | None = None) -> dict:
    """Run `command`; its result is the JSON file `result`, else its last stdout line.

    Adds the child's wall and CPU seconds and its peak RSS.
    """
    started = time.perf_counter()
    process = subprocess.Popen(
        command, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, text=True
    )
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{command} failed ({process.returncode}):\n{output[-2000:]}")
    text = result.read_text() if result else output.strip().splitlines()[-1]
    result = json.loads(text)
    result.setdefault("wall_seconds", round(time.perf_counter() - started, 2))
    result["process_cpu_seconds"] = round(usage.ru_utime + usage.ru_stime, 2)
    result["peak_rss_mb"] = round(usage.ru_maxrss / 1024, 1)
    return result


# --------------------------------------------------------------------------- training


def train_ours(env: dict, seed: int, work: Path) -> dict:
    model_dir, output = work / f"ours-{seed}", work / f"ours-{seed}-output"
    command = [sys.executable, str(REPO / "training" / "train.py"), "--seed", str(seed)]
    child_env = {**env, "SM_MODEL_DIR": str(model_dir), "SM_OUTPUT_DATA_DIR": str(output)}
    result = run_child([*command, "--threads", str(THREADS)], child_env, model_dir / "metrics.json")
    result.pop("epochs")  # the per-epoch curves stay in the model directory
    return result | {"model_dir": str(model_dir), "weights": str(output / "weights.pt")}


def load_split(env: dict, name: str):
    import torch

    from training.channels import read_channel

    variable = f"SM_CHANNEL_{name.upper()}"
    channel = read_channel(name, Path(env[variable]), 2, Path(env[f"{variable}_LST"]))
    pixels = torch.from_numpy(channel.images).permute(0, 3, 1, 2).float() / 255
    return pixels, torch.from_numpy(channel.labels)


def worker_logistic(env: dict, seed: int) -> dict:
    import torch
    import torch.nn.functional as F

    torch.manual_seed(seed)
    started, cpu = time.perf_counter(), time.process_time()
    x, y = load_split(env, "train")
    mean, std = x.mean((0, 2, 3), keepdim=True), x.std((0, 2, 3), keepdim=True)
    flat = lambda images: ((images - mean) / std).flatten(1)  # noqa: E731
    weights = torch.zeros(flat(x).shape[1], 2, requires_grad=True)
    bias = torch.zeros(2, requires_grad=True)
    optimizer = torch.optim.LBFGS([weights, bias], max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = F.cross_entropy(flat(x) @ weights + bias, y) + 1e-2 * weights.square().sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    accuracy = {}
    for split in ("validation", "test"):
        images, labels = load_split(env, split)
        with torch.no_grad():
            predicted = (flat(images) @ weights + bias).argmax(1)
        accuracy[split] = (predicted == labels).float().mean().item()
    return {
        "validation_accuracy": accuracy["validation"],
        "test_accuracy": accuracy["test"],
        "train_seconds": round(seconds, 2),
        "train_cpu_seconds": round(cpu_seconds, 2),
    }


def resnet18(num_classes: int = 2):
    """ResNet-18 for 32x32 inputs (3x3 stem, no max-pool), as in the CIFAR literature."""
    from torch import nn

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.shortcut = nn.Sequential()
            if stride != 1 or cin != cout:
                self.shortcut = nn.Sequential(
                    nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
                )

        def forward(self, x):
            out = self.bn1(self.conv1(x)).relu()
            return (self.bn2(self.conv2(out)) + self.shortcut(x)).relu()

    layers, cin = [nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU()], 64
    for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        layers += [Block(cin, cout, stride), Block(cout, cout, 1)]
        cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, num_classes)]
    return nn.Sequential(*layers)


def worker_resnet(env: dict, seed: int, epochs: int) -> dict:
    import torch
    import torch.nn.functional as F

    from training import recipe

    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    started, cpu = time.perf_counter(), time.process_time()
    x, y = load_split(env, "train")
    mean, std = x.mean((0, 2, 3), keepdim=True), x.std((0, 2, 3), keepdim=True)
    x = (x - mean) / std
    net = resnet18()
    batch, steps = 64, epochs * ((len(x) + 63) // 64)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.05, total_steps=steps)
    for _ in range(epochs):
        net.train()
        images = recipe.augment(x, 4, generator)
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), batch):
            index = order[start : start + batch]
            loss = F.cross_entropy(net(images[index]), y[index], label_smoothing=0.1)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    accuracy = {}
    for split in ("validation", "test"):
        images, labels = load_split(env, split)
        accuracy[split] = recipe.evaluate(net, (images - mean) / std, labels)["accuracy"]
    return {
        "validation_accuracy": accuracy["validation"],
        "test_accuracy": accuracy["test"],
        "train_seconds": round(seconds, 2),
        "train_cpu_seconds": round(cpu_seconds, 2),
    }


# ---------------------------------------------------------------------------- serving


def worker_serve(runtime: str, model_dir: Path, weights: Path, images: list[Path]) -> dict:
    """Import, load and serve with one runtime through the handler's functions."""
    from training.artifact import load_inference

    started = time.perf_counter()
    handler = load_inference(model_dir)
    if runtime == "onnxruntime":
        import onnxruntime  # noqa: F401

        import_seconds = time.perf_counter() - started
        model = handler.model_fn(str(model_dir))
        predict = handler.predict_fn
    else:
        import numpy as np
        import torch

        import_seconds = time.perf_counter() - started
        torch.set_num_threads(THREADS)
        from training import export, recipe

        saved = torch.load(weights, weights_only=True)
        hyp = saved["hyperparameters"]
        net = recipe.make_model(hyp, saved["classes"])
        net.load_state_dict(saved["state_dict"])
        served = export.Served(net.eval(), hyp["temperature"]).eval()
        if runtime == "torchscript":
            served = torch.jit.trace(served, torch.zeros(1, 3, 32, 32))
        model = handler.model_fn(str(model_dir))  # for normalisation constants only

        def predict(batch, loaded):
            normalised = (batch - loaded["mean"]) / loaded["std"]
            with torch.inference_mode():
                return served(torch.from_numpy(normalised.astype(np.float32))).numpy()

    load_seconds = time.perf_counter() - started - import_seconds
    bodies = [path.read_bytes() for path in images]

    def serve_one(body: bytes) -> str:
        return handler.output_fn(predict(handler.input_fn(body, "image/png"), model), None)[0]

    for body in bodies[:20]:
        serve_one(body)
    latencies = []
    for i in range(300):
        tick = time.perf_counter()
        serve_one(bodies[i % len(bodies)])
        latencies.append((time.perf_counter() - tick) * 1000)
    import numpy as np

    rounds, tick = 10, time.perf_counter()
    for r in range(rounds):
        chunk = [bodies[(r * 64 + j) % len(bodies)] for j in range(64)]
        batch = np.concatenate([handler.input_fn(body, "image/png") for body in chunk])
        handler.output_fn(predict(batch, model), "application/jsonlines")
    throughput = rounds * 64 / (time.perf_counter() - tick)
    with open("/proc/self/status") as status:
        rss = next(int(line.split()[1]) for line in status if line.startswith("VmRSS"))
    return {
        "runtime": runtime,
        "import_seconds": round(import_seconds, 3),
        "load_seconds": round(load_seconds, 3),
        "latency_p50_ms": round(float(np.percentile(latencies, 50)), 3),
        "latency_p99_ms": round(float(np.percentile(latencies, 99)), 3),
        "throughput_batch64_images_per_s": round(throughput, 1),
        "rss_mb_after_serving": round(rss / 1024, 1),
    }


# ------------------------------------------------------------------------------ main


def summarise(runs: list[dict]) -> dict:
    accuracies = [r["test_accuracy"] for r in runs]
    keys = ("train_seconds", "train_cpu_seconds", "wall_seconds", "peak_rss_mb")
    return {
        "test_accuracy_mean": round(statistics.mean(accuracies), 4),
        "test_accuracy_std": round(statistics.pstdev(accuracies), 4),
        "test_accuracy_min": round(min(accuracies), 4),
        "test_accuracy_max": round(max(accuracies), 4),
        **{f"{k}_mean": round(statistics.mean(r[k] for r in runs), 2) for k in keys},
        "runs": runs,
    }


def carry_over_resnet(report: dict) -> None:
    """Keep the previous run's ResNet-18 numbers (it is the slow baseline), saying so."""
    previous = json.loads((RESULTS / "training.json").read_text())
    resnet = previous["training"]["ResNet-18"]
    resnet["carried_over_from"] = resnet.get("carried_over_from", previous["when"])
    report["training"]["ResNet-18"] = resnet
    report["resnet_epochs"], report["resnet_seeds"] = (
        previous["resnet_epochs"],
        previous["resnet_seeds"],
    )


def run_etl(out: Path) -> Path:
    """The real subset through the project's ETL into `out` (train/, test/, *.lst)."""
    subprocess.run(
        [sys.executable, "-m", "etl", "--source", str(ARCHIVE), "--out", str(out)],
        check=True, cwd=REPO, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    return out


def prepare_channels(work: Path, channels: Path | None) -> dict:
    from training.splits import EtlOutput, stage_channels

    etl = EtlOutput.open(channels or run_etl(work / "cifar"))
    return stage_channels(etl, work / "lists", 0.2, 0)


def resnet_note(resnet: dict) -> str:
    if "carried_over_from" not in resnet:
        return ""
    return f"; not rerun: its numbers are from the run of {resnet['carried_over_from']}"


def markdown(report: dict) -> str:
    lines = [
        "# Training and serving benchmark",
        "",
        f"Command: `{report['command']}`  ",
        f"When: {report['when']}; machine: {report['machine']}; load average at start "
        f"{report['load_start']}, at end {report['load_end']} (shared machine: compare ratios).",
        "",
        "## Training (train 640 / validation 160 carved from train / test 200)",
        "",
        "Ours runs train.py with its defaults: an ensemble of `members` nets in one graph, "
        "and `refit_full=1`, so the final model trains on train + validation (800 images) "
        "with the recipe chosen by cross-validation on train (training/README.md). The "
        "baselines train on the 640.",
        "",
        f"ResNet-18: {report['resnet_epochs']} epochs, seeds {report['resnet_seeds']} "
        "(it costs ~28x one of our nets per image, 556 vs ~20 MMAC; ours averages 2)"
        + resnet_note(report["training"].get("ResNet-18", {}))
        + ".",
        "",
        "| model | seeds | test acc. mean | std | min | max | train s (wall) | train CPU s "
        "| peak RSS MB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, s in report["training"].items():
        lines.append(
            f"| {name} | {len(s['runs'])} | {s['test_accuracy_mean']:.4f} | "
            f"{s['test_accuracy_std']:.4f} | "
            f"{s['test_accuracy_min']:.3f} | {s['test_accuracy_max']:.3f} | "
            f"{s['train_seconds_mean']:.1f} | {s['train_cpu_seconds_mean']:.1f} | "
            f"{s['peak_rss_mb_mean']:.0f} |"
        )
    lines += [
        "",
        "Train seconds exclude interpreter start and data loading; peak RSS is the whole "
        "training process (torch import included).",
        "",
        "## Serving through code/inference.py (2 threads)",
        "",
        "| runtime | import s | load s | p50 ms (batch 1) | p99 ms | batch-64 images/s | RSS MB |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in report["serving"]:
        lines.append(
            f"| {r['runtime']} | {r['import_seconds']:.2f} | {r['load_seconds']:.2f} | "
            f"{r['latency_p50_ms']:.2f} | {r['latency_p99_ms']:.2f} | "
            f"{r['throughput_batch64_images_per_s']:.0f} | {r['rss_mb_after_serving']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--resnet-epochs", type=int, default=8)
    parser.add_argument(
        "--resnet-seeds",
        help="seeds for ResNet-18 (default: --seeds; 'none' keeps the previous results "
        "file's ResNet-18 numbers, marked as such); it is ~14x our cost",
    )
    parser.add_argument("--channels", type=Path, help="ETL output (default: run the ETL)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--env", help=argparse.SUPPRESS)
    parser.add_argument("--serve", nargs=3, help=argparse.SUPPRESS)
    options = parser.parse_args()

    if options.worker:
        import torch

        torch.set_num_threads(THREADS)
        torch.use_deterministic_algorithms(True)
        env = json.loads(options.env)
        if options.worker == "logistic":
            print(json.dumps(worker_logistic(env, options.seed)))
        elif options.worker == "resnet18":
            print(json.dumps(worker_resnet(env, options.seed, options.resnet_epochs)))
        return
    if options.serve:
        runtime, model_dir, weights = options.serve
        images = sorted(Path(json.loads(options.env)["SM_CHANNEL_TEST"]).glob("*.png"))
        print(json.dumps(worker_serve(runtime, Path(model_dir), Path(weights), images)))
        return

    seeds = [int(s) for s in options.seeds.split(",")]
    carry_resnet = options.resnet_seeds == "none"
    resnet_seeds = [] if carry_resnet else [
        int(s) for s in (options.resnet_seeds or options.seeds).split(",")
    ]  # fmt: skip
    report = {
        "command": "python " + " ".join(["benchmarks/bench_training.py", *sys.argv[1:]]),
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "load_start": round(os.getloadavg()[0], 2),
    }
    me = [sys.executable, str(Path(__file__).resolve())]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = prepare_channels(work, options.channels)
        runs: dict[str, list] = {"ours (airbench-style)": [], "logistic regression": [],
                                 "ResNet-18": []}  # fmt: skip
        for seed in seeds:
            print(f"seed {seed}: ours", flush=True)
            runs["ours (airbench-style)"].append(train_ours(env, seed, work))
            print(f"seed {seed}: logistic regression", flush=True)
            worker = [*me, "--env", json.dumps(env), "--seed", str(seed)]
            runs["logistic regression"].append(run_child([*worker, "--worker", "logistic"]))
            if seed in resnet_seeds:
                print(f"seed {seed}: ResNet-18 ({options.resnet_epochs} epochs)", flush=True)
                resnet = [*worker, "--worker", "resnet18"]
                resnet += ["--resnet-epochs", str(options.resnet_epochs)]
                runs["ResNet-18"].append(run_child(resnet))
        report["training"] = {name: summarise(r) for name, r in runs.items() if r}
        report["resnet_epochs"], report["resnet_seeds"] = options.resnet_epochs, resnet_seeds
        if carry_resnet:
            carry_over_resnet(report)
        first = runs["ours (airbench-style)"][0]
        report["serving"] = []
        for runtime in ("onnxruntime", "torch-eager", "torchscript"):
            print(f"serving: {runtime}", flush=True)
            serve = [*me, "--env", json.dumps(env), "--serve", runtime, first["model_dir"],
                     first["weights"]]  # fmt: skip
            report["serving"].append(run_child(serve))
    report["load_end"] = round(os.getloadavg()[0], 2)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "training.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / "training.md").write_text(markdown(report))
    print(markdown(report))
    print(f"wrote {RESULTS / 'training.md'} and {RESULTS / 'training.json'}")


if __name__ == "__main__":
    main()
