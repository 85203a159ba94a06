"""The container images the launchers name resolve with the installed sagemaker SDK.

`sagemaker.image_uris.retrieve` reads the SDK's bundled `image_uri_config/*.json`, so
these tests run offline. The PyTorch version the project trains and serves with
(`training/artifact.py` SERVING_FRAMEWORK_VERSION, terraform's `training_image_tag` /
`serving_image_tag`) must be in that JSON, or `python -m training sagemaker` fails with
"Unsupported pytorch version" before it submits anything.

Sources:
- aws/sagemaker-python-sdk, src/sagemaker/image_uri_config/pytorch.json, as shipped in the
  PyPI wheels: sagemaker 2.230.0 (the old floor) and 2.235.0 have no "2.5.1" under
  "training" or "inference"; 2.235.1 is the first 2.x wheel that has both (py311, the
  cpu/gpu processors). Hence `sagemaker>=2.235.1,<3` in pyproject.toml's `launch` extra.
- The images themselves: aws/deep-learning-containers, available_images.md (SageMaker
  PyTorch 2.5.1 training and inference, CPU and GPU, py311, account 763104351884).
- The built-in algorithm's image: "Docker Registry Paths and Example Code" (SageMaker
  developer guide, https://docs.aws.amazon.com/sagemaker/latest/dg-ecr-paths/
  sagemaker-algo-docker-registry-paths.html: use the `:1` tag for a stable algorithm
  image), bundled by the SDK as image_uri_config/image-classification.json.
"""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from training import artifact, sagemaker_job

REPO = Path(__file__).resolve().parents[2]
REGIONS = ("us-east-1", "eu-west-1")
# The first sagemaker 2.x whose bundled pytorch.json lists 2.5.1 (see the module docstring).
FIRST_SDK_WITH_PYTORCH_2_5_1 = Version("2.235.1")
CPU_INSTANCE = sagemaker_job.DEFAULT_INSTANCE["pytorch"]  # ml.m5.large
GPU_INSTANCE = sagemaker_job.DEFAULT_INSTANCE["builtin"]  # ml.g5.xlarge


@pytest.fixture(autouse=True)
def _quiet_sdk(monkeypatch):
    monkeypatch.setenv("SAGEMAKER_SUPPRESS_V2_WARNING", "1")


def terraform_default(name: str) -> str:
    text = (REPO / "terraform" / "variables.tf").read_text(encoding="utf-8")
    block = re.search(rf'variable "{name}" \{{(.*?)\n\}}', text, re.DOTALL)
    assert block, f"terraform/variables.tf has no variable {name}"
    default = re.search(r'default\s*=\s*"([^"]+)"', block.group(1))
    assert default, f"variable {name} has no string default"
    return default.group(1)


def pytorch_image(region: str, scope: str, instance_type: str) -> str:
    """What the launchers ask the SDK for: the PyTorch estimator (training, from its
    framework_version / py_version / instance_type) and artifact.serving_image_uri."""
    from sagemaker import image_uris

    return image_uris.retrieve(
        "pytorch",
        region,
        version=artifact.SERVING_FRAMEWORK_VERSION,
        py_version=f"py{artifact.SERVING_PYTHON}",
        instance_type=instance_type,
        image_scope=scope,
    )


@pytest.mark.parametrize("region", REGIONS)
@pytest.mark.parametrize("scope", ["training", "inference"])
@pytest.mark.parametrize(
    ("instance_type", "processor"), [(CPU_INSTANCE, "cpu"), (GPU_INSTANCE, "gpu")]
)
def test_pytorch_images_resolve_for_cpu_and_gpu(region, scope, instance_type, processor):
    uri = pytorch_image(region, scope, instance_type)

    assert uri == (
        f"763104351884.dkr.ecr.{region}.amazonaws.com/pytorch-{scope}:"
        f"{artifact.SERVING_FRAMEWORK_VERSION}-{processor}-py{artifact.SERVING_PYTHON}"
    )


@pytest.mark.parametrize("region", REGIONS)
def test_serving_image_of_the_launchers_is_terraforms_default(region):
    uri = artifact.serving_image_uri(region)

    repository, tag = uri.rsplit("/", 1)[1].split(":")
    assert repository == terraform_default("serving_image_repository")
    assert tag == terraform_default("serving_image_tag")


@pytest.mark.parametrize("region", REGIONS)
def test_training_image_of_the_pytorch_launcher_is_terraforms_default(region):
    # Terraform lets the SageMaker role pull training_image_repository:training_image_tag;
    # the pytorch launcher's default (CPU) instance must train in exactly that image.
    uri = pytorch_image(region, "training", CPU_INSTANCE)

    repository, tag = uri.rsplit("/", 1)[1].split(":")
    assert repository == terraform_default("training_image_repository")
    assert tag == terraform_default("training_image_tag")


@pytest.mark.parametrize("region", REGIONS)
def test_builtin_algorithm_image_resolves(region):
    from sagemaker import image_uris

    uri = image_uris.retrieve("image-classification", region, instance_type=GPU_INSTANCE)

    assert re.fullmatch(
        rf"\d{{12}}\.dkr\.ecr\.{region}\.amazonaws\.com/image-classification:1", uri
    )


def test_launch_extra_requires_an_sdk_that_knows_the_pytorch_images():
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    (requirement,) = [
        Requirement(text)
        for text in project["optional-dependencies"]["launch"]
        if Requirement(text).name == "sagemaker"
    ]
    floors = [Version(s.version) for s in requirement.specifier if s.operator == ">="]

    assert floors and min(floors) >= FIRST_SDK_WITH_PYTORCH_2_5_1
    assert not requirement.specifier.contains("3.0")  # v3 has no Estimator
    assert Version(version("sagemaker")) >= FIRST_SDK_WITH_PYTORCH_2_5_1
