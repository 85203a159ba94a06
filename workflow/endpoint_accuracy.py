"""Accuracy at the endpoint: every image of an ETL split sent through InvokeEndpoint.

The training-time test accuracy is the model's on this machine; this is what the
deployed endpoint answers for the same images (the artifact's own code/inference.py in
the serving container), so a wrong content type, a resize or a class order that differs
between training and serving shows here. The images go in a small pool of threads (boto3
clients are thread-safe); data capture records them like any other request.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from deployment.progress import progress_bar
from deployment.target import Target

WORKERS = 4


@dataclass(frozen=True)
class EndpointAccuracy:
    correct: int
    total: int
    failed: int = 0  # invocations that raised (counted as wrong)
    first_error: str = ""  # the first of those errors, to say what went wrong

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0


def labelled_images(etl_dir: Path, split: str = "test") -> list[tuple[Path, int]]:
    """(image, class index) for every line of the ETL's `<split>.lst`
    (`<index>\\t<class index>\\t<path relative to the channel>`, CONTRACTS.md)."""
    lst = etl_dir / f"{split}.lst"
    if not lst.is_file():
        raise FileNotFoundError(f"{lst} is missing: run the ETL (`make etl`) first")
    images = []
    for line in lst.read_text(encoding="utf-8").splitlines():
        if line.strip():
            _, label, relative = line.split("\t")
            images.append((etl_dir / split / relative, int(label)))
    return images


def predicted_class(runtime, endpoint: str, image: Path) -> int:
    """The class the endpoint gives the PNG: the index of its highest probability."""
    response = runtime.invoke_endpoint(
        EndpointName=endpoint, ContentType="image/png", Body=image.read_bytes()
    )
    probabilities = json.loads(response["Body"].read())
    return max(range(len(probabilities)), key=probabilities.__getitem__)


def endpoint_accuracy(
    target: Target, endpoint: str, images: list[tuple[Path, int]], workers: int = WORKERS
) -> EndpointAccuracy:
    """Sends every image to the endpoint; counts the answers that name its class."""
    # One client for every thread: boto3 clients are thread-safe, creating them is not.
    runtime = target.client("sagemaker-runtime")

    def answer(item: tuple[Path, int]) -> bool | str:
        try:
            return predicted_class(runtime, endpoint, item[0]) == item[1]
        except (BotoCoreError, ClientError, ValueError) as error:
            return f"{item[0].name}: {error}"

    correct, errors = 0, []
    with (
        ThreadPoolExecutor(max_workers=workers) as pool,
        progress_bar(total=len(images), desc=f"invoke {endpoint}", unit="image") as bar,
    ):
        for result in pool.map(answer, images):
            if isinstance(result, str):
                errors.append(result)
            else:
                correct += result
            bar.update(1)
    return EndpointAccuracy(correct, len(images), len(errors), errors[0] if errors else "")
