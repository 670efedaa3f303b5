"""The sync service: one configuration's classifier, ingest and copiers, without threads or Qt.

``usbsync sync-once`` and ``process-pending`` call it directly; the running engine calls the same methods from
its worker threads (each thread with its own :class:`SyncService`, since SQLite connections are per thread).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from usbsync_gui.core.audit import AUDIT_FILE, AuditLog
from usbsync_gui.core.classify import Classifier
from usbsync_gui.core.config import Config
from usbsync_gui.core.copier import DrainResult, DriveSyncer, ProgressFn, Target
from usbsync_gui.core.identify import identify_volumes
from usbsync_gui.core.identity import SecretStore
from usbsync_gui.core.ingest import Ingestor, IngestStats
from usbsync_gui.core.paths import AppPaths
from usbsync_gui.core.source_paths import SourceFolders
from usbsync_gui.core.state import StateDB
from usbsync_gui.core.volumes import ConnectedVolume, Volume

log = logging.getLogger(__name__)


def target_for(cv: ConnectedVolume) -> Target:
    """The copy target for a verified registered volume."""
    assert cv.drive is not None
    return Target(cv.drive, Path(cv.volume.mountpoint), fs_type=cv.fs_type, read_only=cv.volume.read_only)


class SyncService:
    """Ingest and copy for ``config``; owns a state database connection and the audit log for this thread.
    ``stop``: set from any thread to end a scan or ingest under way (:class:`~usbsync_gui.core.ingest.Stopped`)."""

    def __init__(
        self,
        paths: AppPaths,
        config: Config,
        audit: AuditLog | None = None,
        db: StateDB | None = None,
        stop: threading.Event | None = None,
    ):
        self.paths = paths
        self.config = config
        self.db = db or StateDB(paths.state_db)
        self.audit = audit if audit is not None else AuditLog(paths.log_dir / AUDIT_FILE)
        self.classifier = Classifier(config.categories, config.rules)
        self.ingestor = Ingestor(self.db, config, self.classifier, self.audit, stop)
        self.sources = SourceFolders(config.sources)  # the one rule for reading a source, copier included
        self._secret: bytes | None = None

    def close(self) -> None:
        self.ingestor.close()
        self.db.close()

    def scan(self, min_age_s: float = 0.0) -> IngestStats:
        """Reconcile the source folders with the database, and queue known files for drives registered (or
        given a category) since they were seen."""
        stats = self.ingestor.scan(min_age_s=min_age_s)
        stats.jobs_queued += self.queue_for_drives()
        return stats

    def queue_for_drives(self) -> int:
        n = 0
        with self.db.transaction():
            for d in self.config.drives:
                n += self.db.enqueue_for_drive(d.id, d.categories)
        if n:
            log.info("queued %d known file(s) for newly registered drives or categories", n)
        return n

    def ingest_paths(self, paths: list[Path], min_age_s: float = 0.0) -> IngestStats:
        return self.ingestor.ingest_paths(paths, min_age_s=min_age_s)

    def reingest(self, path: str) -> None:
        """Record the current version of ``path`` after its content changed under a copy."""
        self.ingestor.ingest_file(Path(path), IngestStats(), forced=True, recheck=True)

    def secret(self) -> bytes:
        if self._secret is None:
            self._secret = SecretStore(self.paths.state_dir).secret()
        return self._secret

    def inspect(self, volumes: list[Volume] | None = None) -> list[ConnectedVolume]:
        """:func:`inspect_volumes` with this installation's secret and registered labels; look-alikes logged."""
        found = identify_volumes(self.paths.state_dir, self.config, self.db, volumes, self.secret())
        for cv in found:
            if cv.status == "look-alike":
                log.warning("%s", cv.message)
        return found

    def connected_targets(self, volumes: list[ConnectedVolume] | None = None) -> list[Target]:
        """Registered drives mounted now (marker verified), recorded as seen with their free space."""
        targets = []
        for cv in self.inspect() if volumes is None else volumes:
            if cv.drive is None:
                continue
            v = cv.volume
            with self.db.transaction():
                self.db.drive_seen(
                    cv.drive.id, cv.drive.name, v.mountpoint, cv.fs_type, v.total_bytes, v.free_bytes
                )
            targets.append(target_for(cv))
        return targets

    def drain(
        self,
        target: Target,
        cancel: threading.Event | None = None,
        progress: ProgressFn | None = None,
        sweep: bool = False,
    ) -> DrainResult:
        """Copy what can go now to one drive (see :meth:`DriveSyncer.drain`); ``sweep`` at its arrival."""
        rate = self.config.max_copy_rate_mib_s * (1 << 20)
        syncer = DriveSyncer(
            self.db,
            target,
            self.audit,
            cancel,
            self.reingest,
            rate,
            progress,
            sources=self.sources,
            sweep=sweep,
        )
        result = syncer.drain()
        if result.copied or result.duplicates:
            log.info(
                "%s: %d copied (%.1f MiB), %d already there, %d waiting, %d failed",
                target.drive.name,
                result.copied,
                result.bytes_copied / (1 << 20),
                result.duplicates,
                result.deferred,
                result.failed,
            )
        return result

    def drain_all(
        self,
        cancel: threading.Event | None = None,
        on_result: Callable[[Target, DrainResult], None] | None = None,
        sweep: bool = False,
    ) -> dict[str, DrainResult]:
        """Drain every connected registered drive, one after another (``sweep``: the first drain of this run,
        see :meth:`DriveSyncer.sweep_temps`). Returns results by drive name."""
        out: dict[str, DrainResult] = {}
        for t in self.connected_targets():
            if cancel is not None and cancel.is_set():
                break
            out[t.drive.name] = r = self.drain(t, cancel, sweep=sweep)
            if on_result:
                on_result(t, r)
        return out
