"""Everything train.py writes next to the model: ONNX graph, metadata, curves, handler.

Imported flat (`import export`) by train.py, which SageMaker runs as a script from
`source_dir`, so this module imports no sibling by package name. The one exception is the
drift statistics builder, etl/pixel_stats.py: imported from the repository where it is
there, from `source_dir` in a SageMaker job (the launcher stages it next to this file).
"""

from __future__ import annotations

import json
import shutil
import warnings
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

try:  # the repository: local training, the tests
    from etl.pixel_stats import PixelStats, PixelStatsBuilder
except ModuleNotFoundError:  # a SageMaker job: sagemaker_job.stage_source copies it here
    from pixel_stats import PixelStats, PixelStatsBuilder

HERE = Path(__file__).resolve().parent
INPUT_NAME, OUTPUT_NAME = "image", "probabilities"


class Served(nn.Module):
    """The trained net as served: flip test-time augmentation, then calibrated softmax.

    `temperature` divides the logits so that the top probability means what the
    workflow's confidence threshold assumes (recipe.HYPERPARAMETERS says how it is set).
    """

    def __init__(self, net: nn.Module, temperature: float):
        super().__init__()
        self.net = net
        self.temperature = temperature

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        logits = (self.net(image) + self.net(image.flip(-1))) / 2
        return torch.softmax(logits / self.temperature, dim=1)


def export_onnx(
    net: nn.Module, path: Path, input_size: tuple[int, int], temperature: float
) -> None:
    """Export with a dynamic batch axis.

    Uses the TorchScript-based exporter (dynamo=False): torch 2.13's default dynamo
    exporter needs the onnxscript package, which this project does not install.
    """
    served = Served(net, temperature).eval()
    example = torch.zeros(1, 3, *input_size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice
        torch.onnx.export(
            served,
            (example,),
            str(path),
            dynamo=False,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
            opset_version=17,
        )


def pixel_statistics(images: np.ndarray, split: str) -> PixelStats:
    """The fit set's pixel statistics (uint8 N x H x W x 3, RGB): what monitoring compares
    live traffic to, built exactly as the ETL builds its manifest's (CONTRACTS.md)."""
    return PixelStatsBuilder().add_images(images).build(split)


def write_metadata(path: Path, **fields) -> None:
    path.write_text(json.dumps(fields, indent=2) + "\n", encoding="utf-8")


def write_handler(model_dir: Path) -> None:
    """Copy the one inference handler into the artifact as code/inference.py.

    In a SageMaker job, the launcher ships the onnxruntime wheel for the serving image in
    `vendor/` next to this file; it is unpacked into code/lib for network-isolated serving.
    """
    code = model_dir / "code"
    code.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(HERE / "inference.py", code / "inference.py")
    for wheel in sorted((HERE / "vendor").glob("onnxruntime-*.whl")):
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(code / "lib")


def plot_curves(history: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [m["epoch"] for m in history]
    figure, (loss_axis, accuracy_axis) = plt.subplots(1, 2, figsize=(10, 4))
    for split in ("train", "validation"):
        if f"{split}_loss" in history[0]:
            loss_axis.plot(epochs, [m[f"{split}_loss"] for m in history], label=split)
            accuracy_axis.plot(epochs, [m[f"{split}_accuracy"] for m in history], label=split)
    selected = [m["epoch"] for m in history if m.get("selected")]
    for axis, title in ((loss_axis, "loss"), (accuracy_axis, "accuracy")):
        if selected:
            axis.axvline(selected[-1], color="grey", linestyle=":", label="selected")
        axis.set(title=title, xlabel="epoch")
        axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
