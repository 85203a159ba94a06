"""The integration suites' harness: start/stop a local cloud process, clients, waits."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from deployment.target import Target, local_url
from tests.support.network import free_port
from tests.support.processes import stop_process_group

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 60


@dataclass
class LocalCloud:
    """A running local cloud: its URL, clients for it and its admin calls."""

    port: int
    process: subprocess.Popen
    log: Path

    @property
    def url(self) -> str:
        return local_url(self.port)

    def client(self, service: str, **kwargs: Any) -> Any:
        return Target("local", self.port).client(service, **kwargs)

    def admin(self, route: str, body: dict | None = None) -> dict:
        request = urllib.request.Request(
            f"{self.url}/_localcloud/{route}",
            data=None if body is None else json.dumps(body).encode(),
            method="GET" if body is None else "POST",
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())

    def inject_endpoint_faults(self, endpoint_name: str, count: int, error: str) -> None:
        self.admin(
            "sagemaker/faults", {"endpoint_name": endpoint_name, "count": count, "error": error}
        )


def start_local_cloud(state_dir: Path, port: int | None = None) -> LocalCloud:
    port = port or free_port()
    log = state_dir / "server.log"
    env = {**os.environ, "LOCALCLOUD_STATE_DIR": str(state_dir)}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "localcloud", "serve", "--port", str(port)],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    cloud = LocalCloud(port, process, log)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the local cloud exited at start:\n{log.read_text()[-2000:]}")
        try:
            cloud.admin("health")
            return cloud
        except OSError:
            time.sleep(0.1)
    stop_local_cloud(cloud)
    pytest.fail(f"the local cloud did not answer within {START_TIMEOUT_S} s")


def stop_local_cloud(cloud: LocalCloud) -> None:
    stop_process_group(cloud.process)


def zip_source(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def wait_for_execution(sfn: Any, execution_arn: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        execution = sfn.describe_execution(executionArn=execution_arn)
        if execution["status"] != "RUNNING":
            return execution
        time.sleep(0.2)
    pytest.fail(f"execution {execution_arn} still running after {timeout} s")


def wait_until(predicate: Any, timeout: float = 30, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()
