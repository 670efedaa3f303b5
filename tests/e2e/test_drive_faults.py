"""Issue 7 on real mounted volumes: a source rewritten or removed mid-copy, links planted on the drive, a bad
block under a mounted volume (btrfs: a damaged data block fails its checksum, EIO), a batch that stops on an error, a copy edited on
the stick. Mid-copy timing comes from the copier's own ``progress`` callback (per chunk) or the real
``usbsync run``; every loop and dm device a test makes is removed by its fixture."""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import png_bytes
from tests.e2e.conftest import need_root_and, stop, wait_for
from usbsync_gui.core.config import load_config
from usbsync_gui.core.copier import Target
from usbsync_gui.core.hashing import hash_file
from usbsync_gui.core.paths import app_paths
from usbsync_gui.core.service import SyncService
from usbsync_gui.core.state import MAX_ATTEMPTS, StateDB


def _service(usbsync, drive) -> tuple[SyncService, Target]:
    """The real service over the usbsync fixture's home, and the registered drive as mounted (``ext4``)."""
    paths = app_paths({"USBSYNC_HOME": str(usbsync.home)})
    config = load_config(paths.config_file)
    svc = SyncService(paths, config)
    return svc, Target(config.drives[0], Path(drive.mountpoint), fs_type=drive.fstype)


def _register(usbsync, mountpoint) -> None:
    usbsync("register-drive", str(mountpoint), "--name", "Photos", "--category", "images")


def _big_png(seed: int, size: int = 1 << 20) -> bytes:
    head = png_bytes(seed)
    return head + random.Random(seed).randbytes(size - len(head))


def _db(usbsync) -> StateDB:
    return StateDB(app_paths({"USBSYNC_HOME": str(usbsync.home)}).state_db)


# -- item 1: lost update ------------------------------------------------------------------------------------------


def test_source_rewritten_in_place_mid_copy_the_newest_version_lands(usbsync, make_drive):
    drive = make_drive("PHOTOS")
    _register(usbsync, drive.mountpoint)
    p = usbsync.source / "a.png"
    p.write_bytes(_big_png(1))
    svc, target = _service(usbsync, drive)
    try:
        svc.scan()
        new = _big_png(2, (1 << 20) + 4096)

        def progress(job, done, total):
            if done >= total and p.read_bytes() != new:  # read all of the old version, not yet verified
                p.write_bytes(new)  # in place, same inode
                svc.ingest_paths([p])  # what the watcher does on the close-after-write event

        svc.drain(target, progress=progress)
        svc.drain(target)
        assert drive.files() == {"a.png": new}
        assert svc.db.counts()["pending"] == 0
        assert svc.db.list_jobs(["done"])[-1].blake3 == hash_file(p)
    finally:
        svc.close()


# -- item 3: links on the drive -----------------------------------------------------------------------------------


def test_planted_temp_link_does_not_truncate_a_file_outside_the_drive(usbsync, make_drive, tmp_path):
    drive = make_drive("PHOTOS")
    _register(usbsync, drive.mountpoint)
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious, outside the drive")
    (usbsync.source / "a.png").write_bytes(png_bytes(1))
    (drive.mountpoint / "USBSync").mkdir()
    planted = drive.mountpoint / "USBSync" / ".usbsync-1.part"  # job 1 is a.png's (old-style temp name)
    planted.symlink_to(victim)
    p = usbsync("sync-once", check=None)
    assert victim.read_bytes() == b"precious, outside the drive"
    assert "removed during the sync" not in p.stdout + p.stderr
    # Temp names are no longer predictable (a random part), and a stray temp name found at the drive's
    # arrival is removed without being followed: the link is gone, its target untouched, the file copied.
    assert not planted.is_symlink() and drive.files() == {"a.png": png_bytes(1)}


def test_symlinked_drive_folder_is_a_counted_error_not_a_drive_removal(usbsync, make_drive, tmp_path):
    drive = make_drive("PHOTOS")
    _register(usbsync, drive.mountpoint)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (drive.mountpoint / "USBSync").symlink_to(outside)
    (usbsync.source / "a.png").write_bytes(png_bytes(1))
    p = usbsync("sync-once", check=None)
    assert list(outside.iterdir()) == []
    assert "removed during the sync" not in p.stdout and "removed" not in usbsync.log()
    with _db(usbsync) as db:
        (job,) = db.list_jobs(["pending"])
    assert job.attempts == 1
    assert job.last_error == "USBSync on Photos is a symbolic link; usbsync does not follow links on a drive"


