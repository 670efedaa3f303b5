"""The copier on a real filesystem folder standing in for a drive (the e2e tests use mounted volumes)."""

import os
import sys
import threading

import pytest

from tests.conftest import needs_symlinks, png_bytes, wine_keeps_deleted_names
from tests.unit.helpers import make_service
from usbsync_gui.core.hashing import hash_file


@pytest.fixture
def fixed_temp_token(monkeypatch):
    """Temp names carry a random token; pin it where a test plants a link exactly where the copier writes."""
    import types

    from usbsync_gui.core import copy_plan

    monkeypatch.setattr(copy_plan, "secrets", types.SimpleNamespace(token_hex=lambda n: "0" * (2 * n)))


def _files(root):
    return sorted(
        p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and ".usbsync" not in p.parts
    )


def test_copy_is_verified_recorded_and_not_repeated(tmp_path):
    svc, src, target = make_service(tmp_path)
    (src / "a b").mkdir()
    # A name a FAT drive cannot hold, made safe on the way; Windows cannot hold it either (p:1 would be file p's
    # stream "1.png"), so there the name goes as it is.
    name, safe = ("p 1.png", "p 1.png") if sys.platform == "win32" else ("p:1.png", "p_1.png")
    (src / "a b" / name).write_bytes(png_bytes(1))
    svc.scan()
    r = svc.drain(target)
    assert (r.copied, r.failed) == (1, 0)
    dest = target.mountpoint / "USBSync" / "a b" / safe
    assert dest.read_bytes() == png_bytes(1)
    assert _files(target.mountpoint) == [f"USBSync/a b/{safe}"]  # no temp file left
    assert os.stat(dest).st_mtime_ns == os.stat(src / "a b" / name).st_mtime_ns
    # Recorded with '/' on every OS: a drive written on Windows is recognised on Linux and the reverse.
    c = svc.db.copy_at(target.drive.id, f"USBSync/a b/{safe}")
    assert c.source_path.endswith(name) and c.blake3 == hash_file(dest)
    recorded = [row[0] for row in svc.db.conn.execute("SELECT dest_relpath FROM copies")]
    assert recorded == [f"USBSync/a b/{safe}"]
    svc.scan()
    assert svc.drain(target).copied == 0
    svc.close()


def test_never_overwrites_a_file_it_did_not_write(tmp_path):
    svc, src, target = make_service(tmp_path)
    (target.mountpoint / "USBSync").mkdir()
    foreign = target.mountpoint / "USBSync" / "x.png"
    foreign.write_bytes(b"the user's own file")
    (src / "x.png").write_bytes(png_bytes(1))
    svc.scan()
    svc.drain(target)
    assert foreign.read_bytes() == b"the user's own file"
    assert (target.mountpoint / "USBSync" / "x (1).png").read_bytes() == png_bytes(1)
    svc.close()


def test_changed_source_replaces_own_copy_but_not_a_user_edited_one(tmp_path):
    svc, src, target = make_service(tmp_path)
    p = src / "x.png"
    p.write_bytes(png_bytes(1))
    svc.scan()
    svc.drain(target)
    p.write_bytes(png_bytes(2) + b"longer")
    svc.scan()
    r = svc.drain(target)
    assert r.copied == 1
    assert _files(target.mountpoint) == ["USBSync/x.png"]
    assert (target.mountpoint / "USBSync" / "x.png").read_bytes() == png_bytes(2) + b"longer"
    # The user edits the copy on the drive: it is theirs now and is kept.
    (target.mountpoint / "USBSync" / "x.png").write_bytes(b"edited on the stick")
    p.write_bytes(png_bytes(3))
    svc.scan()
    svc.drain(target)
    assert (target.mountpoint / "USBSync" / "x.png").read_bytes() == b"edited on the stick"
    assert (target.mountpoint / "USBSync" / "x (1).png").read_bytes() == png_bytes(3)
    svc.close()


