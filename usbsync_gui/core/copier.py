"""Verified, atomic copies of one drive's pending jobs: the batch, and every job-state transition it makes.

Per job: decide where it goes (:mod:`~usbsync_gui.core.copy_plan`), stream the source (opened only through
:meth:`SourceFolders.open`) into a hidden temporary file beside the destination (``.usbsync-<job>.part``,
:mod:`~usbsync_gui.core.copy_stream`), hashing it with BLAKE3 in the same pass. Per batch of up to
:data:`BATCH_FILES` files / :data:`BATCH_BYTES` bytes: make all temp files durable at once (``syncfs`` on Linux,
else ``fsync`` each), verify each by reading it back from the device (page cache dropped first), rename it
into place, fsync the directories, then record the verified copies in one transaction. Every operation on the
drive goes through :class:`~usbsync_gui.core.drive_fs.DriveFS`: relative to the volume's root, following no
link, on the volume's own device.

Why this is crash-safe without an fsync per file: a temp file is never renamed into place before it is
durable and verified, and its path is recorded in the job *before* it is created, so a crash leaves either a
temp file (removed at the drive's next arrival) or a complete verified file. A complete file whose record was
lost is recognised by content at the next attempt and adopted, never written twice.

How errors end (one place each, in :class:`DriveSyncer`):

* the source's (open, read, gone when the copy completes): removed (ENOENT) or refused -> the job is dropped;
  other read errors -> a counted attempt. Never a drive error.
* the drive's: :class:`DriveGone` only when the volume really is gone (ENOTCONN, ENODEV, ENXIO, ESHUTDOWN, or
  the mount/marker/device check fails): the batch goes back to pending uncounted. Any other error with the
  volume still there (EIO from a bad block, a link on the drive, ...) is a counted attempt on that file
  (:meth:`StateDB.retry_or_fail`: capped backoff, ``failed`` after the limit) and the queue moves on.
* anything else in a batch (syncfs, SQLite busy, a bug): the batch's jobs go back to pending with the reason,
  and :meth:`DriveSyncer.drain` reports it in :attr:`DrainResult.error`; it never raises.

Job states: ``start_job`` and ``finish_job`` are compare-and-set. A job whose version changed before it started
is skipped; a copy whose job changed meanwhile is still recorded (a verified copy of an older version, known
as ours), and the newer version, queued by ``finish_job``, follows in the same drain.

Never overwritten: a file at the destination that usbsync did not write (or that was changed on the drive
since) is kept; the new file goes to ``name (1).ext``. usbsync's own earlier copy of the same source is
replaced atomically when the source changes. Content already verified on the drive is not copied again.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import stat
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from usbsync_gui.core import manifest, wait_reasons
from usbsync_gui.core.audit import AuditLog
from usbsync_gui.core.config import DriveConfig
from usbsync_gui.core.copy_plan import (
    FAT32_MAX_FILE,
    TEMP_PREFIX,
    TEMP_SUFFIX,
    Plan,
    Planner,
    max_file_size,
    temp_for,
)
from usbsync_gui.core.copy_stream import Cancelled, SourceError, stream
from usbsync_gui.core.drive_fs import DriveFS, LinkOnDrive, NotOnVolume
from usbsync_gui.core.safe_names import rules_for
from usbsync_gui.core.source_paths import NotRegularFile, Refused, SourceFolders
from usbsync_gui.core.space import SpaceTally, allocation_unit, space_needed
from usbsync_gui.core.state import Job, StateDB, is_damage
from usbsync_gui.core.units import human_bytes
from usbsync_gui.core.volumes import MarkerError, free_bytes, read_marker
from usbsync_gui.platform.thread_priority import pool_initializer

__all__ = [
    "FAT32_MAX_FILE",
    "TEMP_PREFIX",
    "TEMP_SUFFIX",
    "CancelEvent",
    "Cancelled",
    "DrainResult",
    "DriveGone",
    "DriveSyncer",
    "ProgressFn",
    "Target",
    "max_file_size",
]

log = logging.getLogger(__name__)

BATCH_FILES = 256
BATCH_BYTES = 256 << 20
MAX_PASSES = 3  # passes per drain over jobs re-queued during it (source changed, newer version queued)
LOG_EACH_UP_TO = 20  # files per batch named one by one in the human log
# errno values that mean the volume itself went away (a yanked FUSE stick answers ENOTCONN). Not EIO: a bad
# block on a mounted volume answers EIO too, and that is one file's problem, not the drive's absence.
_GONE_ERRNOS = {errno.ENOTCONN, errno.ENODEV, errno.ENXIO, errno.ESHUTDOWN}


class CancelEvent(threading.Event):
    """A cancellation flag that carries why (shown as the jobs' waiting reason)."""

    def __init__(self, reason: str = "interrupted (usbsync was stopping)"):
        super().__init__()
        self.reason = reason

    def cancel(self, reason: str) -> None:
        self.reason = reason
        self.set()


class DriveGone(Exception):
    """The drive disappeared mid-operation (unplugged, unmounted, or a stale FUSE mount)."""


class DriveFailing(Exception):
    """The drive is still mounted but failed :data:`FAILING_AFTER` different files in a row with I/O errors
    (it went read-only underneath, or is dying): the drive's fault, not the files'. ``str()`` says so."""


FAILING_AFTER = 2  # different files failing in a row on one drive before the drive itself is suspected


@dataclass(frozen=True)
class Target:
    """Where a drive is mounted right now. ``require_mount`` is False only where a plain folder stands in for a
    volume (unit tests); the marker and device checks apply either way."""

    drive: DriveConfig
    mountpoint: Path
    require_mount: bool = True
    fs_type: str = ""  # the real filesystem type (vfat, exfat, ext4, ...): sets size and name limits
    read_only: bool = False


@dataclass
class DrainResult:
    """Counts of one :meth:`DriveSyncer.drain`. ``bytes_copied`` in bytes.

    ``again``: the last pass queued newer versions of sources (changed while copied) that are ready now: drain
    again. ``error``: why the drain stopped early on an unexpected error, in words (empty when it did not)."""

    copied: int = 0
    duplicates: int = 0
    deferred: int = 0
    failed: int = 0
    bytes_copied: int = 0
    drive_gone: bool = False
    cancelled: bool = False
    again: bool = False
    error: str = ""
    damaged: bool = False  # the error was a damaged state database (the engine sets it aside and rebuilds)
    failing: str = (
        ""  # the drive failed several files in a row while mounted: why (retried at its next arrival)
    )
    reasons: dict[str, int] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)  # failed attempts by wait_reasons.failure_kind
    verify_s: list[float] = field(default_factory=list)  # seconds each copy took to read back from the device

    def merge(self, later: DrainResult) -> None:
        """Add a later pass over the same drive: counts add up; what still waits is the later pass's."""
        self.copied += later.copied
        self.duplicates += later.duplicates
        self.failed += later.failed
        self.bytes_copied += later.bytes_copied
        self.deferred = later.deferred
        self.drive_gone = self.drive_gone or later.drive_gone
        self.cancelled = self.cancelled or later.cancelled
        self.again = later.again
        self.error = later.error or self.error
        self.damaged = self.damaged or later.damaged
        self.failing = later.failing or self.failing
        self.reasons = dict(later.reasons)
        for kind, n in later.failures.items():
            self.failures[kind] = self.failures.get(kind, 0) + n
        self.verify_s += later.verify_s

    def failed_attempt(self, reason: str) -> None:
        kind = wait_reasons.failure_kind(reason)
        self.failures[kind] = self.failures.get(kind, 0) + 1

    def note(self, reason: str) -> None:
        self.reasons[reason] = self.reasons.get(reason, 0) + 1


