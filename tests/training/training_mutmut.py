"""Under mutmut only: an artifact's code/inference.py runs under mutmut's module name.

training.artifact.load_inference imports code/inference.py from the model directory under
a name made from its path (`scones_inference_<digest>`), as a serving container imports
its own copy. mutmut 3 names inference.py's mutants `training.inference.x_<function>
__mutmut_<n>`, and its trampoline compares that module name with the running function's
`__module__` both to record which tests cover a function and to switch a mutant on; under
the path's name neither matches, so no test would ever run against an inference mutant.

So while mutmut runs (it sets MUTANT_UNDER_TEST in the test process), the same file, the
model directory's code/inference.py (a copy of mutmut's mutated training/inference.py:
tests/support/colour_model.py copies it from the tree the tests run in), executes with
`__name__` set to `training.inference`. Outside mutmut, load_inference is the project's
own. The module is not put in sys.modules: inference.py defines no dataclass that would
look itself up there (its comment above RecordBatch says why).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

from training import artifact

MUTMUT_NAME = "training.inference"


def under_mutmut() -> bool:
    return "MUTANT_UNDER_TEST" in os.environ


def load_inference(model_dir: Path) -> ModuleType:
    """training.artifact.load_inference; under mutmut, the same file under mutmut's name."""
    if not under_mutmut():
        return artifact.load_inference(model_dir)
    path = Path(model_dir) / "code" / "inference.py"
    spec = importlib.util.spec_from_file_location(MUTMUT_NAME, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