def test_same_content_is_recorded_as_duplicate(tmp_path):
    svc, src, target = make_service(tmp_path)
    (src / "one.png").write_bytes(png_bytes(7))
    (src / "two.png").write_bytes(png_bytes(7))
    svc.scan()
    r = svc.drain(target)
    assert (r.copied, r.duplicates) == (1, 1)
    assert len(_files(target.mountpoint)) == 1
    done = svc.db.list_jobs(["done"])
    assert sorted(j.result for j in done) == ["copied", "duplicate"]
    svc.close()


def test_crash_after_rename_adopts_instead_of_copying_twice(tmp_path):
    svc, src, target = make_service(tmp_path)
    (src / "a.png").write_bytes(png_bytes(1))
    svc.scan()
    # As if a previous run renamed the verified copy into place and died before recording it.
    (target.mountpoint / "USBSync").mkdir()
    (target.mountpoint / "USBSync" / "a.png").write_bytes(png_bytes(1))
    r = svc.drain(target)
    assert (r.copied, r.duplicates) == (0, 1)
    assert _files(target.mountpoint) == ["USBSync/a.png"]
    svc.close()


def test_stale_temp_files_are_removed_on_next_drain(tmp_path):
    svc, src, target = make_service(tmp_path)
    (src / "a.png").write_bytes(png_bytes(1))
    svc.scan()
    job = svc.db.next_jobs(target.drive.id, 1)[0]
    with svc.db.transaction():
        svc.db.start_job(job.id, "USBSync/a.png", "USBSync/.usbsync-1.part", job.blake3)
    (target.mountpoint / "USBSync").mkdir()
    (target.mountpoint / "USBSync" / ".usbsync-1.part").write_bytes(b"half")
    with svc.db.transaction():
        svc.db.recover()
    r = svc.drain(target)
    assert r.copied == 1
    assert _files(target.mountpoint) == ["USBSync/a.png"]
    svc.close()


def test_source_changed_during_copy_copies_the_new_version(tmp_path):
    svc, src, target = make_service(tmp_path)
    p = src / "a.png"
    p.write_bytes(png_bytes(1))
    svc.scan()
    p.write_bytes(png_bytes(2))  # changed after ingest, before the copy; same size
    r = svc.drain(target)
    assert r.copied == 1
    assert (target.mountpoint / "USBSync" / "a.png").read_bytes() == png_bytes(2)
    svc.close()


def test_cancel_rolls_back_the_copy_in_flight(tmp_path):
    svc, src, target = make_service(tmp_path, max_copy_rate_mib_s=2.0)
    total = len(png_bytes(1)) + (16 << 20)
    (src / "big.png").write_bytes(png_bytes(1) + os.urandom(16 << 20))
    svc.scan()
    cancel = threading.Event()
    seen = []

    def progress(job, done, total):
        seen.append(done)
        if done > (1 << 20):
            cancel.set()

    r = svc.drain(target, cancel, progress)
    assert r.cancelled and r.copied == 0
    assert _files(target.mountpoint) == []
    job = svc.db.list_jobs(["pending"])[0]
    assert job.attempts == 0 and "interrupted" in job.last_error
    assert max(seen) < total  # stopped before the end: the rest was never written
    svc.close()


def test_source_removed_before_copy_drops_the_job(tmp_path):
    svc, src, target = make_service(tmp_path)
    (src / "a.png").write_bytes(png_bytes(1))
    svc.scan()
    (src / "a.png").unlink()
    r = svc.drain(target)
    assert r.copied == 0 and svc.db.counts()["pending"] == 0
    svc.close()


def test_nothing_is_written_once_the_volume_is_not_the_drive_any_more(tmp_path):
    svc, src, target = make_service(tmp_path)
    (src / "a.png").write_bytes(png_bytes(1))
    svc.scan()
    # Another volume (no marker, or another drive's marker) now sits where the drive was.
    (target.mountpoint / ".usbsync" / "drive.json").unlink()
    r = svc.drain(target)
    assert r.drive_gone and r.copied == 0
    assert _files(target.mountpoint) == []
    job = svc.db.list_jobs(["pending"])[0]
    assert job.attempts == 0
    svc.close()


