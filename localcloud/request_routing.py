"""moto's per-request routing, without the work it repeats on every request.

moto 5.2.5's server, for each request, lists its own package folder to see whether the
Host names a service (`backends.list_of_moto_modules`: one `isdir` per folder, about
150, which are slow system calls in a sandbox) and walks the response class with
`inspect.getmembers` to find the action's method (`method_names_from_class`). Neither
answer changes while the server runs, so each is computed once (profile in
benchmarks/results/localcloud_profile.md).
"""

from __future__ import annotations

import functools

import moto.backends
import moto.core.responses


def _memoized_module_list(original):
    modules = functools.cache(lambda: tuple(original()))

    def list_of_moto_modules():
        return modules()

    list_of_moto_modules.__wrapped__ = original  # type: ignore[attr-defined]
    return list_of_moto_modules


def _memoized_method_names(original):
    by_class = functools.cache(lambda clazz: tuple(original(clazz)))

    def method_names_from_class(clazz: object) -> list[str]:
        return list(by_class(clazz))

    method_names_from_class.__wrapped__ = original  # type: ignore[attr-defined]
    return method_names_from_class


def install() -> None:
    moto.backends.list_of_moto_modules = _memoized_module_list(moto.backends.list_of_moto_modules)
    moto.core.responses.method_names_from_class = _memoized_method_names(
        moto.core.responses.method_names_from_class
    )
