"""`python -m training cv`: compare training recipes by k-fold cross-validation on the
train split only, and fit the temperature the model is served with.

How the recipe's hyperparameters are chosen (test is never read here). Every config runs
on the same stratified folds of the 800 train images and the same model seeds, in the same
run, so differences are paired: fold by fold, seed by seed. Each fold trains on the other
folds' images with `refit_full=0` semantics (no selection: the last epoch) and predicts
its held-out images with the served model's flip TTA and softmax.

Per config: accuracy (mean over folds and seeds, and per fold), log loss, and what the
workflow's confidence filter would see: the share of held-out predictions whose top
probability reaches --threshold, and the accuracy of those.

    .venv/bin/python -m training cv --config baseline \\
        --config "ls0.1:label_smoothing=0.1" --seeds 0,1 --jobs 2

Results: benchmarks/results/recipe_cv.md (appended, one section per run) and .jsonl.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
# Without --channels: the ETL runs on the real bicycle/motorcycle subset.
SHARED_SUBSET = REPO.parent / "shared" / "data" / "cifar-100-scones-dev.tar.gz"
FOLD_SEED = 123


def parse_config(text: str) -> tuple[str, dict[str, str]]:
    """'name:key=value,key=value' (or just 'name' for the defaults); checked by the recipe."""
    from training import recipe

    name, _, rest = text.partition(":")
    items = [item for item in rest.split(",") if item]
    if not name or any("=" not in item for item in items):
        raise ValueError(f"--config {text!r}: expected name[:key=value,...]")
    overrides = dict(item.split("=", 1) for item in items)
    if {"seed", "refit_full"} & overrides.keys():
        raise ValueError(f"--config {text!r}: seeds come from --seeds; CV never refits")
    recipe.hyperparameters(overrides)  # unknown names and bad values fail before training
    return name, overrides


def fold_of_each_image(labels, folds: int):
    rng = np.random.RandomState(FOLD_SEED)
    assignment = np.zeros(len(labels), int)
    for label in np.unique(labels):
        index = np.where(labels == label)[0]
        rng.shuffle(index)
        assignment[index] = np.arange(len(index)) % folds
    return assignment


@functools.cache
def train_channel(images: str, lst: str):
    """The train channel, read once per worker process (every task of it shares it)."""
    from training.channels import read_channel

    return read_channel("train", Path(images), 2, Path(lst))


def run_fold(images: str, lst: str, folds: int, fold: int, seed: int, overrides: dict) -> dict:
    """Train on every fold but `fold`, predict `fold`: held-out probabilities and labels."""
    import torch

    from training import recipe
    from training.export import pixel_statistics

    channel = train_channel(images, lst)
    assignment = fold_of_each_image(channel.labels, folds)
    train_index, held_index = np.where(assignment != fold)[0], np.where(assignment == fold)[0]
    stats = pixel_statistics(channel.images[train_index], f"train fold != {fold}")
    mean = torch.tensor(stats.channel_mean).view(1, 3, 1, 1)
    std = torch.tensor(stats.channel_std).view(1, 3, 1, 1)

    def split(index):
        pixels = torch.from_numpy(channel.images[index]).permute(0, 3, 1, 2).float() / 255
        return recipe.Split(
            ((pixels - mean) / std).contiguous(), torch.from_numpy(channel.labels[index])
        )

    hyp = recipe.hyperparameters({**overrides, "seed": seed, "refit_full": 0})
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    started = time.perf_counter()
    net, _ = recipe.train(hyp, split(train_index), None, 2)
    seconds = time.perf_counter() - started
    held = split(held_index)
    probabilities = torch.softmax(recipe.predict_logits(net, held.images), 1)
    return {
        "fold": fold,
        "seed": seed,
        "probabilities": probabilities.tolist(),
        "labels": held.labels.tolist(),
        "train_seconds": round(seconds, 1),
    }


def fit_temperature(probabilities, labels) -> float:
    """The temperature T minimising the log loss of softmax(log p / T): a calibration.

    log p equals the logits up to a per-image constant, so this is temperature scaling.
    """

    def log_loss(temperature: float) -> float:
        scaled = calibrate(probabilities, temperature)
        return float(-np.log(scaled[np.arange(len(labels)), labels]).mean())

    return min(np.round(np.arange(0.2, 3.001, 0.02), 2), key=log_loss)


def calibrate(probabilities, temperature: float):
    logits = np.log(np.clip(probabilities, 1e-12, 1)) / temperature
    logits -= logits.max(1, keepdims=True)
    return np.exp(logits) / np.exp(logits).sum(1, keepdims=True)


def confidence(probabilities, labels, threshold: float) -> dict:
    top = probabilities.max(1)
    correct = probabilities.argmax(1) == labels
    confident = top >= threshold
    confident_accuracy = round(float(correct[confident].mean()), 4) if confident.any() else None
    return {
        "log_loss": round(float(-np.log(probabilities[np.arange(len(labels)), labels]).mean()), 4),
        "mean_top_probability": round(float(top.mean()), 4),
        "confident_share": round(float(confident.mean()), 4),
        "confident_accuracy": confident_accuracy,
    }


def score(runs: list[dict], threshold: float) -> dict:
    probabilities = np.concatenate([np.array(r["probabilities"]) for r in runs])
    labels = np.concatenate([np.array(r["labels"]) for r in runs])
    correct = probabilities.argmax(1) == labels
    temperature = float(fit_temperature(probabilities, labels))
    calibrated = confidence(calibrate(probabilities, temperature), labels, threshold)
    per_fold: dict[int, list[float]] = {}
    for r in runs:
        p, y = np.array(r["probabilities"]), np.array(r["labels"])
        per_fold.setdefault(r["fold"], []).append(float((p.argmax(1) == y).mean()))
    per_seed: dict[int, list[bool]] = {}
    for r in runs:
        p, y = np.array(r["probabilities"]), np.array(r["labels"])
        per_seed.setdefault(r["seed"], []).extend((p.argmax(1) == y).tolist())
    seed_accuracies = [statistics.mean(v) for v in per_seed.values()]
    return {
        "accuracy": round(float(correct.mean()), 4),
        "accuracy_std_over_seeds": round(statistics.pstdev(seed_accuracies), 4),
        "accuracy_per_fold": [round(statistics.mean(per_fold[f]), 4) for f in sorted(per_fold)],
        **confidence(probabilities, labels, threshold),
        "temperature": temperature,
        "calibrated": calibrated,
        "train_seconds_mean": round(statistics.mean(r["train_seconds"] for r in runs), 1),
        "predictions": len(labels),
    }


def cv_pool(etl_output: Path | None, work: Path) -> tuple[Path, Path]:
    """The train images and a folder holding only their `.lst` (what read_channel takes);
    runs the ETL on the real subset when no ETL output is given."""
    from training.splits import EtlOutput, write_lst

    etl = EtlOutput.open(etl_output or run_etl(work / "cifar"))
    write_lst(work / "lst", "train", etl.lines("train"))
    return etl.root / "train", work / "lst"


def markdown(report: dict) -> str:
    lines = [
        f"## {report['when']}: {', '.join(report['configs'])}",
        "",
        f"Command: `{report['command']}`  ",
        f"{report['folds']} folds x seeds {report['seeds']}, threshold {report['threshold']}; "
        f"load average {report['load_start']} at start, {report['load_end']} at end.",
        "",
        "Confidence columns: top probability >= threshold, with the plain softmax (`raw`, "
        "temperature 1) and after temperature scaling with the T that minimises the pooled "
        "CV log loss (`T`).",
        "",
        "| config | overrides | CV accuracy | std over seeds | per fold | log loss | "
        "raw share >= thr. | raw acc. of those | T | T log loss | T share | T acc. | train s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, result in report["results"].items():
        calibrated = result["calibrated"]
        folds = " ".join(f"{a:.3f}" for a in result["accuracy_per_fold"])
        overrides = ", ".join(f"{k}={v}" for k, v in report["configs"][name].items()) or "defaults"
        lines.append(
            f"| {name} | {overrides} | {result['accuracy']:.4f} | "
            f"{result['accuracy_std_over_seeds']:.4f} | {folds} | {result['log_loss']:.3f} | "
            f"{result['confident_share']:.3f} | {result['confident_accuracy']} | "
            f"{result['temperature']} | {calibrated['log_loss']:.3f} | "
            f"{calibrated['confident_share']:.3f} | {calibrated['confident_accuracy']} | "
            f"{result['train_seconds_mean']} |"
        )
    return "\n".join(lines) + "\n\n"


def run_etl(out: Path) -> Path:
    """The real subset through the project's ETL into `out` (train/, test/, *.lst)."""
    if not SHARED_SUBSET.is_file():
        raise ValueError(f"no --channels and no CIFAR-100 subset at {SHARED_SUBSET}: pass one")
    subprocess.run(
        [sys.executable, "-m", "etl", "--source", str(SHARED_SUBSET), "--out", str(out)],
        check=True, cwd=REPO, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training cv", description=__doc__.splitlines()[0].strip('"`')
    )
    parser.add_argument(
        "--config", action="append", required=True, help="name[:key=value,...] (repeatable)"
    )
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--jobs", type=int, default=2, help="parallel folds (1 thread each)")
    parser.add_argument("--threshold", type=float, default=0.93)
    parser.add_argument(
        "--channels", type=Path, help="ETL output folder (default: run the ETL on the subset)"
    )
    args = parser.parse_args(argv)
    try:
        configs = dict(parse_config(text) for text in args.config)
    except ValueError as error:  # HyperparameterError is a ValueError
        parser.error(str(error))
    seeds = [int(s) for s in args.seeds.split(",")]
    load_start = round(os.getloadavg()[0], 2)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            images, lst = cv_pool(args.channels, Path(tmp))
        except ValueError as error:  # SplitError: not the ETL's output
            parser.error(str(error))
        tasks = [
            (name, fold, seed) for name in configs for seed in seeds for fold in range(args.folds)
        ]
        runs: dict[str, list[dict]] = {name: [] for name in configs}
        with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
            futures = {
                pool.submit(
                    run_fold, str(images), str(lst), args.folds, fold, seed, configs[name]
                ): name
                for name, fold, seed in tasks
            }
            for done, future in enumerate(futures, 1):
                name = futures[future]
                run = future.result()
                runs[name].append(run)
                accuracy = np.mean(np.argmax(run["probabilities"], 1) == run["labels"])
                print(f"[{done}/{len(tasks)}] {name} fold {run['fold']} seed {run['seed']}: "
                      f"{accuracy:.3f} ({run['train_seconds']} s)", flush=True)  # fmt: skip
    report = {
        "command": "python -m training cv " + " ".join(sys.argv[2:] if argv is None else argv),
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "folds": args.folds,
        "seeds": seeds,
        "threshold": args.threshold,
        "load_start": load_start,
        "load_end": round(os.getloadavg()[0], 2),
        "configs": configs,
        "results": {name: score(runs[name], args.threshold) for name in configs},
    }
    RESULTS.mkdir(exist_ok=True)
    with (RESULTS / "recipe_cv.jsonl").open("a", encoding="utf-8") as jsonl:
        jsonl.write(json.dumps(report) + "\n")
    with (RESULTS / "recipe_cv.md").open("a", encoding="utf-8") as md:
        md.write(markdown(report))
    print(markdown(report))
    return 0
