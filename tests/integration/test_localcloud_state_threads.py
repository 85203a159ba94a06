"""The Step Functions interpreter's threads: reused, uncapped, and not kept forever."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from localcloud.stepfunctions_threads import TMP_THREAD_MODULES, KeepsNothing, ReusedThreads

pytestmark = pytest.mark.integration


def test_every_module_keeping_moto_threads_gets_the_list_that_keeps_nothing():
    """A module left out would keep every thread it starts for the server's lifetime."""
    import moto.stepfunctions.parser as parser

    root = Path(parser.__file__).parent
    importing = {
        "moto.stepfunctions.parser." + ".".join(path.relative_to(root).with_suffix("").parts)
        for path in root.rglob("*.py")
        if "import TMP_THREADS" in path.read_text()
    }
    assert importing == set(TMP_THREAD_MODULES)


def test_the_list_keeps_nothing():
    kept = KeepsNothing()
    kept.append(threading.Thread(target=print))

    assert kept == []


def test_a_finished_thread_serves_the_next_task():
    threads = ReusedThreads()
    ran_on: list[int] = []
    for _ in range(5):
        done = threading.Event()
        threads.run(lambda done=done: (ran_on.append(threading.get_ident()), done.set()))
        assert done.wait(10)
        # The task has returned once its thread is idle again.
        for _ in range(1000):
            if threads._idle:
                break
            threading.Event().wait(0.01)

    assert threads.started == 1
    assert len(set(ran_on)) == 1


def test_a_busy_thread_never_makes_a_task_wait():
    """A state past its timeout keeps its thread; the next state gets another at once."""
    threads = ReusedThreads()
    release = threading.Event()
    second_ran = threading.Event()
    threads.run(release.wait)  # a hung state's work

    threads.run(second_ran.set)

    assert second_ran.wait(10)
    assert threads.started == 2
    release.set()


def test_an_idle_thread_ends_after_its_idle_time():
    threads = ReusedThreads(idle_s=0.05)
    done = threading.Event()
    threads.run(done.set)
    assert done.wait(10)

    for _ in range(500):
        if not [t for t in threading.enumerate() if t.name == "sfn-state" and t.is_alive()]:
            break
        threading.Event().wait(0.01)

    assert threads._idle == []