def test_over_4_gib_for_fat32_fails_at_once_and_the_rest_goes(tmp_path):
    from dataclasses import replace

    svc, src, target = make_service(tmp_path)
    fat = replace(target, fs_type="vfat")
    (src / "small.png").write_bytes(png_bytes(1))
    (src / "huge.png").write_bytes(png_bytes(2))
    svc.scan()
    # The database says huge.png is 5 GiB (no need for a real one: the check happens before any byte is read).
    svc.db.conn.execute(
        "UPDATE jobs SET size=? WHERE file_id=(SELECT id FROM files WHERE relpath='huge.png')", (5 << 30,)
    )
    r = svc.drain(fat)
    assert (r.copied, r.failed) == (1, 1)
    failed = svc.db.list_jobs(["failed"])[0]
    assert failed.relpath == "huge.png" and failed.attempts == 0
    assert failed.last_error.startswith("too big for Photos: VFAT holds files up to 4 GiB")
    assert _files(target.mountpoint) == ["USBSync/small.png"]
    svc.close()


def test_read_only_volume_gets_one_reason_and_no_attempts(tmp_path):
    from dataclasses import replace

    svc, src, target = make_service(tmp_path)
    for i in range(3):
        (src / f"{i}.png").write_bytes(png_bytes(i))
    svc.scan()
    for _ in range(5):  # plugged in again and again: no retry storm, no failure
        r = svc.drain(replace(target, read_only=True))
    assert r.deferred == 3 and r.failed == 0 and r.copied == 0
    jobs = svc.db.list_jobs(["pending"])
    assert {j.attempts for j in jobs} == {0}
    assert {j.last_error for j in jobs} == {
        "Photos is mounted read-only (remount it writable, or check its lock switch)"
    }
    svc.close()


# -- issue 7: never lose, never leak ----------------------------------------------------------------------------


def _big_png(seed, size=1 << 20):
    head = png_bytes(seed)
    return head + bytes([seed & 255]) * (size - len(head))


def test_source_rewritten_in_place_during_copy_lands_the_newest_version(tmp_path):
    # Item 1: the source is rewritten after the copier read it all, and ingested (as the watcher does) while
    # its copy is in flight. The old version's copy is verified; the newest must follow, not be lost.
    svc, src, target = make_service(tmp_path)
    p = src / "a.png"
    p.write_bytes(_big_png(1))
    svc.scan()
    new = _big_png(2, (1 << 20) + 4096)

    def progress(job, done, total):
        if done >= total and p.read_bytes() != new:
            p.write_bytes(new)  # in place: same inode
            svc.ingest_paths([p])

    svc.drain(target, progress=progress)
    svc.drain(target)  # whatever the first drain left (the engine drains again on its own)
    assert (target.mountpoint / "USBSync" / "a.png").read_bytes() == new
    assert _files(target.mountpoint) == ["USBSync/a.png"]
    done = svc.db.list_jobs(["done"])
    assert done[-1].blake3 == hash_file(p)
    assert svc.db.counts()["pending"] == 0
    assert svc.db.copy_at(target.drive.id, "USBSync/a.png").blake3 == hash_file(p)
    svc.close()


def test_newer_version_queued_on_finish_is_copied_in_the_same_drain(tmp_path):
    svc, src, target = make_service(tmp_path)
    p = src / "a.png"
    p.write_bytes(_big_png(1))
    svc.scan()
    new = _big_png(2, (1 << 20) + 4096)

    def progress(job, done, total):
        if done >= total and p.read_bytes() != new:
            p.write_bytes(new)
            svc.ingest_paths([p])

    r = svc.drain(target, progress=progress)
    assert r.copied == 2 and not r.again
    assert (target.mountpoint / "USBSync" / "a.png").read_bytes() == new
    assert [j.result for j in svc.db.list_jobs(["done"])] == ["copied", "replaced"]
    svc.close()


