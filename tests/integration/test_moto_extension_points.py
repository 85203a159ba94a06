"""Fails loudly when a moto upgrade moves a point the local cloud extends.

The local cloud replaces or wraps these moto attributes; if one is renamed or its
parameters change, the extension would silently stop applying (or break at runtime).
"""

from __future__ import annotations

import importlib
import inspect
from importlib.metadata import version
from pathlib import Path

import pytest

from localcloud.extensions import EXTENSION_POINTS

pytestmark = pytest.mark.integration


def resolve(module_name: str, path: str) -> object:
    owner = importlib.import_module(module_name)
    for part in path.split("."):
        owner = inspect.getattr_static(owner, part)
    return owner


def test_moto_is_the_pinned_version():
    assert version("moto") == "5.2.5", "the local cloud's extensions are checked against 5.2.5"


@pytest.mark.parametrize(
    ("module_name", "path", "parameters"),
    EXTENSION_POINTS,
    ids=[f"{m.rsplit('.', 1)[-1]}.{p}" for m, p, _ in EXTENSION_POINTS],
)
def test_extension_point_exists_with_the_expected_parameters(module_name, path, parameters):
    target = resolve(module_name, path)

    if isinstance(target, property):
        target = target.fget
    if not parameters:
        assert target is not None
        return
    signature = inspect.signature(target)
    assert list(signature.parameters)[: len(parameters)] == list(parameters)


def test_sagemaker_runtime_response_still_decodes_bodies_unless_told():
    from moto.core.responses import BaseResponse

    assert BaseResponse.use_raw_body is False
    assert "use_raw_body" in inspect.signature(BaseResponse.setup_class).parameters


def test_every_step_functions_module_creating_clients_is_enforced():
    """A module that imports boto_client_for but is not wrapped would call its service
    with moto's default keys, not the state machine's role (review of issue 16)."""
    import moto.stepfunctions.parser as parser

    from localcloud.iam_enforcement import SFN_CLIENT_MODULES

    root = Path(parser.__file__).parent
    importing = {
        "moto.stepfunctions.parser." + ".".join(path.relative_to(root).with_suffix("").parts)
        for path in root.rglob("*.py")
        if "import boto_client_for" in path.read_text()
    }
    assert importing == set(SFN_CLIENT_MODULES)
