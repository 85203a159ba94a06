"""SageMaker script-mode entry point: train the classifier and write the model directory.

The SageMaker contract, here and locally alike:
- SM_CHANNEL_TRAIN, SM_CHANNEL_VALIDATION: folders of PNG images; the `.lst` manifest is
  either in the same folder or in SM_CHANNEL_TRAIN_LST / SM_CHANNEL_VALIDATION_LST (the
  built-in algorithm's separate channels). Paths in a `.lst` are relative to the images.
- SM_CHANNEL_TEST (optional): evaluated once, after model selection, for the report only.
- SM_MODEL_DIR: receives model.onnx, metadata.json, metrics.json, curves.png and
  code/inference.py; SageMaker tars it into model.tar.gz.
- SM_OUTPUT_DATA_DIR (optional): receives weights.pt, the torch state dict (not served).
- Hyperparameters are arguments (`--epochs 40`, `--batch_size 64`), see
  recipe.HYPERPARAMETERS; plus `--class-names` and `--threads`.

Everything is validated before training; a bad input exits with code 2 and one line.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

# SageMaker runs this file as a script from source_dir: siblings import flat.
import export
import numpy as np
import recipe
import torch
from channels import INPUT_SIZE, Channel, ChannelError, read_channel

DEFAULT_CLASS_NAMES = "bicycle,motorcycle"


class UsageError(ValueError):
    """Bad arguments or environment; the message says what to fix."""


def parse_arguments(argv: list[str]) -> tuple[argparse.Namespace, dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--class-names", "--class_names", default=DEFAULT_CLASS_NAMES)
    parser.add_argument(
        "--threads", type=int, default=2, help="torch threads (results depend on the count)"
    )
    options, rest = parser.parse_known_args(argv)
    overrides = {}
    while rest:
        flag = rest.pop(0)
        if flag.startswith("--") and "=" in flag:
            flag, value = flag.split("=", 1)
        elif flag.startswith("--") and rest and not rest[0].startswith("--"):
            value = rest.pop(0)
        else:
            raise UsageError(f"expected '--<hyperparameter> <value>', got {flag!r}")
        overrides[flag[2:].replace("-", "_")] = value
    hyp = recipe.hyperparameters(overrides)
    options.class_names = [name.strip() for name in options.class_names.split(",")]
    if len(options.class_names) < 2 or not all(options.class_names):
        raise UsageError(f"--class-names needs at least 2 non-empty names: {options.class_names}")
    return options, hyp


def channel_from_env(name: str, num_classes: int, required: bool = True) -> Channel | None:
    variable = f"SM_CHANNEL_{name.upper()}"
    folder = os.environ.get(variable)
    if not folder:
        if required:
            raise ChannelError(f"channel {name!r} is missing: set {variable} to its folder")
        return None
    lst_folder = os.environ.get(f"SM_CHANNEL_{name.upper()}_LST")
    return read_channel(name, Path(folder), num_classes, Path(lst_folder) if lst_folder else None)


def to_split(channel: Channel, mean: np.ndarray, std: np.ndarray) -> recipe.Split:
    pixels = torch.from_numpy(channel.images).permute(0, 3, 1, 2).float() / 255
    normalised = (pixels - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    return recipe.Split(normalised.float().contiguous(), torch.from_numpy(channel.labels))


def make_deterministic(seed: int, threads: int) -> None:
    """Same seed, same threads -> the same weights, bit for bit."""
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)


def clock(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes}:{seconds:02d}"


class EpochProgress:
    """One line per epoch saying where training is and how long it should still take:
    `member 1/2  epoch 11/40  train_loss 0.4100  ...  elapsed 0:23  eta 1:12`."""

    def __init__(self, epochs: int, members: int) -> None:
        self.epochs, self.members, self.started = epochs, members, time.monotonic()

    def __call__(self, epoch: int, metrics: dict) -> None:
        member = metrics.get("member", 1)
        done = ((member - 1) * self.epochs + epoch) / (self.epochs * self.members)
        elapsed = time.monotonic() - self.started
        where = [f"member {member}/{self.members}"] if self.members > 1 else []
        where.append(f"epoch {epoch:{len(str(self.epochs))}d}/{self.epochs}")
        numbers = [f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, float)]
        timing = [f"elapsed {clock(elapsed)}", f"eta {clock(elapsed / done - elapsed)}"]
        line = "  ".join(where + numbers + timing)
        print(line + ("  *" if metrics.get("selected") else ""), flush=True)


def write_model_dir(out: Path, net, history, options, hyp, stats, summary) -> None:
    """Write into a temporary folder, then move: no half-written model directory."""
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out, prefix=".partial-") as tmp:
        staging = Path(tmp)
        export.export_onnx(
            net, staging / "model.onnx", (INPUT_SIZE, INPUT_SIZE), hyp["temperature"]
        )
        export.write_metadata(
            staging / "metadata.json",
            class_names=options.class_names,
            input_size=[INPUT_SIZE, INPUT_SIZE],
            input_format="RGB",
            normalization={
                "scale": 1 / 255,
                "mean": list(stats.channel_mean),
                "std": list(stats.channel_std),
                "formula": "(pixel / 255 - mean) / std, per channel",
            },
            pixel_stats=stats.to_json(),
            model_file="model.onnx",
            runtime="onnxruntime",
            onnx_input=export.INPUT_NAME,
            onnx_output=export.OUTPUT_NAME,
            hyperparameters=hyp,
            torch_version=torch.__version__,
            **summary,
        )
        (staging / "metrics.json").write_text(
            json.dumps({"epochs": history, **summary}, indent=2) + "\n", encoding="utf-8"
        )
        export.plot_curves(history, staging / "curves.png")
        export.write_handler(staging)
        for item in staging.iterdir():
            target = out / item.name
            if target.is_dir():
                shutil.rmtree(target)
            os.replace(item, target)


def merge_channels(first: Channel, second: Channel) -> Channel:
    return Channel(
        f"{first.name}+{second.name}",
        np.concatenate([first.images, second.images]),
        np.concatenate([first.labels, second.labels]),
        first.paths + second.paths,
    )


def selection_summary(net, history: list[dict], held_out: recipe.Split | None) -> dict:
    """Which epoch is the model, and its held-out validation accuracy (None after a refit:
    validation was trained on; the held-out figure is from a run with refit_full 0)."""
    if held_out is None:
        return {"refit_full": True, "selected_epoch": len(history), "validation_accuracy": None}
    selected = [m["epoch"] for m in history if m.get("selected")]
    return {
        "refit_full": False,
        # An ensemble's members each select their own epoch; its history marks none.
        "selected_epoch": selected[-1] if selected else None,
        "validation_accuracy": recipe.evaluate(net, held_out.images, held_out.labels)["accuracy"],
    }


def run(argv: list[str]) -> dict:
    options, hyp = parse_arguments(argv)
    model_dir = os.environ.get("SM_MODEL_DIR")
    if not model_dir:
        raise UsageError("SM_MODEL_DIR is not set: where should the model go?")
    num_classes = len(options.class_names)
    train_channel = channel_from_env("train", num_classes)
    validation_channel = channel_from_env("validation", num_classes)
    test_channel = channel_from_env("test", num_classes, required=False)
    print(
        f"train {len(train_channel.labels)} images, validation {len(validation_channel.labels)}"
        f", classes {options.class_names}",
        flush=True,
    )

    fit_channel, held_out = train_channel, validation_channel
    if hyp["refit_full"]:
        # The recipe was chosen with validation held out; the final model gets its images
        # too. Nothing is held out, so there is no selection: the last epoch is the model.
        fit_channel, held_out = merge_channels(train_channel, validation_channel), None
        print(f"refit_full: training on train + validation ({len(fit_channel.labels)})", flush=True)
    stats = export.pixel_statistics(fit_channel.images, fit_channel.name)
    mean, std = np.array(stats.channel_mean), np.array(stats.channel_std)
    make_deterministic(hyp["seed"], options.threads)
    started, cpu_started = time.perf_counter(), time.process_time()
    validation = to_split(held_out, mean, std) if held_out is not None else None
    net, history = recipe.train(
        hyp,
        to_split(fit_channel, mean, std),
        validation,
        num_classes,
        on_epoch=EpochProgress(hyp["epochs"], hyp["members"]),
    )
    summary = selection_summary(net, history, validation)
    summary |= {
        "train_seconds": round(time.perf_counter() - started, 2),
        "train_cpu_seconds": round(time.process_time() - cpu_started, 2),
    }
    if test_channel is not None:
        test = to_split(test_channel, mean, std)
        summary["test_accuracy"] = recipe.evaluate(net, test.images, test.labels)["accuracy"]
    write_model_dir(Path(model_dir), net, history, options, hyp, stats, summary)
    output_dir = os.environ.get("SM_OUTPUT_DATA_DIR")
    if output_dir:  # the torch weights, outside the artifact: for benchmarks and debugging
        Path(output_dir).mkdir(parents=True, exist_ok=True)
        torch.save(
            {"state_dict": net.state_dict(), "hyperparameters": hyp, "classes": num_classes},
            Path(output_dir) / "weights.pt",
        )
    print(f"wrote the model to {model_dir}: {json.dumps(summary)}", flush=True)
    return summary


def main(argv: list[str] | None = None) -> int:
    try:
        run(sys.argv[1:] if argv is None else argv)
    except (UsageError, ChannelError, recipe.HyperparameterError) as error:
        print(f"train.py: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
