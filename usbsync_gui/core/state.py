r"""The state database (SQLite, WAL): files seen, drives, verified copies, the job queue, notices.

One :class:`StateDB` per thread (sqlite3 connections are not shared across threads). Readers never block the
writer under WAL, so ``usbsync status`` works while the engine runs. The pending queue is only ever read in
bounded batches (:meth:`StateDB.next_jobs`); it is never loaded whole into memory.

The job state machine (one job per file version and drive)::

    pending --start_job--> copying --finish_job--> done
       ^  \                  |
       |   \--remove_jobs--> removed  (a decision by the user; holds until the file's content changes)
       +---- defer / retry_or_fail ----+--> failed (after MAX_ATTEMPTS counted tries, or a permanent error)

* ``pending``: waiting (drive absent, no space, backing off after an error until ``not_before``).
* ``copying``: in flight. Nothing but its copier changes it: a newer version of the source seen meanwhile
  is queued when the copy finishes (:meth:`StateDB.finish_job`), never written into the job under the copier.
  A crash leaves it so and :meth:`StateDB.recover` puts it back to pending.
* ``done``: a verified copy of the job's ``blake3`` exists on the drive (written, or found as a duplicate).
* ``failed``: gave up; ``usbsync process-pending`` and Retry put it back to pending.
* ``removed``: "Remove from queue". Not queued again for the same content, by scans or configuration changes.

Transitions that the copier makes are compare-and-set on (state, blake3): a job whose version changed since
the copier read it is left alone and the copier is told (the return value), so a stale copy can never be
recorded as the newest version.

Paths are stored through :mod:`usbsync_gui.core.fs_text` (names that are not valid UTF-8 as BLOBs).
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from usbsync_gui.core.fs_text import from_db, to_db

MAX_ATTEMPTS = 3
SCHEMA_VERSION = 3
BACKOFF_FIRST_S = 5.0  # seconds before the second try after a counted error; doubles per try
BACKOFF_MAX_S = 300.0  # cap, seconds

# SQLite result codes that mean the file itself is damaged (sqlite.org/rescode.html): SQLITE_CORRUPT (11),
# SQLITE_NOTADB (26). "database is locked" (5) and the like are not damage.
_DAMAGE_CODES = {11, 26}
_DAMAGE_WORDS = ("malformed", "not a database", "file is encrypted", "database disk image")

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS files (
    id          INTEGER PRIMARY KEY,
    path        TEXT NOT NULL UNIQUE,      -- absolute source path (fs_text.to_db)
    source_root TEXT NOT NULL,             -- the source folder it was found under
    relpath     TEXT NOT NULL,             -- '/'-separated, relative to source_root
    size        INTEGER NOT NULL,          -- bytes
    mtime_ns    INTEGER NOT NULL,
    blake3      TEXT NOT NULL,             -- the newest version seen
    mime        TEXT NOT NULL,
    category    TEXT,                      -- NULL: no category matched
    seen_at     REAL NOT NULL              -- unix seconds
)""",
    """CREATE TABLE IF NOT EXISTS drives (
    id          TEXT PRIMARY KEY,          -- marker id
    name        TEXT NOT NULL,
    mountpoint  TEXT,                      -- last seen at
    fstype      TEXT,
    total_bytes INTEGER,
    free_bytes  INTEGER,                   -- when last seen
    last_seen   REAL,
    volume_uuid TEXT,                      -- filesystem UUID / serial at registration
    label       TEXT                       -- volume label at registration
)""",
    """CREATE TABLE IF NOT EXISTS copies (
    id            INTEGER PRIMARY KEY,
    drive_id      TEXT NOT NULL,
    dest_relpath  TEXT NOT NULL,           -- relative to the volume's mount point, '/'-separated
    source_path   TEXT NOT NULL,
    source_relpath TEXT NOT NULL,          -- the original name, before making it safe for FAT/exFAT
    blake3        TEXT NOT NULL,
    size          INTEGER NOT NULL,
    mtime_ns      INTEGER,                 -- of the file on the drive, to notice a user editing it there
    verified_at   REAL NOT NULL,
    UNIQUE (drive_id, dest_relpath)
)""",
    "CREATE INDEX IF NOT EXISTS copies_by_hash ON copies (drive_id, blake3)",
    """CREATE TABLE IF NOT EXISTS jobs (
    id           INTEGER PRIMARY KEY,
    file_id      INTEGER NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    drive_id     TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('pending', 'copying', 'done', 'failed', 'removed')),
    blake3       TEXT NOT NULL,            -- the content version this job delivers
    size         INTEGER NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT,                     -- human reason it is waiting or failed
    result       TEXT,                     -- done: 'copied', 'replaced', 'duplicate'
    dest_relpath TEXT,
    temp_relpath TEXT,                     -- temp file being written; removed at the drive's next arrival
    queued_at    REAL NOT NULL,
    updated_at   REAL NOT NULL,
    not_before   REAL                      -- pending after a counted error: not retried before (unix s)
)""",
    "CREATE UNIQUE INDEX IF NOT EXISTS jobs_live ON jobs (file_id, drive_id) WHERE state NOT IN ('done', 'removed')",
    "CREATE INDEX IF NOT EXISTS jobs_by_drive ON jobs (drive_id, state, id)",
    "CREATE INDEX IF NOT EXISTS jobs_by_file ON jobs (file_id, drive_id)",
    "CREATE INDEX IF NOT EXISTS jobs_temp ON jobs (drive_id) WHERE temp_relpath IS NOT NULL",
    """CREATE TABLE IF NOT EXISTS notices (
    kind     TEXT PRIMARY KEY,             -- e.g. database_rebuilt, watching_incomplete, keyring_locked
    message  TEXT NOT NULL,                -- one line for the user
    since    REAL NOT NULL                 -- unix seconds
)""",
    """CREATE TABLE IF NOT EXISTS refusals (
    path     TEXT PRIMARY KEY,             -- a source path usbsync will not read (fs_text.to_db)
    reason   TEXT NOT NULL,
    since    REAL NOT NULL
)""",
)

