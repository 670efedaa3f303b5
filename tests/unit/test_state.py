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