# -- item 5: source gone mid-copy -----------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["deleted", "moved out"])
def test_source_gone_mid_copy_is_dropped_as_source_removed(usbsync, make_drive, tmp_path, how):
    drive = make_drive("PHOTOS")
    _register(usbsync, drive.mountpoint)
    p = usbsync.source / "a.png"
    p.write_bytes(_big_png(1, 8 << 20))
    (usbsync.source / "b.png").write_bytes(png_bytes(2))
    svc, target = _service(usbsync, drive)
    try:
        svc.scan()

        def progress(job, done, total):
            if job.relpath == "a.png" and p.exists():  # after the first chunk of eight
                p.unlink() if how == "deleted" else p.rename(tmp_path / "away.png")

        r = svc.drain(target, progress=progress)
        assert (r.copied, r.failed, r.deferred, r.drive_gone) == (1, 0, 0, False)
        assert svc.db.counts()["pending"] == 0 and svc.db.counts()["failed"] == 0
        assert drive.files() == {"b.png": png_bytes(2)}  # and no temp file left
        audit = (usbsync.home / "logs" / "file_operations.csv").read_text()
        assert "source removed" in audit and "cannot write" not in audit
    finally:
        svc.close()


# -- item 7: a bad block on a mounted drive ---------------------------------------------------------------------


def _run(cmd: list[str], **kw) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout


BAD = b"USBSYNC-BAD-BLOCK-"  # the start of the file whose data block is damaged (found in the image by it)


@pytest.fixture
def bad_block_drive(tmp_path) -> Iterator[tuple[Path, int]]:
    """A mounted btrfs volume whose file ``USBSync/a.png`` (65536 bytes of someone else's data) has a damaged
    data block: bytes changed in the image while unmounted, so btrfs's data checksum fails and every read of
    it answers EIO, while the volume stays mounted and writable (this kernel has no device-mapper for a dm
    ``error`` target). Yields (mount point, size of the bad file)."""
    need_root_and("mkfs.btrfs", "mount", "losetup")
    image = tmp_path / "bad.img"
    mp = tmp_path / "media" / "PHOTOS"
    mp.mkdir(parents=True)
    _run(["truncate", "-s", "128M", str(image)])
    _run(["mkfs.btrfs", "-q", "-L", "PHOTOS", str(image)])
    mounted = False
    try:
        _run(["mount", "-o", "loop", str(image), str(mp)])
        mounted = True
        (mp / "USBSync").mkdir()
        (mp / "USBSync" / "a.png").write_bytes(BAD + random.Random(99).randbytes(65536 - len(BAD)))
        os.sync()
        _run(["umount", str(mp)])
        mounted = False
        data = image.read_bytes()
        at = data.index(BAD)
        assert data.find(BAD, at + 1) == -1, "the file's data must be in one place (single data profile)"
        with open(image, "r+b") as fh:
            fh.seek(at + 100)
            fh.write(b"\xff" * 16)  # a bad block: the data no longer matches its checksum
        del data
        _run(["mount", "-o", "loop", str(image), str(mp)])
        mounted = True
        yield mp, 65536
    finally:
        if mounted:
            subprocess.run(["umount", str(mp)], capture_output=True)
            if os.path.ismount(mp):
                subprocess.run(["umount", "-l", str(mp)], capture_output=True)
        for ln in _run(["losetup", "-j", str(image)]).splitlines():  # autoclear normally does it
            subprocess.run(["losetup", "-d", ln.split(":")[0]], capture_output=True)


def test_bad_block_is_a_counted_error_on_that_file_and_the_queue_moves_on(usbsync, bad_block_drive):
    mp, size = bad_block_drive
    _register(usbsync, mp)
    head = png_bytes(1)
    (usbsync.source / "a.png").write_bytes(head + b"\0" * (size - len(head)))  # same size as the bad file
    (usbsync.source / "b.png").write_bytes(png_bytes(2))
    proc = usbsync.start()
    try:
        wait_for(lambda: (mp / "USBSync" / "b.png").exists(), timeout=10)  # the queue moved on

        def a_failed():
            with _db(usbsync) as db:
                return db.list_jobs(["failed"])

        # Retried by the worker's backoff timer (5 s, then 10 s): failed after MAX_ATTEMPTS.
        wait_for(a_failed, timeout=22, interval=0.2)
    finally:
        code, out = stop(proc)
    assert code == 0, out
    (job,) = a_failed()
    assert job.relpath == "a.png" and job.attempts == MAX_ATTEMPTS
    assert job.last_error.endswith("Photos: Input/output error"), job.last_error
    assert (mp / "USBSync" / "b.png").read_bytes() == png_bytes(2)
    assert out.count("drive Photos plugged in") == 1, out
    assert "drive Photos removed" not in out, out


