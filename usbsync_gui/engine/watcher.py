"""Watch the source folders with watchdog and hand over files once they are complete.

A file is *ready* when, after its last event, it has been quiet for the debounce interval and either was
closed after writing (Linux ``IN_CLOSE_WRITE``) or has kept its size and mtime for the stability window.
Renames into a folder count as new files; a directory created or moved in is scanned.

Event loss: with watchdog's default handler a 20,000-file burst overflowed the inotify queue
(``max_queued_events`` 16384) and lost over half the files, with only a log warning. So we subscribe to the
few event types we need (``event_filter``), and when watchdog reports an overflow we request a rescan. The
candidate set is bounded (:data:`MAX_CANDIDATES`): past it, candidates are dropped and a rescan requested,
so memory does not grow without bound whatever arrives.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal, Slot
from watchdog.events import (
    DirCreatedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer

log = logging.getLogger(__name__)

DEBOUNCE_S = 0.3
TICK_MS = 200
MAX_CANDIDATES = 100_000
READY_CHUNK = 1000


class _Candidate:
    __slots__ = ("closed", "last_event", "stat")

    def __init__(self, now: float):
        self.last_event = now
        self.closed = False
        self.stat: tuple[int, int] | None = None


class _Handler(FileSystemEventHandler):
    """Runs on watchdog's thread: records candidates under a lock, nothing else."""

    def __init__(self, owner: SourceWatcher):
        self.owner = owner

    def on_any_event(self, event: FileSystemEvent) -> None:
        if isinstance(event, FileMovedEvent | DirMovedEvent):
            path = os.fsdecode(event.dest_path)
        else:
            path = os.fsdecode(event.src_path)
        self.owner._note(path, closed=isinstance(event, FileClosedEvent))


class _OverflowDetector(logging.Handler):
    """watchdog reports an inotify queue overflow only as a log warning; turn it into a rescan request."""

    def __init__(self, flag: threading.Event):
        super().__init__(logging.WARNING)
        self.flag = flag

    def emit(self, record: logging.LogRecord) -> None:
        if "overflow" in record.getMessage().lower():
            self.flag.set()


class SourceWatcher(QObject):
    """Watches ``sources`` recursively. Signals: ``files_ready(list[str])``, ``rescan_requested()``,
    ``source_missing(str)``. Create it, move it to its thread, then call :meth:`start` from that thread."""

    files_ready = Signal(list)
    rescan_requested = Signal()
    source_missing = Signal(str)

    def __init__(self, sources: list[Path], stability_window_s: float, parent: QObject | None = None):
        super().__init__(parent)
        self._sources = [Path(s) for s in sources]
        self._window = stability_window_s
        self._lock = threading.Lock()
        self._candidates: dict[str, _Candidate] = {}
        self._overflow = threading.Event()
        self._observer: Observer | None = None  # type: ignore[valid-type]
        self._timer: QTimer | None = None
        self._detector = _OverflowDetector(self._overflow)
        self.dropped = 0

    def _note(self, path: str, closed: bool) -> None:
        now = time.monotonic()
        with self._lock:
            c = self._candidates.get(path)
            if c is None:
                if len(self._candidates) >= MAX_CANDIDATES:
                    self.dropped += 1
                    self._overflow.set()
                    return
                c = self._candidates[path] = _Candidate(now)
            c.last_event = now
            c.closed = c.closed or closed

    @Slot()
    def start(self) -> None:
        events: list[type[FileSystemEvent]] = [
            FileCreatedEvent,
            FileClosedEvent,
            FileMovedEvent,
            DirCreatedEvent,
            DirMovedEvent,
        ]
        if not sys.platform.startswith("linux"):
            events.append(
                FileModifiedEvent
            )  # no close-after-write event elsewhere: the stability window decides
        logging.getLogger("watchdog").addHandler(self._detector)
        self._observer = Observer()
        handler = _Handler(self)
        for s in self._sources:
            if not s.is_dir():
                log.warning("source folder missing: %s (not watched until it exists and usbsync restarts)", s)
                self.source_missing.emit(str(s))
                continue
            try:
                self._observer.schedule(handler, str(s), recursive=True, event_filter=events)
            except OSError as exc:
                log.error("cannot watch %s: %s", s, exc.strerror)
                self.source_missing.emit(str(s))
        self._observer.start()
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._tick)
        self._timer.start(TICK_MS)
        log.info("watching %s", ", ".join(str(s) for s in self._sources))

    @Slot()
    def stop(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
            self._observer = None
        logging.getLogger("watchdog").removeHandler(self._detector)

    @Slot(list)
    def track(self, paths: list[str]) -> None:
        """Watch ``paths`` (still being written) until they hold still for the stability window."""
        for p in paths:
            self._note(str(p), closed=False)

    def pending_count(self) -> int:
        with self._lock:
            return len(self._candidates)

    @Slot()
    def _tick(self) -> None:
        if self._overflow.is_set():
            self._overflow.clear()
            log.warning("file events were lost (queue overflow); rescanning the source folders")
            self.rescan_requested.emit()
        now = time.monotonic()
        ready: list[str] = []
        with self._lock:
            items = list(self._candidates.items())
        for path, c in items:
            quiet = now - c.last_event
            if quiet < DEBOUNCE_S:
                continue
            if c.closed:
                ready.append(path)
                continue
            if quiet < self._window:
                continue
            try:
                st = os.stat(path)
                sig = (st.st_size, st.st_mtime_ns)
            except OSError:
                ready.append(path)  # gone: let ingest ignore it
                continue
            if os.path.isdir(path) or c.stat == sig:
                ready.append(path)
            else:
                c.stat = sig
                c.last_event = now  # changed: wait another window
        if not ready:
            return
        with self._lock:
            for p in ready:
                still = self._candidates.get(p)
                if still is not None and now - still.last_event >= DEBOUNCE_S:
                    del self._candidates[p]
        for i in range(0, len(ready), READY_CHUNK):
            self.files_ready.emit(ready[i : i + READY_CHUNK])
