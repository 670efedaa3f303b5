"""The state database (SQLite, WAL): files seen, drives, verified copies and the job queue.

One :class:`StateDB` per thread (sqlite3 connections are not shared across threads). Readers never block the
writer under WAL, so ``usbsync status`` works while the engine runs. The pending queue is only ever read in
bounded batches (:meth:`StateDB.next_jobs`); it is never loaded whole into memory.

Job states: ``pending`` (waiting: drive absent, not enough space, interrupted), ``copying`` (in flight; a crash
leaves it so and :meth:`StateDB.recover` puts it back to pending), ``done`` (a verified copy exists on the
drive, written or found as a duplicate) and ``failed`` (gave up after :data:`MAX_ATTEMPTS` or a permanent
error; ``usbsync process-pending`` retries them).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

MAX_ATTEMPTS = 3
SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    id          INTEGER PRIMARY KEY,
    path        TEXT NOT NULL UNIQUE,      -- absolute source path
    source_root TEXT NOT NULL,             -- the source folder it was found under
    relpath     TEXT NOT NULL,             -- '/'-separated, relative to source_root
    size        INTEGER NOT NULL,          -- bytes
    mtime_ns    INTEGER NOT NULL,
    blake3      TEXT NOT NULL,
    mime        TEXT NOT NULL,
    category    TEXT,                      -- NULL: no category matched
    seen_at     REAL NOT NULL              -- unix seconds
);
CREATE TABLE IF NOT EXISTS drives (
    id          TEXT PRIMARY KEY,          -- marker id
    name        TEXT NOT NULL,
    mountpoint  TEXT,                      -- last seen at
    fstype      TEXT,
    total_bytes INTEGER,
    free_bytes  INTEGER,                   -- when last seen
    last_seen   REAL,
    volume_uuid TEXT,                      -- filesystem UUID / serial at registration
    label       TEXT                       -- volume label at registration
);
CREATE TABLE IF NOT EXISTS copies (
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
);
CREATE INDEX IF NOT EXISTS copies_by_hash ON copies (drive_id, blake3);
CREATE TABLE IF NOT EXISTS jobs (
    id           INTEGER PRIMARY KEY,
    file_id      INTEGER NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    drive_id     TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('pending', 'copying', 'done', 'failed')),
    blake3       TEXT NOT NULL,            -- the content version this job delivers
    size         INTEGER NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT,                     -- human reason it is waiting or failed
    result       TEXT,                     -- done: 'copied', 'replaced', 'duplicate'
    dest_relpath TEXT,
    temp_relpath TEXT,                     -- temp file being written; removed at the drive's next arrival
    queued_at    REAL NOT NULL,
    updated_at   REAL NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS jobs_live ON jobs (file_id, drive_id) WHERE state <> 'done';
CREATE INDEX IF NOT EXISTS jobs_by_drive ON jobs (drive_id, state, id);
CREATE INDEX IF NOT EXISTS jobs_by_file ON jobs (file_id, drive_id);
CREATE INDEX IF NOT EXISTS jobs_temp ON jobs (drive_id) WHERE temp_relpath IS NOT NULL;
"""


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


@dataclass(frozen=True)
class CopyRow:
    drive_id: str
    dest_relpath: str
    source_path: str
    blake3: str
    size: int
    mtime_ns: int | None


_JOB_COLUMNS = """j.id, j.file_id, j.drive_id, j.state, j.blake3, j.size, j.attempts, j.last_error, j.result,
    j.dest_relpath, j.temp_relpath, j.queued_at, f.path, f.relpath, f.category"""