ProgressFn = Callable[[Job, int, int], None]  # job, bytes written so far, total bytes


def _describe(exc: BaseException) -> str:
    """An exception in words, one line."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc).splitlines()[0] if str(exc) else ""
    return text or type(exc).__name__


@dataclass
class _Pass:
    """What one pass left for the next: ``resets`` (jobs back to pending for a changed source, skipped, or
    waiting for a same-content file of this batch) and ``newer`` (newer versions queued on finishing)."""

    resets: int = 0
    newer: int = 0


class DriveSyncer:
    """Copy the pending jobs of one mounted drive. One instance (one writer) per drive at a time.

    Args:
        db: this thread's state database.
        target: the drive and its current mount point.
        audit: where each operation is recorded (optional).
        cancel: set it to stop; the copy in flight is rolled back within one chunk (256 KiB).
        reingest: called with a source path whose content changed under the copy, to record the new version.
        max_rate_bps: bandwidth limit in bytes/second (0 = unlimited).
        progress: called per chunk with (job, bytes done, total bytes).
        sources: the source folders; sources are opened only through :meth:`SourceFolders.open`.
        sweep: at the drive's arrival: also remove unrecorded temp files (:meth:`sweep_temps`).
    """

    def __init__(
        self,
        db: StateDB,
        target: Target,
        audit: AuditLog | None = None,
        cancel: threading.Event | None = None,
        reingest: Callable[[str], None] | None = None,
        max_rate_bps: float = 0.0,
        progress: ProgressFn | None = None,
        *,
        sources: SourceFolders,
        sweep: bool = False,
    ):
        self.db = db
        self.target = target
        self.drive = target.drive
        self.mount = target.mountpoint
        self._mount_s = str(target.mountpoint)
        self.audit = audit
        self.cancel = cancel or threading.Event()
        self.reingest = reingest
        self.max_rate_bps = max_rate_bps
        self.progress = progress
        self.sources = sources
        self.sweep = sweep
        self._hash_pool: ThreadPoolExecutor | None = None
        self._dev = -1  # st_dev of the volume, pinned when a drain starts
        self._rules = rules_for(target.fs_type)
        self._max_file = max_file_size(target.fs_type)
        self.fs = DriveFS(self._mount_s, -1, self.drive.name)
        self.plan = Planner(db, self.drive.id, self.drive.folder, self.fs, self._rules)
        self._failed_in_a_row: set[int] = set()  # job ids whose last try failed on the drive, since a success
        # The drive's manifest as read at its first use in a drain and kept up to date by each append: read
        # once per drain, not once per batch (core/manifest.py).
        self._manifest: manifest.Manifest | None = None

    # -- the volume -------------------------------------------------------------------------------------------

    def _cancel_reason(self) -> str:
        return str(getattr(self.cancel, "reason", "interrupted (usbsync was stopping)"))

    def _identify(self) -> int:
        """Check that the drive is mounted at its mount point and carries its own marker. Returns the volume's
        device number (``st_dev``), which every file written must share. Raises DriveGone."""
        try:
            if self.target.require_mount and not os.path.ismount(self._mount_s):
                raise DriveGone(f"{self.drive.name} is no longer mounted at {self.mount}")
            marker = read_marker(self._mount_s)
            dev = os.stat(self._mount_s).st_dev
        except (OSError, MarkerError) as exc:
            raise DriveGone(f"{self.drive.name} at {self.mount}: {exc}") from exc
        if marker is None or marker.drive_id != self.drive.id:
            raise DriveGone(f"the volume at {self.mount} is no longer {self.drive.name} (its marker differs)")
        return dev

    def _ensure_same_volume(self, quick: bool = False) -> None:
        """Raise DriveGone unless the same volume is still mounted there: a device-number check per file
        (``quick``, one stat), the full marker check per batch. A drive unmounted a moment ago leaves a bare
        directory at its mount point, and writing there would put "copies" on the computer's own disk."""
        try:
            dev = os.stat(self._mount_s).st_dev
        except OSError as exc:
            raise DriveGone(f"{self.drive.name}: {exc.strerror}") from exc
        if dev != self._dev or (not quick and self._identify() != self._dev):
            raise DriveGone(f"{self.drive.name} is no longer mounted at {self.mount}")

    def _check_gone(self, exc: BaseException | None = None) -> None:
        """Raise DriveGone if ``exc`` or the mount's state says the drive went away; return if it is there."""
        if isinstance(exc, OSError) and exc.errno in _GONE_ERRNOS:
            raise DriveGone(f"{self.drive.name}: {exc.strerror}") from exc
        self._ensure_same_volume()

    def _audit(
        self, op: str, job: Job, dest: str = "", status: str = "ok", error: str = "", ms: float | None = None
    ) -> None:
        if self.audit:
            self.audit.record(
                op,
                job.path,
                os.path.join(self._mount_s, dest) if dest else "",
                self.drive.name,
                job.size,
                job.blake3,
                ms,
                status,
                error,
            )

    def _list_on_drive(self, entries: list[manifest.Entry]) -> None:
        """Add ``entries`` to the drive's manifest (:mod:`usbsync_gui.core.manifest`). A drive that went away
        raises DriveGone; any other failure is logged and left for the drive's next arrival, where
        :meth:`reconcile_manifest` lists what the database knows and the manifest lacks: the copies themselves
        are verified and in place either way."""
        try:
            if self._manifest is None:
                self._manifest = manifest.read(self.fs)
            manifest.append(self.fs, self.drive.id, entries, self._manifest)
        except OSError as exc:
            self._manifest = None  # as it is on the drive now is not known: read again next time
            self._check_gone(exc)
            log.warning(
                "%s: could not update the manifest on the drive (%s); it is brought up to date at the drive's "
                "next arrival",
                self.drive.name,
                _describe(exc),
            )

    def reconcile_manifest(self) -> tuple[int, int]:
        """At a drive's arrival, the database and the drive's manifest learn from each other:

        * copies the manifest lists and the database does not (the database was rebuilt after damage, or
          deleted) are recorded as ours when the file there still has the size and modification time listed:
          a newer version of the same source then replaces its copy instead of landing beside it as
          ``name (1).ext``, and an unchanged one is adopted without reading it back;
        * copies the database records and the manifest lacks or lists with other content (a drive written
          before manifests existed, or a manifest update that failed) are added to the manifest.

        Returns (copies recorded from the manifest, entries added to it)."""
        try:
            m = self._manifest = manifest.read(self.fs)
            rows = self.db.copies_on(self.drive.id)
            learned = self._learn_from_manifest(m, {row[0] for row in rows})
            missing = [
                manifest.Entry.from_rel(self.drive.folder, dest, size, digest, mtime, source)
                for dest, source, digest, size, mtime in rows
                if (e := m.entries.get(dest)) is None or e.blake3 != digest
            ]
            if missing:
                manifest.append(self.fs, self.drive.id, missing, m)
        except OSError as exc:
            self._manifest = None
            self._check_gone(exc)
            log.warning("%s: could not bring its manifest up to date (%s)", self.drive.name, _describe(exc))
            return (0, 0)
        if learned:
            log.info("%s: %d copies recorded from its manifest", self.drive.name, learned)
        if missing:
            log.info("%s: %d copies listed in its manifest from the database", self.drive.name, len(missing))
        return (learned, len(missing))

    def _learn_from_manifest(self, m: manifest.Manifest, known: set[str]) -> int:
        learned = 0
        with self.db.transaction():
            for rel, e in m.entries.items():
                if rel in known:
                    continue
                st = self.fs.lstat(rel)
                if st is None or not stat.S_ISREG(st.st_mode) or st.st_size != e.size:
                    continue
                if e.mtime_ns is not None and st.st_mtime_ns != e.mtime_ns:
                    continue  # touched since usbsync wrote it: not taken as ours on the manifest's word
                source = self.db.path_of_relpath(e.source) or ""
                self.db.record_copy(self.drive.id, rel, source, e.source, e.blake3, e.size, st.st_mtime_ns)
                learned += 1
        return learned

    def sweep_temps(self) -> int:
        """Remove every temp file (``.usbsync-*.part``) under the drive's folder. Called at a drive's arrival,
        when no copy to it is in flight (this syncer is its only writer), so none is live: it finds those whose
        record was lost with the database (rebuilt, cleared, or a power cut before the record was durable).
        Links are not followed (the folder itself included). Returns how many were removed."""
        top = self.fs.lstat(self.drive.folder)
        if top is None or not stat.S_ISDIR(top.st_mode):
            return 0
        removed = 0
        for dirpath, _dirs, files in os.walk(os.path.join(self._mount_s, self.drive.folder)):
            for name in files:
                if not (name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIX)):
                    continue
                rel = os.path.relpath(os.path.join(dirpath, name), self._mount_s).replace(os.sep, "/")
                try:
                    if self.fs.unlink(rel):
                        removed += 1
                except (LinkOnDrive, NotOnVolume, NotADirectoryError):
                    continue
                except OSError as exc:
                    self._check_gone(exc)
                    log.warning("cannot remove stale temporary file %s: %s", rel, _describe(exc))
        if removed:
            log.info("%s: removed %d stale temporary file(s)", self.drive.name, removed)
        return removed

    def cleanup_temps(self) -> int:
        """Remove temp files a crash or removal left on this drive (recorded in the jobs). Returns how many."""
        removed = 0
        for job_id, rel in self.db.temps_on(self.drive.id):
            try:
                if self.fs.unlink(rel):
                    removed += 1
                    log.info("removed stale temporary file %s", os.path.join(self._mount_s, rel))
            except (LinkOnDrive, NotADirectoryError) as exc:
                # Not ours any more (a folder on the way was replaced by a link or a file): nothing to remove.
                log.warning("stale temporary file %s left alone: %s", rel, exc)
            except OSError as exc:
                self._check_gone(exc)
                log.warning("cannot remove stale temporary file %s: %s", rel, exc.strerror)
                continue
            with self.db.transaction():
                self.db.clear_temp(job_id)
        return removed

    # -- job states: every transition the copier makes ----------------------------------------------------------

    def _drop(self, job: Job, why: str, audit_error: str, refusal: str | None = None) -> None:
        """The job has nothing to copy (source removed, refused, not a file): drop it."""
        with self.db.transaction():
            self.db.drop_job(job.id)
            if refusal is not None:
                self.db.refuse(job.path, refusal)
        log.info("%s: %s", job.path, why)
        self._audit("copy", job, status="skipped", error=audit_error)

    def _defer(self, job: Job, reason: str, result: DrainResult, started: bool = True) -> None:
        """Back to pending with ``reason``, waiting (no space, read-only): the try does not count (a job not
        ``started`` only gets the reason)."""
        with self.db.transaction():
            if started:
                self.db.defer_job(job.id, reason)
            else:
                self.db.set_reason(job.id, reason)
        result.deferred += 1
        result.note(reason)
        self._audit("copy", job, status="deferred", error=reason)
        log.warning("%s: %s", job.relpath, reason)

    def _give_up(self, job: Job, reason: str, result: DrainResult, started: bool = True) -> None:
        """A counted attempt: pending again after a capped backoff, or failed after the limit.

        ``started`` False: the error came while planning, before :meth:`StateDB.start_job` counted the try; it
        is started here first (the try did begin: it read the drive), so the attempt counts toward the limit.
        A job that changed meanwhile is left alone: its new version gets its own tries."""
        with self.db.transaction():
            if not started and not self.db.start_job(job.id, job.dest_relpath or "", None, job.blake3):
                return
            state = self.db.retry_or_fail(job.id, reason)
        result.note(reason)
        result.failed_attempt(reason)
        if state == "failed":
            result.failed += 1
            log.error("%s -> %s failed: %s", job.relpath, self.drive.name, reason)
        else:
            result.deferred += 1
            log.warning("%s -> %s: %s (will retry)", job.relpath, self.drive.name, reason)
        self._audit("copy", job, status=state, error=reason)

    def _fail(self, job: Job, reason: str, result: DrainResult) -> None:
        """Failed at once: retrying cannot help."""
        with self.db.transaction():
            if not self.db.fail_job(job.id, reason, job.blake3):
                return  # a newer version meanwhile: it gets its own chance
        result.failed += 1
        result.note(reason)
        result.failed_attempt(reason)
        log.error("%s: %s", job.relpath, reason)
        self._audit("copy", job, status="failed", error=reason)

    def _finish_without_copy(self, job: Job, dest: str, note: str, op: str, result: DrainResult) -> bool:
        """Content ``job.blake3`` is verified on the drive at ``dest``: the job is done as a duplicate. Returns
        False when the job changed meanwhile (a newer version is pending: another pass takes it)."""
        st = self.fs.lstat(dest) if op == "adopt" else None
        if op == "adopt":  # a copy of ours whose record was lost: listed on the drive too
            mtime = st.st_mtime_ns if st is not None else None
            self._list_on_drive(
                [manifest.Entry.from_rel(self.drive.folder, dest, job.size, job.blake3, mtime, job.relpath)]
            )
        with self.db.transaction():
            if op == "adopt":
                self.db.record_copy(
                    self.drive.id,
                    dest,
                    job.path,
                    job.relpath,
                    job.blake3,
                    job.size,
                    st.st_mtime_ns if st is not None else None,
                )
            done = self.db.finish_job(job.id, "duplicate", dest, job.blake3, note)
        if not done:
            return False
        result.duplicates += 1
        log.info("%s: %s (%s on %s)", job.relpath, note, dest, self.drive.name)
        self._audit(op, job, dest, status="skipped", error=note)
        return True

    def _source_error(self, job: Job, exc: OSError, result: DrainResult) -> None:
        """An error from the source side: never the drive's."""
        if isinstance(exc, Refused):
            self._drop(job, f"not copied: {exc.reason}", exc.reason, refusal=exc.reason)
        elif isinstance(exc, NotRegularFile):
            self._drop(job, "not copied: not a regular file", "not a regular file")
        elif exc.errno in (errno.ENOENT, errno.ENOTDIR):
            self._drop(job, "removed from the source folder before its copy completed", "source removed")
        else:
            self._give_up(job, f"cannot read the source: {_describe(exc)}", result)

    def _drive_error(
        self, job: Job, exc: OSError, doing: str, result: DrainResult, started: bool = True
    ) -> None:
        """An error from the drive while ``doing`` (e.g. "cannot write to"): DriveGone if the volume went away,
        else waiting (no space, read-only) or a counted attempt on this file (``started``: see
        :meth:`_give_up`)."""
        self._check_gone(exc)
        if exc.errno == errno.ENOSPC:
            self._defer(job, wait_reasons.no_space(self.drive.name), result, started)
        elif exc.errno == errno.EROFS:
            self._defer(job, f"{self.drive.name} is mounted read-only", result, started)
        elif isinstance(exc, (LinkOnDrive, NotOnVolume)):
            self._give_up(job, str(exc), result, started)
        else:
            self._give_up(job, f"{doing} {self.drive.name}: {_describe(exc)}", result, started)
            self._suspect_drive(job, _describe(exc))

    def _suspect_drive(self, job: Job, what: str) -> None:
        """One more file failed on the drive. A bad block fails one file, and the queue moves on; several
        different files in a row, with none copied between, is the drive itself: raise DriveFailing, so the
        rest wait uncounted for the drive's next arrival instead of each burning its attempts."""
        self._failed_in_a_row.add(job.id)
        if len(self._failed_in_a_row) >= FAILING_AFTER:
            raise DriveFailing(
                f"{self.drive.name} failed {len(self._failed_in_a_row)} files in a row ({what}): it may be "
                "write-protected or failing; unplug it and plug it in again to retry"
            )

    # -- the queue --------------------------------------------------------------------------------------------

    def drain(self) -> DrainResult:
        """Copy every pending job of this drive that can go now. Never raises: a single job's failure is that
        job's; a vanished drive sets ``drive_gone`` and leaves the rest pending; any other error stops the
        drain, returns the jobs in flight to pending and is reported in ``error`` (and logged, one line)."""
        result = DrainResult()
        try:
            # This syncer is the drive's only writer: a job still 'copying' now was left by a drain that
            # stopped without putting it back (an error while recording). Back to pending, uncounted.
            with self.db.transaction():
                n = self.db.defer_copying(self.drive.id, "interrupted (the previous copy did not finish)")
            if n:
                log.warning("%s: %d interrupted copy(ies) back in the queue", self.drive.name, n)
            if self.target.read_only:
                # One reason on every waiting job, no attempts: retrying cannot help until it is remounted
                # writable.
                reason = wait_reasons.read_only(self.drive.name)
                with self.db.transaction():
                    result.deferred = self.db.set_reason_all(self.drive.id, reason)
                result.reasons[reason] = result.deferred
                log.warning("%s: %d file(s) wait", reason, result.deferred)
                return result
            self._dev = self._identify()
            self.fs.dev = self._dev
            self.cleanup_temps()
            if self.sweep:
                self.sweep_temps()
                self.reconcile_manifest()
            for _ in range(MAX_PASSES):
                last = self._drain_pass(result)
                result.again = last.newer > 0
                if not (last.resets or last.newer) or self.cancel.is_set():
                    break
        except DriveGone as exc:
            result.drive_gone = True
            log.warning("drive %s removed: %s", self.drive.name, exc)
        except DriveFailing as exc:
            result.failing = str(exc)
            log.error("%s", exc)
        except Cancelled:
            result.cancelled = True
        except Exception as exc:  # reported, never raised into the caller's event loop
            result.error = f"copying to {self.drive.name} stopped: {_describe(exc)}"
            result.damaged = is_damage(exc)
            log.error("%s", result.error)
            log.debug("details", exc_info=True)
        finally:
            self.close()
        return result

    def _drain_pass(self, result: DrainResult) -> _Pass:
        after = 0
        p = _Pass()
        while not self.cancel.is_set():
            jobs = self.db.next_jobs(self.drive.id, BATCH_FILES, after)
            if not jobs:
                break
            batch: list[Job] = []
            total = 0
            for j in jobs:
                if batch and total + j.size > BATCH_BYTES:
                    break
                batch.append(j)
                total += j.size
            after = batch[-1].id
            try:
                self._run_batch(batch, result, p)
            finally:
                self.fs.forget_dirs()  # hold nothing open on the volume between batches
        if self.cancel.is_set():
            raise Cancelled()
        return p

    def _run_batch(self, jobs: list[Job], result: DrainResult, p: _Pass) -> None:
        """Plan, write, sync, verify, rename and record one batch."""
        self._ensure_same_volume()
        try:
            # What fits is measured once a batch against the free space now, by the one rule the summary's
            # shortfall uses too (core/space.py): each file rounded up to the volume's allocation unit, and one
            # reserve for the volume's metadata.
            budget = free_bytes(self.mount)
            capacity = shutil.disk_usage(self.mount).total
            unit = allocation_unit(self.mount)
        except OSError as exc:
            self._check_gone(exc)
            raise
        written: list[Plan] = []
        planned: list[Plan] = []
        in_batch: set[str] = set()
        taken = SpaceTally(unit)  # the files planned in this batch, which will take the space
        try:
            for job in jobs:
                if self.cancel.is_set():
                    raise Cancelled()
                if job.size > self._max_file:
                    # Fail at once, not after writing 4 GiB: the filesystem cannot hold it, retrying cannot help.
                    self._fail(
                        job,
                        f"too big for {self.drive.name}: {self.target.fs_type.upper()} holds files up to 4 GiB; "
                        f"re-format the drive as exFAT or NTFS to take it",
                        result,
                    )
                    continue
                if taken.needed_with(job.size) > budget:
                    # Maybe a duplicate or adoption costs nothing; else wait for space, and let the rest go on.
                    if self._without_copy(job, result, p):
                        continue
                    if space_needed([job.size], unit) > capacity:
                        # Bigger than the whole drive: freeing space cannot help, so it is not "waiting".
                        self._fail(job, wait_reasons.too_big(self.drive.name, job.size, capacity), result)
                        continue
                    reason = wait_reasons.no_space(self.drive.name)
                    result.deferred += 1
                    result.note(reason)
                    if job.last_error != reason:  # said once, not at every look (each mount-table change)
                        with self.db.transaction():
                            self.db.set_reason(job.id, reason)
                        self._audit("copy", job, status="deferred", error=reason)
                        log.warning(
                            "%s: %s (%s); it waits until there is space",
                            job.relpath,
                            reason,
                            human_bytes(job.size),
                        )
                    continue
                if job.blake3 in in_batch:
                    # Same content as a file written in this batch: once that is verified, this one is a
                    # duplicate. Leave it pending for the next pass rather than writing it twice.
                    p.resets += 1
                    continue
                plan = self._plan_one(job, result, p)
                if plan is not None:
                    in_batch.add(job.blake3)
                    taken.add(job.size)
                    planned.append(plan)
            if planned:
                # Where each temp file goes is recorded before any is created: one transaction per batch. A job
                # whose version changed since it was read is skipped: nothing is created or removed for it.
                started: list[Plan] = []
                with self.db.transaction():
                    for pl in planned:
                        if self.db.start_job(pl.job.id, pl.dest_rel, pl.temp_rel, pl.job.blake3):
                            started.append(pl)
                p.resets += len(planned) - len(started)
                planned = started
            for pl in planned:
                if self.cancel.is_set():
                    raise Cancelled()
                if self._write(pl, result, p):
                    written.append(pl)
            if written:
                self._commit(written, result, p)
        except (DriveGone, DriveFailing, Cancelled) as exc:
            # Everything of this batch still in flight goes back to pending without counting a try. After a
            # removal the temp files stay recorded and are removed at the drive's next arrival.
            if isinstance(exc, DriveGone):
                reason = "drive removed"
            elif isinstance(exc, DriveFailing):
                reason = str(exc)
            else:
                reason = self._cancel_reason()
            if isinstance(exc, Cancelled):
                for w in written:
                    self._remove_quietly(w.temp_rel, w.job.id)
            self._back_to_pending(reason)
            raise
        except Exception as exc:
            # Anything else (syncfs, SQLite busy after its timeout, a bug) must not leave jobs 'copying': back
            # to pending with the reason; their temp files stay recorded and go at the next drain's start.
            self._back_to_pending(f"interrupted by an error: {_describe(exc)}")
            raise

    def _back_to_pending(self, reason: str) -> None:
        try:
            with self.db.transaction():
                self.db.defer_copying(self.drive.id, reason)
        except Exception as exc:  # the next drain's start puts them back
            log.error("%s: cannot put the copies in flight back in the queue: %s", self.drive.name, exc)

    def _without_copy(self, job: Job, result: DrainResult, p: _Pass) -> bool:
        """Finish ``job`` without writing if its content is verified on the drive. Returns True if handled."""
        try:
            dest = self.plan.already_there(job)
        except OSError as exc:
            self._drive_error(job, exc, "cannot read from", result, started=False)
            return True
        if dest is None:
            return False
        if not self._finish_without_copy(job, dest, "same content already on the drive", "duplicate", result):
            p.resets += 1
        return True

    def _plan_one(self, job: Job, result: DrainResult, p: _Pass) -> Plan | None:
        """Decide what to do with ``job`` without writing: finish it as a duplicate or adoption, or return where
        its temp file and destination go."""
        if self._without_copy(job, result, p):
            return None
        try:
            dest, how = self.plan.choose_dest(job)
        except OSError as exc:
            self._drive_error(job, exc, "cannot choose a destination on", result, started=False)
            return None
        if how == "adopt":
            if not self._finish_without_copy(
                job, dest, "identical file already at the destination", "adopt", result
            ):
                p.resets += 1
            return None
        return Plan(job, dest, temp_for(job, dest), how == "replace")

    def _write(self, pl: Plan, result: DrainResult, p: _Pass) -> bool:
        """Stream a started job into its temp file. Returns True when written with the job's content; else the
        job was dropped, deferred or failed (its temp file removed)."""
        job = pl.job
        pl.started = time.monotonic()
        try:
            src = self.sources.open(job.path)
        except OSError as exc:
            self._source_error(job, exc, result)
            return False
        created = False  # what is at the temp name is ours to remove only once we created it
        try:
            self._ensure_same_volume(quick=True)
            dst = self.fs.create_new(pl.temp_rel)
            created = True
            try:
                pl.digest = stream(
                    src, dst, job.size, self.cancel, self._hasher, self._on_chunk(job), self.max_rate_bps
                )
                src_st = os.fstat(src)
                try:
                    os.stat(job.path)  # still there when the copy completes?
                except OSError as exc:
                    raise SourceError(exc.errno, exc.strerror, job.path) from exc
                if os.utime in os.supports_fd:
                    os.utime(dst, ns=(src_st.st_atime_ns, src_st.st_mtime_ns))
            finally:
                os.close(dst)
            if os.utime not in os.supports_fd:  # Windows: by path, once closed
                os.utime(
                    os.path.join(self._mount_s, pl.temp_rel), ns=(src_st.st_atime_ns, src_st.st_mtime_ns)
                )
        except Cancelled:
            if created:
                self._remove_quietly(pl.temp_rel, pl.job.id)
            raise
        except SourceError as exc:
            if created:
                self._remove_quietly(pl.temp_rel, pl.job.id)
            self._source_error(job, exc, result)
            return False
        except OSError as exc:
            if created:
                self._remove_quietly(pl.temp_rel, pl.job.id)
            self._drive_error(job, exc, "cannot write to", result)
            return False
        finally:
            os.close(src)
        if pl.digest != job.blake3:
            # The source changed since it was recorded (maybe during this very copy: the bytes may mix two
            # versions). Record the new version and copy that.
            self._remove_quietly(pl.temp_rel, pl.job.id)
            if self.reingest:
                self.reingest(job.path)  # the file's newest version, which the job takes below
            reason = "source changed while copying; copying the new version"
            with self.db.transaction():
                self.db.defer_job(job.id, reason, count_attempt=True)
            self._audit("copy", job, status="deferred", error=reason)
            p.resets += 1  # copied in the next pass
            return False
        return True

    def _on_chunk(self, job: Job) -> Callable[[int], None] | None:
        progress = self.progress
        if progress is None:
            return None
        return lambda done: progress(job, done, job.size)

    def _hasher(self) -> ThreadPoolExecutor:
        if self._hash_pool is None:
            self._hash_pool = ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="usbsync-hash", initializer=pool_initializer()
            )
        return self._hash_pool

    def close(self) -> None:
        """Stop the helper thread and release the drive's descriptors (called at the end of :meth:`drain`)."""
        if self._hash_pool is not None:
            self._hash_pool.shutdown(wait=True)
            self._hash_pool = None
        self._manifest = None  # the next drain reads it again: someone may have changed the drive between
        self.fs.close()

    def _remove_quietly(self, rel: str, job_id: int) -> None:
        """Remove a temp file; only once it is gone is it no longer recorded in its job (a read-only or failing
        drive keeps it, and it is removed at the drive's next arrival)."""
        try:
            self.fs.unlink(rel)
        except OSError:
            return
        with self.db.transaction():
            self.db.clear_temp(job_id)

    def _commit(self, written: list[Plan], result: DrainResult, p: _Pass) -> None:
        """Make a batch durable, verify it from the device, rename into place and record it."""
        written = self._make_durable(written, result)
        self._ensure_same_volume()  # before anything is renamed into place

        def readback_many(ws: list[Plan]) -> list[str | OSError]:
            fs = DriveFS(self._mount_s, self._dev, self.drive.name)  # its descriptors are this thread's
            out: list[str | OSError] = []
            try:
                for w in ws:
                    t0 = time.monotonic()
                    try:
                        out.append(fs.hash(w.temp_rel, drop_cache=True, cancel=self.cancel))
                    except OSError as exc:
                        out.append(exc)
                    result.verify_s.append(time.monotonic() - t0)  # list.append: safe from two threads
            finally:
                fs.close()
            return out

        # Reading back from the device waits on I/O: two readers keep the device busy. Two halves, not a
        # task per file: per-file futures cost more than reading back a small file.
        half = (len(written) + 1) // 2
        with ThreadPoolExecutor(
            max_workers=2, thread_name_prefix="usbsync-verify", initializer=pool_initializer()
        ) as pool:
            parts = list(pool.map(readback_many, [written[:half], written[half:]]))
        good: list[tuple[Plan, int]] = []
        dirs: set[str] = set()
        for w, got in zip(written, parts[0] + parts[1], strict=True):
            if isinstance(got, OSError):
                self._remove_quietly(w.temp_rel, w.job.id)
                self._drive_error(w.job, got, "cannot read back the copy from", result)
                continue
            if got != w.digest:
                self._remove_quietly(w.temp_rel, w.job.id)
                self._give_up(w.job, "verification failed: the drive returned different bytes", result)
                self._suspect_drive(w.job, "the drive returned different bytes")
                continue
            try:
                try:
                    self.fs.rename(w.temp_rel, w.dest_rel, replace=w.replaces)
                except FileExistsError:
                    # Someone wrote there since we chose the name; never overwrite what we did not write.
                    w.dest_rel, _ = self.plan.choose_dest(w.job)
                    self.fs.rename(w.temp_rel, w.dest_rel, replace=False)
                st = self.fs.lstat(w.dest_rel)
                if st is None:
                    raise FileNotFoundError(errno.ENOENT, "gone after the rename", w.dest_rel)
            except OSError as exc:
                self._remove_quietly(w.temp_rel, w.job.id)
                self._drive_error(w.job, exc, "cannot move the copy into place on", result)
                continue
            dirs.add(os.path.dirname(w.dest_rel))
            good.append((w, st.st_mtime_ns))
        try:
            for d in dirs:
                self.fs.fsync_dir(d)
        except OSError as exc:
            self._check_gone(exc)
            raise
        # On the drive first: a copy in place is listed there before the database records it (a crash between
        # leaves a listed copy the next drain adopts, never an unlisted one the database believes in).
        self._list_on_drive(
            [
                manifest.Entry.from_rel(self.drive.folder, w.dest_rel, w.job.size, w.digest, m, w.job.relpath)
                for w, m in good
            ]
        )
        stale: list[Plan] = []
        with self.db.transaction():
            for w, mtime_ns in good:
                j = w.job
                if w.replaces:  # duplicates that relied on the old content there have no copy any more
                    p.newer += self.db.reopen_at(
                        self.drive.id, w.dest_rel, "its copy on the drive was replaced by a newer version"
                    )
                # The copy is verified content w.digest: recorded as ours whatever became of the job.
                self.db.record_copy(self.drive.id, w.dest_rel, j.path, j.relpath, w.digest, j.size, mtime_ns)
                if not self.db.finish_job(j.id, "replaced" if w.replaces else "copied", w.dest_rel, w.digest):
                    stale.append(w)
                    continue
                f = self.db.file_by_path(j.path)
                if f is not None and f.blake3 != w.digest:
                    p.newer += 1  # finish_job queued the newer version: it follows in this drain
        for w in stale:
            log.info(
                "%s: copied an older version to %s; the newer version follows", w.job.relpath, w.dest_rel
            )
        self._report(good, result)

    def _make_durable(self, written: list[Plan], result: DrainResult) -> list[Plan]:
        """``syncfs`` the volume (else fsync each temp file). If that fails with the volume still there, fsync
        each file to find which cannot be written: those are counted attempts, the rest go on. Returns the
        files that are durable."""
        try:
            if self.fs.syncfs():
                return written
        except OSError as exc:
            self._check_gone(exc)
            log.warning("%s: syncfs failed (%s); checking each file", self.drive.name, _describe(exc))
        durable: list[Plan] = []
        for w in written:
            try:
                self.fs.fsync_file(w.temp_rel)
            except OSError as exc:
                self._remove_quietly(w.temp_rel, w.job.id)
                self._drive_error(w.job, exc, "cannot make the copy durable on", result)
                continue
            durable.append(w)
        return durable

    def _report(self, good: list[tuple[Plan, int]], result: DrainResult) -> None:
        if good:
            self._failed_in_a_row.clear()
        # Every file is in the audit CSV; the human log names files one by one only for small batches.
        per_file = logging.INFO if len(good) <= LOG_EACH_UP_TO else logging.DEBUG
        for w, _ in good:
            ms = (time.monotonic() - w.started) * 1000
            result.copied += 1
            result.bytes_copied += w.job.size
            log.log(
                per_file,
                "copied %s -> %s:%s (%d bytes, verified)",
                w.job.relpath,
                self.drive.name,
                w.dest_rel,
                w.job.size,
            )
            self._audit("replace" if w.replaces else "copy", w.job, w.dest_rel, ms=ms)
        if per_file == logging.DEBUG and good:
            log.info(
                "copied %d files (%.1f MiB) -> %s, verified; each is listed in the audit log",
                len(good),
                sum(w.job.size for w, _ in good) / (1 << 20),
                self.drive.name,
            )