def test_copy_of_a_job_changed_meanwhile_is_recorded_as_ours_and_the_new_version_follows(tmp_path):
    # finish_job refuses (the job no longer delivers what was copied): the verified copy is still recorded as
    # ours, so the newer version replaces it instead of going to "a (1).png".
    svc, src, target = make_service(tmp_path)
    p = src / "a.png"
    p.write_bytes(_big_png(1))
    svc.scan()
    old = hash_file(p)
    new = _big_png(2, (1 << 20) + 4096)

    def progress(job, done, total):
        if done >= total and p.read_bytes() != new:
            p.write_bytes(new)
            # As the old ingest did: the job in flight rewritten under the copier.
            svc.ingest_paths([p])
            svc.db.conn.execute(
                "UPDATE jobs SET state='pending', blake3=?, size=? WHERE id=?",
                (hash_file(p), len(new), job.id),
            )

    svc.drain(target, progress=progress)
    svc.drain(target)
    assert _files(target.mountpoint) == ["USBSync/a.png"]
    assert (target.mountpoint / "USBSync" / "a.png").read_bytes() == new
    assert svc.db.copy_at(target.drive.id, "USBSync/a.png").blake3 == hash_file(p) != old
    svc.close()


def _outside(tmp_path):
    victim = tmp_path / "outside" / "victim.txt"
    victim.parent.mkdir()
    victim.write_bytes(b"precious, outside the drive")
    return victim


@needs_symlinks
def test_planted_temp_link_is_not_followed(tmp_path, fixed_temp_token):
    # Item 3: USBSync/.usbsync-1-00000000.part -> a file outside the drive: never truncated or written.
    svc, src, target = make_service(tmp_path)
    victim = _outside(tmp_path)
    (src / "a.png").write_bytes(png_bytes(1))
    (src / "b.png").write_bytes(png_bytes(2))
    svc.scan()
    (target.mountpoint / "USBSync").mkdir()
    (target.mountpoint / "USBSync" / ".usbsync-1-00000000.part").symlink_to(victim)
    r = svc.drain(target)
    assert victim.read_bytes() == b"precious, outside the drive"
    assert r.copied == 1 and not r.drive_gone  # the queue moves on
    job = svc.db.list_jobs(["pending"])[0]
    assert job.relpath == "a.png" and job.attempts == 1
    assert job.last_error == (
        "USBSync/.usbsync-1-00000000.part on Photos is a symbolic link; usbsync does not follow links on a drive"
    )
    assert (target.mountpoint / "USBSync" / ".usbsync-1-00000000.part").is_symlink()
    svc.close()


@needs_symlinks
def test_drive_folder_and_sub_folder_links_are_not_followed(tmp_path):
    svc, src, target = make_service(tmp_path)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (src / "sub").mkdir()
    (src / "sub" / "a.png").write_bytes(png_bytes(1))
    svc.scan()
    (target.mountpoint / "USBSync").symlink_to(outside)
    r = svc.drain(target)
    assert list(outside.iterdir()) == [] and not r.drive_gone
    job = svc.db.list_jobs(["pending"])[0]
    assert job.attempts == 1
    assert job.last_error == "USBSync on Photos is a symbolic link; usbsync does not follow links on a drive"
    # The drive folder is a real folder now, but the sub-folder leads out.
    (target.mountpoint / "USBSync").unlink()
    (target.mountpoint / "USBSync").mkdir()
    (target.mountpoint / "USBSync" / "sub").symlink_to(outside)
    svc.db.conn.execute("UPDATE jobs SET not_before=NULL")  # the backoff is over
    svc.drain(target)
    assert list(outside.iterdir()) == []
    job = svc.db.list_jobs(["pending"])[0]
    assert job.attempts == 2
    assert job.last_error.startswith("USBSync/sub on Photos is a symbolic link")
    svc.close()