class StateDB:
    """The state database at ``path`` (created on first open). Raises sqlite3.Error on a broken database."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(str(self.path), timeout=30.0, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        # NORMAL under WAL: a power cut may lose the last commits but never corrupts; losing a 'done' mark only
        # means the copy is found again on the drive (same content) and adopted, not written twice.
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise sqlite3.DatabaseError(f"{self.path} was written by a newer usbsync (schema {version})")
        self.conn.executescript(_SCHEMA)
        if version == 1:  # v2: the drive's volume UUID and label, to say "re-formatted? register it again"
            self.conn.execute("ALTER TABLE drives ADD COLUMN volume_uuid TEXT")
            self.conn.execute("ALTER TABLE drives ADD COLUMN label TEXT")
        self.conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

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
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # -- files ------------------------------------------------------------------------------------------------

    def file_by_path(self, path: str) -> FileRow | None:
        row = self.conn.execute(
            "SELECT id, path, source_root, relpath, size, mtime_ns, blake3, mime, category FROM files WHERE path=?",
            (path,),
        ).fetchone()
        return FileRow(*row) if row else None

    def file_stat(self, path: str) -> tuple[int, int] | None:
        """(size, mtime_ns) recorded for ``path``, the cheap check that skips rehashing unchanged files."""
        row = self.conn.execute("SELECT size, mtime_ns FROM files WHERE path=?", (path,)).fetchone()
        return (row[0], row[1]) if row else None

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
        now = time.time()
        row = self.conn.execute("SELECT id, blake3 FROM files WHERE path=?", (path,)).fetchone()
        if row is None:
            cur = self.conn.execute(
                "INSERT INTO files (path, source_root, relpath, size, mtime_ns, blake3, mime, category, seen_at)"
                " VALUES (?,?,?,?,?,?,?,?,?)",
                (path, source_root, relpath, size, mtime_ns, blake3, mime, category, now),
            )
            return int(cur.lastrowid or 0), True
        self.conn.execute(
            "UPDATE files SET source_root=?, relpath=?, size=?, mtime_ns=?, blake3=?, mime=?, category=?, seen_at=?"
            " WHERE id=?",
            (source_root, relpath, size, mtime_ns, blake3, mime, category, now, row[0]),
        )
        return int(row[0]), row[1] != blake3

    # -- jobs -------------------------------------------------------------------------------------------------

    def enqueue(self, file_id: int, drive_ids: Iterable[str], blake3: str, size: int) -> int:
        """Make sure each drive has a live job delivering content ``blake3`` of the file. Returns jobs created
        or reset. A drive whose last done job for this file already delivered ``blake3`` gets none."""
        now = time.time()
        n = 0
        for drive_id in drive_ids:
            live = self.conn.execute(
                "SELECT id, blake3 FROM jobs WHERE file_id=? AND drive_id=? AND state<>'done'",
                (file_id, drive_id),
            ).fetchone()
            if live is not None:
                if live[1] != blake3:
                    self.conn.execute(
                        "UPDATE jobs SET state='pending', blake3=?, size=?, attempts=0, last_error=NULL,"
                        " updated_at=? WHERE id=?",
                        (blake3, size, now, live[0]),
                    )
                    n += 1
                continue
            last_done = self.conn.execute(
                "SELECT blake3 FROM jobs WHERE file_id=? AND drive_id=? AND state='done' ORDER BY id DESC LIMIT 1",
                (file_id, drive_id),
            ).fetchone()
            if last_done is not None and last_done[0] == blake3:
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

    def next_jobs(self, drive_id: str, limit: int, after_id: int = 0) -> list[Job]:
        """Up to ``limit`` pending jobs for ``drive_id`` with id > ``after_id``, oldest first."""
        rows = self.conn.execute(
            f"SELECT {_JOB_COLUMNS} FROM jobs j JOIN files f ON f.id=j.file_id"
            " WHERE j.drive_id=? AND j.state='pending' AND j.id>? ORDER BY j.id LIMIT ?",
            (drive_id, after_id, limit),
        ).fetchall()
        return [Job(*r) for r in rows]

    def job(self, job_id: int) -> Job | None:
        row = self.conn.execute(
            f"SELECT {_JOB_COLUMNS} FROM jobs j JOIN files f ON f.id=j.file_id WHERE j.id=?", (job_id,)
        ).fetchone()
        return Job(*row) if row else None

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
        return [Job(*r) for r in self.conn.execute(sql, params)]

    def start_job(self, job_id: int, dest_relpath: str, temp_relpath: str | None) -> None:
        """Mark a job copying and record where its temp file goes *before* it is created (crash cleanup)."""
        self.conn.execute(
            "UPDATE jobs SET state='copying', attempts=attempts+1, dest_relpath=?, temp_relpath=?, updated_at=?"
            " WHERE id=?",
            (dest_relpath, temp_relpath, time.time(), job_id),
        )

    def defer_job(self, job_id: int, reason: str, count_attempt: bool = False) -> None:
        """Back to pending with a human ``reason``. Without ``count_attempt`` the try does not count."""
        self.conn.execute(
            "UPDATE jobs SET state='pending', last_error=?, attempts=MAX(attempts-?, 0), updated_at=? WHERE id=?",
            (reason, 0 if count_attempt else 1, time.time(), job_id),
        )

    def defer_copying(self, drive_id: str, reason: str) -> int:
        """Every job of ``drive_id`` still ``copying`` back to pending (try not counted). Returns how many."""
        cur = self.conn.execute(
            "UPDATE jobs SET state='pending', last_error=?, attempts=MAX(attempts-1, 0), updated_at=?"
            " WHERE drive_id=? AND state='copying'",
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
        """After an error: pending again, or failed once :data:`MAX_ATTEMPTS` tries were made. Returns the state."""
        row = self.conn.execute("SELECT attempts FROM jobs WHERE id=?", (job_id,)).fetchone()
        state = "failed" if row is not None and row[0] >= MAX_ATTEMPTS else "pending"
        self.conn.execute(
            "UPDATE jobs SET state=?, last_error=?, temp_relpath=NULL, updated_at=? WHERE id=?",
            (state, reason, time.time(), job_id),
        )
        return state

    def fail_job(self, job_id: int, reason: str) -> None:
        self.conn.execute(
            "UPDATE jobs SET state='failed', last_error=?, temp_relpath=NULL, updated_at=? WHERE id=?",
            (reason, time.time(), job_id),
        )

    def finish_job(self, job_id: int, result: str, dest_relpath: str, note: str | None = None) -> None:
        self.conn.execute(
            "UPDATE jobs SET state='done', result=?, dest_relpath=?, temp_relpath=NULL, last_error=?, updated_at=?"
            " WHERE id=?",
            (result, dest_relpath, note, time.time(), job_id),
        )

    def drop_job(self, job_id: int) -> None:
        self.conn.execute("DELETE FROM jobs WHERE id=?", (job_id,))

    def clear_temp(self, job_id: int) -> None:
        self.conn.execute("UPDATE jobs SET temp_relpath=NULL WHERE id=?", (job_id,))

    def temps_on(self, drive_id: str) -> list[tuple[int, str]]:
        """(job id, temp path relative to the mount point) of temp files possibly left on ``drive_id``."""
        return [
            (int(r[0]), str(r[1]))
            for r in self.conn.execute(
                "SELECT id, temp_relpath FROM jobs WHERE drive_id=? AND temp_relpath IS NOT NULL AND state<>'copying'",
                (drive_id,),
            )
        ]

    def recover(self) -> int:
        """Put jobs left ``copying`` by a crash back to pending. Returns how many. Call only under the lock."""
        cur = self.conn.execute(
            "UPDATE jobs SET state='pending', attempts=MAX(attempts-1, 0),"
            " last_error='interrupted (usbsync stopped during the copy)', updated_at=? WHERE state='copying'",
            (time.time(),),
        )
        return cur.rowcount

    def retry_failed(self) -> int:
        cur = self.conn.execute(
            "UPDATE jobs SET state='pending', attempts=0, updated_at=? WHERE state='failed'", (time.time(),)
        )
        return cur.rowcount

    # -- copies -----------------------------------------------------------------------------------------------

    def copy_at(self, drive_id: str, dest_relpath: str) -> CopyRow | None:
        row = self.conn.execute(
            "SELECT drive_id, dest_relpath, source_path, blake3, size, mtime_ns FROM copies"
            " WHERE drive_id=? AND dest_relpath=?",
            (drive_id, dest_relpath),
        ).fetchone()
        return CopyRow(*row) if row else None

    def copies_with_hash(self, drive_id: str, blake3: str) -> list[CopyRow]:
        return [
            CopyRow(*r)
            for r in self.conn.execute(
                "SELECT drive_id, dest_relpath, source_path, blake3, size, mtime_ns FROM copies"
                " WHERE drive_id=? AND blake3=?",
                (drive_id, blake3),
            )
        ]

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
            (drive_id, dest_relpath, source_path, source_relpath, blake3, size, mtime_ns, time.time()),
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
        out = {"pending": 0, "copying": 0, "done": 0, "failed": 0}
        for state, n in self.conn.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state"):
            out[state] = int(n)
        out["files"] = int(self.conn.execute("SELECT COUNT(*) FROM files").fetchone()[0])
        out["unclassified"] = int(
            self.conn.execute("SELECT COUNT(*) FROM files WHERE category IS NULL").fetchone()[0]
        )
        return out

    def per_drive(self) -> dict[str, dict[str, int]]:
        """Per drive id: ``pending``, ``pending_bytes``, ``failed``, ``done``."""
        out: dict[str, dict[str, int]] = {}
        for drive_id, state, n, size in self.conn.execute(
            "SELECT drive_id, state, COUNT(*), COALESCE(SUM(size),0) FROM jobs GROUP BY drive_id, state"
        ):
            d = out.setdefault(drive_id, {"pending": 0, "pending_bytes": 0, "failed": 0, "done": 0})
            if state in ("pending", "copying"):
                d["pending"] += int(n)
                d["pending_bytes"] += int(size)
            else:
                d[state] = int(n)
        return out

    def clear_history(self) -> None:
        """Forget files seen, jobs and verified copies (drives stay registered)."""
        with self.transaction() as c:
            c.execute("DELETE FROM jobs")
            c.execute("DELETE FROM copies")
            c.execute("DELETE FROM files")
