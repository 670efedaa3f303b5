import time

import pytest

from usbsync_gui.core.state import MAX_ATTEMPTS, StateDB


def _file(db, path="/s/a.jpg", blake="h1", size=10):
    with db.transaction():
        fid, _ = db.upsert_file(path, "/s", path.rsplit("/", 1)[-1], size, 1, blake, "image/jpeg", "images")
    return fid


def test_wal_and_enqueue_once(tmp_path):
    db = StateDB(tmp_path / "s.db")
    assert db.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    fid = _file(db)
    with db.transaction():
        assert db.enqueue(fid, ["d1", "d2"], "h1", 10) == 2
        assert db.enqueue(fid, ["d1"], "h1", 10) == 0  # already live
    assert [j.drive_id for j in db.next_jobs("d1", 10)] == ["d1"]
    assert db.counts()["pending"] == 2


def test_done_version_is_not_requeued_but_a_new_version_is(tmp_path):
    db = StateDB(tmp_path / "s.db")
    fid = _file(db)
    with db.transaction():
        db.enqueue(fid, ["d1"], "h1", 10)
    job = db.next_jobs("d1", 1)[0]
    with db.transaction():
        db.start_job(job.id, "USBSync/a.jpg", "USBSync/.usbsync-1.part", job.blake3)
        db.finish_job(job.id, "copied", "USBSync/a.jpg", job.blake3)
        assert db.enqueue(fid, ["d1"], "h1", 10) == 0
        assert db.enqueue(fid, ["d1"], "h2", 12) == 1
    assert db.next_jobs("d1", 5)[0].blake3 == "h2"


def test_recover_puts_copying_back_and_keeps_temp_for_cleanup(tmp_path):
    db = StateDB(tmp_path / "s.db")
    fid = _file(db)
    with db.transaction():
        db.enqueue(fid, ["d1"], "h1", 10)
        job = db.next_jobs("d1", 1)[0]
        db.start_job(job.id, "USBSync/a.jpg", "USBSync/.usbsync-1.part", job.blake3)
    db.close()
    db = StateDB(tmp_path / "s.db")  # as after a crash
    with db.transaction():
        assert db.recover() == 1
    j = db.job(job.id)
    assert j.state == "pending" and j.attempts == 0 and "interrupted" in j.last_error
    assert db.temps_on("d1") == [(job.id, "USBSync/.usbsync-1.part")]


def test_retry_then_fail_after_max_attempts(tmp_path):
    db = StateDB(tmp_path / "s.db")
    fid = _file(db)
    with db.transaction():
        db.enqueue(fid, ["d1"], "h1", 10)
    job_id = db.next_jobs("d1", 1)[0].id
    states = []
    for _ in range(MAX_ATTEMPTS):
        with db.transaction():
            db.start_job(job_id, "x", None, "h1")
            states.append(db.retry_or_fail(job_id, "cannot read the source: Permission denied"))
    assert states == ["pending"] * (MAX_ATTEMPTS - 1) + ["failed"]
    with db.transaction():
        assert db.retry_failed() == 1


def test_enqueue_for_drive_registered_later(tmp_path):
    db = StateDB(tmp_path / "s.db")
    _file(db, "/s/a.jpg")
    _file(db, "/s/b.jpg", "h2")
    with db.transaction():
        assert db.enqueue_for_drive("new", ["images"]) == 2
        assert db.enqueue_for_drive("new", ["images"]) == 0


def test_a_change_seen_during_the_copy_never_rewrites_the_job_and_is_queued_after_it(tmp_path):
    """Issue 7 item 1 at the state machine: ingest must not rewrite a copying job; finishing checks the
    version delivered and queues the newer one."""
    db = StateDB(tmp_path / "s.db")
    fid = _file(db, "/s/a.jpg", "v1")
    with db.transaction():
        db.enqueue(fid, ["d1"], "v1", 10)
    job = db.next_jobs("d1", 1)[0]
    with db.transaction():
        assert db.start_job(job.id, "USBSync/a.jpg", "USBSync/.usbsync-1.part", "v1")
    # The source is rewritten while it is copied: ingest records v2 and asks for it.
    with db.transaction():
        db.upsert_file("/s/a.jpg", "/s", "a.jpg", 11, 2, "v2", "image/jpeg", "images")
        db.enqueue(fid, ["d1"], "v2", 11)
    assert db.job(job.id).state == "copying" and db.job(job.id).blake3 == "v1"
    # The copier delivered v1: the job is done for v1, and v2 is queued.
    with db.transaction():
        assert db.finish_job(job.id, "copied", "USBSync/a.jpg", "v1")
    assert db.job(job.id).state == "done" and db.job(job.id).blake3 == "v1"
    (nxt,) = db.next_jobs("d1", 10)
    assert nxt.blake3 == "v2" and nxt.size == 11
    # A copier holding a stale view cannot start or finish a job for another version.
    with db.transaction():
        assert not db.start_job(nxt.id, "USBSync/a.jpg", None, "v1")
        assert not db.finish_job(nxt.id, "copied", "USBSync/a.jpg", "v1")
    assert db.job(nxt.id).state == "pending"


