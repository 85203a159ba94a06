"""A worker subprocess spoken to over pipes: the Lambda runtime and the model container.

A request is one JSON line on stdin, its reply one JSON line on stdout; stderr is the
worker's log. Subclasses say what to do with each log line.
"""

from __future__ import annotations

import contextlib
import json
import queue
import subprocess
import threading
from pathlib import Path


class PipeWorker:
    process: subprocess.Popen
    _replies: queue.Queue[dict | None]

    def _start(self, command: list[str], cwd: Path, env: dict[str, str]) -> None:
        self._replies = queue.Queue()
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env=env,
            text=True,
        )
        threading.Thread(target=self._read_replies, daemon=True).start()
        threading.Thread(target=self._read_log, daemon=True).start()

    def _read_replies(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._replies.put(json.loads(line))
        self._replies.put(None)  # the worker exited

    def _read_log(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self._log_line(line.rstrip("\n"))

    def _log_line(self, line: str) -> None:
        raise NotImplementedError

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.alive:
            self.process.kill()
        with contextlib.suppress(Exception):
            self.process.wait(timeout=5)
