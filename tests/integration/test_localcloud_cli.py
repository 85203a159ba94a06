"""`python -m localcloud up|down|status`: starts, reports, refuses a taken port, stops clean."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys

import pytest

from tests.support.localcloud_harness import REPO_ROOT, free_port, zip_source

pytestmark = pytest.mark.integration
LAMBDA_TRUST = (
    '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", '
    '"Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}'
)


def run_cli(*args: str, state_dir) -> subprocess.CompletedProcess:
    env = {**os.environ, "LOCALCLOUD_STATE_DIR": str(state_dir)}
    return subprocess.run(
        [sys.executable, "-m", "localcloud", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_up_refuses_a_taken_port_with_a_clear_message(tmp_path):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]

        result = run_cli("up", "--port", str(port), "--keep-terraform-state", state_dir=tmp_path)

    assert result.returncode == 1
    assert f"port {port} is taken" in result.stderr
    assert "Traceback" not in result.stderr


def start_a_warm_worker(port: str) -> None:
    from deployment.target import Target

    role = (
        Target("local", int(port))
        .client("iam")
        .create_role(RoleName="r", AssumeRolePolicyDocument=LAMBDA_TRUST)["Role"]["Arn"]
    )
    client = Target("local", int(port)).client("lambda")
    client.create_function(
        FunctionName="warm",
        Runtime="python3.11",
        Role=role,
        Handler="h.handler",
        Code={"ZipFile": zip_source({"h.py": "def handler(e, c):\n    return 1\n"})},
    )
    client.invoke(FunctionName="warm", Payload=b"{}")  # leaves a warm worker behind


def test_down_stops_the_server_and_its_workers(tmp_path):
    port = str(free_port())
    up = run_cli("up", "--port", port, "--keep-terraform-state", state_dir=tmp_path)
    assert up.returncode == 0, up.stderr
    pid = int((tmp_path / port / "server.pid").read_text())
    try:
        start_a_warm_worker(port)
    finally:
        down = run_cli("down", "--port", port, state_dir=tmp_path)

    assert down.returncode == 0
    assert "stopped" in down.stdout
    assert not group_alive(pid)


def test_status_says_when_nothing_runs_and_exits_0(tmp_path):
    port = free_port()
    result = run_cli("status", "--port", str(port), state_dir=tmp_path)

    assert result.returncode == 0  # status is a query: "not running" is its answer
    assert result.stdout.strip() == (
        f"the local cloud is not running on port {port} (make local-up)"
    )


def test_make_local_status_on_a_stopped_cloud_is_not_a_make_error():
    if shutil.which("make") is None:
        pytest.fail("make is not installed")
    port = free_port()
    result = subprocess.run(
        ["make", "--no-print-directory", "local-status", f"LOCAL_PORT={port}"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert result.returncode == 0, result.stderr
    assert f"not running on port {port} (make local-up)" in result.stdout
    assert "Error" not in result.stderr


def test_status_says_which_python_each_deployed_runtime_runs_on(tmp_path):
    port = str(free_port())
    up = run_cli("up", "--port", port, "--keep-terraform-state", state_dir=tmp_path)
    assert up.returncode == 0, up.stderr
    try:
        start_a_warm_worker(port)

        status = run_cli("status", "--port", port, state_dir=tmp_path)
    finally:
        run_cli("down", "--port", port, state_dir=tmp_path)

    assert status.returncode == 0, status.stderr
    assert "functions      warm" in status.stdout
    # python3.11 is this machine's own Python: it runs there, with no notice.
    assert f"runtime        python3.11: {sys.executable}" in status.stdout