@needs_symlinks
def test_destination_link_is_not_followed_and_ends_failed_with_its_reason(tmp_path):
    from usbsync_gui.core.state import MAX_ATTEMPTS

    svc, src, target = make_service(tmp_path)
    victim = _outside(tmp_path)
    (src / "a.png").write_bytes(png_bytes(1))
    svc.scan()
    (target.mountpoint / "USBSync").mkdir()
    (target.mountpoint / "USBSync" / "a.png").symlink_to(victim)
    for _ in range(MAX_ATTEMPTS):
        svc.db.conn.execute("UPDATE jobs SET not_before=NULL")
        svc.drain(target)
    assert victim.read_bytes() == b"precious, outside the drive"
    failed = svc.db.list_jobs(["failed"])
    assert len(failed) == 1 and failed[0].attempts == MAX_ATTEMPTS
    assert failed[0].last_error == (
        "USBSync/a.png on Photos is a symbolic link; usbsync does not follow links on a drive"
    )
    svc.close()


def _audit_text(svc):
    return (svc.paths.log_dir / "file_operations.csv").read_text()


@wine_keeps_deleted_names
def test_source_deleted_mid_copy_is_dropped_as_removed_not_a_drive_error(tmp_path):
    # Item 5: deleted after the first chunk; the open descriptor still reads to the end, the path is gone.
    svc, src, target = make_service(tmp_path)
    p = src / "a.png"
    p.write_bytes(_big_png(1, 16 << 20))
    (src / "b.png").write_bytes(png_bytes(2))
    svc.scan()

    def progress(job, done, total):
        if job.relpath == "a.png" and p.exists():
            p.unlink()

    r = svc.drain(target, progress=progress)
    assert r.copied == 1 and r.failed == 0 and r.deferred == 0 and not r.reasons
    assert svc.db.counts()["pending"] == 0 and svc.db.counts()["failed"] == 0
    assert _files(target.mountpoint) == ["USBSync/b.png"]  # no temp file left either
    audit = _audit_text(svc)
    assert "source removed" in audit and "cannot write" not in audit
    svc.close()


def test_source_moved_out_mid_copy_is_dropped(tmp_path):
    svc, src, target = make_service(tmp_path)
    p = src / "a.png"
    p.write_bytes(_big_png(1, 16 << 20))
    svc.scan()

    def progress(job, done, total):
        if p.exists():
            p.rename(tmp_path / "moved-away.png")

    r = svc.drain(target, progress=progress)
    assert (r.copied, r.failed, r.deferred) == (0, 0, 0)
    assert svc.db.counts()["pending"] == 0 and _files(target.mountpoint) == []
    svc.close()


@needs_symlinks
def test_source_swapped_for_a_link_leading_out_is_refused_and_never_read(tmp_path):
    svc, src, target = make_service(tmp_path)
    secret = tmp_path / "secret.png"
    secret.write_bytes(png_bytes(9))
    (src / "a.png").write_bytes(png_bytes(1))
    svc.scan()
    (src / "a.png").unlink()
    (src / "a.png").symlink_to(secret)
    r = svc.drain(target)
    r2 = svc.drain(target)
    assert r.copied == r2.copied == 0 and _files(target.mountpoint) == []
    assert svc.db.counts()["pending"] == 0 and svc.db.counts()["failed"] == 0
    assert "leads outside the source folders" in _audit_text(svc)
    svc.close()


def test_an_error_in_a_batch_leaves_nothing_copying_and_drain_does_not_raise(tmp_path):
    # Item 8: any exception in a batch (here from the progress callback) returns the batch to pending.
    svc, src, target = make_service(tmp_path)
    (src / "a.png").write_bytes(png_bytes(1))
    svc.scan()

    def boom(job, done, total):
        raise RuntimeError("progress display crashed")

    r = svc.drain(target, progress=boom)
    assert "progress display crashed" in r.error
    counts = svc.db.counts()
    assert (counts["copying"], counts["pending"]) == (0, 1)
    job = svc.db.list_jobs(["pending"])[0]
    assert job.attempts == 0 and "progress display crashed" in job.last_error
    r = svc.drain(target)
    assert r.copied == 1 and _files(target.mountpoint) == ["USBSync/a.png"]
    svc.close()


