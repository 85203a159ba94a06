"""Step Functions' service integrations reuse their boto3 clients.

moto 5.2.5 builds a new boto3 client for every Task state it runs (`boto_client_for`, in
each integration's module): 30-60 ms of CPU on this machine, more than the Lambda
handler it then invokes (profile in benchmarks/results/localcloud_profile.md). A client
is fixed by its region, service and credentials, and the credentials are fixed by the
state machine's role (iam_enforcement gives each role one session while the server
runs), so one client per (region, service, role) serves every execution: botocore
clients are thread-safe. Connections are not reused all the same: the server (werkzeug)
answers every request with `Connection: close`.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from typing import Any

from . import iam_enforcement

_clients: dict[tuple[str, str, str, bool], Any] = {}
_lock = threading.Lock()


def _cached(create: Callable) -> Callable:
    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        role_arn = getattr(state_credentials, "role_arn", None) or ""
        key = (region, service, role_arn, iam_enforcement.is_enabled())
        with _lock:
            client = _clients.get(key)
        if client is None:
            client = create(region, service, state_credentials)
            with _lock:
                client = _clients.setdefault(key, client)
        return client

    boto_client_for.__wrapped__ = create  # type: ignore[attr-defined]
    return boto_client_for


def install() -> None:
    """After iam_enforcement.install(): caches the clients it makes with the role's session."""
    for name in iam_enforcement.SFN_CLIENT_MODULES:
        module = importlib.import_module(name)
        module.boto_client_for = _cached(module.boto_client_for)
