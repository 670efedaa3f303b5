"""The copier on a real filesystem folder standing in for a drive (the e2e tests use mounted volumes)."""

import os
import threading

from tests.conftest import png_bytes
from tests.unit.helpers import make_service
from usbsync_gui.core.hashing import hash_file


def _files(root):
    return sorted(
        str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and ".usbsync" not in p.parts
    )


def test_copy_is_verified_recorded_and_not_repeated(tmp_path):
    svc, src, target = make_service(tmp_path)
    (src / "a b").mkdir()
    (src / "a b" / "p:1.png").write_bytes(png_bytes(1))
    svc.scan()
    r = svc.drain(target)
    assert (r.copied, r.failed) == (1, 0)
    dest = target.mountpoint / "USBSync" / "a b" / "p_1.png"
    assert dest.read_bytes() == png_bytes(1)
    assert _files(target.mountpoint) == ["USBSync/a b/p_1.png"]  # no temp file left
    assert os.stat(dest).st_mtime_ns == os.stat(src / "a b" / "p:1.png").st_mtime_ns
    c = svc.db.copy_at(target.drive.id, "USBSync/a b/p_1.png")
    assert c.source_path.endswith("p:1.png") and c.blake3 == hash_file(dest)
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
