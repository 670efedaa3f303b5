"""Work off the calling thread, its result back on it: the one hand-off the engine and the views use.

Modelled on MusicBrainz Picard's ``run_task(func, next_func)`` (``picard/util/thread.py``): ``func`` runs on a
pool thread; ``next_func`` is then called on the thread the :class:`TaskRunner` lives in (the GUI thread in the
tray app) with a :class:`TaskResult`: the value, or the exception ``func`` raised. Nothing ever waits for a task
on the calling thread, except :meth:`TaskRunner.shutdown` at quit, bounded.

Blocking work that goes through here: volume probing (``blkid``/``lsblk`` subprocesses, a keyring look-up),
ejecting (``sync``, ``udisksctl``: up to a minute on a slow stick), configuration saves (fsync), the state
database writes of the views.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from PySide6.QtCore import QObject, Qt, QThreadPool, Signal, Slot

log = logging.getLogger(__name__)

T = TypeVar("T")
P = TypeVar("P")


@dataclass(frozen=True)
class TaskResult(Generic[T]):
    """What a task ended with: ``value`` when it returned, ``error`` when it raised (then ``value`` is None)."""

    value: T | None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def unwrap(self) -> T:
        """The value; re-raises the task's exception."""
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]


class _Delivery(QObject):
    """Carries one finished task, or a task's progress, from the pool thread to the runner's thread (queued
    signals)."""

    done = Signal(object)  # (task id, TaskResult)
    progress = Signal(object)  # (task id, the value the task reported)


class TaskRunner(QObject):
    """Runs tasks on its own thread pool and calls their continuations on the thread it lives in.

    Args:
        max_threads: tasks running at once; more wait in the pool's queue (FIFO).
        parent: the usual QObject parent (the runner must live in the thread that receives results).
    """

    def __init__(self, max_threads: int = 4, parent: QObject | None = None):
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(max_threads)
        self._delivery = _Delivery()
        self._delivery.moveToThread(self.thread())
        self._delivery.done.connect(self._deliver, Qt.ConnectionType.QueuedConnection)
        self._delivery.progress.connect(self._deliver_progress, Qt.ConnectionType.QueuedConnection)
        self._next: dict[int, tuple[str, Callable[[TaskResult[object]], None] | None]] = {}
        self._on_progress: dict[int, Callable[[object], None]] = {}
        self._ids = 0
        self._lock = threading.Lock()
        self._closed = False

    def run(
        self,
        func: Callable[[], T],
        next_func: Callable[[TaskResult[T]], None] | None = None,
        name: str = "",
    ) -> None:
        """Start ``func()`` on a pool thread; later call ``next_func(result)`` on this runner's thread.

        Without ``next_func`` an exception from ``func`` is logged (one line naming ``name``, details at debug).
        After :meth:`shutdown`, nothing starts and nothing is delivered.
        """
        self._run(self._new_id(), func, next_func, name)

    def _new_id(self) -> int:
        with self._lock:
            self._ids += 1
            return self._ids

    def _run(
        self,
        task_id: int,
        func: Callable[[], T],
        next_func: Callable[[TaskResult[T]], None] | None,
        name: str,
    ) -> None:
        if self._closed:
            log.debug("task %s not started: shutting down", name or func)
            return
        self._next[task_id] = (name or getattr(func, "__name__", "task"), next_func)  # type: ignore[assignment]
        delivery = self._delivery

        def body() -> None:
            try:
                result: TaskResult[object] = TaskResult(func())
            except BaseException as exc:  # handed to next_func, which decides
                result = TaskResult(None, exc)
            delivery.done.emit((task_id, result))

        self._pool.start(body)

    def run_reporting(
        self,
        func: Callable[[Callable[[P], None]], T],
        on_progress: Callable[[P], None],
        next_func: Callable[[TaskResult[T]], None] | None = None,
        name: str = "",
    ) -> None:
        """As :meth:`run`, for a long task that says how far it got: ``func(report)`` calls ``report(value)``
        on the pool thread, and ``on_progress(value)`` follows on this runner's thread, in order, before
        ``next_func``. Reports come as often as the task makes them: a task reporting per item should thin
        them out itself (each is one queued signal)."""
        delivery = self._delivery
        task_id = self._new_id()
        # Registered before the task starts; its reports are queued to this thread, so none comes before.
        self._on_progress[task_id] = on_progress  # type: ignore[assignment]

        def report(value: P) -> None:
            delivery.progress.emit((task_id, value))

        def done(result: TaskResult[T]) -> None:
            self._on_progress.pop(task_id, None)
            if next_func is not None:
                next_func(result)

        self._run(task_id, lambda: func(report), done, name)

    @Slot(object)
    def _deliver_progress(self, item: tuple[int, object]) -> None:
        task_id, value = item
        on_progress = self._on_progress.get(task_id)
        if on_progress is not None and not self._closed:
            on_progress(value)

    @Slot(object)
    def _deliver(self, item: tuple[int, TaskResult[object]]) -> None:
        task_id, result = item
        name, next_func = self._next.pop(task_id, ("task", None))
        if self._closed:
            return
        if next_func is not None:
            next_func(result)
        elif result.error is not None:
            log.error("%s failed: %s", name, result.error)
            log.debug("details", exc_info=result.error)

    def pending(self) -> int:
        """Tasks started and not yet delivered."""
        return len(self._next)

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        """At quit: drop tasks not yet started, wait (bounded) for running ones; deliver nothing more.
        Returns True if every task ended in time."""
        self._closed = True
        self._pool.clear()
        done = bool(self._pool.waitForDone(timeout_ms))
        self._next.clear()
        self._on_progress.clear()
        return done
