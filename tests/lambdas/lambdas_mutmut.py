"""Under mutmut only: the Lambda modules run under the names mutmut gave their mutants.

The tests load a function as the Lambda runtime does: `handler.py` from the function's
folder and `common.*` as top-level modules (conftest.py `load_handler`). mutmut 3 names a
mutant after the path it mutated (`lambdas.common.config.x_load__mutmut_3`), and its
trampoline compares that name with the running function's `__module__` twice: to record
which tests cover a function, and to switch a mutant on. Under the runtime's names
(`common.config`) neither matches, so mutmut would run no test against a Lambda mutant.

So while mutmut runs (it sets MUTANT_UNDER_TEST in the test process), the same files,
found by the same `from common... import` statements on the same sys.path, execute with
`__name__` set to mutmut's name. Nothing else changes; outside mutmut this module does
nothing, and the suite loads the handlers exactly as the runtime does.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys
from collections.abc import Sequence
from types import ModuleType

import pytest

MUTMUT_PACKAGE = "lambdas"


def under_mutmut() -> bool:
    return "MUTANT_UNDER_TEST" in os.environ


def handler_module_name(function: str) -> str:
    """The name a function's handler.py is loaded under (mutmut's, while mutmut runs)."""
    return f"{MUTMUT_PACKAGE}.{function}.handler" if under_mutmut() else f"{function}_handler"


class _MutmutNames(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds `common` and `common.*` where the runtime would, runs them under mutmut's names."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self._monkeypatch = monkeypatch
        self._code_loaders: dict[str, importlib.machinery.SourceFileLoader] = {}

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname.partition(".")[0] != "common":
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        # The package keeps its name: `from common import config` imports
        # f"{common.__name__}.config", which must stay the runtime's `common.config`.
        # Its __init__.py defines nothing to mutate.
        if (
            spec is None
            or spec.submodule_search_locations is not None
            or not isinstance(spec.loader, importlib.machinery.SourceFileLoader)
        ):
            return spec
        self._code_loaders[fullname] = spec.loader
        spec.loader = self
        return spec

    def exec_module(self, module: ModuleType) -> None:
        runtime_name = module.__spec__.name
        code = self._code_loaders[runtime_name].get_code(runtime_name)
        # Functions take `__module__` from the module's `__name__` as they are defined;
        # dataclasses look that name up in sys.modules, so it is registered there too.
        module.__name__ = f"{MUTMUT_PACKAGE}.{runtime_name}"
        self._monkeypatch.setitem(sys.modules, module.__name__, module)
        exec(code, module.__dict__)  # the module's own code, as its loader would run it


def use_mutmut_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """While mutmut runs, `common.*` imports execute under mutmut's names (until teardown)."""
    if under_mutmut():
        monkeypatch.setattr(sys, "meta_path", [_MutmutNames(monkeypatch), *sys.meta_path])