# -- item 8: an error in a batch ----------------------------------------------------------------------------------


def test_database_locked_mid_batch_leaves_nothing_copying(usbsync, make_drive):
    drive = make_drive("PHOTOS")
    _register(usbsync, drive.mountpoint)
    (usbsync.source / "a.png").write_bytes(_big_png(1))
    (usbsync.source / "b.png").write_bytes(png_bytes(2))
    svc, target = _service(usbsync, drive)
    other = sqlite3.connect(str(svc.db.path), isolation_level=None)
    try:
        svc.scan()
        svc.db.conn.execute("PRAGMA busy_timeout=100")  # ms: the 30 s timeout, shortened

        def lock(job, done, total):
            if not other.in_transaction:
                other.execute("BEGIN IMMEDIATE")  # another writer holds the database until after the batch

        r = svc.drain(target, progress=lock)  # returns, never raises
        assert "database is locked" in r.error
        other.execute("ROLLBACK")
        (usbsync.source / "c.png").write_bytes(png_bytes(3))
        svc.scan()

        def boom(job, done, total):
            raise RuntimeError("progress display crashed")

        r = svc.drain(target, progress=boom)  # the stale 'copying' job is put back first
        assert "progress display crashed" in r.error
        assert svc.db.counts()["copying"] == 0
        assert {j.last_error for j in svc.db.list_jobs(["pending"])} >= {
            "interrupted by an error: progress display crashed"
        }
        r = svc.drain(target)
        assert r.copied == 1 and not r.error
        assert set(drive.files()) == {"a.png", "b.png", "c.png"}
        assert svc.db.counts()["done"] == 3
    finally:
        other.close()
        svc.close()


# -- item 11: a copy edited on the stick ---------------------------------------------------------------------------


def test_copy_edited_on_the_stick_to_the_same_size_is_not_taken_for_a_duplicate(usbsync, make_drive):
    drive = make_drive("PHOTOS")
    _register(usbsync, drive.mountpoint)
    (usbsync.source / "a.png").write_bytes(png_bytes(1))
    assert "1 file copied" in usbsync("sync-once").stdout
    edited = bytes(reversed(png_bytes(1)))
    (drive.mountpoint / "USBSync" / "a.png").write_bytes(edited)  # same size, other content
    (usbsync.source / "b.png").write_bytes(png_bytes(1))  # a.png's original content
    p = usbsync("sync-once")
    assert "1 file copied, 0 already there" in p.stdout
    assert drive.files() == {"a.png": edited, "b.png": png_bytes(1)}


def test_a_drive_that_fails_file_after_file_waits_for_its_next_arrival(usbsync, make_drive):
    """A stick that turns write-protected under its mount (exFAT through FUSE over a loop device set
    read-only: writes fail with EIO, and reading its marker may too) is the drive's fault, not each file's:
    no file ends 'failed', at most one try is counted, and once the stick is plugged in again every file goes
    and no temp file is left on it."""
    need_root_and("blockdev")
    drive = make_drive("PHOTOS", fstype="exfat")
    _register(usbsync, drive.mountpoint)
    usbsync.source.mkdir(parents=True, exist_ok=True)
    for i in range(4):
        (usbsync.source / f"p{i}.png").write_bytes(png_bytes(i))
    subprocess.run(["blockdev", "--setro", str(drive.loop)], check=True)
    try:
        p = usbsync("sync-once", check=None)
    finally:
        subprocess.run(["blockdev", "--setrw", str(drive.loop)], check=True)
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
    with _db(usbsync) as db:
        jobs = db.list_jobs(["pending", "failed"])
    assert [j.state for j in jobs] == ["pending"] * 4, [(j.state, j.last_error) for j in jobs]
    assert sum(j.attempts for j in jobs) <= 1  # at most the first file's try counted
    at = drive.mountpoint
    drive.unplug()
    drive.plug(at)
    usbsync("sync-once")
    assert drive.files() == {f"p{i}.png": png_bytes(i) for i in range(4)}
    assert [q.name for q in drive.mountpoint.rglob(".usbsync-*.part")] == []