def test_a_counted_error_backs_off_and_the_queue_moves_on(tmp_path):
    db = StateDB(tmp_path / "s.db")
    a, b = _file(db, "/s/a.jpg", "ha"), _file(db, "/s/b.jpg", "hb")
    with db.transaction():
        db.enqueue(a, ["d1"], "ha", 10)
        db.enqueue(b, ["d1"], "hb", 10)
    ja, jb = db.next_jobs("d1", 2)
    with db.transaction():
        db.start_job(ja.id, "x", None, "ha")
        assert db.retry_or_fail(ja.id, "cannot write to Photos: Input/output error") == "pending"
    # Backing off: only the other job is offered now; the retry time is known for a timer.
    assert [j.id for j in db.next_jobs("d1", 10)] == [jb.id]
    at = db.next_retry_at("d1")
    assert at is not None and 0 < at - time.time() <= 5.5
    assert [j.id for j in db.next_jobs("d1", 10, now=at)] == [ja.id, jb.id]
    assert db.job(ja.id).last_error == "cannot write to Photos: Input/output error"


def test_damaged_database_is_detected_and_set_aside(tmp_path):
    from usbsync_gui.core.state import DatabaseDamaged, set_aside

    path = tmp_path / "state.db"
    db = StateDB(path)
    _file(db)
    db.close()
    with open(path, "r+b") as fh:
        fh.write(b"this is not an SQLite header!!!!")
    with pytest.raises(DatabaseDamaged) as info:
        StateDB(path, check=True)
    assert str(path) in str(info.value)
    moved = set_aside(path)
    assert moved.exists() and not path.exists() and ".damaged-" in moved.name
    assert StateDB(path, check=True).counts()["files"] == 0


def test_schema_v2_database_is_migrated_with_its_jobs(tmp_path):
    """A database written by the previous release (schema 2: no 'removed' state, no not_before) opens, keeps
    its jobs and accepts the new states."""
    import sqlite3

    path = tmp_path / "state.db"
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE files (id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE, source_root TEXT NOT NULL,
            relpath TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, blake3 TEXT NOT NULL,
            mime TEXT NOT NULL, category TEXT, seen_at REAL NOT NULL);
        CREATE TABLE drives (id TEXT PRIMARY KEY, name TEXT NOT NULL, mountpoint TEXT, fstype TEXT,
            total_bytes INTEGER, free_bytes INTEGER, last_seen REAL, volume_uuid TEXT, label TEXT);
        CREATE TABLE jobs (id INTEGER PRIMARY KEY, file_id INTEGER NOT NULL REFERENCES files (id) ON DELETE
            CASCADE, drive_id TEXT NOT NULL, state TEXT NOT NULL CHECK (state IN ('pending', 'copying', 'done',
            'failed')), blake3 TEXT NOT NULL, size INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT, result TEXT, dest_relpath TEXT, temp_relpath TEXT, queued_at REAL NOT NULL,
            updated_at REAL NOT NULL);
        CREATE UNIQUE INDEX jobs_live ON jobs (file_id, drive_id) WHERE state <> 'done';
        INSERT INTO files VALUES (1, '/s/a.jpg', '/s', 'a.jpg', 10, 1, 'h1', 'image/jpeg', 'images', 0);
        INSERT INTO jobs (file_id, drive_id, state, blake3, size, queued_at, updated_at)
            VALUES (1, 'd1', 'pending', 'h1', 10, 0, 0);
        PRAGMA user_version=2;
        """
    )
    conn.close()
    db = StateDB(path, check=True)
    (job,) = db.next_jobs("d1", 10)
    with db.transaction():
        assert db.remove_jobs([job.id]) == 1
        assert db.enqueue(1, ["d1"], "h1", 10) == 0
    assert db.counts()["removed"] == 1
    assert db.conn.execute("PRAGMA user_version").fetchone()[0] == 3


def test_count_for_a_drive_uses_the_index_and_agrees_with_per_drive(tmp_path):
    db = StateDB(tmp_path / "s.db")
    for i in range(5):
        fid = _file(db, f"/s/{i}.jpg", f"h{i}")
        with db.transaction():
            db.enqueue(fid, ["d1", "d2"], f"h{i}", 10)
    job = db.next_jobs("d1", 1)[0]
    with db.transaction():
        db.start_job(job.id, "USBSync/a.jpg", None, job.blake3)
        db.finish_job(job.id, "copied", "USBSync/a.jpg", job.blake3)
    assert db.count_for("d1") == db.per_drive()["d1"]["pending"] == 4
    assert db.count_for("d1", ("done",)) == 1 and db.count_for("d2") == 5 and db.count_for("nope") == 0
    plan = " ".join(
        str(r[-1])
        for r in db.conn.execute(
            "EXPLAIN QUERY PLAN SELECT COUNT(*) FROM jobs WHERE drive_id=? AND state IN (?,?)",
            ("d1", "a", "b"),
        )
    )
    assert "jobs_by_drive" in plan
