"""The state summary, kept current for the views: computed off the GUI thread when something changed.

:class:`SummaryFeed` recomputes :func:`usbsync_gui.core.summary.summarize` on a :class:`TaskRunner` pool thread
(with its own read connection) whenever :meth:`SummaryFeed.invalidate` is called — the engine calls it on every
change it makes or hears of (jobs queued, a drain, a drive plugged in or out, pause, a notice) — and hands the
result to the views by the ``changed`` signal. Calls are coalesced: at most one computation runs, and one more
follows if anything changed meanwhile. Nothing runs while nothing changes.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot

from usbsync_gui.core.config import Config
from usbsync_gui.core.paths import AppPaths
from usbsync_gui.core.space import allocation_unit
from usbsync_gui.core.state import StateDB, is_damage
from usbsync_gui.core.summary import LiveVolume, StateSummary, summarize
from usbsync_gui.engine.tasks import TaskResult, TaskRunner

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LiveState:
    """What only the running engine knows, snapshotted on its thread for one computation."""

    config: Config
    connected: Mapping[str, LiveVolume]
    paused: bool
    config_problem: str | None = None


def _fresh(v: LiveVolume) -> LiveVolume:
    """``v`` with its free and total bytes and its allocation unit read now (statvfs; on the pool thread: a hung
    mount waits there)."""
    try:
        if not os.path.ismount(v.mountpoint):  # a folder standing in for a volume (tests): as given
            return v
        usage = shutil.disk_usage(v.mountpoint)
        unit = allocation_unit(v.mountpoint)
    except OSError:
        return v
    return replace(v, free_bytes=usage.free, total_bytes=usage.total, alloc_unit=unit)


def compute_summary(state_db: Path, live: LiveState) -> StateSummary:
    """On a pool thread: the one summary of ``state_db`` (a read connection of its own) under the engine's
    ``live`` state, the connected drives' free space read now."""
    connected = {d: _fresh(v) for d, v in live.connected.items()}  # free space changes as files land
    with StateDB(state_db) as db:
        return summarize(db, live.config, connected, live.paused, live.config_problem)


class SummaryFeed(QObject):
    """Publishes the current :class:`StateSummary`.

    Args:
        paths: where the state database is.
        runner: runs the computation off this object's thread.
        live: called on this object's thread to snapshot the engine's live state for each computation.

    Signals:
        changed(StateSummary): a new summary (emitted on this object's thread).
        damaged(str): reading met a damaged database (SQLITE_CORRUPT/NOTADB): the engine rebuilds it.
    """

    changed = Signal(object)
    damaged = Signal(str)

    def __init__(
        self,
        paths: AppPaths,
        runner: TaskRunner,
        live: Callable[[], LiveState],
        parent: QObject | None = None,
    ):
        super().__init__(parent)
        self._paths = paths
        self._runner = runner
        self._live = live
        self._busy = False
        self._dirty = False
        self.latest: StateSummary | None = None

    @Slot()
    def invalidate(self) -> None:
        """Something changed: compute a new summary (now, or right after the one in flight)."""
        if self._busy:
            self._dirty = True
            return
        self._busy, self._dirty = True, False
        live = self._live()
        path = self._paths.state_db
        self._runner.run(lambda: compute_summary(path, live), self._done, name="state summary")

    def _done(self, result: TaskResult[StateSummary]) -> None:
        self._busy = False
        if result.error is not None:
            if isinstance(result.error, sqlite3.DatabaseError) and is_damage(result.error):
                self.damaged.emit(str(result.error))
            else:
                log.warning("cannot read the state for the views: %s", result.error)
        elif result.value is not None:
            self.latest = result.value
            self.changed.emit(result.value)
        if self._dirty:
            self.invalidate()
