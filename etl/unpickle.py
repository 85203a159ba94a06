"""A pickle loader that admits only what the CIFAR-100 python format needs.

Unpickling runs whatever callables a pickle names, so a hostile archive could run
code on load. The official pickles name exactly three globals (numpy 1.x wrote
them); everything else in the format (dicts, lists, bytes, ints) is built by pickle
opcodes that call no global. Any other global is refused before it is resolved.
"""

from __future__ import annotations

import pickle
import tarfile
import zlib
from typing import IO, Any

import numpy as np
from numpy._core.multiarray import _reconstruct

from etl.errors import CorruptArchiveError, ForbiddenPickleGlobalError

# numpy 2 renamed numpy.core to numpy._core; both spellings name the same function,
# and mapping them here avoids importing the deprecated alias.
ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}

# What a truncated or corrupt member raises from inside the unpickler (it reads the
# decompressing tar stream as it goes).
_READ_ERRORS = (
    pickle.UnpicklingError,
    EOFError,
    ValueError,
    TypeError,
    IndexError,
    KeyError,
    AttributeError,
    OSError,
    tarfile.TarError,
    zlib.error,
    # A length field far beyond any real member (a corrupt or hostile header) makes the
    # unpickler try to allocate it: MemoryError, or OverflowError/SystemError from C.
    MemoryError,
    OverflowError,
    SystemError,
)


class RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file: IO[bytes], source: str) -> None:
        # Python 2 `str` comes back as bytes, never decoded with a guessed codec.
        super().__init__(file, encoding="bytes")
        self._source = source

    def find_class(self, module: str, name: str) -> Any:
        allowed = ALLOWED_GLOBALS.get((module, name))
        if allowed is None:
            raise ForbiddenPickleGlobalError(
                f"{self._source}: pickle refers to forbidden global '{module}.{name}'; "
                "a CIFAR-100 pickle only holds numpy arrays, lists, bytes and ints"
            )
        return allowed

    def persistent_load(self, pid: Any) -> Any:
        raise ForbiddenPickleGlobalError(
            f"{self._source}: pickle uses persistent ids, which the CIFAR-100 format never does"
        )


def load_restricted(file: IO[bytes], source: str) -> Any:
    """Unpickle one CIFAR member from `file`; `source` names it in error messages."""
    try:
        return RestrictedUnpickler(file, source).load()
    except ForbiddenPickleGlobalError:
        raise
    except _READ_ERRORS as exc:
        raise CorruptArchiveError(f"{source}: cannot read the pickle ({_describe(exc)})") from exc


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
