"""QObject workers that run the core on their own QThreads.

Each worker builds its :class:`SyncService` (and so its SQLite connection) in its own thread, on the first
call; they talk to the engine only through signals. Cancellation uses a :class:`threading.Event` set from
the engine's thread, because a worker busy in a slot cannot receive queued signals.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from PySide6.QtCore import QMetaObject, QObject, Qt, QTimer, Signal, Slot

from usbsync_gui.core.audit import AuditLog
from usbsync_gui.core.config import Config
from usbsync_gui.core.copier import CancelEvent, DrainResult, Target
from usbsync_gui.core.fs_text import for_display
from usbsync_gui.core.ingest import IngestStats, Stopped
from usbsync_gui.core.paths import AppPaths
from usbsync_gui.core.service import SyncService
from usbsync_gui.core.state import Job, is_damage
from usbsync_gui.core.units import plural

log = logging.getLogger(__name__)

_F = TypeVar("_F", bound=Callable[..., Any])
PROGRESS_INTERVAL_S = 0.1  # at most 10 progress signals a second per drive: enough for a bar, no flood
PROGRESS_END_BYTES = 8 << 20  # files from this size on always report their end (bytes)
# Paths ingested in one batch at most (one transaction): big enough that a flood is not a transaction per file,
# small enough that the flood's backlog waits in a flush queued behind other work. (A stop does not wait for the
# batch: :meth:`IngestWorker.request_stop` ends it at its next file.)
INGEST_BATCH = 2000


def _guarded(method: _F) -> _F:
    """For worker slots: an exception is logged in one line, never raised into Qt's event loop (which would only
    print a traceback); a damaged state database is reported by the worker's ``database_damaged`` signal and
    its connection closed, so the engine can set the file aside and rebuild it."""

    @functools.wraps(method)
    def guarded(self: IngestWorker, *args: Any) -> Any:
        try:
            return method(self, *args)
        except Stopped:
            log.info(
                "%s stopped with the engine; the next scan finds what it had not recorded", method.__name__
            )
            return None
        except Exception as exc:
            if is_damage(exc):
                self.close()
                self.database_damaged.emit(str(exc))
            else:
                log.error("%s stopped: %s", method.__name__, exc)
                log.debug("details", exc_info=True)
            return None

    return guarded  # type: ignore[return-value]


class IngestWorker(QObject):
    """Scans, ingests, and re-routes files after a rule or category change. Signals: ``jobs_queued(list[str]
    drive ids)``, ``fresh(list[str] paths)``, ``scan_done(int files seen, int new or changed, int queued)``,
    ``queued(int files)``, ``database_damaged(str detail)``."""

    jobs_queued = Signal(list)
    # Source paths cross threads as Python objects: a list or str argument becomes QString, which drops the
    # undecodable bytes of a name that is not valid UTF-8 (PEP 383 surrogates), and the file is never found.
    fresh = Signal(object)  # list[str] of paths
    scan_done = Signal(int, int, int)  # files seen, new or changed (what watching had not brought in), queued
    queued = Signal(int)  # files queued for drives by a scan, an ingest or a reclassification
    database_damaged = Signal(str)

    def __init__(self, paths: AppPaths, config: Config, audit: AuditLog):
        super().__init__()
        self._paths = paths
        self._config = config
        self._audit = audit
        self._svc: SyncService | None = None
        self._waiting: list[str] = []  # handed over, not yet ingested (the next batch)
        self._flush_queued = False
        self._stop = threading.Event()

    def request_stop(self) -> None:
        """Thread-safe, called by the engine as it stops: the scan or batch under way ends at its next file
        (:class:`Stopped`), so the stop waits milliseconds, not for a batch (2,000 files under Wine, where a
        stat costs 2 ms, took over 10 s)."""
        self._stop.set()

    def _service(self) -> SyncService:
        if self._svc is None:
            self._svc = SyncService(self._paths, self._config, self._audit, stop=self._stop)
        return self._svc

    @Slot(object)
    @_guarded
    def set_config(self, config: Config) -> None:
        self._config = config
        if self._svc is not None:
            self._svc.close()
            self._svc = None
        n = self._service().queue_for_drives()
        if n:
            self.jobs_queued.emit([d.id for d in config.drives])

    @Slot()
    @_guarded
    def scan(self) -> None:
        t0 = time.monotonic()
        stats = self._service().scan(min_age_s=self._config.stability_window_s)
        log.info(
            "scan: %d files in %.1f s, %d new or changed, %d queued, %d still being written",
            stats.seen,
            time.monotonic() - t0,
            stats.new_or_changed,
            stats.jobs_queued,
            len(stats.fresh),
        )
        self._log_queued(stats)
        if stats.fresh:
            self.fresh.emit([str(p) for p in stats.fresh])
        self.jobs_queued.emit(sorted({d.id for d in self._config.drives}))
        self.scan_done.emit(stats.seen, stats.new_or_changed, stats.jobs_queued)

    @Slot(object)
    def ingest(self, paths: list[str]) -> None:
        """Take ``paths`` (files and folders ready to ingest) into the next batch. A file alone goes at once; files
        handed over while a batch is being recorded all go in the batch after it (the flush is queued behind the
        hand-overs already waiting): batches are as big as the backlog, with no delay of their own."""
        self._waiting.extend(paths)
        if not self._flush_queued:
            self._flush_queued = True
            QMetaObject.invokeMethod(self, "_flush", Qt.ConnectionType.QueuedConnection)

    @Slot()
    @_guarded
    def _flush(self) -> None:
        self._flush_queued = False
        # At most INGEST_BATCH paths at a time, the rest in a flush queued behind whatever came meanwhile: a stop
        # (its quit, queued to this thread) waits for one batch, never for a whole flood's backlog.
        paths, self._waiting = self._waiting[:INGEST_BATCH], self._waiting[INGEST_BATCH:]
        if self._waiting:
            self._flush_queued = True
            QMetaObject.invokeMethod(self, "_flush", Qt.ConnectionType.QueuedConnection)
        if not paths:
            return
        stats = self._service().ingest_paths([Path(p) for p in paths], min_age_s=0.0)
        self._log_queued(stats)
        if stats.fresh:
            self.fresh.emit([str(p) for p in stats.fresh])
        if stats.drives_with_work:
            self.jobs_queued.emit(sorted(stats.drives_with_work))

    def _log_queued(self, stats: IngestStats) -> None:
        """The files queued, and for which drives: the same line whether the watcher handed them over or a scan
        found them (which one comes first is a race, at start and after events were lost)."""
        if stats.files_queued:
            self.queued.emit(stats.files_queued)
            names = [d.name for d in self._config.drives if d.id in stats.drives_with_work]
            log.info("queued %s for %s", plural(stats.files_queued, "file"), ", ".join(names))

    @Slot()
    @_guarded
    def reclassify(self) -> None:
        """The categories or rules changed (after :meth:`set_config`): files not yet delivered everywhere are
        classified again and re-routed (:meth:`Ingestor.reclassify`); the drives that got jobs are woken."""
        stats = self._service().ingestor.reclassify()
        if stats.drives_with_work:
            self.jobs_queued.emit(sorted(stats.drives_with_work))

    @Slot()
    def close(self) -> None:
        if self._svc is not None:
            self._svc.close()
            self._svc = None


class CopyWorker(QObject):
    """Drains one drive's queue; the only writer to that drive. Signals: ``progress(drive id, file path,
    bytes done, bytes total)``, ``drained(drive id, DrainResult)``, ``drive_gone(drive id)``.

    Events, not clocks: a drain runs when asked (:meth:`request` + the ``drain`` slot), again at once when it
    queued newer versions of sources changed under their copies, and, only while a job is backing off after an
    error, when the earliest one is due (a single-shot timer for ``StateDB.next_retry_at``; none otherwise).
    """

    progress = Signal(str, str, int, int)
    drained = Signal(str, object)
    drive_gone = Signal(str)
    database_damaged = Signal(str)

    def __init__(self, paths: AppPaths, config: Config, audit: AuditLog, target: Target):
        super().__init__()
        self._paths = paths
        self._config = config
        self._audit = audit
        self.target = target
        self.cancel = CancelEvent()
        self._svc: SyncService | None = None
        self._last_progress = 0.0
        self._again = threading.Event()
        self._busy = False
        self._retry: QTimer | None = None  # made in this worker's thread, at the first backoff
        self._arrived = True  # the first drain is the drive's arrival: it sweeps unrecorded temp files
        self._failing = ""  # the drive failed file after file: nothing more until it is plugged in again

    def _on_progress(self, job: Job, done: int, total: int) -> None:
        now = time.monotonic()
        # A big file's end is always sent (its bar reaches 100%); small files' ends are not: a flood of them
        # would be two GUI-thread slot calls a file, each waiting for the GIL the ingest threads hold.
        if now - self._last_progress >= PROGRESS_INTERVAL_S or (
            done >= total and total >= PROGRESS_END_BYTES
        ):
            self._last_progress = now
            self.progress.emit(self.target.drive.id, for_display(job.path), done, total)

    def request(self) -> None:
        """Thread-safe: ask for another drain pass (coalesced while one runs)."""
        self._again.set()

    def reconsider(self) -> None:
        """Thread-safe: the mount table changed; a drive judged failing gets another look at the next drain
        (it may have been pulled and put back in the same place)."""
        self._failing = ""

    @Slot()
    def drain(self) -> None:
        if self._busy or self._failing:
            return
        self._busy = True
        try:
            while not self.cancel.is_set():
                self._again.clear()
                result = self._drain_once()
                self.drained.emit(self.target.drive.id, result)
                if result.damaged:
                    self.close()  # the engine sets the file aside and starts this drive again
                    self.database_damaged.emit(result.error)
                    return
                if result.drive_gone:
                    self.drive_gone.emit(self.target.drive.id)
                    return
                if result.failing:
                    self._failing = result.failing  # its files wait (uncounted) for its next arrival
                    return
                if result.error or not (self._again.is_set() or result.again):
                    break
            if not self.cancel.is_set():
                self._arm_retry()
        finally:
            self._busy = False

    def _drain_once(self) -> DrainResult:
        """One drain; an error (the database cannot be opened, ...) is logged in one line and returned in
        ``DrainResult.error``, never raised into the event loop."""
        try:
            if self._svc is None:
                self._svc = SyncService(self._paths, self._config, self._audit)
            sweep, self._arrived = self._arrived, False
            return self._svc.drain(self.target, self.cancel, self._on_progress, sweep=sweep)
        except Exception as exc:  # a slot must not raise: Qt would only print it
            reason = f"copying to {self.target.drive.name} stopped: {exc}"
            log.error("%s", reason)
            return DrainResult(error=reason, damaged=is_damage(exc))

    def _arm_retry(self) -> None:
        """Arm the single-shot timer for the earliest job backing off on this drive, or stop it if none is."""
        try:
            at = self._svc.db.next_retry_at(self.target.drive.id) if self._svc is not None else None
        except Exception as exc:  # the next event drains anyway
            log.warning("%s: cannot read when to retry: %s", self.target.drive.name, exc)
            at = None
        if at is None:
            if self._retry is not None:
                self._retry.stop()
            return
        if self._retry is None:
            self._retry = QTimer(self)
            self._retry.setSingleShot(True)
            self._retry.timeout.connect(self._retry_due)
        # +50 ms: next_jobs compares not_before with its own clock; never wake a hair too early.
        self._retry.start(max(0, int((at - time.time()) * 1000)) + 50)

    @Slot()
    def _retry_due(self) -> None:
        self.request()
        self.drain()

    def retry_at_ms(self) -> int | None:
        """Milliseconds until the armed retry timer fires, or None when none is armed (for tests and status)."""
        if self._retry is None or not self._retry.isActive():
            return None
        return int(self._retry.remainingTime())

    @Slot()
    def close(self) -> None:
        if self._retry is not None:
            self._retry.stop()
        if self._svc is not None:
            self._svc.close()
            self._svc = None

    @Slot()
    def finish(self) -> None:
        """Close, then end this worker's thread (queued after :attr:`cancel` is set: runs once the drain in
        flight has rolled back, so nobody waits for it)."""
        self.close()
        thread = self.thread()
        if thread is not None:
            thread.quit()

    @Slot(object)
    def set_config(self, config: Config) -> None:
        """A configuration change that leaves this drive as it is (a bandwidth limit, another drive): used from
        the next drain on, without interrupting the copy in flight."""
        self._config = config
        if self._svc is not None and not self._busy:
            self._svc.close()
            self._svc = None
