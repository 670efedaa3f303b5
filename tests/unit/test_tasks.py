"""The one thread hand-off: work on a pool thread, its result on the caller's thread, never a wait there."""

from __future__ import annotations

import threading

import pytest

from usbsync_gui.engine.tasks import TaskResult, TaskRunner


def test_result_comes_back_on_the_runners_thread(qtbot):
    runner = TaskRunner()
    main = threading.get_ident()
    seen: list[tuple[int, int, TaskResult[int]]] = []
    worker_thread: list[int] = []

    def work() -> int:
        worker_thread.append(threading.get_ident())
        return 42

    runner.run(work, lambda r: seen.append((threading.get_ident(), 0, r)))
    qtbot.waitUntil(lambda: bool(seen), timeout=5000)
    assert worker_thread[0] != main
    assert seen[0][0] == main
    assert seen[0][2].unwrap() == 42 and seen[0][2].ok
    assert runner.shutdown()


def test_an_exception_is_handed_to_next_func(qtbot):
    runner = TaskRunner()
    got: list[TaskResult[None]] = []

    def boom() -> None:
        raise OSError(5, "Input/output error")

    runner.run(boom, got.append)
    qtbot.waitUntil(lambda: bool(got), timeout=5000)
    assert isinstance(got[0].error, OSError) and not got[0].ok
    with pytest.raises(OSError):
        got[0].unwrap()
    assert runner.shutdown()


def test_the_caller_is_not_held_while_the_task_runs(qtbot):
    runner = TaskRunner()
    release = threading.Event()
    got: list[TaskResult[str]] = []

    def slow() -> str:
        release.wait(10)
        return "flushed"

    runner.run(slow, got.append)
    assert runner.pending() == 1 and not got  # run() returned while the task is still blocked
    release.set()
    qtbot.waitUntil(lambda: bool(got), timeout=5000)
    assert got[0].value == "flushed" and runner.pending() == 0
    assert runner.shutdown()


def test_nothing_is_delivered_after_shutdown(qtbot):
    runner = TaskRunner()
    got: list[object] = []
    runner.run(lambda: 1, got.append)
    assert runner.shutdown()
    qtbot.wait(50)
    assert got == []
    runner.run(lambda: 2, got.append)  # after shutdown: not started
    qtbot.wait(50)
    assert got == [] and runner.pending() == 0
