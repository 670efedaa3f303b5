"""Turn files in the source folders into file records and jobs: scan, ingest, manifests.

A file is ingested when it is new or its (size, mtime) changed since it was last recorded: it is classified,
hashed with BLAKE3, recorded, and each registered drive that holds its category gets a job. Unchanged files
cost one ``lstat`` and one indexed lookup, so the periodic rescan is cheap.

Where files are read: every path (scan, the watcher's paths, manifest entries, a re-ingest after a change) is
located and opened through :class:`~usbsync_gui.core.source_paths.SourceFolders`: a file is read only if its
real path is inside a source folder's real path. A symbolic link that leads elsewhere
(``notes.txt -> ~/.ssh/id_ed25519``), a FIFO, socket or device, and a file that cannot be read are
*refused*: recorded with :meth:`StateDB.refuse` (logged once, counted in ``usbsync status``), and forgotten
again when the path later holds a readable regular file or is gone. Content is classified and hashed from
the descriptor that was checked, never by opening the name again. A link that stays inside the sources is
read under its own name.

One bad input never stops the others: each file is handled on its own (an exception is logged in one line
naming the file, and the batch goes on), and any name Linux allows is ingested, including names that are not
valid UTF-8 (held as ``surrogateescape`` strings, PEP 383; the database stores them losslessly, logs and the
audit CSV show them with :func:`~usbsync_gui.core.fs_text.for_display`).

Manifests: a ``*.lst`` file in a source folder lists files to sync, one per line, relative to the ``.lst``'s
folder or absolute; lines starting with ``#`` are comments (a ``#`` inside a name is part of it). Lines are
bytes decoded as file names are (UTF-8 with ``surrogateescape``). Listed files are synced even when the
include/exclude patterns would skip them (the list is an explicit request). An entry whose real path is
outside every source folder, or a line that cannot name a file (a NUL byte), is refused alone and logged
with ``file:line``; missing entries are reported; neither stops the rest.

After the categories or rules change, :meth:`Ingestor.reclassify` classifies again the files not yet delivered
everywhere (on the MIME type recorded at ingest: nothing is read) and moves their queued jobs to the drives
that hold the new category; what was delivered, and jobs being copied, are left as they are.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import re
import sqlite3
import stat
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from blake3 import blake3

from usbsync_gui.core.audit import AuditLog
from usbsync_gui.core.classify import UNKNOWN_MIME, Classification, Classifier
from usbsync_gui.core.config import Config
from usbsync_gui.core.fs_text import for_display
from usbsync_gui.core.hashing import hash_fd
from usbsync_gui.core.source_paths import NotRegularFile, Refused, SourceFolders, file_kind
from usbsync_gui.core.state import FileRow, StateDB, is_damage
from usbsync_gui.core.units import plural
from usbsync_gui.platform.thread_priority import pool_initializer

log = logging.getLogger(__name__)
# A byte that was not UTF-8, as surrogateescape holds it (PEP 383).
_UNDECODED = re.compile("[\udc80-\udcff]")

MANIFEST_SUFFIX = ".lst"
SMALL_FILE = 1 << 20  # files up to 1 MiB are read once into memory for classification and hashing
COMMIT_EVERY = 500  # files per transaction: bounded memory for the WAL, few fsyncs
# Classification (libmagic through ctypes) and BLAKE3 release the GIL, so a few threads use every core.
ANALYSE_THREADS = max(2, min(8, os.cpu_count() or 2))
# ... but only when that released part is large. The rest of a file's analysis (the source checks' opens and
# stats, the Python around each call) holds the GIL, and every hand-over of the GIL between threads is a futex
# wake and a context switch. Measured here (2 vCPUs, 20,000 small PNGs, libmagic ~25 us each): two threads
# took 5.5 s and 5.8 s of CPU, the ingest thread alone 3.8 s and 3.5 s; for one-line texts (libmagic ~500 us)
# the threads won, 1.8 s against 2.6-3.3 s for 5,000. So a batch goes to the threads when its files are big
# (hashed in chunks without the GIL) or when the files before it took long without the GIL; otherwise the
# ingest thread analyses it itself. Microseconds without the GIL per file, mean of the last batch analysed:
THREADS_FROM_US = 150.0  # at or over this, the next batch goes to the threads
INLINE_UNDER_US = 75.0  # under this, back to the ingest thread (between the two: as the batch before)
MAX_MANIFEST = 64 << 20  # bytes of a .lst read at most: a list, not a data file


@dataclass(frozen=True)
class _Todo:
    path: str  # absolute; a plain string because pathlib costs more than the rest of the check
    root: Path
    relpath: str
    size: int
    mtime_ns: int


@dataclass
class _Analysed:
    """What :meth:`Ingestor._analyse_many` gave for a run of files: their outcomes in order, and the CPU
    seconds of the analysing thread in libmagic and BLAKE3 (the calls that release the GIL) for them. CPU time
    (``time.thread_time``), not wall time: waiting to take the GIL back after each call is not work the
    threads could share, and with the engine's other threads busy it was most of the wall time. (Windows counts
    thread time in scheduler ticks; over a batch of hundreds of files the mean is still about right.)"""

    outcomes: list[_Outcome]
    released_s: float = 0.0


@dataclass
class _Started:
    """A batch whose analysis has started (:meth:`Ingestor._start_batch`): its files, and the analysis tasks
    (on the threads, or already done on the ingest thread) whose outcomes, concatenated, are theirs in the
    same order."""

    todos: list[_Todo]
    parts: list[Future[_Analysed]]


# What analysing one file gave: (classification, BLAKE3 hex), None when it changed while read, or the error.
_Outcome = tuple[Classification, str] | Exception | None


@dataclass
class IngestStats:
    """What a scan or batch did. ``fresh`` holds files still being written (modified within the window).
    ``refused``: paths not read (a link leading outside the source folders, not a regular file, unreadable)
    and manifest lines refused; ``errors``: anything else that went wrong with one file."""

    seen: int = 0
    new_or_changed: int = 0
    unchanged: int = 0
    unclassified: int = 0
    jobs_queued: int = 0  # one per file and drive
    files_queued: int = 0
    errors: int = 0
    refused: int = 0
    missing: int = 0
    fresh: list[Path] = field(default_factory=list)
    drives_with_work: set[str] = field(default_factory=set)

    def merge(self, other: IngestStats) -> None:
        for name in (
            "seen",
            "new_or_changed",
            "unchanged",
            "unclassified",
            "jobs_queued",
            "files_queued",
            "errors",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.refused += other.refused
        self.missing += other.missing
        self.fresh.extend(other.fresh)
        self.drives_with_work |= other.drives_with_work


@dataclass
class ReclassifyStats:
    """What :meth:`Ingestor.reclassify` did. ``checked``: files not yet delivered everywhere, classified again;
    ``moved``: files whose category changed, by (old, new) category (None: no category); ``withdrawn``: their
    pending or failed jobs for drives that do not hold the new category, taken off the queue; ``left_copying``:
    such jobs being copied, left to finish; ``jobs_queued``: new jobs for the drives that hold the new
    category (``drives_with_work``); ``errors``: files that could not be handled."""

    checked: int = 0
    moved: Counter[tuple[str | None, str | None]] = field(default_factory=Counter)
    withdrawn: int = 0
    left_copying: int = 0
    jobs_queued: int = 0
    errors: int = 0
    drives_with_work: set[str] = field(default_factory=set)

    @property
    def reclassified(self) -> int:
        return sum(self.moved.values())

    def summary(self) -> str:
        """One line for the log."""
        if not self.moved:
            return (
                f"reclassify: {plural(self.checked, 'file')} not yet delivered checked, none changed category"
            )
        moves = "; ".join(
            f"{n} {old or 'unclassified'} -> {new or 'unclassified'}"
            for (old, new), n in sorted(self.moved.items(), key=lambda kv: (-kv[1], str(kv[0])))
        )
        line = (
            f"reclassified {plural(self.reclassified, 'file')}: {moves}; "
            f"{plural(self.withdrawn, 'job')} withdrawn, {self.jobs_queued} queued"
        )
        if self.left_copying:
            line += f", {self.left_copying} being copied left to finish"
        if self.errors:
            line += f"; {plural(self.errors, 'file')} could not be handled"
        return line


class _RecordedMime(Classifier):
    """``classifier`` deciding on the MIME type libmagic read when the file was ingested (``files.mime``): its
    own :meth:`Classifier.classify` (rules, then MIME patterns, then the extension), with :meth:`mime_of`
    answering the recorded type instead of reading the content again. Shares the classifier's tables and
    opens no libmagic handle. Set :attr:`mime` before each call; one instance per thread."""

    def __init__(self, classifier: Classifier):  # not Classifier.__init__: the tables are the classifier's
        self.__dict__.update(vars(classifier))
        self.mime = UNKNOWN_MIME

    def mime_of(self, path: Path | str, content: bytes | None = None, fd: int | None = None) -> str:
        return self.mime


def _compile(patterns: Iterable[str]) -> re.Pattern[str] | None:
    """One regex for a list of fnmatch patterns (case-insensitive where the OS is, as fnmatch.fnmatch)."""
    pats = list(patterns)
    if not pats:
        return None
    flags = re.IGNORECASE if os.path.normcase("A") == "a" else 0
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in pats), flags)


def _fatal(exc: BaseException) -> bool:
    """True for errors of the database or the process, not of one file: these stop the batch (rolled back,
    nothing recorded half) instead of being logged once per file."""
    return isinstance(exc, MemoryError | sqlite3.OperationalError | sqlite3.InternalError) or is_damage(exc)


class Stopped(BaseException):
    """Raised out of :meth:`Ingestor.scan`, :meth:`Ingestor.ingest_paths` and :meth:`Ingestor.reclassify` once
    the ``stop`` event they were given is set (the engine is stopping), at the next file. Batches are
    transactions, so nothing is recorded half; what was not recorded is found again by the next start's scan.
    A :class:`BaseException`, like :class:`asyncio.CancelledError`, so that the per-file ``except Exception``
    handlers that keep one bad file from stopping the rest do not swallow it."""


def _read_all(fd: int, limit: int, expected: int | None = None) -> bytes:
    """Up to ``limit`` bytes from ``fd`` (from its current offset). ``expected``: the size the caller saw
    (bytes); reads ask for one byte more than that first, since ``os.read(fd, n)`` allocates ``n`` bytes up
    front, with the GIL held: a 1 MiB request for a 1 KiB file was an mmap and munmap per file. Later reads
    (the one that sees the end, or more of a file that grew) ask for 64 KiB, under glibc's mmap threshold.

    A first read that returns exactly ``expected`` bytes ends it, without a read that sees the end (a syscall,
    about 20 us here, for every small file): a caller that passes ``expected`` must ``fstat`` the file
    afterwards and take it only if its size and mtime are still those it saw (:meth:`Ingestor._analyse` does),
    which tells a file that grew meanwhile."""
    parts: list[bytes] = []
    left = limit
    ask = expected + 1 if expected is not None else 1 << 20
    while left > 0:
        chunk = os.read(fd, min(left, ask))
        if not parts and expected is not None and len(chunk) == expected:
            return chunk
        ask = 1 << 16
        if not chunk:
            break
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


class Ingestor:
    """Scan and ingest files for one configuration. Uses the caller's :class:`StateDB` (one per thread).

    ``stop``: an event set from any thread to end the scan, ingest or reclassification under way at its next
    file (:class:`Stopped`); None for a run that is never interrupted."""

    def __init__(
        self,
        db: StateDB,
        config: Config,
        classifier: Classifier,
        audit: AuditLog | None = None,
        stop: threading.Event | None = None,
    ):
        self._stop = stop
        self.db = db
        self.config = config
        self.classifier = classifier
        self.audit = audit
        self.sources = SourceFolders(config.sources)
        self.roots = self.sources.roots
        self._include = _compile(config.include)
        self._exclude = _compile(config.exclude)
        self._executor: ThreadPoolExecutor | None = None
        # Where small files are analysed (:meth:`_threads_pay`): on the ingest thread until a batch shows that
        # their analysis is mostly libmagic and BLAKE3; the last batch's microseconds of that per file.
        self._on_threads = False
        self._released_us: float | None = None
        self._not_routed: dict[
            str, list[str]
        ] = {}  # category ("": none) -> names, of the batch being recorded
        # Paths on the refusal list (as of the last top-level call), so a path found readable again is taken
        # off it without a write per file.
        self._refused: set[str] = set()
        self.on_batch: Callable[[], None] | None = None  # called after each committed batch (any thread)
        self._drive_ids: dict[str, list[str]] = {}  # category -> ids of the drives that hold it
        self._drive_name_list: dict[str, str] = {}  # category -> their names, comma-separated

    def _check_stop(self) -> None:
        if self._stop is not None and self._stop.is_set():
            raise Stopped

    # -- filtering --------------------------------------------------------------------------------------------

    def wanted(self, relpath: str) -> bool:
        """Include/exclude patterns (fnmatch syntax), tried against the bare name and the relative path."""
        name = relpath.rsplit("/", 1)[-1]
        if name.endswith(MANIFEST_SUFFIX):
            return False
        inc, exc = self._include, self._exclude
        included = inc is not None and (inc.match(name) is not None or inc.match(relpath) is not None)
        excluded = exc is not None and (exc.match(name) is not None or exc.match(relpath) is not None)
        return included and not excluded

    # -- refusals ---------------------------------------------------------------------------------------------

    def _load_refused(self) -> None:
        """Read the refusal list (one COUNT when it is empty, as it nearly always is)."""
        n = self.db.refusal_count()
        self._refused = {p for p, _ in self.db.refusals(limit=n)} if n else set()

    def _refuse(self, path: str, reason: str, stats: IngestStats, quiet: bool = False) -> None:
        """``path`` is not read, for ``reason``: recorded, counted, logged and audited the first time only
        (``quiet``: recorded only, the caller has said it)."""
        stats.refused += 1
        self._refused.add(path)
        if self.db.refuse(path, reason) and not quiet:
            log.warning("refused %s: %s", for_display(path), reason)
            if self.audit:
                self.audit.record("refused", path, status="refused", error=reason)

    def _readable(self, path: str) -> None:
        """``path`` is a readable regular file inside the sources (again): no longer refused."""
        if path in self._refused:
            self._refused.discard(path)
            self.db.unrefuse(path)
            log.info("%s is read again", for_display(path))

    def _prune_refusals(self) -> None:
        """Forget refusals of paths that are gone or no longer in a source folder (after a full scan)."""
        self._load_refused()
        for path in list(self._refused):
            if self.sources.locate(path) is None or not os.path.lexists(path):
                self._refused.discard(path)
                self.db.unrefuse(path)

    # -- one file ---------------------------------------------------------------------------------------------

    def _needs_work(
        self,
        path: Path | str,
        stats: IngestStats,
        forced: bool,
        min_age_s: float,
        recheck: bool,
        known: dict[str, tuple[int, int] | None] | None = None,
    ) -> _Todo | None:
        """Cheap checks (where it is, patterns, lstat, one indexed lookup). Returns what must be classified and
        hashed. A symbolic link has its real path checked here (links are rare, so this stays cheap); the
        read itself (:meth:`SourceFolders.open`) checks again whatever the name is. ``known``: the recorded
        (size, mtime_ns) of the batch's paths (:meth:`StateDB.file_stats`), looked up here when a path is
        not in it."""
        where = self.sources.locate(path)
        if where is None:
            return None
        spath, relpath = where.path, where.relpath
        if not forced and not self.wanted(relpath):
            return None
        try:
            st = os.lstat(spath)
            if stat.S_ISLNK(st.st_mode):
                self.sources.real_path(spath)  # raises Refused when it leads outside
                st = os.stat(spath)
        except FileNotFoundError:
            return None  # gone, or a link to nothing
        except Refused as exc:
            self._refuse(spath, exc.reason, stats)
            return None
        except OSError as exc:
            self._refuse(spath, f"cannot read it: {exc.strerror or exc}", stats)
            return None
        if stat.S_ISDIR(st.st_mode):
            return None
        if not stat.S_ISREG(st.st_mode):
            self._refuse(spath, f"not a regular file ({file_kind(st.st_mode)})", stats)
            return None
        stats.seen += 1
        recorded = known[spath] if known is not None and spath in known else None
        if recorded is None and (known is None or spath not in known):
            recorded = self.db.file_stat(spath)
        if not recheck and recorded == (st.st_size, st.st_mtime_ns):
            stats.unchanged += 1
            self._readable(spath)
            return None
        if min_age_s > 0 and time.time() - st.st_mtime < min_age_s:
            stats.fresh.append(Path(spath))
            return None
        return _Todo(spath, where.root, relpath, st.st_size, st.st_mtime_ns)

    def _analyse(self, todo: _Todo, released: _Analysed | None = None) -> _Outcome:
        """Classify and hash from one checked descriptor (no database: runs on pool threads; libmagic and
        BLAKE3 release the GIL). Returns None when the file changed while being read (still being written),
        or the exception that stopped it: never raises. The CPU seconds spent classifying and hashing are added
        to ``released.released_s``."""
        try:
            fd = self.sources.open(todo.path)
        except Exception as exc:
            return exc
        try:
            if todo.size <= SMALL_FILE:
                # One read serves both libmagic and BLAKE3.
                content = _read_all(fd, SMALL_FILE + 1, todo.size)
                t0 = time.thread_time()
                klass = self.classifier.classify(todo.path, todo.relpath, content)
                digest = blake3(content).hexdigest()
            else:
                t0 = time.thread_time()
                klass = self.classifier.classify(todo.path, todo.relpath, fd=fd)
                digest = hash_fd(fd)
            if released is not None:
                released.released_s += time.thread_time() - t0
            st = os.fstat(fd)
        except Exception as exc:
            return exc
        finally:
            os.close(fd)
        if (st.st_size, st.st_mtime_ns) != (todo.size, todo.mtime_ns):
            return None
        return klass, digest

    def _analyse_many(self, todos: list[_Todo]) -> _Analysed:
        out = _Analysed([])
        for t in todos:
            self._check_stop()
            out.outcomes.append(self._analyse(t, out))
        return out

    def _threads_pay(self, todos: list[_Todo]) -> bool:
        """Whether ``todos`` go to the analysis threads (see :data:`THREADS_FROM_US`): a big file among them,
        or the last batch's files took long without the GIL. Updates the choice remembered between batches."""
        if any(t.size > SMALL_FILE for t in todos):
            return True
        us = self._released_us
        if us is not None:
            if us >= THREADS_FROM_US:
                self._on_threads = True
            elif us < INLINE_UNDER_US:
                self._on_threads = False
        return self._on_threads

    def _record(self, todo: _Todo, outcome: _Outcome, stats: IngestStats) -> None:
        path = todo.path
        if isinstance(outcome, FileNotFoundError):
            return
        if isinstance(outcome, Refused):
            self._refuse(path, outcome.reason, stats)
            return
        if isinstance(outcome, NotRegularFile):
            self._refuse(path, outcome.kind, stats)
            return
        if isinstance(outcome, OSError):
            self._refuse(path, f"cannot read it: {outcome.strerror or outcome}", stats)
            return
        if isinstance(outcome, Exception):
            if _fatal(outcome):
                raise outcome
            stats.errors += 1
            log.warning("cannot ingest %s: %s: %s", for_display(path), type(outcome).__name__, outcome)
            return
        if outcome is None:
            stats.fresh.append(Path(path))  # changed while we read it: still being written
            return
        klass, digest = outcome
        self._readable(path)
        rows: list[tuple[str, ...]] = []
        self._record_analysed(todo, klass, digest, stats, rows)
        if self.audit:
            self.audit.write(rows)

    def _record_analysed(
        self,
        todo: _Todo,
        klass: Classification,
        digest: str,
        stats: IngestStats,
        audit: list[tuple[str, ...]],
        stamp: str | None = None,
    ) -> None:
        """Record one classified and hashed file and queue its jobs; its audit row is appended to ``audit``
        (:meth:`AuditLog.row`, timestamp ``stamp``, or now when None) for the caller to write."""
        path, relpath = todo.path, todo.relpath
        file_id, changed, new = self.db.record_file(
            path, str(todo.root), relpath, todo.size, todo.mtime_ns, digest, klass.mime, klass.category
        )
        stats.new_or_changed += 1
        shown = for_display(relpath)
        if klass.category is None:
            stats.unclassified += 1
            log.debug("no category for %s (%s): not synced", shown, klass.mime)
            self._not_routed.setdefault("", []).append(shown)
            return
        drives = self._drives_for(klass.category)
        if not drives:
            log.debug("%s is %s, but no drive holds that category yet", shown, klass.category)
            self._not_routed.setdefault(klass.category, []).append(shown)
            return
        if new:
            queued = self.db.enqueue_new(file_id, drives, digest, todo.size)
        else:
            queued = self.db.enqueue(file_id, drives, digest, todo.size)
        if queued:
            stats.jobs_queued += queued
            stats.files_queued += 1
            stats.drives_with_work.update(drives)
            log.debug(
                "queued %s (%s, %s, by %s) for %d drive(s)",
                shown,
                klass.category,
                klass.mime,
                klass.reason,
                queued,
            )
            if self.audit:
                names = self._drive_names(klass.category)
                audit.append(
                    AuditLog.row("queued", path, "", names, todo.size, digest, None, "pending", stamp)
                )
        elif changed:
            log.debug("%s changed but its content is already delivered", shown)

    def _drives_for(self, category: str) -> list[str]:
        """Ids of the drives that hold ``category`` (remembered: the configuration of an Ingestor is fixed)."""
        ids = self._drive_ids.get(category)
        if ids is None:
            ids = self._drive_ids[category] = [d.id for d in self.config.drives_for(category)]
        return ids

    def _drive_names(self, category: str) -> str:
        """The names of the drives that hold ``category``, as the audit log lists them."""
        names = self._drive_name_list.get(category)
        if names is None:
            drives = self._drives_for(category)
            names = ",".join(d.name for d in self.config.drives if d.id in drives)
            self._drive_name_list[category] = names
        return names

    def _record_all(self, todos: list[_Todo], outcomes: list[_Outcome], stats: IngestStats) -> None:
        """Record a batch in the caller's transaction. The files that were read, classified and hashed (nearly
        all) are first recorded together in one savepoint (:meth:`_record_together`); if any of them fails,
        that savepoint is rolled back and they are recorded one by one as the rest are (:meth:`_record_one`:
        a savepoint each), so one file's failure still loses no other."""
        plain: list[tuple[_Todo, tuple[Classification, str]]] = []
        other: list[tuple[_Todo, _Outcome]] = []
        for todo, outcome in zip(todos, outcomes, strict=True):
            if isinstance(outcome, tuple) and todo.path not in self._refused:
                plain.append((todo, outcome))
            else:
                other.append((todo, outcome))
        if plain and not self._record_together(plain, stats):
            other = [*plain, *other]
        for todo, outcome in other:
            self._isolated(todo.path, stats, partial(self._record_one, todo, outcome, stats))

    def _record_together(
        self, plain: list[tuple[_Todo, tuple[Classification, str]]], stats: IngestStats
    ) -> bool:
        """Record ``plain`` (files with their classification and hash) in one savepoint: a savepoint per file
        and an audit write per file were a third of the recording. Returns False, with nothing recorded,
        counted, audited or logged, when one of them failed (the caller then records them one by one);
        errors of the database itself are raised."""
        conn = self.db.conn
        mine = IngestStats()
        outer_not_routed, self._not_routed = self._not_routed, {}
        rows: list[tuple[str, ...]] = []
        stamp = AuditLog.now()  # one timestamp for the batch's rows: recorded within the same few ms
        conn.execute("SAVEPOINT ingest_batch")
        try:
            for todo, (klass, digest) in plain:
                self._record_analysed(todo, klass, digest, mine, rows, stamp)
        except Exception as exc:
            conn.execute("ROLLBACK TO ingest_batch")
            conn.execute("RELEASE ingest_batch")
            self._not_routed = outer_not_routed
            if _fatal(exc):
                raise
            log.debug(
                "recording a batch failed (%s: %s); recording its files one by one", type(exc).__name__, exc
            )
            return False
        conn.execute("RELEASE ingest_batch")
        for category, names in self._not_routed.items():
            outer_not_routed.setdefault(category, []).extend(names)
        self._not_routed = outer_not_routed
        stats.merge(mine)
        if self.audit:
            self.audit.write(rows)
        return True

    def _record_one(self, todo: _Todo, outcome: _Outcome, stats: IngestStats) -> None:
        """:meth:`_record` in a savepoint of the caller's transaction: a file that fails half-way leaves
        nothing recorded (never a file row without its jobs), and the others go on."""
        conn = self.db.conn
        conn.execute("SAVEPOINT ingest_one")
        try:
            self._record(todo, outcome, stats)
        except Exception:
            conn.execute("ROLLBACK TO ingest_one")
            conn.execute("RELEASE ingest_one")
            raise
        conn.execute("RELEASE ingest_one")

    def _isolated(self, path: Path | str, stats: IngestStats, step: Callable[[], None]) -> None:
        """Run ``step`` for one file; an exception from it is logged in one line naming the file and counted in
        ``stats.errors``, and the caller goes on with the next file (errors of the database itself excepted)."""
        try:
            step()
        except Exception as exc:
            if _fatal(exc):
                raise
            stats.errors += 1
            log.warning("cannot ingest %s: %s: %s", for_display(os.fspath(path)), type(exc).__name__, exc)
            log.debug("details", exc_info=True)

    def _check(
        self,
        path: Path | str,
        stats: IngestStats,
        forced: bool,
        min_age_s: float,
        recheck: bool,
        known: dict[str, tuple[int, int] | None] | None = None,
    ) -> _Todo | None:
        found: list[_Todo | None] = [None]

        def step() -> None:
            found[0] = self._needs_work(path, stats, forced, min_age_s, recheck, known)

        self._isolated(path, stats, step)
        return found[0]

    def ingest_file(
        self,
        path: Path,
        stats: IngestStats,
        forced: bool = False,
        min_age_s: float = 0.0,
        recheck: bool = False,
    ) -> None:
        """Ingest one path (absolute). It is checked, classified and hashed outside any transaction (a
        multi-GB file takes seconds to hash; other writers must not wait on it), then recorded in a short
        transaction of its own: call it outside a transaction. ``forced`` skips the include/exclude patterns
        (manifest entries); ``recheck`` rehashes even when size and mtime are unchanged. Files modified less
        than ``min_age_s`` seconds ago are put in ``stats.fresh`` instead."""
        self._load_refused()
        todo = self._check(path, stats, forced, min_age_s, recheck)
        if todo is not None:
            outcome = self._analyse(todo)
            self._not_routed = {}
            with self.db.transaction():
                self._isolated(todo.path, stats, partial(self._record_one, todo, outcome, stats))
            self._log_not_routed()

    # -- many files -------------------------------------------------------------------------------------------

    def ingest_paths(self, paths: Iterable[Path | str], min_age_s: float = 0.0) -> IngestStats:
        """Ingest paths named by the watcher (absolute): files are ingested, manifests read, directories
        scanned. One path's failure is logged and the others go on."""
        stats = IngestStats()
        self._load_refused()
        batch: list[str] = []
        started: _Started | None = None  # analysed while the batch before is recorded
        for p in paths:
            self._check_stop()
            s = os.path.abspath(os.fspath(p))
            self._isolated(s, stats, partial(self._route, s, stats, batch, min_age_s))
            if len(batch) >= COMMIT_EVERY:
                started = self._next_batch(started, batch, stats, min_age_s)
                batch = []
        self._finish_batch(self._next_batch(started, batch, stats, min_age_s), stats)
        return stats

    def _next_batch(
        self, started: _Started | None, batch: list[str], stats: IngestStats, min_age_s: float
    ) -> _Started | None:
        """One step of the pipeline: start ``batch``'s analysis, then record ``started`` (the batch before)
        while it runs. Returns the batch now started, for the next step to record."""
        nxt = self._start_batch(batch, stats, min_age_s)
        self._finish_batch(started, stats)
        return nxt

    def _route(self, path: str, stats: IngestStats, batch: list[str], min_age_s: float) -> None:
        """One path of :meth:`ingest_paths`: a file goes into ``batch``, the rest is handled at once.

        One ``lstat`` decides for the common case (a file): each stat is a round trip to the filesystem, about
        2 ms under Wine, and this ran three (``islink``, ``isdir``, ``isfile``) before the file's own check."""
        try:
            mode = os.lstat(path).st_mode
        except OSError:
            batch.append(path)  # gone or unreadable: the file's own check says which
            return
        manifest = os.path.basename(path).endswith(MANIFEST_SUFFIX)
        if stat.S_ISLNK(mode):  # rare: what it leads to decides, as before
            if os.path.isdir(path):
                self._dir_link(path, stats)
            elif manifest and os.path.isfile(path):
                stats.merge(self.read_manifest(Path(path)))
            else:
                batch.append(path)
        elif stat.S_ISDIR(mode):
            stats.merge(self._scan_tree(Path(path), min_age_s))
        elif manifest and stat.S_ISREG(mode):
            stats.merge(self.read_manifest(Path(path)))
        else:
            batch.append(path)

    def _dir_link(self, path: str, stats: IngestStats) -> None:
        """A symbolic link to a directory: never followed (as watchdog and the scan do not); refused when it
        leads outside the source folders, since the files the user sees through it are not synced."""
        if self.sources.locate(path) is None:
            return
        try:
            self.sources.real_path(path)
        except Refused as exc:
            self._refuse(path, exc.reason, stats)

    def _ingest_batch(
        self, batch: Sequence[Path | str], stats: IngestStats, min_age_s: float, forced: bool = False
    ) -> None:
        """Ingest ``batch``: classify and hash (on the analysis threads or this one: :meth:`_threads_pay`),
        record in one transaction. Each file on its own: one file's exception is logged and the rest of the
        batch goes on."""
        self._finish_batch(self._start_batch(batch, stats, min_age_s, forced), stats)

    def _start_batch(
        self, batch: Sequence[Path | str], stats: IngestStats, min_age_s: float, forced: bool = False
    ) -> _Started | None:
        """The first half of :meth:`_ingest_batch`: check ``batch`` (one query for all their recorded sizes
        and times) and hand what must be read to the analysis threads; :meth:`_finish_batch` records it.
        Meanwhile the caller may record the batch before (a pipeline: the threads read and hash batch k+1
        while this thread records batch k). Small files whose analysis is mostly the GIL's are analysed here
        at once instead (:meth:`_threads_pay`). None when nothing is to be read."""
        if not batch:
            return None
        known = self.db.file_stats(os.path.abspath(os.fspath(p)) for p in batch)
        todos = [
            t for p in batch if (t := self._check(p, stats, forced, min_age_s, False, known)) is not None
        ]
        if not todos:
            return None
        if not self._threads_pay(todos):
            here: Future[_Analysed] = Future()
            here.set_result(self._analyse_many(todos))
            return _Started(todos, [here])
        # A few large tasks, not one per file: a Future per file cost more than a small file's hash.
        k = -(-len(todos) // ANALYSE_THREADS)
        parts = [self._pool().submit(self._analyse_many, todos[i : i + k]) for i in range(0, len(todos), k)]
        return _Started(todos, parts)

    def _finish_batch(self, started: _Started | None, stats: IngestStats) -> None:
        """The second half of :meth:`_ingest_batch`: wait for the batch's analysis, record it in one
        transaction, then tell :attr:`on_batch`."""
        if started is None:
            return
        done = [part.result() for part in started.parts]
        outcomes = [o for a in done for o in a.outcomes]
        self._released_us = sum(a.released_s for a in done) / len(started.todos) * 1e6
        self._not_routed = {}
        with self.db.transaction():
            self._record_all(started.todos, outcomes, stats)
        self._log_not_routed()
        if self.on_batch is not None:
            self.on_batch()
        if stats.jobs_queued:
            log.debug("ingested %d files, %d jobs queued so far", len(started.todos), stats.jobs_queued)

    def _log_not_routed(self) -> None:
        """One INFO line per category (and one for files without a category) for the batch just recorded, not
        one per file: a flood of 20,000 files in a category no drive holds was 20,000 log lines (and their
        formatting, on the ingest thread, a tenth of its time). Each file's line is at DEBUG."""
        for category, names in sorted(self._not_routed.items()):
            example = names[0] + (f" and {plural(len(names) - 1, 'other')}" if len(names) > 1 else "")
            if category:
                log.info("%s: %s, but no drive holds that category yet", example, category)
            else:
                log.info("%s: no category, not synced", example)
        self._not_routed = {}

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=ANALYSE_THREADS,
                thread_name_prefix="usbsync-analyse",
                initializer=pool_initializer(),
            )
        return self._executor

    def close(self) -> None:
        """Stop the analysis threads."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    def scan(self, min_age_s: float = 0.0) -> IngestStats:
        """Reconcile every source folder with the database (startup scan and periodic rescan); then forget
        refusals of paths that are gone."""
        stats = IngestStats()
        self._load_refused()
        for root in self.roots:
            if not root.is_dir():
                log.warning("source folder missing: %s", for_display(str(root)))
                stats.errors += 1
                continue
            stats.merge(self._scan_tree(root, min_age_s))
        self._prune_refusals()
        return stats

    def _scan_tree(self, top: Path, min_age_s: float) -> IngestStats:
        """Ingest every file under ``top`` (not following links to directories), then its manifests."""
        stats = IngestStats()
        batch: list[str] = []
        started: _Started | None = None  # analysed while the batch before is recorded
        manifests: list[str] = []

        def unreadable(exc: OSError) -> None:
            log.warning("cannot scan %s: %s", for_display(str(exc.filename)), exc.strerror)

        for dirpath, dirnames, filenames in os.walk(top, onerror=unreadable):
            kept = []
            for d in dirnames:
                if d == ".usbsync":
                    continue
                full = os.path.join(dirpath, d)
                if os.path.islink(full):  # os.walk does not descend into it; refused if it leads outside
                    self._isolated(full, stats, partial(self._dir_link, full, stats))
                    continue
                kept.append(d)
            dirnames[:] = kept
            for name in filenames:
                self._check_stop()
                p = os.path.join(dirpath, name)
                if name.endswith(MANIFEST_SUFFIX):
                    manifests.append(p)
                    continue
                batch.append(p)
                if len(batch) >= COMMIT_EVERY:
                    started = self._next_batch(started, batch, stats, min_age_s)
                    batch = []
        self._finish_batch(self._next_batch(started, batch, stats, min_age_s), stats)
        for m in manifests:
            self._isolated(m, stats, partial(self._merge_manifest, m, stats))
        return stats

    # -- manifests --------------------------------------------------------------------------------------------

    def _manifest_problem(
        self, status: str, lst: str, lineno: int, entry: str, resolved: str, why: str
    ) -> None:
        """Log and audit one manifest entry that is not synced (``status``: refused or missing)."""
        where = f"{for_display(lst)}:{lineno}"
        if status == "refused":
            log.warning("%s: refused %s: %s", where, for_display(entry), why)
        else:
            log.warning("%s: %s: %s", where, why, for_display(entry))
        if self.audit:
            self.audit.record(f"manifest-{status}", resolved, status=status, error=f"{where}: {why}")

    def _manifest_lines(self, lst: str, stats: IngestStats) -> list[tuple[int, str]] | None:
        """(line number, text) of the manifest ``lst``'s entries, read through the sources' one rule; lines
        decoded as file names are (PEP 383). None when the manifest itself is refused."""
        where = self.sources.locate(lst)
        if where is None:
            return None
        try:
            fd = self.sources.open(where.path)
        except FileNotFoundError:
            return None
        except Refused as exc:
            self._refuse(where.path, exc.reason, stats)
            return None
        except NotRegularFile as exc:
            self._refuse(where.path, exc.kind, stats)
            return None
        except OSError as exc:
            self._refuse(where.path, f"cannot read it: {exc.strerror or exc}", stats)
            return None
        try:
            data = _read_all(fd, MAX_MANIFEST + 1)
        finally:
            os.close(fd)
        self._readable(where.path)
        if len(data) > MAX_MANIFEST:
            log.warning(
                "%s: longer than %d MiB; only the start is read", for_display(lst), MAX_MANIFEST >> 20
            )
            data = data[:MAX_MANIFEST]
        out = []
        for lineno, raw in enumerate(data.split(b"\n"), 1):
            # As file names are (os.fsdecode: PEP 383 on POSIX). Windows' is strict UTF-8, and one line that
            # is not must not cost the whole manifest: kept with surrogate escapes, refused by _manifest_entry.
            line = raw.rstrip(b"\r").decode("utf-8", "surrogateescape")
            if line.strip() and not line.strip().startswith("#"):
                out.append((lineno, line))
        return out

    def _manifest_entry(self, lst: str, lineno: int, line: str, stats: IngestStats) -> str | None:
        """The source path a manifest line names, or None (refused or missing, logged with ``lst:lineno``)."""
        entry = line.strip()
        if "\0" in entry:
            stats.refused += 1
            self._manifest_problem(
                "refused", lst, lineno, entry.replace("\0", "\\0"), "", "a NUL byte in the name"
            )
            return None
        if sys.platform == "win32" and _UNDECODED.search(entry):
            stats.refused += 1
            self._manifest_problem(
                "refused", lst, lineno, entry, "", "not valid UTF-8 (no Windows file name can be that)"
            )
            return None
        target = os.path.expanduser(entry)
        if not os.path.isabs(target):
            target = os.path.join(os.path.dirname(lst), target)
        real = os.path.realpath(target)
        if not self.sources.inside(real):
            stats.refused += 1
            self._manifest_problem("refused", lst, lineno, entry, real, "outside the source folders")
            where = self.sources.locate(os.path.abspath(target))
            if (
                where is not None
            ):  # a link in the sources that leads out: on the refusal list, as scans put it
                try:
                    self.sources.real_path(where.path)
                except Refused as exc:
                    self._refuse(where.path, exc.reason, IngestStats(), quiet=True)
            return None
        # The name as listed when it leads to that same file (a link inside keeps its own name), else where
        # the real path stands in the sources.
        named = os.path.abspath(target)
        where = self.sources.locate(named) if os.path.realpath(named) == real else None
        where = where or self.sources.locate(real)
        if where is None or not os.path.isfile(where.path):
            stats.missing += 1
            self._manifest_problem("missing", lst, lineno, entry, real, "listed file not found")
            return None
        return where.path

    def _merge_manifest(self, lst: str, stats: IngestStats) -> None:
        stats.merge(self.read_manifest(Path(lst)))

    def read_manifest(self, lst: Path) -> IngestStats:
        """Ingest the entries of the manifest ``lst`` (see module doc). Each line on its own: a line that
        cannot be used is refused with its line number and the others go on."""
        stats = IngestStats()
        self._load_refused()
        s = os.path.abspath(os.fspath(lst))
        lines = self._manifest_lines(s, stats)
        if lines is None:
            return stats
        entries: list[str] = []
        for lineno, line in lines:
            try:
                path = self._manifest_entry(s, lineno, line, stats)
            except Exception as exc:
                if _fatal(exc):
                    raise
                stats.refused += 1
                self._manifest_problem("refused", s, lineno, line.strip(), "", f"unusable line ({exc})")
                continue
            if path is not None:
                entries.append(path)
        self._ingest_batch(entries, stats, 0.0, forced=True)
        return stats

    # -- after a rule or category change ----------------------------------------------------------------------

    def reclassify(self) -> ReclassifyStats:
        """Classify again, with this configuration's rules and categories, every file not yet delivered
        everywhere it goes (a job pending, copying or failed, or no job at all), and route the ones whose
        category changed: the new category is recorded, their pending and failed jobs for drives that do not
        hold it are withdrawn, and the drives that hold it get a job (:meth:`StateDB.enqueue`). Call it after
        the categories or rules changed; with the same configuration it changes nothing.

        * Classification is :class:`Classifier`'s own, on the MIME type recorded at ingest: no file is read.
        * A job being copied is left alone (its copier owns it; the copy finishes). Done jobs are never
          touched, and a file whose jobs are all done or removed is not looked at: what was delivered stays.
        * A withdrawn job is deleted, not marked ``removed``: ``removed`` is the user's decision and would keep
          the drive from getting the file again if the rule is changed back or the drive is given the
          category (:meth:`StateDB.enqueue` and :meth:`StateDB.enqueue_for_drive` honour it). It is not queued
          again behind the user's back either: the file's category no longer names that drive.
        * A file whose category is unchanged is left as it is, including one whose category a drive holds
          only now: :meth:`SyncService.queue_for_drives` queues those.

        Files are read from the database in batches, each handled in one transaction (so no job changes
        state between the read and the write), each file in a savepoint of its own: one file's error is
        logged and the others go on."""
        stats = ReclassifyStats()
        recorded = _RecordedMime(self.classifier)
        after = 0
        while True:
            self._check_stop()
            with self.db.transaction():
                batch = self.db.unsettled_files(after, COMMIT_EVERY)
                for row, jobs in batch:
                    self._reclassify_isolated(recorded, row, jobs, stats)
            if batch and self.on_batch is not None and stats.moved:
                self.on_batch()
            if len(batch) < COMMIT_EVERY:
                break
            after = batch[-1][0].id
        log.info("%s", stats.summary())
        return stats

    def _reclassify_isolated(
        self, recorded: _RecordedMime, row: FileRow, jobs: list[tuple[int, str, str]], stats: ReclassifyStats
    ) -> None:
        """Classify one file again; if its category changed, :meth:`_reroute` it in a savepoint of the
        caller's transaction (a file that fails half-way keeps its category and its jobs). An exception is
        logged in one line naming the file, and the caller goes on (errors of the database itself excepted)."""
        stats.checked += 1
        conn = self.db.conn
        saved = False
        try:
            recorded.mime = row.mime
            klass = recorded.classify(row.path, row.relpath)
            if klass.category == row.category:
                return  # the common case, and no write: no savepoint either
            conn.execute("SAVEPOINT reclassify_one")
            saved = True
            self._reroute(row, jobs, klass, stats)
        except Exception as exc:
            if saved:
                conn.execute("ROLLBACK TO reclassify_one")
                conn.execute("RELEASE reclassify_one")
            if _fatal(exc):
                raise
            stats.errors += 1
            log.warning("cannot reclassify %s: %s: %s", for_display(row.path), type(exc).__name__, exc)
            log.debug("details", exc_info=True)
            return
        conn.execute("RELEASE reclassify_one")

    def _reroute(
        self, row: FileRow, jobs: list[tuple[int, str, str]], klass: Classification, stats: ReclassifyStats
    ) -> None:
        """Record the file's new category and route it to the drives that hold it. ``jobs``: its live jobs, as
        read in this transaction. Counted in ``stats`` only once every write is done."""
        old, new = row.category, klass.category
        drives = [d.id for d in self.config.drives_for(new)] if new is not None else []
        withdrawn: list[str] = []
        copying = 0
        for job_id, drive_id, state in jobs:
            if drive_id in drives:
                continue
            if state == "copying":
                copying += 1  # its copier owns it: the copy finishes
                continue
            self.db.drop_job(job_id)  # pending or failed: read in this transaction, so still so
            withdrawn.append(drive_id)
        self.db.upsert_file(
            row.path, row.source_root, row.relpath, row.size, row.mtime_ns, row.blake3, row.mime, new
        )
        queued = self.db.enqueue(row.id, drives, row.blake3, row.size) if drives else 0
        stats.moved[(old, new)] += 1
        stats.withdrawn += len(withdrawn)
        stats.left_copying += copying
        stats.jobs_queued += queued
        if queued:
            stats.drives_with_work.update(drives)
        names = {d.id: d.name for d in self.config.drives}
        note = f"{old or 'unclassified'} -> {new or 'unclassified'} (by {klass.reason})"
        if withdrawn:
            note += f"; withdrawn from {', '.join(names.get(d, d) for d in withdrawn)}"
        if not drives and new is not None:
            note += "; no drive holds that category yet"
        log.debug("%s: %s", for_display(row.relpath), note)
        if self.audit:
            to = ",".join(names[d] for d in drives)
            status = "pending" if queued else "ok"
            self.audit.record(
                "reclassified", row.path, "", to, row.size, row.blake3, status=status, error=note
            )
