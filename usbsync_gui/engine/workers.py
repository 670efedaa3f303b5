"""QObject workers that run the core on their own QThreads.

Each worker builds its :class:`SyncService` (and so its SQLite connection) in its own thread, on the first
call; they talk to the engine only through signals. Cancellation uses a :class:`threading.Event` set from
the engine's thread, because a worker busy in a slot cannot receive queued signals.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot

from usbsync_gui.core.audit import AuditLog
from usbsync_gui.core.config import Config
from usbsync_gui.core.copier import CancelEvent, DrainResult, Target
from usbsync_gui.core.paths import AppPaths
from usbsync_gui.core.service import SyncService
from usbsync_gui.core.state import Job
from usbsync_gui.core.units import plural

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 0.1  # at most 10 progress signals a second per drive: enough for a bar, no flood


class IngestWorker(QObject):
    """Scans and ingests. Signals: ``jobs_queued(list[str] drive ids)``, ``fresh(list[str] paths)``,
    ``scan_done(int files seen, int queued)``."""

    jobs_queued = Signal(list)
    fresh = Signal(list)
    scan_done = Signal(int, int)

    def __init__(self, paths: AppPaths, config: Config, audit: AuditLog):
        super().__init__()
        self._paths = paths
        self._config = config
        self._audit = audit
        self._svc: SyncService | None = None

    def _service(self) -> SyncService:
        if self._svc is None:
            self._svc = SyncService(self._paths, self._config, self._audit)
        return self._svc

    @Slot(object)
    def set_config(self, config: Config) -> None:
        self._config = config
        if self._svc is not None:
            self._svc.close()
            self._svc = None
        n = self._service().queue_for_drives()
        if n:
            self.jobs_queued.emit([d.id for d in config.drives])

    @Slot()
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
        if stats.fresh:
            self.fresh.emit([str(p) for p in stats.fresh])
        self.jobs_queued.emit(sorted({d.id for d in self._config.drives}))
        self.scan_done.emit(stats.seen, stats.jobs_queued)

    @Slot(list)
    def ingest(self, paths: list[str]) -> None:
        stats = self._service().ingest_paths([Path(p) for p in paths], min_age_s=0.0)
        if stats.jobs_queued:
            names = [d.name for d in self._config.drives if d.id in stats.drives_with_work]
            log.info(
                "queued %s for %s",
                plural(stats.files_queued, "file"),
                ", ".join(names),
            )
        if stats.fresh:
            self.fresh.emit([str(p) for p in stats.fresh])
        if stats.drives_with_work:
            self.jobs_queued.emit(sorted(stats.drives_with_work))

    @Slot()
    def close(self) -> None:
        if self._svc is not None:
            self._svc.close()
            self._svc = None


class CopyWorker(QObject):
    """Drains one drive's queue; the only writer to that drive. Signals: ``progress(drive id, file path,
    bytes done, bytes total)``, ``drained(drive id, DrainResult)``, ``drive_gone(drive id)``."""

    progress = Signal(str, str, int, int)
    drained = Signal(str, object)
    drive_gone = Signal(str)

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

    def _on_progress(self, job: Job, done: int, total: int) -> None:
        now = time.monotonic()
        if done >= total or now - self._last_progress >= PROGRESS_INTERVAL_S:
            self._last_progress = now
            self.progress.emit(self.target.drive.id, job.path, done, total)

    def request(self) -> None:
        """Thread-safe: ask for another drain pass (coalesced while one runs)."""
        self._again.set()

    @Slot()
    def drain(self) -> None:
        if self._busy:
            return
        self._busy = True
        try:
            if self._svc is None:
                self._svc = SyncService(self._paths, self._config, self._audit)
            while not self.cancel.is_set():
                self._again.clear()
                result: DrainResult = self._svc.drain(self.target, self.cancel, self._on_progress)
                self.drained.emit(self.target.drive.id, result)
                if result.drive_gone:
                    self.drive_gone.emit(self.target.drive.id)
                    break
                if not self._again.is_set():
                    break
        finally:
            self._busy = False

    @Slot()
    def close(self) -> None:
        if self._svc is not None:
            self._svc.close()
            self._svc = None
