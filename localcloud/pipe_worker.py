"""A worker subprocess spoken to over pipes: the Lambda runtime and the model container.

A request is one JSON line on stdin, its reply one JSON line on stdout; stderr is the
worker's log. Subclasses say what to do with each log line.

Replies are read either by a reader thread into `_replies` (the Lambda runtime), or by
the thread that sent the request (`_read_reply`, the model container): one thread
hand-off less per request, which on a loaded machine is a scheduling delay less.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import select
import subprocess
import threading
import time
from pathlib import Path


class PipeWorker:
    process: subprocess.Popen
    _replies: queue.Queue[dict | None]

    def _start(
        self, command: list[str], cwd: Path, env: dict[str, str], reader_thread: bool = True
    ) -> None:
        self._replies = queue.Queue()
        self._pending: list[bytes] = []  # a reply's first bytes, read by _read_reply
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env=env,
            text=True,
        )
        if reader_thread:
            threading.Thread(target=self._read_replies, daemon=True).start()
        else:  # poll, not select: a busy server's descriptors go past select's 1024
            self._poller = select.poll()
            self._poller.register(self.process.stdout.fileno(), select.POLLIN)
        threading.Thread(target=self._read_log, daemon=True).start()

    def _read_replies(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._replies.put(json.loads(line))
        self._replies.put(None)  # the worker exited

    def _read_reply(self, timeout: float) -> dict | None:
        """The next reply, read on this thread (one at a time: the caller holds the
        worker's lock); None once the worker exited; TimeoutError after `timeout` s."""
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        deadline = time.monotonic() + timeout
        while not (self._pending and self._pending[-1].endswith(b"\n")):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._poller.poll(remaining * 1000):
                raise TimeoutError(f"no reply within {timeout:g} s")
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return None
            # One reply per request, and nothing more until the next request: a chunk
            # never holds the start of another reply.
            self._pending.append(chunk)
        line, self._pending = b"".join(self._pending), []
        return json.loads(line)

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
