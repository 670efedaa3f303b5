"""Where a job's copy goes on a drive, and whether it needs writing at all.

Decisions, no job-state changes (those are the copier's): the destination name (made safe for the drive's
filesystem, numbered ``name (1).ext`` past files usbsync does not own), the temp file beside it, and whether the
content is already there (a verified copy recorded, or an identical file found and adopted).

What counts as "ours": a recorded copy (the ``copies`` table) whose file on the drive still has the size and
mtime recorded at verification. Otherwise the file is re-hashed; if its content is no longer the recorded one,
the record is forgotten (:meth:`StateDB.forget_copy`): the user changed it on the drive, it is theirs now, and it
is never overwritten or counted as a copy.

All reads go through :class:`~usbsync_gui.core.drive_fs.DriveFS` (no link followed); errors propagate as
``OSError`` (``LinkOnDrive`` for a link at the name) for the copier to classify.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from dataclasses import dataclass
from typing import Literal

from usbsync_gui.core.drive_fs import DriveFS, LinkOnDrive
from usbsync_gui.core.safe_names import NameRules, numbered, safe_relpath
from usbsync_gui.core.state import CopyRow, Job, StateDB

TEMP_PREFIX = ".usbsync-"
TEMP_SUFFIX = ".part"
MAX_NUMBER = 10_000  # name (1) ... name (9999): past that the destination is given up
FAT32_MAX_FILE = (1 << 32) - 1  # bytes: FAT's 32-bit file size field (Microsoft FAT specification)
_FAT_TYPES = {"vfat", "msdos", "fat", "fat12", "fat16", "fat32"}

How = Literal["new", "replace", "adopt"]


def max_file_size(fs_type: str) -> int:
    """Largest file the filesystem can hold, in bytes (FAT: 4 GiB - 1; others: no practical limit here)."""
    return FAT32_MAX_FILE if fs_type.lower() in _FAT_TYPES else 1 << 62


def temp_for(job: Job, dest: str) -> str:
    """The hidden temp file beside ``dest`` for ``job``: ``dir/.usbsync-<job id>-<8 random hex>.part``. The
    random part keeps names unique across databases: job ids start again at 1 after ``usbsync clear`` or a
    rebuilt database, while a temp file of the old one may still be on the drive."""
    d = os.path.dirname(dest)
    name = f"{TEMP_PREFIX}{job.id}-{secrets.token_hex(4)}{TEMP_SUFFIX}"
    return f"{d}/{name}" if d else name


@dataclass
class Plan:
    """One job of a batch: where it goes and, once streamed, what was written. ``digest`` is the BLAKE3 hex of
    the bytes streamed and verified (empty until written); ``started`` is ``time.monotonic()``."""

    job: Job
    dest_rel: str
    temp_rel: str
    replaces: bool
    digest: str = ""
    started: float = 0.0


class Planner:
    """Destination choice and duplicate detection for one drive.

    Args:
        db: this thread's state database (the copies table is read, and stale records forgotten).
        drive_id: the drive's id.
        folder: the drive's folder (e.g. ``USBSync``), prefixed to every destination.
        fs: link-free access to the drive.
        rules: the drive's filesystem name rules.
    """

    def __init__(self, db: StateDB, drive_id: str, folder: str, fs: DriveFS, rules: NameRules):
        self.db = db
        self.drive_id = drive_id
        self.folder = folder
        self.fs = fs
        self.rules = rules

    def still_ours(self, c: CopyRow, st: os.stat_result) -> bool:
        """Whether the file at ``c.dest_relpath`` (whose ``lstat`` is ``st``) is still the verified copy ``c``:
        same size and mtime as recorded at verification, or else the same content (re-hashed). A file that is
        not is forgotten as a copy. Raises OSError from reading the drive."""
        if not stat.S_ISREG(st.st_mode) or st.st_size != c.size:
            self._forget(c)
            return False
        if c.mtime_ns is not None and st.st_mtime_ns == c.mtime_ns:
            return True
        if self.fs.hash(c.dest_relpath) == c.blake3:
            return True  # touched, not changed
        self._forget(c)
        return False

    def _forget(self, c: CopyRow) -> None:
        with self.db.transaction():
            self.db.forget_copy(self.drive_id, c.dest_relpath)

    def already_there(self, job: Job) -> str | None:
        """Where the drive already holds a verified copy of ``job``'s content, or None. Raises OSError."""
        for c in self.db.copies_with_hash(self.drive_id, job.blake3):
            try:
                st = self.fs.lstat(c.dest_relpath)
            except (NotADirectoryError, LinkOnDrive):
                st = None  # a parent replaced by a file or a link: that copy is not there any more
            if st is None:
                self._forget(c)
                continue
            if self.still_ours(c, st):
                return c.dest_relpath
        return None

    def choose_dest(self, job: Job) -> tuple[str, How]:
        """Pick the destination (relative to the volume's root) for ``job``. Returns (dest, how): ``new`` (free
        name), ``replace`` (our own earlier copy of the same source, unchanged on the drive) or ``adopt`` (the
        identical content is already there). A file usbsync does not own is passed over for the next number.

        Raises LinkOnDrive when a candidate name or a folder on the way is a link, OSError (EEXIST when no name
        is free, or from reading the drive)."""
        base = safe_relpath(job.relpath, self.rules, prefix=self.folder)
        for n in range(MAX_NUMBER):
            cand = base if n == 0 else numbered(base, n, self.rules)
            try:
                st = self.fs.lstat(cand)
            except NotADirectoryError:
                continue
            if st is None:
                return cand, "new"
            if stat.S_ISLNK(st.st_mode):
                raise LinkOnDrive(cand, self.fs.name)
            if not stat.S_ISREG(st.st_mode):
                continue
            mine = self.db.copy_at(self.drive_id, cand)
            if mine is not None and self.still_ours(mine, st):
                if mine.blake3 == job.blake3:
                    return cand, "adopt"
                if mine.source_path == job.path:
                    return cand, "replace"
                continue
            if st.st_size == job.size and self.fs.hash(cand) == job.blake3:
                return cand, "adopt"
        raise OSError(errno.EEXIST, "no free name", base)
