"""The restricted unpickler: the CIFAR format loads, in both numpy spellings; nothing else."""

from __future__ import annotations

import io
import pickle
import pickletools
import struct

import numpy as np
import pytest

from etl.errors import CorruptArchiveError, ForbiddenPickleGlobalError
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


def test_refusal_says_what_a_cifar_pickle_may_hold() -> None:
    data = pickle.dumps(getattr, protocol=3)

    with pytest.raises(ForbiddenPickleGlobalError) as refused:
        load_restricted(io.BytesIO(data), "cifar-100-python/meta")

    assert str(refused.value) == (
        "cifar-100-python/meta: pickle refers to forbidden global 'builtins.getattr'; "
        "a CIFAR-100 pickle only holds numpy arrays, lists, bytes and ints"
    )


@pytest.mark.parametrize(
    ("length", "cause"),
    [(0, "EOFError: Ran out of input"), (40, "UnpicklingError: pickle data was truncated")],
)
def test_unreadable_pickle_error_names_the_member_and_the_cause(length: int, cause: str) -> None:
    data = dumps_py2({b"data": np.zeros((2, 3072), np.uint8), b"fine_labels": [8, 48]})

    with pytest.raises(CorruptArchiveError) as unreadable:
        load_restricted(io.BytesIO(data[:length]), "cifar-100-python/train")

    assert str(unreadable.value) == f"cifar-100-python/train: cannot read the pickle ({cause})"


def test_a_length_field_beyond_any_real_member_is_a_corrupt_archive_not_a_crash() -> None:
    # BINBYTES8 (protocol 4) declaring 2**62 bytes: the unpickler tries to allocate them.
    data = b"\x80\x04\x8e" + struct.pack("<Q", 2**62) + b"x"

    with pytest.raises(CorruptArchiveError) as unreadable:
        load_restricted(io.BytesIO(data), "cifar-100-python/test")

    assert str(unreadable.value) == ("cifar-100-python/test: cannot read the pickle (MemoryError)")