# Values bound in one ``IN (...)`` at most: under SQLITE_MAX_VARIABLE_NUMBER of old SQLite builds (999).
_IN_CHUNK = 500

_JOB_COPY_COLUMNS = (
    "id, file_id, drive_id, state, blake3, size, attempts, last_error, result, dest_relpath, temp_relpath,"
    " queued_at, updated_at"
)


class DatabaseDamaged(sqlite3.DatabaseError):
    """The state database file is damaged (SQLITE_CORRUPT / SQLITE_NOTADB, or ``PRAGMA quick_check`` found
    problems). ``str()`` is one line naming the file."""

    def __init__(self, path: Path, detail: str):
        self.path = path
        self.detail = detail
        super().__init__(f"{path}: the state database is damaged ({detail})")


def is_damage(exc: BaseException) -> bool:
    """True when ``exc`` says the database file is damaged (not merely busy or locked)."""
    if isinstance(exc, DatabaseDamaged):
        return True
    if not isinstance(exc, sqlite3.DatabaseError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None and (code & 0xFF) in _DAMAGE_CODES:
        return True
    text = str(exc).lower()
    return any(w in text for w in _DAMAGE_WORDS)


def set_aside(path: Path, when: float | None = None) -> Path:
    """Rename a damaged database (and its ``-wal``/``-shm`` files) to ``<name>.damaged-YYYYmmdd-HHMMSS``
    beside it, so nothing is deleted and a fresh one can be created. Returns the new path of the main file."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(when if when is not None else time.time()))
    target = path.with_name(f"{path.name}.damaged-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.damaged-{stamp}-{n}")
    for suffix in ("", "-wal", "-shm"):
        src = Path(f"{path}{suffix}")
        if src.exists():
            os.replace(src, f"{target}{suffix}")
    return target


@dataclass(frozen=True)
class FileRow:
    id: int
    path: str
    source_root: str
    relpath: str
    size: int
    mtime_ns: int
    blake3: str
    mime: str
    category: str | None

    @classmethod
    def of(cls, row: tuple[object, ...]) -> FileRow:
        i, path, root, rel, *more = row
        return cls(i, from_db(path), from_db(root), from_db(rel), *more)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Job:
    """A job joined with its file. ``size`` in bytes; times are unix seconds."""

    id: int
    file_id: int
    drive_id: str
    state: str
    blake3: str
    size: int
    attempts: int
    last_error: str | None
    result: str | None
    dest_relpath: str | None
    temp_relpath: str | None
    queued_at: float
    path: str
    relpath: str
    category: str | None

    @classmethod
    def of(cls, row: tuple[object, ...]) -> Job:
        *head, path, rel, cat = row
        return cls(*head, from_db(path), from_db(rel), cat)  # type: ignore[arg-type, call-arg]


@dataclass(frozen=True)
class CopyRow:
    drive_id: str
    dest_relpath: str
    source_path: str
    blake3: str
    size: int
    mtime_ns: int | None

    @classmethod
    def of(cls, row: tuple[object, ...]) -> CopyRow:
        d, dest, src, *more = row
        return cls(d, from_db(dest), from_db(src), *more)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Notice:
    """A condition the user should know about (shown by ``status``, the tray and notifications)."""

    kind: str
    message: str
    since: float  # unix seconds


_JOB_COLUMNS = """j.id, j.file_id, j.drive_id, j.state, j.blake3, j.size, j.attempts, j.last_error, j.result,
    j.dest_relpath, j.temp_relpath, j.queued_at, f.path, f.relpath, f.category"""

# Files of a category no drive holds that wait for one: recorded with a category that none of the drives given
# as parameters holds, and neither delivered nor decided for their current content (no job for it in any state)
# nor waiting anywhere (no pending, copying or failed job). No drive held their category when they were seen, so
# they got no job; a drive registered for it gets one for each (:meth:`StateDB.enqueue_for_drive`).
_UNROUTED = (
    "f.category IS NOT NULL AND f.category NOT IN ({held}) AND NOT EXISTS (SELECT 1 FROM jobs j"
    " WHERE j.file_id=f.id AND (j.blake3=f.blake3 OR j.state IN ('pending', 'copying', 'failed')))"
)

# Back to pending: the job takes the file's newest version (its hash and size) and, if that changed, starts
# its count of attempts afresh. Used by every transition to pending so no path leaves a stale version queued.
_TO_PENDING = (
    "state='pending',"
    " blake3=(SELECT f.blake3 FROM files f WHERE f.id=jobs.file_id),"
    " size=(SELECT f.size FROM files f WHERE f.id=jobs.file_id),"
    " attempts=CASE WHEN blake3=(SELECT f.blake3 FROM files f WHERE f.id=jobs.file_id) THEN {attempts} ELSE 0 END"
)


def backoff_s(attempts: int) -> float:
    """Seconds to wait before retrying a job after its ``attempts``-th counted error (5, 10, 20 ... 300)."""
    return float(min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2 ** max(0, attempts - 1)))


class StateDB:
    """The state database at ``path`` (created on first open).

    Args:
        path: the database file.
        check: run ``PRAGMA quick_check`` first (the engine and ``sync-once`` do, at start).

    Raises:
        DatabaseDamaged: the file is not a database, or is damaged (any SQLite corruption error on opening, or
            with ``check`` any problem quick_check reports).
        sqlite3.Error: other failures (locked for longer than the 30 s busy timeout, a newer schema).
    """

    def __init__(self, path: Path | str, check: bool = False):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(str(self.path), timeout=30.0, isolation_level=None)
        try:
            self._open(check)
        except DatabaseDamaged:
            self.conn.close()
            raise
        except sqlite3.DatabaseError as exc:
            self.conn.close()
            if is_damage(exc):
                raise DatabaseDamaged(self.path, str(exc)) from exc
            raise

    def _open(self, check: bool) -> None:
        self.conn.execute("PRAGMA journal_mode=WAL")
        # NORMAL under WAL: a power cut may lose the last commits but never corrupts; losing a 'done' mark only
        # means the copy is found again on the drive (same content) and adopted, not written twice.
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        if check:
            problems = [str(r[0]) for r in self.conn.execute("PRAGMA quick_check(5)")]
            if problems != ["ok"]:
                raise DatabaseDamaged(self.path, "; ".join(problems)[:200])
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise sqlite3.DatabaseError(f"{self.path} was written by a newer usbsync (schema {version})")
        if version == SCHEMA_VERSION:
            return
        has_jobs = self.conn.execute("SELECT 1 FROM sqlite_master WHERE name='jobs'").fetchone() is not None
        with self.transaction() as c:
            if has_jobs and version < 3:
                # v3 adds the 'removed' state and not_before: SQLite cannot alter a CHECK, so rebuild the table.
                for ix in ("jobs_live", "jobs_by_drive", "jobs_by_file", "jobs_temp"):
                    c.execute(f"DROP INDEX IF EXISTS {ix}")
                c.execute("ALTER TABLE jobs RENAME TO jobs_v2")
            if has_jobs and version == 1:  # v2: the drive's volume UUID and label
                c.execute("ALTER TABLE drives ADD COLUMN volume_uuid TEXT")
                c.execute("ALTER TABLE drives ADD COLUMN label TEXT")
            for statement in _SCHEMA:
                c.execute(statement)
            if has_jobs and version < 3:
                c.execute(f"INSERT INTO jobs ({_JOB_COPY_COLUMNS}) SELECT {_JOB_COPY_COLUMNS} FROM jobs_v2")
                c.execute("DROP TABLE jobs_v2")
            c.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> StateDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on exception). Not re-entrant."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # -- files ------------------------------------------------------------------------------------------------

    def file_by_path(self, path: str) -> FileRow | None:
        row = self.conn.execute(
            "SELECT id, path, source_root, relpath, size, mtime_ns, blake3, mime, category FROM files WHERE path=?",
            (to_db(path),),
        ).fetchone()
        return FileRow.of(row) if row else None

    def path_of_relpath(self, relpath: str) -> str | None:
        """The absolute source path of the one recorded file at ``relpath`` (relative to its source folder);
        None when none is, or when several source folders have one there (which one is not known)."""
        rows = self.conn.execute(
            "SELECT path FROM files WHERE relpath=? LIMIT 2", (to_db(relpath),)
        ).fetchall()
        return from_db(rows[0][0]) if len(rows) == 1 else None

    def file_stat(self, path: str) -> tuple[int, int] | None:
        """(size, mtime_ns) recorded for ``path``, the cheap check that skips rehashing unchanged files."""
        row = self.conn.execute("SELECT size, mtime_ns FROM files WHERE path=?", (to_db(path),)).fetchone()
        return (row[0], row[1]) if row else None

    def file_stats(self, paths: Iterable[str]) -> dict[str, tuple[int, int] | None]:
        """:meth:`file_stat` of many paths in a few queries (one per 500): ``{path: (size, mtime_ns) or None}``,
        every path given a key. A batch of 500 lookups was 500 statements' round trips from Python."""
        wanted = list(dict.fromkeys(paths))
        found: dict[str, tuple[int, int] | None] = dict.fromkeys(wanted)
        for i in range(0, len(wanted), _IN_CHUNK):
            part = [to_db(p) for p in wanted[i : i + _IN_CHUNK]]
            marks = ",".join("?" * len(part))
            for path, size, mtime_ns in self.conn.execute(
                f"SELECT path, size, mtime_ns FROM files WHERE path IN ({marks})", part
            ):
                found[from_db(path)] = (size, mtime_ns)
        return found

    def upsert_file(
        self,
        path: str,
        source_root: str,
        relpath: str,
        size: int,
        mtime_ns: int,
        blake3: str,
        mime: str,
        category: str | None,
    ) -> tuple[int, bool]:
        """Record a file version. Returns (file id, content changed or new)."""
        file_id, changed, _ = self.record_file(
            path, source_root, relpath, size, mtime_ns, blake3, mime, category
        )
        return file_id, changed

    def record_file(
        self,
        path: str,
        source_root: str,
        relpath: str,
        size: int,
        mtime_ns: int,
        blake3: str,
        mime: str,
        category: str | None,
    ) -> tuple[int, bool, bool]:
        """:meth:`upsert_file`, also saying whether the row is new: (file id, content changed or new, new). A
        new path costs one statement (the insert), not a lookup first: nearly every path ingested is new."""
        now = time.time()
        p, root, rel = to_db(path), to_db(source_root), to_db(relpath)
        cur = self.conn.execute(
            "INSERT INTO files (path, source_root, relpath, size, mtime_ns, blake3, mime, category, seen_at)"
            " VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT (path) DO NOTHING",
            (p, root, rel, size, mtime_ns, blake3, mime, category, now),
        )
        if cur.rowcount == 1:
            return int(cur.lastrowid or 0), True, True
        row = self.conn.execute("SELECT id, blake3 FROM files WHERE path=?", (p,)).fetchone()
        self.conn.execute(
            "UPDATE files SET source_root=?, relpath=?, size=?, mtime_ns=?, blake3=?, mime=?, category=?, seen_at=?"
            " WHERE id=?",
            (root, rel, size, mtime_ns, blake3, mime, category, now, row[0]),
        )
        return int(row[0]), row[1] != blake3, False

    # -- jobs -------------------------------------------------------------------------------------------------

    def enqueue_new(self, file_id: int, drive_ids: Iterable[str], blake3: str, size: int) -> int:
        """:meth:`enqueue` for a file whose row was just inserted (:meth:`record_file` said new, in this
        transaction): it has no job yet, so one is inserted per drive without looking for earlier ones (a
        file row's id may be reused only once the row is deleted, and its jobs go with it: ON DELETE CASCADE,
        foreign keys on). Returns jobs created."""
        now = time.time()
        rows = [(file_id, d, blake3, size, now, now) for d in drive_ids]
        self.conn.executemany(
            "INSERT INTO jobs (file_id, drive_id, state, blake3, size, queued_at, updated_at)"
            " VALUES (?,?,'pending',?,?,?,?)",
            rows,
        )
        return len(rows)

    def enqueue(self, file_id: int, drive_ids: Iterable[str], blake3: str, size: int) -> int:
        """Make sure each drive gets content ``blake3`` of the file. Returns jobs created or reset.

        * A pending or failed job takes the new version (attempts start afresh).
        * A job being copied is left alone: :meth:`finish_job` queues the newer version when it completes.
        * No job when the drive's last decision for this file is for the same content: delivered (done) or
          removed from the queue by the user.
        """
        now = time.time()
        n = 0
        for drive_id in drive_ids:
            live = self.conn.execute(
                "SELECT id, blake3, state FROM jobs WHERE file_id=? AND drive_id=?"
                " AND state NOT IN ('done', 'removed')",
                (file_id, drive_id),
            ).fetchone()
            if live is not None:
                if live[2] != "copying" and live[1] != blake3:
                    self.conn.execute(
                        "UPDATE jobs SET state='pending', blake3=?, size=?, attempts=0, last_error=NULL,"
                        " not_before=NULL, updated_at=? WHERE id=?",
                        (blake3, size, now, live[0]),
                    )
                    n += 1
                continue
            last = self.conn.execute(
                "SELECT blake3 FROM jobs WHERE file_id=? AND drive_id=? AND state IN ('done', 'removed')"
                " ORDER BY id DESC LIMIT 1",
                (file_id, drive_id),
            ).fetchone()
            if last is not None and last[0] == blake3:
                continue
            self.conn.execute(
                "INSERT INTO jobs (file_id, drive_id, state, blake3, size, queued_at, updated_at)"
                " VALUES (?,?,'pending',?,?,?,?)",
                (file_id, drive_id, blake3, size, now, now),
            )
            n += 1
        return n

    def enqueue_for_drive(self, drive_id: str, categories: Iterable[str]) -> int:
        """Queue, for ``drive_id``, every recorded file of ``categories`` that has no job for it yet (a drive
        registered, or given a category, after the files were seen). Returns jobs created."""
        cats = tuple(categories)
        if not cats:
            return 0
        marks = ",".join("?" * len(cats))
        now = time.time()
        cur = self.conn.execute(
            "INSERT INTO jobs (file_id, drive_id, state, blake3, size, queued_at, updated_at)"
            f" SELECT f.id, ?, 'pending', f.blake3, f.size, ?, ? FROM files f WHERE f.category IN ({marks})"
            " AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.file_id=f.id AND j.drive_id=?)",
            (drive_id, now, now, *cats, drive_id),
        )
        return cur.rowcount

    def unsettled_files(
        self, after_id: int = 0, limit: int = 500
    ) -> list[tuple[FileRow, list[tuple[int, str, str]]]]:
        """Files not yet delivered everywhere they go, to route again after a rule or category change: those
        with a job pending, copying or failed, and those with no job at all (no category, or one no drive
        held). Up to ``limit`` of them with id > ``after_id``, by id, each with its live jobs as (job id, drive
        id, state). Files whose jobs are all done or removed are not listed. Read it in the transaction that
        acts on it, so that no job changes state in between."""
        rows = self.conn.execute(
            "WITH c AS (SELECT f.id, f.path, f.source_root, f.relpath, f.size, f.mtime_ns, f.blake3, f.mime,"
            " f.category FROM files f WHERE f.id>? AND (EXISTS (SELECT 1 FROM jobs j WHERE j.file_id=f.id"
            " AND j.state NOT IN ('done', 'removed')) OR NOT EXISTS (SELECT 1 FROM jobs j WHERE j.file_id=f.id))"
            " ORDER BY f.id LIMIT ?)"
            " SELECT c.*, j.id, j.drive_id, j.state FROM c LEFT JOIN jobs j ON j.file_id=c.id"
            " AND j.state NOT IN ('done', 'removed') ORDER BY c.id, j.id",
            (after_id, limit),
        ).fetchall()
        out: list[tuple[FileRow, list[tuple[int, str, str]]]] = []
        for r in rows:
            if not out or out[-1][0].id != r[0]:
                out.append((FileRow.of(r[:9]), []))
            if r[9] is not None:
                out[-1][1].append((int(r[9]), str(r[10]), str(r[11])))
        return out

    def unrouted_counts(self, held: Iterable[str]) -> list[tuple[str, int, int]]:
        """(category, files, bytes) per category of the files that wait for a drive to hold their
        category (none of ``held``, the categories the registered drives hold, does), by category."""
        held = tuple(held)
        sql = (
            "SELECT f.category, COUNT(*), COALESCE(SUM(f.size), 0) FROM files f"
            f" WHERE {_UNROUTED.format(held=','.join('?' * len(held)))} GROUP BY f.category ORDER BY f.category"
        )
        return [(str(c), int(n), int(b)) for c, n, b in self.conn.execute(sql, held)]

    def unrouted_files(self, held: Iterable[str]) -> list[FileRow]:
        """The files :meth:`unrouted_counts` counts, by category and path."""
        held = tuple(held)
        sql = (
            "SELECT f.id, f.path, f.source_root, f.relpath, f.size, f.mtime_ns, f.blake3, f.mime, f.category"
            f" FROM files f WHERE {_UNROUTED.format(held=','.join('?' * len(held)))}"
            " ORDER BY f.category, f.path"
        )
        return [FileRow.of(r) for r in self.conn.execute(sql, held)]

    def next_jobs(self, drive_id: str, limit: int, after_id: int = 0, now: float | None = None) -> list[Job]:
        """Up to ``limit`` pending jobs for ``drive_id`` with id > ``after_id``, oldest first, leaving out
        jobs backing off after an error until their ``not_before`` (unix seconds; ``now`` defaults to the
        clock)."""
        rows = self.conn.execute(
            f"SELECT {_JOB_COLUMNS} FROM jobs j JOIN files f ON f.id=j.file_id"
            " WHERE j.drive_id=? AND j.state='pending' AND j.id>?"
            " AND (j.not_before IS NULL OR j.not_before<=?) ORDER BY j.id LIMIT ?",
            (drive_id, after_id, time.time() if now is None else now, limit),
        ).fetchall()
        return [Job.of(r) for r in rows]

    def next_retry_at(self, drive_id: str) -> float | None:
        """When the earliest job of ``drive_id`` that is backing off may be tried again (unix seconds), or
        None when none is. The copy worker arms a timer for it, and only then."""
        row = self.conn.execute(
            "SELECT MIN(not_before) FROM jobs WHERE drive_id=? AND state='pending' AND not_before IS NOT NULL",
            (drive_id,),
        ).fetchone()
        return float(row[0]) if row and row[0] is not None else None

    def job(self, job_id: int) -> Job | None:
        row = self.conn.execute(
            f"SELECT {_JOB_COLUMNS} FROM jobs j JOIN files f ON f.id=j.file_id WHERE j.id=?", (job_id,)
        ).fetchone()
        return Job.of(row) if row else None

    def list_jobs(self, states: Iterable[str], limit: int | None = None) -> list[Job]:
        states = tuple(states)
        marks = ",".join("?" * len(states))
        sql = (
            f"SELECT {_JOB_COLUMNS} FROM jobs j JOIN files f ON f.id=j.file_id"
            f" WHERE j.state IN ({marks}) ORDER BY j.id"
        )
        params: tuple[object, ...] = states
        if limit is not None:
            sql += " LIMIT ?"
            params = (*states, limit)
        return [Job.of(r) for r in self.conn.execute(sql, params)]

    def start_job(self, job_id: int, dest_relpath: str, temp_relpath: str | None, expect: str) -> bool:
        """Mark a pending job copying and record where its temp file goes *before* it is created (crash
        cleanup). Compare-and-set: only if the job is still pending for content ``expect`` (BLAKE3 hex).
        Returns False when it is not (its source changed, or it was removed): the caller must skip it."""
        cur = self.conn.execute(
            "UPDATE jobs SET state='copying', attempts=attempts+1, dest_relpath=?, temp_relpath=?, updated_at=?"
            " WHERE id=? AND state='pending' AND blake3=?",
            (to_db(dest_relpath), to_db(temp_relpath) if temp_relpath else None, time.time(), job_id, expect),
        )
        return cur.rowcount == 1

    def defer_job(self, job_id: int, reason: str, count_attempt: bool = False) -> None:
        """Back to pending with a human ``reason``. Without ``count_attempt`` the try does not count."""
        sql = _TO_PENDING.format(attempts=f"MAX(attempts-{0 if count_attempt else 1}, 0)")
        self.conn.execute(
            f"UPDATE jobs SET {sql}, last_error=?, not_before=NULL, updated_at=? WHERE id=? AND state IN"
            " ('pending', 'copying')",
            (reason, time.time(), job_id),
        )

    def defer_copying(self, drive_id: str, reason: str) -> int:
        """Every job of ``drive_id`` still ``copying`` back to pending (try not counted). Returns how many.
        Temp files stay recorded (removed at the drive's next arrival)."""
        sql = _TO_PENDING.format(attempts="MAX(attempts-1, 0)")
        cur = self.conn.execute(
            f"UPDATE jobs SET {sql}, last_error=?, updated_at=? WHERE drive_id=? AND state='copying'",
            (reason, time.time(), drive_id),
        )
        return cur.rowcount

    def set_reason_all(self, drive_id: str, reason: str) -> int:
        """Set the waiting reason of every pending job of ``drive_id``. Returns how many."""
        cur = self.conn.execute(
            "UPDATE jobs SET last_error=?, updated_at=? WHERE drive_id=? AND state='pending'",
            (reason, time.time(), drive_id),
        )
        return cur.rowcount

    def set_reason(self, job_id: int, reason: str) -> None:
        """Note why a pending job cannot go now (e.g. not enough space), without touching its attempts."""
        self.conn.execute(
            "UPDATE jobs SET last_error=?, updated_at=? WHERE id=?", (reason, time.time(), job_id)
        )

    def retry_or_fail(self, job_id: int, reason: str) -> str:
        """After a counted error: pending again, not before a capped exponential backoff
        (:func:`backoff_s`), or failed once :data:`MAX_ATTEMPTS` tries were made. Returns the new state."""
        row = self.conn.execute("SELECT attempts FROM jobs WHERE id=?", (job_id,)).fetchone()
        attempts = int(row[0]) if row is not None else 0
        now = time.time()
        if attempts >= MAX_ATTEMPTS:
            self.conn.execute(
                "UPDATE jobs SET state='failed', last_error=?, not_before=NULL, updated_at=? WHERE id=?",
                (reason, now, job_id),
            )
            return "failed"
        self.conn.execute(
            f"UPDATE jobs SET {_TO_PENDING.format(attempts='attempts')}, last_error=?, not_before=?,"
            " updated_at=? WHERE id=?",
            (reason, now + backoff_s(attempts), now, job_id),
        )
        return "pending"

    def fail_job(self, job_id: int, reason: str, expect: str) -> bool:
        """Failed at once (retrying cannot help, e.g. too big for the drive's filesystem). Compare-and-set: only
        a pending job for content ``expect``; returns False otherwise (a new version gets its own chance)."""
        cur = self.conn.execute(
            "UPDATE jobs SET state='failed', last_error=?, not_before=NULL, updated_at=?"
            " WHERE id=? AND state IN ('pending', 'copying') AND blake3=?",
            (reason, time.time(), job_id, expect),
        )
        return cur.rowcount == 1

    def finish_job(
        self, job_id: int, result: str, dest_relpath: str, delivered: str, note: str | None = None
    ) -> bool:
        """Record that content ``delivered`` (BLAKE3 hex) of the job's file is verified on the drive at
        ``dest_relpath``. Compare-and-set: only a pending or copying job for that very content becomes done;
        returns False otherwise (nothing changed). If the source has a newer version by now, a pending job for
        it is queued in the same transaction, so the newest version always follows."""
        now = time.time()
        cur = self.conn.execute(
            "UPDATE jobs SET state='done', result=?, dest_relpath=?, temp_relpath=NULL, last_error=?,"
            " not_before=NULL, updated_at=? WHERE id=? AND state IN ('pending', 'copying') AND blake3=?",
            (result, to_db(dest_relpath), note, now, job_id, delivered),
        )
        if cur.rowcount != 1:
            return False
        self.conn.execute(
            "INSERT INTO jobs (file_id, drive_id, state, blake3, size, queued_at, updated_at)"
            " SELECT j.file_id, j.drive_id, 'pending', f.blake3, f.size, ?, ? FROM jobs j JOIN files f"
            " ON f.id=j.file_id WHERE j.id=? AND f.blake3<>j.blake3",
            (now, now, job_id),
        )
        return True

    def drop_job(self, job_id: int) -> None:
        self.conn.execute("DELETE FROM jobs WHERE id=?", (job_id,))

    def remove_jobs(self, job_ids: Iterable[int]) -> int:
        """ "Remove from queue": pending or failed jobs become ``removed``, a decision that holds for this
        content (scans and configuration changes do not queue it again) until the file changes. Jobs being
        copied are not touched. Returns how many were removed."""
        now = time.time()
        return self.conn.executemany(
            "UPDATE jobs SET state='removed', last_error='removed from the queue',"
            " not_before=NULL, updated_at=? WHERE id=? AND state IN ('pending', 'failed')",
            [(now, job_id) for job_id in job_ids],
        ).rowcount

    def clear_temp(self, job_id: int) -> None:
        self.conn.execute("UPDATE jobs SET temp_relpath=NULL WHERE id=?", (job_id,))

    def temps_on(self, drive_id: str) -> list[tuple[int, str]]:
        """(job id, temp path relative to the mount point) of temp files possibly left on ``drive_id``."""
        return [
            (int(r[0]), from_db(r[1]))
            for r in self.conn.execute(
                "SELECT id, temp_relpath FROM jobs WHERE drive_id=? AND temp_relpath IS NOT NULL AND state<>'copying'",
                (drive_id,),
            )
        ]

    def recover(self) -> int:
        """Put jobs left ``copying`` by a crash back to pending. Returns how many. Call only under the lock."""
        sql = _TO_PENDING.format(attempts="MAX(attempts-1, 0)")
        cur = self.conn.execute(
            f"UPDATE jobs SET {sql}, last_error='interrupted (usbsync stopped during the copy)', updated_at=?"
            " WHERE state='copying'",
            (time.time(),),
        )
        return cur.rowcount

    def retry_jobs(self, job_ids: Iterable[int]) -> int:
        """Retry: the given failed jobs, or jobs the user removed from the queue (put back), back to pending for
        their file's newest version, attempts afresh. A removed job whose file has a live job for that drive
        again (a newer version) stays removed. Returns how many."""
        now = time.time()
        return self.conn.executemany(
            f"UPDATE OR IGNORE jobs SET {_TO_PENDING.format(attempts='0')}, last_error=NULL, not_before=NULL,"
            " updated_at=? WHERE id=? AND state IN ('failed', 'removed')",
            [(now, job_id) for job_id in job_ids],
        ).rowcount

    def reopen_at(self, drive_id: str, dest_relpath: str, reason: str) -> int:
        """The file at ``dest_relpath`` on ``drive_id`` is about to hold other content (usbsync replaces its
        own copy with a newer version) or changed on the drive: done jobs of *other* files whose verified copy
        was that file (duplicates of it) have no copy any more and go back to pending. Returns how many."""
        now = time.time()
        cur = self.conn.execute(
            f"UPDATE jobs SET {_TO_PENDING.format(attempts='0')}, last_error=?, not_before=NULL, updated_at=?"
            " WHERE drive_id=? AND dest_relpath=? AND state='done' AND result='duplicate'"
            " AND NOT EXISTS (SELECT 1 FROM jobs k WHERE k.file_id=jobs.file_id AND k.drive_id=jobs.drive_id"
            " AND k.state NOT IN ('done', 'removed'))",
            (reason, now, drive_id, to_db(dest_relpath)),
        )
        return cur.rowcount

    def recopy(self, drive_id: str, dest_relpath: str, reason: str) -> int:
        """The copy at ``dest_relpath`` on ``drive_id`` is missing or changed (``usbsync verify``): forget it and
        put the done jobs that delivered it back to pending with ``reason``, unless their file already has a job
        under way for that drive. Returns how many jobs were reopened (0: no recorded job wrote it)."""
        self.conn.execute(
            "DELETE FROM copies WHERE drive_id=? AND dest_relpath=?", (drive_id, to_db(dest_relpath))
        )
        cur = self.conn.execute(
            f"UPDATE jobs SET {_TO_PENDING.format(attempts='0')}, last_error=?, not_before=NULL, updated_at=?"
            " WHERE drive_id=? AND dest_relpath=? AND state='done'"
            " AND NOT EXISTS (SELECT 1 FROM jobs k WHERE k.file_id=jobs.file_id AND k.drive_id=jobs.drive_id"
            " AND k.state NOT IN ('done', 'removed'))",
            (reason, time.time(), drive_id, to_db(dest_relpath)),
        )
        return cur.rowcount

    def retry_failed(self) -> int:
        cur = self.conn.execute(
            f"UPDATE jobs SET {_TO_PENDING.format(attempts='0')}, not_before=NULL, updated_at=?"
            " WHERE state='failed'",
            (time.time(),),
        )
        return cur.rowcount

    # -- copies -----------------------------------------------------------------------------------------------

    def copy_at(self, drive_id: str, dest_relpath: str) -> CopyRow | None:
        row = self.conn.execute(
            "SELECT drive_id, dest_relpath, source_path, blake3, size, mtime_ns FROM copies"
            " WHERE drive_id=? AND dest_relpath=?",
            (drive_id, to_db(dest_relpath)),
        ).fetchone()
        return CopyRow.of(row) if row else None

    def copies_with_hash(self, drive_id: str, blake3: str) -> list[CopyRow]:
        return [
            CopyRow.of(r)
            for r in self.conn.execute(
                "SELECT drive_id, dest_relpath, source_path, blake3, size, mtime_ns FROM copies"
                " WHERE drive_id=? AND blake3=?",
                (drive_id, blake3),
            )
        ]

    def copies_on(self, drive_id: str) -> list[tuple[str, str, str, int, int | None]]:
        """Every copy recorded on ``drive_id``: (dest path relative to the volume, source path relative to its
        outbox folder, BLAKE3 hex, size in bytes, mtime_ns on the drive or None)."""
        return [
            (from_db(dest), from_db(src), digest, size, mtime)
            for dest, src, digest, size, mtime in self.conn.execute(
                "SELECT dest_relpath, source_relpath, blake3, size, mtime_ns FROM copies WHERE drive_id=?",
                (drive_id,),
            )
        ]

    def forget_copy(self, drive_id: str, dest_relpath: str) -> int:
        """The file at ``dest_relpath`` is no longer the verified copy recorded (changed or gone on the drive):
        forget it, and reopen the duplicates that relied on it (:meth:`reopen_at`). Returns jobs reopened."""
        self.conn.execute(
            "DELETE FROM copies WHERE drive_id=? AND dest_relpath=?", (drive_id, to_db(dest_relpath))
        )
        return self.reopen_at(drive_id, dest_relpath, "its copy on the drive was changed there")

    def record_copy(
        self,
        drive_id: str,
        dest_relpath: str,
        source_path: str,
        source_relpath: str,
        blake3: str,
        size: int,
        mtime_ns: int | None,
    ) -> None:
        self.conn.execute(
            "INSERT INTO copies (drive_id, dest_relpath, source_path, source_relpath, blake3, size, mtime_ns,"
            " verified_at) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (drive_id, dest_relpath) DO UPDATE SET"
            " source_path=excluded.source_path, source_relpath=excluded.source_relpath, blake3=excluded.blake3,"
            " size=excluded.size, mtime_ns=excluded.mtime_ns, verified_at=excluded.verified_at",
            (
                drive_id,
                to_db(dest_relpath),
                to_db(source_path),
                to_db(source_relpath),
                blake3,
                size,
                mtime_ns,
                time.time(),
            ),
        )

    # -- drives -----------------------------------------------------------------------------------------------

    def drive_seen(
        self, drive_id: str, name: str, mountpoint: str, fstype: str, total_bytes: int, free_bytes: int
    ) -> None:
        self.conn.execute(
            "INSERT INTO drives (id, name, mountpoint, fstype, total_bytes, free_bytes, last_seen)"
            " VALUES (?,?,?,?,?,?,?) ON CONFLICT (id) DO UPDATE SET name=excluded.name,"
            " mountpoint=excluded.mountpoint, fstype=excluded.fstype, total_bytes=excluded.total_bytes,"
            " free_bytes=excluded.free_bytes, last_seen=excluded.last_seen",
            (drive_id, name, mountpoint, fstype, total_bytes, free_bytes, time.time()),
        )

    def drive_left(self, drive_id: str) -> None:
        """The drive was unplugged or ejected now: it was last seen now (``drives.last_seen``, seconds since the
        epoch), not when it was plugged in. Nothing for a drive never seen."""
        self.conn.execute("UPDATE drives SET last_seen=? WHERE id=?", (time.time(), drive_id))

    def set_drive_volume(self, drive_id: str, name: str, volume_uuid: str, label: str) -> None:
        """Record the volume a drive was registered on (its UUID and label)."""
        self.conn.execute(
            "INSERT INTO drives (id, name, volume_uuid, label) VALUES (?,?,?,?) ON CONFLICT (id) DO UPDATE SET"
            " name=excluded.name, volume_uuid=excluded.volume_uuid, label=excluded.label",
            (drive_id, name, volume_uuid, label),
        )

    def registered_labels(self) -> dict[str, str]:
        """Volume label (case-folded) -> drive id, for drives registered on labelled volumes."""
        return {
            str(label).casefold(): str(drive_id)
            for drive_id, label in self.conn.execute("SELECT id, label FROM drives WHERE label <> ''")
        }

    def drive_info(self, drive_id: str) -> dict[str, object] | None:
        row = self.conn.execute(
            "SELECT mountpoint, fstype, total_bytes, free_bytes, last_seen FROM drives WHERE id=?",
            (drive_id,),
        ).fetchone()
        if row is None:
            return None
        return dict(zip(("mountpoint", "fstype", "total_bytes", "free_bytes", "last_seen"), row, strict=True))

    # -- summaries --------------------------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Jobs per state, plus ``files`` seen and ``unclassified`` files."""
        out = {"pending": 0, "copying": 0, "done": 0, "failed": 0, "removed": 0}
        for state, n in self.conn.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state"):
            out[state] = int(n)
        out["files"] = int(self.conn.execute("SELECT COUNT(*) FROM files").fetchone()[0])
        out["unclassified"] = int(
            self.conn.execute("SELECT COUNT(*) FROM files WHERE category IS NULL").fetchone()[0]
        )
        return out

    def count_for(self, drive_id: str, states: Iterable[str] = ("pending", "copying")) -> int:
        """Jobs of ``drive_id`` in ``states`` (default: waiting): a range count on the ``jobs_by_drive`` index,
        a fraction of a millisecond where :meth:`per_drive` reads the whole table (the engine asks after every
        drain, on its thread)."""
        states = tuple(states)
        marks = ",".join("?" * len(states))
        row = self.conn.execute(
            f"SELECT COUNT(*) FROM jobs WHERE drive_id=? AND state IN ({marks})", (drive_id, *states)
        ).fetchone()
        return int(row[0])

    def per_drive(self) -> dict[str, dict[str, int]]:
        """Per drive id: ``pending``, ``pending_bytes``, ``failed``, ``done``."""
        out: dict[str, dict[str, int]] = {}
        for drive_id, state, n, size in self.conn.execute(
            "SELECT drive_id, state, COUNT(*), COALESCE(SUM(size),0) FROM jobs GROUP BY drive_id, state"
        ):
            d = out.setdefault(drive_id, {"pending": 0, "pending_bytes": 0, "failed": 0, "done": 0})
            if state == "removed":
                continue
            if state in ("pending", "copying"):
                d["pending"] += int(n)
                d["pending_bytes"] += int(size)
            else:
                d[state] = int(n)
        return out

    # -- notices and refusals ---------------------------------------------------------------------------------

    def set_notice(self, kind: str, message: str) -> bool:
        """Raise the notice ``kind`` (or update its message; ``since`` keeps the first time). Returns True when
        it was not raised before, so the caller logs and notifies once, not at every check."""
        existed = self.conn.execute("SELECT 1 FROM notices WHERE kind=?", (kind,)).fetchone() is not None
        self.conn.execute(
            "INSERT INTO notices (kind, message, since) VALUES (?,?,?)"
            " ON CONFLICT (kind) DO UPDATE SET message=excluded.message",
            (kind, message, time.time()),
        )
        return not existed

    def clear_notice(self, kind: str) -> bool:
        """Lower the notice ``kind``. Returns True if it was raised."""
        return self.conn.execute("DELETE FROM notices WHERE kind=?", (kind,)).rowcount > 0

    def notices(self) -> list[Notice]:
        """Raised notices, oldest first."""
        return [
            Notice(*r) for r in self.conn.execute("SELECT kind, message, since FROM notices ORDER BY since")
        ]

    def refuse(self, path: str, reason: str) -> bool:
        """Record that source ``path`` is not read (e.g. a symbolic link leading outside the source folders).
        Returns True the first time for this path and reason, so it is logged once."""
        cur = self.conn.execute(
            "INSERT INTO refusals (path, reason, since) VALUES (?,?,?) ON CONFLICT (path) DO UPDATE SET"
            " reason=excluded.reason, since=excluded.since WHERE refusals.reason<>excluded.reason",
            (to_db(path), reason, time.time()),
        )
        return cur.rowcount > 0

    def unrefuse(self, path: str) -> None:
        """``path`` is readable again (the link was replaced by a file, or removed)."""
        self.conn.execute("DELETE FROM refusals WHERE path=?", (to_db(path),))

    def refusals(self, limit: int = 100) -> list[tuple[str, str]]:
        """(path, reason) of refused source paths, at most ``limit``, by path."""
        return [
            (from_db(p), str(r))
            for p, r in self.conn.execute("SELECT path, reason FROM refusals ORDER BY path LIMIT ?", (limit,))
        ]

    def refusal_count(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM refusals").fetchone()[0])

    def clear_history(self) -> None:
        """Forget files seen, jobs and verified copies (drives stay registered)."""
        with self.transaction() as c:
            c.execute("DELETE FROM jobs")
            c.execute("DELETE FROM copies")
            c.execute("DELETE FROM files")


DATABASE_REBUILT = "database_rebuilt"  # notice kind


def rebuild(path: Path, detail: str) -> tuple[StateDB, str]:
    """Set the damaged database at ``path`` aside (:func:`set_aside`) and create a fresh one holding the notice
    :data:`DATABASE_REBUILT`. The caller must hold the instance lock. Returns (the new database, the one-line
    message to log and show). What it held is rebuilt by the next scan of the sources (every file queued
    again) and the drives (copies already there are adopted by content, not written twice).

    Raises:
        OSError: the damaged file cannot be renamed (then nothing was changed).
    """
    moved = set_aside(path)
    db = StateDB(path)
    message = (
        f"the state database was damaged ({detail}); it was set aside as {moved.name} and is rebuilt from "
        "the source folders and the drives"
    )
    with db.transaction():
        db.set_notice(DATABASE_REBUILT, message)
    return db, message


def open_checked(path: Path) -> tuple[StateDB, str | None]:
    """Open the state database for the holder of the instance lock (the engine, ``sync-once``): checked with
    ``PRAGMA quick_check``, and rebuilt if damaged. Returns (database, the rebuild message or None)."""
    try:
        return StateDB(path, check=True), None
    except DatabaseDamaged as exc:
        return rebuild(path, exc.detail)
