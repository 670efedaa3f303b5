"""Verified, atomic copies of one drive's pending jobs.

Per job: stream the source in chunks, hashing it with BLAKE3 in the same pass, into a hidden temporary file
beside the destination (``.usbsync-<job>.part``). Per batch of up to :data:`BATCH_FILES` files /
:data:`BATCH_BYTES` bytes: make all temp files durable at once (``syncfs`` on Linux, else ``fsync`` each),
verify each by reading it back from the device (page cache dropped first, see :func:`hash_file`), rename it
into place, fsync the directories, then record the verified copies in one transaction.

Why this is crash-safe without an fsync per file: a temp file is never renamed into place before it is
durable and verified, and its path is recorded in the job *before* it is created, so a crash leaves either a
temp file (removed at the drive's next arrival) or a complete verified file. A complete file whose record was
lost is recognised by content at the next attempt and adopted, never written twice.

Never overwritten: a file at the destination that usbsync did not write (or that was changed on the drive
since) is kept; the new file goes to ``name (1).ext``. usbsync's own earlier copy of the same source is
replaced atomically when the source changes. Content already verified on the drive is not copied again.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import blake3

from usbsync_gui.core.audit import AuditLog
from usbsync_gui.core.config import DriveConfig
from usbsync_gui.core.hashing import chunk_buffer, hash_file
from usbsync_gui.core.safe_names import numbered, rules_for, safe_relpath
from usbsync_gui.core.state import Job, StateDB
from usbsync_gui.core.volumes import MarkerError, free_bytes, fsync_dir, read_marker

log = logging.getLogger(__name__)

CHUNK = 256 << 10  # files up to this size: one read, hash, write
BIG_CHUNK = 4 << 20  # larger files: 4 MiB chunks, hashing overlapped with writing (measured in bench/)
BATCH_FILES = 256
BATCH_BYTES = 256 << 20
LOG_EACH_UP_TO = 20  # files per batch named one by one in the human log
SPACE_MARGIN = 1 << 20  # filesystem metadata (directory entries, FAT/bitmap) needs room too
TEMP_PREFIX = ".usbsync-"
TEMP_SUFFIX = ".part"
# errno values that mean the volume itself went away (a yanked FUSE stick answers ENOTCONN).
_GONE_ERRNOS = {errno.ENOTCONN, errno.ENODEV, errno.ENXIO, errno.EIO, errno.ESHUTDOWN}


FAT32_MAX_FILE = (1 << 32) - 1  # bytes: FAT's 32-bit file size field (Microsoft FAT specification)
_FAT_TYPES = {"vfat", "msdos", "fat", "fat12", "fat16", "fat32"}


def max_file_size(fs_type: str) -> int:
    """Largest file the filesystem can hold, in bytes (FAT: 4 GiB - 1; others: no practical limit here)."""
    return FAT32_MAX_FILE if fs_type.lower() in _FAT_TYPES else 1 << 62


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


class Cancelled(Exception):
    """The caller asked to stop (shutdown, pause, drive being ejected)."""


class _SourceError(OSError):
    pass


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
    """Counts of one :meth:`DriveSyncer.drain`. ``bytes_copied`` in bytes."""

    copied: int = 0
    duplicates: int = 0
    deferred: int = 0
    failed: int = 0
    bytes_copied: int = 0
    drive_gone: bool = False
    cancelled: bool = False
    reasons: dict[str, int] = field(default_factory=dict)

    def merge(self, later: DrainResult) -> None:
        """Add a later pass over the same drive: counts add up; what still waits is the later pass's."""
        self.copied += later.copied
        self.duplicates += later.duplicates
        self.failed += later.failed
        self.bytes_copied += later.bytes_copied
        self.deferred = later.deferred
        self.drive_gone = self.drive_gone or later.drive_gone
        self.cancelled = self.cancelled or later.cancelled
        self.reasons = dict(later.reasons)


@dataclass
class _Written:
    job: Job
    dest_rel: str
    temp_rel: str
    digest: str
    replaces: bool
    started: float


ProgressFn = Callable[[Job, int, int], None]  # job, bytes written so far, total bytes