def test_database_busy_during_a_batch_is_reported_and_the_next_drain_recovers(tmp_path):
    import sqlite3

    svc, src, target = make_service(tmp_path)
    (src / "a.png").write_bytes(_big_png(1))
    svc.scan()
    svc.db.conn.execute("PRAGMA busy_timeout=100")  # ms, instead of 30 s
    other = sqlite3.connect(str(svc.db.path), isolation_level=None)

    def lock(job, done, total):
        if not other.in_transaction:
            other.execute("BEGIN IMMEDIATE")  # another writer holds the database past the timeout

    r = svc.drain(target, progress=lock)
    assert "locked" in r.error
    other.execute("ROLLBACK")
    other.close()
    r = svc.drain(target)  # the job left 'copying' goes back to pending first, then is finished
    assert r.copied + r.duplicates == 1 and not r.error  # the copy renamed into place is adopted
    assert svc.db.counts()["copying"] == 0 and _files(target.mountpoint) == ["USBSync/a.png"]
    svc.close()


def test_copy_edited_on_the_drive_to_the_same_size_is_not_a_duplicate(tmp_path):
    # Item 11: the copy of a.png was edited on the stick (same size); b.png has a.png's old content.
    svc, src, target = make_service(tmp_path)
    (src / "a.png").write_bytes(png_bytes(1))
    svc.scan()
    svc.drain(target)
    on_drive = target.mountpoint / "USBSync" / "a.png"
    edited = bytes(reversed(png_bytes(1)))
    on_drive.write_bytes(edited)
    (src / "b.png").write_bytes(png_bytes(1))
    svc.scan()
    r = svc.drain(target)
    assert (r.copied, r.duplicates) == (1, 0)
    assert (target.mountpoint / "USBSync" / "b.png").read_bytes() == png_bytes(1)
    assert on_drive.read_bytes() == edited  # the user's now, kept
    assert svc.db.copy_at(target.drive.id, "USBSync/a.png") is None
    svc.close()


def test_a_touched_copy_with_the_same_content_is_still_a_duplicate(tmp_path):
    svc, src, target = make_service(tmp_path)
    (src / "a.png").write_bytes(png_bytes(1))
    svc.scan()
    svc.drain(target)
    os.utime(target.mountpoint / "USBSync" / "a.png", (1, 1))  # mtime changed, content not
    (src / "b.png").write_bytes(png_bytes(1))
    svc.scan()
    r = svc.drain(target)
    assert (r.copied, r.duplicates) == (0, 1)
    assert _files(target.mountpoint) == ["USBSync/a.png"]
    svc.close()


def test_user_edited_own_copy_of_the_same_size_is_kept_and_forgotten(tmp_path):
    svc, src, target = make_service(tmp_path)
    p = src / "a.png"
    p.write_bytes(png_bytes(1))
    svc.scan()
    svc.drain(target)
    on_drive = target.mountpoint / "USBSync" / "a.png"
    edited = bytes(reversed(png_bytes(1)))
    on_drive.write_bytes(edited)
    p.write_bytes(png_bytes(2))
    svc.scan()
    svc.drain(target)
    assert on_drive.read_bytes() == edited
    assert (target.mountpoint / "USBSync" / "a (1).png").read_bytes() == png_bytes(2)
    assert svc.db.copy_at(target.drive.id, "USBSync/a.png") is None
    svc.close()


