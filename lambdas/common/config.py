"""Readers for environment variables that fail with a ConfigurationError naming the variable."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from common.errors import ConfigurationError

T = TypeVar("T")

_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_CLASS_NAME = re.compile(r"^[A-Za-z0-9_ -]+$")


def required(environ: Mapping[str, str], name: str) -> str:
    """The variable's value, stripped; an error when it is missing or blank."""
    value = environ.get(name, "").strip()
    if not value:
        raise ConfigurationError(f"environment variable {name} is required and is not set")
    return value


def arn(environ: Mapping[str, str], name: str, service: str) -> str:
    """An ARN of the given service (`sns`, `states`, ...)."""
    value = required(environ, name)
    parts = value.split(":")
    if len(parts) < 6 or parts[0] != "arn" or parts[2] != service:
        raise ConfigurationError(f"{name} must be an arn:...:{service}:... ARN, got {value!r}")
    return value


def alert_topic_arn(environ: Mapping[str, str]) -> str:
    """ALERT_TOPIC_ARN, which every function has: where its alerts go."""
    return arn(environ, "ALERT_TOPIC_ARN", "sns")


def bucket_name(environ: Mapping[str, str], name: str) -> str:
    value = required(environ, name)
    if not _BUCKET_NAME.match(value):
        raise ConfigurationError(f"{name} must be an S3 bucket name, got {value!r}")
    return value


def positive_int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a positive integer, got {raw!r}") from None
    if value <= 0:
        raise ConfigurationError(f"{name} must be a positive integer, got {raw!r}")
    return value


def probability_threshold(environ: Mapping[str, str], name: str, default: float) -> float:
    """A number in (0, 1]; 0 would pass everything, above 1 nothing."""
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number in (0, 1], got {raw!r}") from None
    if math.isnan(value) or not 0.0 < value <= 1.0:
        raise ConfigurationError(f"{name} must be a number in (0, 1], got {raw!r}")
    return value


def class_names(environ: Mapping[str, str], name: str = "CLASS_NAMES") -> tuple[str, ...]:
    """Comma-separated class names in class-index order; at least two, no duplicates."""
    names = tuple(part.strip() for part in required(environ, name).split(","))
    if len(names) < 2 or any(not _CLASS_NAME.match(n) for n in names):
        raise ConfigurationError(
            f"{name} must list at least two comma-separated class names, got {environ[name]!r}"
        )
    if len(set(names)) != len(names):
        raise ConfigurationError(f"{name} has duplicate class names: {environ[name]!r}")
    return names


@dataclass(frozen=True)
class Loaded(Generic[T]):
    """The result of reading the configuration at cold start: a value or the error.

    A handler whose configuration is invalid still imports, so that each invocation
    fails with ConfigurationError (which Step Functions can match) rather than with
    the runtime's opaque import error.
    """

    value: T | None
    error: ConfigurationError | None

    def get(self) -> T:
        if self.error is not None:
            raise self.error
        assert self.value is not None
        return self.value


def load_once(loader: Callable[[Mapping[str, str]], T], environ: Mapping[str, str]) -> Loaded[T]:
    try:
        return Loaded(loader(environ), None)
    except ConfigurationError as exc:
        return Loaded(None, exc)