def _syncfs(path: Path) -> bool:
    """``syncfs(2)`` the filesystem holding ``path``. Returns False where unavailable (not Linux)."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if libc.syncfs(fd) != 0:
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e), str(path))
    finally:
        os.close(fd)
    return True


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
        self._hash_pool: ThreadPoolExecutor | None = None
        self._dev = -1  # st_dev of the volume, pinned when a drain starts
        self._rules = rules_for(target.fs_type)
        self._max_file = max_file_size(target.fs_type)

    # -- helpers ----------------------------------------------------------------------------------------------

    def _abs(self, rel: str) -> str:
        # Plain strings, not pathlib: this runs several times per file in the hot loop.
        return os.path.join(self._mount_s, rel)

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

    def _check_gone(self, exc: OSError | None = None) -> None:
        """Raise DriveGone if ``exc`` or the mount's state says the drive went away."""
        if exc is not None and exc.errno in _GONE_ERRNOS:
            raise DriveGone(f"{self.drive.name}: {exc.strerror}") from exc
        self._ensure_same_volume()

    def _audit(
        self, op: str, job: Job, dest: str = "", status: str = "ok", error: str = "", ms: float | None = None
    ) -> None:
        if self.audit:
            self.audit.record(
                op,
                job.path,
                str(self._abs(dest)) if dest else "",
                self.drive.name,
                job.size,
                job.blake3,
                ms,
                status,
                error,
            )

    def cleanup_temps(self) -> int:
        """Remove temp files a crash or removal left on this drive (recorded in the jobs). Returns how many."""
        removed = 0
        for job_id, rel in self.db.temps_on(self.drive.id):
            p = self._abs(rel)
            try:
                os.unlink(p)
                removed += 1
                log.info("removed stale temporary file %s", p)
            except FileNotFoundError:
                pass
            except OSError as exc:
                self._check_gone(exc)
                log.warning("cannot remove stale temporary file %s: %s", p, exc.strerror)
                continue
            self.db.clear_temp(job_id)
        return removed

    # -- the queue --------------------------------------------------------------------------------------------

    def drain(self) -> DrainResult:
        """Copy every pending job of this drive that can go now. Never raises for a single job's failure;
        a vanished drive sets ``drive_gone`` and leaves the rest pending."""
        result = DrainResult()
        if self.target.read_only:
            # One reason on every waiting job, no attempts: retrying cannot help until it is remounted writable.
            reason = f"{self.drive.name} is mounted read-only (remount it writable, or check its lock switch)"
            with self.db.transaction():
                result.deferred = self.db.set_reason_all(self.drive.id, reason)
            result.reasons[reason] = result.deferred
            log.warning("%s: %d file(s) wait", reason, result.deferred)
            return result
        try:
            self._dev = self._identify()
            self.cleanup_temps()
            for _ in range(3):  # a second pass picks up jobs whose source changed during the first
                reset = self._drain_pass(result)
                if not reset or self.cancel.is_set():
                    break
        except DriveGone as exc:
            result.drive_gone = True
            log.warning("drive %s removed: %s", self.drive.name, exc)
        except Cancelled:
            result.cancelled = True
        finally:
            self.close()
        return result

    def _drain_pass(self, result: DrainResult) -> int:
        after = 0
        reset = 0
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
            reset += self._run_batch(batch, result)
        if self.cancel.is_set():
            raise Cancelled()
        return reset

    def _run_batch(self, jobs: list[Job], result: DrainResult) -> int:
        """Write, sync, verify, rename and record one batch. Returns jobs re-queued for changed sources."""
        self._ensure_same_volume()
        try:
            budget = free_bytes(self.mount)
        except OSError as exc:
            self._check_gone(exc)
            raise
        written: list[_Written] = []
        planned: list[_Written] = []
        in_batch: set[str] = set()
        reset = 0
        try:
            for job in jobs:
                if self.cancel.is_set():
                    raise Cancelled()
                if job.size > self._max_file:
                    # Fail at once, not after writing 4 GiB: the filesystem cannot hold it, retrying cannot help.
                    reason = (
                        f"too big for {self.drive.name}: {self.target.fs_type.upper()} holds files up to 4 GiB; "
                        f"re-format the drive as exFAT or NTFS to take it"
                    )
                    with self.db.transaction():
                        self.db.fail_job(job.id, reason)
                    result.failed += 1
                    result.reasons[reason] = result.reasons.get(reason, 0) + 1
                    log.error("%s: %s", job.relpath, reason)
                    self._audit("copy", job, status="failed", error=reason)
                    continue
                need = job.size + SPACE_MARGIN
                if need > budget:
                    # Maybe a duplicate or adoption costs nothing; else wait for space, and let the rest go on.
                    if self._try_without_copy(job, result):
                        continue
                    reason = f"not enough space on {self.drive.name}"
                    with self.db.transaction():
                        self.db.set_reason(job.id, reason)
                    result.deferred += 1
                    result.reasons[reason] = result.reasons.get(reason, 0) + 1
                    self._audit("copy", job, status="deferred", error=reason)
                    continue
                if job.blake3 in in_batch:
                    # Same content as a file written in this batch: once that is verified, this one is a
                    # duplicate. Leave it pending for the next pass rather than writing it twice.
                    reset += 1
                    continue
                plan = self._plan_one(job, result)
                if plan is not None:
                    in_batch.add(job.blake3)
                    budget -= need
                    planned.append(plan)
            if planned:
                # Where each temp file goes is recorded before any is created: one transaction per batch.
                with self.db.transaction():
                    for pl in planned:
                        self.db.start_job(pl.job.id, pl.dest_rel, pl.temp_rel, pl.job.blake3)
            for pl in planned:
                if self.cancel.is_set():
                    raise Cancelled()
                w = self._write_planned(pl, result)
                if isinstance(w, _Written):
                    written.append(w)
                elif w == "reset":
                    reset += 1
            if written:
                self._commit(written, result)
        except (DriveGone, Cancelled) as exc:
            # Everything of this batch still in flight goes back to pending without counting a try. After a
            # removal the temp files stay recorded and are removed at the drive's next arrival.
            reason = "drive removed" if isinstance(exc, DriveGone) else self._cancel_reason()
            if isinstance(exc, Cancelled):
                for w in written:
                    self._remove_quietly(w.temp_rel, w.job.id)
            with self.db.transaction():
                self.db.defer_copying(self.drive.id, reason)
            raise
        return reset

    def _try_without_copy(self, job: Job, result: DrainResult) -> bool:
        """Finish ``job`` without writing if its content is already on the drive. Returns True if done."""
        for c in self.db.copies_with_hash(self.drive.id, job.blake3):
            try:
                st = os.stat(self._abs(c.dest_relpath))
            except FileNotFoundError:
                continue
            except OSError as exc:
                self._check_gone(exc)
                continue
            if st.st_size == c.size == job.size:
                note = f"same content already on the drive as {c.dest_relpath}"
                with self.db.transaction():
                    self.db.finish_job(job.id, "duplicate", c.dest_relpath, job.blake3, note)
                result.duplicates += 1
                log.info(
                    "%s: %s already on %s as %s", job.relpath, "content", self.drive.name, c.dest_relpath
                )
                self._audit("duplicate", job, c.dest_relpath, status="skipped", error=note)
                return True
        return False

    def _choose_dest(self, job: Job) -> tuple[str, str]:
        """Pick the destination (relative to the mount) for ``job``. Returns (dest, how) where how is 'new',
        'replace' (our own earlier copy of the same source) or 'adopt' (identical file already there)."""
        base = safe_relpath(job.relpath, self._rules, prefix=self.drive.folder)
        for n in range(0, 10_000):
            cand = base if n == 0 else numbered(base, n, self._rules)
            p = self._abs(cand)
            try:
                st = os.stat(p)
            except FileNotFoundError:
                return cand, "new"
            except NotADirectoryError:
                continue
            except OSError as exc:
                self._check_gone(exc)
                raise
            if not os.path.isfile(p):
                continue
            mine = self.db.copy_at(self.drive.id, cand)
            if st.st_size == job.size and hash_file(p) == job.blake3:
                return cand, "adopt"
            if (
                mine is not None
                and mine.source_path == job.path
                and mine.size == st.st_size
                and (mine.mtime_ns is None or mine.mtime_ns == st.st_mtime_ns)
            ):
                return cand, "replace"
        raise OSError(errno.EEXIST, "no free name", base)

    def _plan_one(self, job: Job, result: DrainResult) -> _Written | None:
        """Decide what to do with ``job`` without writing: finish it as a duplicate or adoption, or return where
        its temp file and destination go (``digest`` still empty)."""
        if self._try_without_copy(job, result):
            return None
        try:
            dest, how = self._choose_dest(job)
        except OSError as exc:
            self._check_gone(exc)
            self._give_up(job, f"cannot choose a destination name: {exc.strerror}", result)
            return None
        if how == "adopt":
            st = os.stat(self._abs(dest))
            with self.db.transaction():
                self.db.record_copy(
                    self.drive.id, dest, job.path, job.relpath, job.blake3, job.size, st.st_mtime_ns
                )
                self.db.finish_job(
                    job.id, "duplicate", dest, job.blake3, "identical file already at the destination"
                )
            result.duplicates += 1
            log.info("%s: identical file already on %s at %s; recorded", job.relpath, self.drive.name, dest)
            self._audit(
                "adopt", job, dest, status="skipped", error="identical file already at the destination"
            )
            return None
        dest_dir = os.path.dirname(dest)
        temp = (
            f"{dest_dir}/{TEMP_PREFIX}{job.id}{TEMP_SUFFIX}"
            if dest_dir
            else f"{TEMP_PREFIX}{job.id}{TEMP_SUFFIX}"
        )
        return _Written(job, dest, temp, "", how == "replace", 0.0)

    def _write_planned(self, plan: _Written, result: DrainResult) -> _Written | str | None:
        """Stream a planned job into its temp file. Returns the written record, 'reset' when the source changed,
        or None when the job was dropped, deferred or failed (its temp file removed)."""
        job, temp = plan.job, plan.temp_rel
        plan.started = time.monotonic()
        try:
            self._ensure_same_volume(quick=True)
            os.makedirs(self._abs(os.path.dirname(plan.dest_rel)), exist_ok=True)
            digest = self._stream(job, self._abs(temp))
        except Cancelled:
            self._remove_quietly(temp, job.id)
            raise
        except _SourceError as exc:
            self._remove_quietly(temp, job.id)
            if exc.errno == errno.ENOENT:
                with self.db.transaction():
                    self.db.drop_job(job.id)
                log.info("%s was removed from the source folder before it could be copied", job.path)
                self._audit("copy", job, status="skipped", error="source removed before copy")
            else:
                self._give_up(job, f"cannot read the source: {exc.strerror}", result)
            return None
        except OSError as exc:
            self._dest_error(job, temp, exc, result)
            return None
        if digest != job.blake3:
            self._remove_quietly(temp, job.id)
            with self.db.transaction():
                self.db.defer_job(
                    job.id, "source changed while copying; copying the new version", count_attempt=True
                )
            if self.reingest:
                self.reingest(job.path)
            return "reset"
        plan.digest = digest
        return plan

    def _stream(self, job: Job, temp: str) -> str:
        """Copy source -> temp in chunks, hashing in the same pass. Returns the BLAKE3 hex of the bytes read.

        Files larger than one chunk use two 4 MiB buffers and a helper thread: BLAKE3 hashes chunk i (it
        releases the GIL) while chunk i is written and chunk i+1 read, so hashing costs no extra wall time.
        """
        h = blake3.blake3()
        big = job.size > CHUNK
        size = BIG_CHUNK if big else CHUNK
        buffers = [chunk_buffer(size, 0), chunk_buffer(size, 1)] if big else [chunk_buffer(size)]
        try:
            src = open(job.path, "rb", buffering=0)  # noqa: SIM115 - closed below, errors told apart
        except OSError as exc:
            raise _SourceError(exc.errno, exc.strerror, job.path) from exc
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0), 0o644)
            try:
                if os.fstat(fd).st_dev != self._dev:
                    # The volume went away between the check and the open: the file was created in the bare
                    # mount point directory (or on another volume). Remove it; nothing may land there.
                    os.close(fd)
                    fd = -1
                    os.unlink(temp)
                    raise DriveGone(f"{self.drive.name} is no longer mounted at {self.mount}")
                done = 0
                t0 = time.monotonic()
                i = 0
                n = self._read(src, buffers[0][0], job)
                while n:
                    chunk = buffers[i % len(buffers)][1][:n]
                    hashing = self._hasher().submit(h.update, chunk) if big else None
                    if hashing is None:
                        h.update(chunk)
                    try:
                        view = chunk
                        while view:
                            w = os.write(fd, view)
                            view = view[w:]
                        done += n
                        i += 1
                        n = self._read(src, buffers[i % len(buffers)][0], job)
                    finally:
                        if hashing is not None:
                            hashing.result()
                    if self.cancel.is_set():
                        raise Cancelled()
                    if self.progress:
                        self.progress(job, done, job.size)
                    if self.max_rate_bps > 0:
                        ahead = done / self.max_rate_bps - (time.monotonic() - t0)
                        if ahead > 0 and self.cancel.wait(ahead):
                            raise Cancelled()
                st = os.stat(job.path)
                os.utime(fd if os.utime in os.supports_fd else temp, ns=(st.st_atime_ns, st.st_mtime_ns))
            finally:
                if fd >= 0:
                    os.close(fd)
        finally:
            src.close()
        return h.hexdigest()

    @staticmethod
    def _read(src: BinaryIO, buf: bytearray, job: Job) -> int:
        try:
            return src.readinto(buf) or 0  # type: ignore[attr-defined]
        except OSError as exc:
            raise _SourceError(exc.errno, exc.strerror, job.path) from exc

    def _hasher(self) -> ThreadPoolExecutor:
        if self._hash_pool is None:
            self._hash_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="usbsync-hash")
        return self._hash_pool

    def close(self) -> None:
        """Stop the helper thread (called at the end of :meth:`drain`)."""
        if self._hash_pool is not None:
            self._hash_pool.shutdown(wait=True)
            self._hash_pool = None

    def _dest_error(self, job: Job, temp: str, exc: OSError, result: DrainResult) -> None:
        self._check_gone(exc)
        self._remove_quietly(temp, job.id)
        if exc.errno == errno.ENOSPC:
            reason = f"not enough space on {self.drive.name}"
            with self.db.transaction():
                self.db.defer_job(job.id, reason)
            result.deferred += 1
        elif exc.errno == errno.EROFS:
            reason = f"{self.drive.name} is mounted read-only"
            with self.db.transaction():
                self.db.defer_job(job.id, reason)
            result.deferred += 1
        else:
            reason = f"cannot write to {self.drive.name}: {exc.strerror}"
            self._give_up(job, reason, result)
            return None
        result.reasons[reason] = result.reasons.get(reason, 0) + 1
        self._audit("copy", job, status="deferred", error=reason)
        log.warning("%s: %s", job.relpath, reason)
        return None

    def _give_up(self, job: Job, reason: str, result: DrainResult) -> None:
        with self.db.transaction():
            state = self.db.retry_or_fail(job.id, reason)
        if state == "failed":
            result.failed += 1
            log.error("%s -> %s failed: %s", job.relpath, self.drive.name, reason)
        else:
            result.deferred += 1
            log.warning("%s -> %s: %s (will retry)", job.relpath, self.drive.name, reason)
        self._audit("copy", job, status=state, error=reason)

    def _remove_quietly(self, rel: str, job_id: int) -> None:
        try:
            os.unlink(self._abs(rel))
        except FileNotFoundError:
            return
        except OSError:
            return  # stays recorded in the job; removed at the drive's next arrival

    def _commit(self, written: list[_Written], result: DrainResult) -> None:
        """Make a batch durable, verify it from the device, rename into place and record it."""
        try:
            if not _syncfs(self.mount):
                for w in written:
                    with open(self._abs(w.temp_rel), "rb+") as fh:
                        os.fsync(fh.fileno())
        except OSError as exc:
            self._check_gone(exc)
            raise
        self._ensure_same_volume()  # before anything is renamed into place
        good: list[tuple[_Written, int]] = []
        dirs: set[str] = set()

        def readback(w: _Written) -> str | OSError:
            try:
                return hash_file(self._abs(w.temp_rel), drop_cache=True)
            except OSError as exc:
                return exc

        def readback_many(ws: list[_Written]) -> list[str | OSError]:
            return [readback(w) for w in ws]

        # Reading back from the device waits on I/O: two readers keep the device busy. Two halves, not a
        # task per file: per-file futures cost more than reading back a small file.
        half = (len(written) + 1) // 2
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="usbsync-verify") as pool:
            parts = list(pool.map(readback_many, [written[:half], written[half:]]))
        readbacks = parts[0] + parts[1]
        for w, got in zip(written, readbacks, strict=True):
            if isinstance(got, OSError):
                self._check_gone(got)
            if got != w.digest:
                self._remove_quietly(w.temp_rel, w.job.id)
                self._give_up(w.job, "verification failed: the drive returned different bytes", result)
                continue
            dest = self._abs(w.dest_rel)
            try:
                if not w.replaces and os.path.lexists(dest):
                    # Someone wrote there since we chose the name; never overwrite what we did not write.
                    w.dest_rel, _ = self._choose_dest(w.job)
                    dest = self._abs(w.dest_rel)
                os.replace(self._abs(w.temp_rel), dest)
                mtime_ns = os.stat(dest).st_mtime_ns
            except OSError as exc:
                self._check_gone(exc)
                self._remove_quietly(w.temp_rel, w.job.id)
                self._give_up(w.job, f"cannot move the copy into place: {exc.strerror}", result)
                continue
            dirs.add(os.path.dirname(dest))
            good.append((w, mtime_ns))
        try:
            for d in dirs:
                fsync_dir(d)
        except OSError as exc:
            self._check_gone(exc)
            raise
        with self.db.transaction():
            for w, mtime_ns in good:
                j = w.job
                self.db.record_copy(self.drive.id, w.dest_rel, j.path, j.relpath, j.blake3, j.size, mtime_ns)
                self.db.finish_job(j.id, "replaced" if w.replaces else "copied", w.dest_rel, j.blake3)
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
