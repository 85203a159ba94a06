"""The threads moto's Step Functions interpreter starts: reused, and never kept forever.

moto 5.2.5 appends every thread it starts (one per execution, per Map worker, per Task
or Map state, per Parallel branch) to a module-level list, `TMP_THREADS`, that nothing
ever reads or empties: each Thread object (with its locks and events) stays in memory for
as long as the server runs, about a thousand per batch of 200 images. Here every module
that holds that list gets one that keeps nothing.

The thread of each state with a timeout (`ExecutionState._evaluate_with_timeout`: the
state runs on its own thread so that the execution can stop waiting for it when
`TimeoutSeconds` passes) comes from a set of reused threads instead of a new one: a new
thread costs a system call and ~0.3 ms of CPU in this sandbox, and `Thread.start` waits
until the new thread has been scheduled. Nothing changes for the state: its work still
runs on a thread of its own, a state that overruns its timeout is still abandoned (its
thread stays busy until the work returns, and later states get other threads), and
there is no cap, so a state never waits for a free thread.
"""

from __future__ import annotations

import importlib
import logging
import queue
import sys
import threading
from collections.abc import Callable
from typing import Any

import moto.stepfunctions.parser.utils as parser_utils
from moto.stepfunctions.parser.asl.component.state.exec import execute_state

LOG = logging.getLogger(__name__)
# An idle reused thread ends after this long without work.
IDLE_S = 60.0
# Every module of moto's interpreter that imports TMP_THREADS (grep TMP_THREADS).
_PARSER = "moto.stepfunctions.parser"
TMP_THREAD_MODULES = [
    f"{_PARSER}.asl.component.program.program",
    f"{_PARSER}.asl.component.test_state.program.test_state_program",
    f"{_PARSER}.asl.component.state.exec.state_map.iteration.inline_iteration_component",
    f"{_PARSER}.asl.component.state.exec.state_task.service.state_task_service_callback",
    f"{_PARSER}.asl.component.state.exec.state_parallel.branch_worker",
    f"{_PARSER}.asl.component.state.exec.execute_state",
    f"{_PARSER}.backend.execution_worker",
]


class KeepsNothing(list):
    """A list that `append` leaves empty: moto's TMP_THREADS, which nothing reads."""

    def append(self, item: Any) -> None:
        pass


class ReusedThreads:
    """Runs each task on an idle thread of its own, or on a new one when none is idle."""

    def __init__(self, idle_s: float = IDLE_S) -> None:
        self.idle_s = idle_s
        self._lock = threading.Lock()
        self._idle: list[queue.SimpleQueue] = []
        self.started = 0

    def run(self, task: Callable[[], object]) -> None:
        with self._lock:
            inbox = self._idle.pop() if self._idle else None
            if inbox is None:
                self.started += 1
        if inbox is not None:
            inbox.put(task)
            return
        inbox = queue.SimpleQueue()
        inbox.put(task)
        threading.Thread(target=self._serve, args=(inbox,), name="sfn-state", daemon=True).start()

    def _serve(self, inbox: queue.SimpleQueue) -> None:
        task = inbox.get()
        while True:
            try:
                task()
            except BaseException:  # moto's task catches its own errors; never lose the thread
                LOG.exception("a Step Functions state thread's task failed")
            task = None  # an idle thread holds no execution's data
            with self._lock:
                self._idle.append(inbox)
            try:
                task = inbox.get(timeout=self.idle_s)
            except queue.Empty:
                with self._lock:
                    if inbox in self._idle:  # nobody handed it work: it ends
                        self._idle.remove(inbox)
                        return
                task = inbox.get()  # run() took it just now: its task is on the way


_THREADS = ReusedThreads()


class StateThread:
    """What `_evaluate_with_timeout` uses of threading.Thread: Thread(target=..., daemon=True)
    and start()."""

    def __init__(self, target: Callable[[], object], daemon: bool = True, **_: Any) -> None:
        self._target = target

    def start(self) -> None:
        _THREADS.run(self._target)


def install() -> None:
    keeps_nothing = KeepsNothing()
    parser_utils.TMP_THREADS.clear()
    parser_utils.TMP_THREADS = keeps_nothing
    for name in TMP_THREAD_MODULES:
        module = sys.modules.get(name) or importlib.import_module(name)
        module.TMP_THREADS = keeps_nothing
    execute_state.Thread = StateThread