@needs_symlinks
def test_worker_arms_a_retry_timer_only_while_a_job_backs_off(tmp_path, qtbot):
    import time

    from usbsync_gui.engine.workers import CopyWorker

    svc, src, target = make_service(tmp_path)
    (src / "sub").mkdir()
    (src / "sub" / "a.png").write_bytes(png_bytes(1))
    svc.scan()
    (target.mountpoint / "USBSync").mkdir()
    (tmp_path / "nowhere").mkdir()
    planted = target.mountpoint / "USBSync" / "sub"  # a link where its folder goes: a counted attempt
    planted.symlink_to(tmp_path / "nowhere")
    worker = CopyWorker(svc.paths, svc.config, svc.audit, target)
    try:
        worker.drain()
        # The first backoff, 5 s (+50 ms margin); Qt's coarse timers may run up to 5 % late (Qt::CoarseTimer).
        assert 4000 <= worker.retry_at_ms() <= 5050 * 1.05
        planted.unlink()
        with svc.db.transaction():
            svc.db.conn.execute("UPDATE jobs SET not_before=?", (time.time() + 0.2,))
        worker.drain()  # nothing is due yet: the timer is re-armed for the job's new time
        assert worker.retry_at_ms() <= 300
        with qtbot.waitSignal(worker.drained, timeout=3000) as sig:
            pass
        assert sig.args[1].copied == 1
        assert worker.retry_at_ms() is None  # nothing backs off: no timer
    finally:
        worker.close()
        svc.close()


def test_a_duplicate_follows_when_the_copy_it_relied_on_is_replaced(tmp_path):
    """Two sources with the same content: one is copied, the other finished as a duplicate of that copy. When
    the first source changes and its copy on the drive is replaced, the duplicate has no copy any more: it must
    be copied again, not stay 'done' with its content nowhere on the drive."""
    svc, src, target = make_service(tmp_path)
    (src / "one.png").write_bytes(png_bytes(7))
    (src / "two.png").write_bytes(png_bytes(7))
    svc.scan()
    r = svc.drain(target)
    assert (r.copied, r.duplicates) == (1, 1)
    copied = next(j for j in svc.db.list_jobs(["done"]) if j.result == "copied")
    os.utime(copied.path, ns=(1, 1))
    with open(copied.path, "wb") as fh:
        fh.write(png_bytes(8))
    svc.scan()
    svc.drain(target)
    on_drive = [p.read_bytes() for p in (target.mountpoint / "USBSync").iterdir()]
    assert png_bytes(8) in on_drive and png_bytes(7) in on_drive, [len(b) for b in on_drive]
    assert svc.db.counts()["pending"] == 0
    svc.close()


def test_a_temp_file_whose_record_was_lost_is_swept_and_its_name_not_reused(tmp_path):
    """After `usbsync clear` (or a rebuilt database) job ids start at 1 again while a temp file of the old
    database may still be on the drive: it must not make the new job fail, and it must go."""
    svc, src, target = make_service(tmp_path)
    (target.mountpoint / "USBSync").mkdir()
    stale = target.mountpoint / "USBSync" / ".usbsync-1.part"
    stale.write_bytes(b"half a file from before")
    (src / "a.png").write_bytes(png_bytes(1))
    svc.scan()
    r = svc.drain(target, sweep=True)  # the drive's arrival
    assert (r.copied, r.failed) == (1, 0)
    assert _files(target.mountpoint) == ["USBSync/a.png"]
    svc.close()


def test_reingest_does_not_hold_the_write_lock_while_it_hashes(tmp_path, monkeypatch):
    """A source changed under its copy is re-ingested: its hashing (seconds for a big video) must not keep
    other writers (the ingest worker, another drive, the GUI) out of the database."""
    import sqlite3

    from usbsync_gui.core.ingest import Ingestor

    svc, src, _target = make_service(tmp_path)
    (src / "a.png").write_bytes(png_bytes(1))
    svc.scan()
    blocked: list[str] = []
    real = Ingestor._analyse

    def analyse_while_another_writes(self, todo):
        other = sqlite3.connect(svc.db.path, timeout=0.2, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
        except sqlite3.OperationalError as exc:
            blocked.append(str(exc))
        finally:
            other.close()
        return real(self, todo)

    monkeypatch.setattr(Ingestor, "_analyse", analyse_while_another_writes)
    (src / "a.png").write_bytes(png_bytes(2))
    svc.reingest(str(src / "a.png"))
    assert blocked == []
    assert svc.db.file_by_path(str(src / "a.png")).size == len(png_bytes(2))
    svc.close()
