"""The restricted unpickler: the CIFAR format loads, in both numpy spellings; nothing else."""

from __future__ import annotations

import io
import pickle
import pickletools

import numpy as np
import pytest

from etl.errors import ForbiddenPickleGlobalError
from etl.synthetic import dumps_py2
from etl.unpickle import load_restricted


def globals_of(data: bytes) -> set[str]:
    return {str(arg) for op, arg, _ in pickletools.genops(data) if "GLOBAL" in op.name}


def test_python2_numpy1_pickle_loads() -> None:
    array = np.arange(3072 * 2, dtype=np.uint8).reshape(2, 3072)
    data = dumps_py2({b"data": array, b"fine_labels": [8, 48], b"filenames": [b"a.png", b"b.png"]})
    assert globals_of(data) == {
        "numpy.core.multiarray _reconstruct",
        "numpy ndarray",
        "numpy dtype",
    }

    loaded = load_restricted(io.BytesIO(data), "train")

    np.testing.assert_array_equal(loaded[b"data"], array)
    assert loaded[b"fine_labels"] == [8, 48] and loaded[b"filenames"] == [b"a.png", b"b.png"]


def test_numpy2_pickle_loads() -> None:
    array = np.arange(3072, dtype=np.uint8).reshape(1, 3072)
    data = pickle.dumps({b"data": array}, protocol=3)
    assert "numpy._core.multiarray _reconstruct" in globals_of(data)

    loaded = load_restricted(io.BytesIO(data), "train")

    np.testing.assert_array_equal(loaded[b"data"], array)


def test_builtin_callable_is_refused() -> None:
    data = pickle.dumps(getattr, protocol=3)

    with pytest.raises(ForbiddenPickleGlobalError, match=r"'builtins\.getattr'"):
        load_restricted(io.BytesIO(data), "meta")
