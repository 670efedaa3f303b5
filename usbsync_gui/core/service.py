"""The sync service: one configuration's classifier, ingest and copiers, without threads or Qt.

``usbsync sync-once`` and ``process-pending`` call it directly; the running engine calls the same methods from
its worker threads (each thread with its own :class:`SyncService`, since SQLite connections are per thread).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from usbsync_gui.core.audit import AUDIT_FILE, AuditLog
from usbsync_gui.core.classify import Classifier
from usbsync_gui.core.config import Config, DriveConfig
from usbsync_gui.core.copier import DrainResult, DriveSyncer, ProgressFn, Target
from usbsync_gui.core.ingest import Ingestor, IngestStats
from usbsync_gui.core.paths import AppPaths
from usbsync_gui.core.state import StateDB
from usbsync_gui.core.volumes import MarkerError, Volume, list_volumes, read_marker

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConnectedVolume:
    """A mounted volume and what usbsync makes of it: ``drive`` is set when its marker names a registered drive;
    ``marker_id`` is set when it carries a marker at all (an unknown id means it is not registered here)."""

    volume: Volume
    drive: DriveConfig | None
    marker_id: str | None
    marker_name: str | None
    marker_error: str | None = None

    @property
    def status(self) -> str:
        if self.drive is not None:
            return "registered"
        if self.marker_error:
            return "unreadable marker"
        if self.marker_id is not None:
            return "marker of another installation"
        return "unknown"


def inspect_volumes(config: Config, volumes: list[Volume] | None = None) -> list[ConnectedVolume]:
    """Read the marker of each mounted volume and match it to the registered drives by id only."""
    out: list[ConnectedVolume] = []
    for v in list_volumes() if volumes is None else volumes:
        try:
            marker = read_marker(v.mountpoint)
        except MarkerError as exc:
            out.append(ConnectedVolume(v, None, None, None, str(exc)))
            continue
        if marker is None:
            out.append(ConnectedVolume(v, None, None, None))
            continue
        out.append(ConnectedVolume(v, config.drive_by_id(marker.drive_id), marker.drive_id, marker.name))
    return out


class SyncService:
    """Ingest and copy for ``config``; owns a state database connection and the audit log for this thread."""

    def __init__(
        self, paths: AppPaths, config: Config, audit: AuditLog | None = None, db: StateDB | None = None
    ):
        self.paths = paths
        self.config = config
        self.db = db or StateDB(paths.state_db)
        self.audit = audit if audit is not None else AuditLog(paths.log_dir / AUDIT_FILE)
        self.classifier = Classifier(config.categories, config.rules)
        self.ingestor = Ingestor(self.db, config, self.classifier, self.audit)

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
        stats = IngestStats()
        with self.db.transaction():
            self.ingestor.ingest_file(Path(path), stats, forced=True, recheck=True)

    def connected_targets(self) -> list[Target]:
        """Registered drives mounted now (matched by marker id), recorded as seen with their free space."""
        targets = []
        for cv in inspect_volumes(self.config):
            if cv.drive is None:
                continue
            v = cv.volume
            self.db.drive_seen(
                cv.drive.id, cv.drive.name, v.mountpoint, v.fstype, v.total_bytes, v.free_bytes
            )
            targets.append(Target(cv.drive, Path(v.mountpoint)))
        return targets

    def drain(
        self,
        target: Target,
        cancel: threading.Event | None = None,
        progress: ProgressFn | None = None,
    ) -> DrainResult:
        """Copy what can go now to one drive (see :meth:`DriveSyncer.drain`)."""
        rate = self.config.max_copy_rate_mib_s * (1 << 20)
        syncer = DriveSyncer(self.db, target, self.audit, cancel, self.reingest, rate, progress)
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
    ) -> dict[str, DrainResult]:
        """Drain every connected registered drive, one after another. Returns results by drive name."""
        out: dict[str, DrainResult] = {}
        for t in self.connected_targets():
            if cancel is not None and cancel.is_set():
                break
            out[t.drive.name] = r = self.drain(t, cancel)
            if on_result:
                on_result(t, r)
        return out
