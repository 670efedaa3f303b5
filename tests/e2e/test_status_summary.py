"""`usbsync status`, `pending` and `list-drives` read the one summary, and still work with a broken config."""

from __future__ import annotations

import random

import pytest

from tests.conftest import mp3_bytes, png_bytes
from usbsync_gui.core.instance_lock import InstanceLock
from usbsync_gui.core.paths import app_paths
from usbsync_gui.core.state import StateDB
from usbsync_gui.core.summary import PAUSED
from usbsync_gui.core.units import human_bytes

pytestmark = pytest.mark.e2e


def test_read_only_commands_show_the_state_with_a_broken_config(usbsync, make_drive):
    photos = make_drive("PHOTOS", size_mib=32)
    usbsync("register-drive", str(photos.mountpoint), "--name", "Photos", "--category", "images")
    (usbsync.source / "a.png").write_bytes(png_bytes(1))
    photos.unplug()
    usbsync("sync-once")
    cfg = usbsync.home / "config.toml"
    good = cfg.read_text()
    cfg.write_text(good + "\nthis is = = not toml\n")
    for cmd in ("status", "pending", "list-drives"):
        p = usbsync(cmd)  # exit 0: they show what they can
        problems = [ln for ln in p.stderr.splitlines() if "configuration is broken" in ln]
        bad_line = len(good.splitlines()) + 2  # the file, and the line in it
        assert len(problems) == 1 and f"{cfg}:{bad_line}:" in problems[0], p.stderr
    assert "1 waiting" in usbsync("status").stdout
    assert "a.png" in usbsync("pending").stdout
    assert "Photos" in usbsync("list-drives").stdout
    data = usbsync.json("status")
    assert data["pending"] == 1 and data["state"] == "attention" and str(cfg) in data["config_problem"]
    assert [d["name"] for d in data["drives"]] == ["Photos"]
    # a command that would act on the broken config still refuses, with the same one line
    p = usbsync("sync-once", check=2)
    assert str(cfg) in p.stderr
    cfg.write_text(good)
    assert usbsync.json("status")["config_problem"] is None


def test_a_file_that_does_not_fit_is_attention_in_status(usbsync, make_drive):
    small = make_drive("SMALL", size_mib=32)
    usbsync("register-drive", str(small.mountpoint), "--name", "Small", "--category", "videos")
    (small.mountpoint / "filler.bin").write_bytes(bytes(16 << 20))
    (usbsync.source / "big.mp4").write_bytes(random.Random(1).randbytes(20 << 20))
    usbsync("sync-once")
    data = usbsync.json("status")
    assert data["state"] == "attention"
    small_row = data["drives"][0]
    assert small_row["state"] == "does_not_fit" and small_row["shortfall_bytes"] > 0
    assert any("1 file (21.0 MB) does not fit on Small" in a for a in data["attention"]), data["attention"]
    assert "does not fit" in usbsync("list-drives").stdout


def test_a_file_no_drive_takes_is_listed_counted_and_sent_once_a_drive_holds_it(usbsync, make_drive):
    """The walk's song.wav: audio, and no drive held audio. `status` said nothing waited, `pending` "nothing
    waiting", `status --json` "unrouted: []"; only the log told."""
    photos = make_drive("PHOTOS")
    usbsync("register-drive", str(photos.mountpoint), "--name", "Photos", "--category", "images")
    (usbsync.source / "a.png").write_bytes(png_bytes(1))
    song = usbsync.source / "song.mp3"
    song.write_bytes(mp3_bytes())
    (usbsync.source / "blob.bin").write_bytes(random.Random(3).randbytes(5000))  # no category at all
    out = usbsync("sync-once").stdout
    size = len(mp3_bytes())
    headline = f"no drive holds audio: 1 file ({human_bytes(size)}) waits"
    assert out.splitlines() == ["1 file copied, 0 already there, 1 waiting, 0 failed", headline]

    pending = usbsync("pending").stdout
    assert "nothing waiting" not in pending
    assert pending.rstrip().endswith(f"{song}  (no drive holds audio)")
    assert "blob.bin" not in pending  # no category: recorded, not copied, not waiting for anything
    listed = usbsync.json("pending")
    assert listed["jobs"] == []
    assert listed["unrouted"] == [
        {"file": str(song), "category": "audio", "size_bytes": size, "reason": "no drive holds audio"}
    ]
    data = usbsync.json("status")
    assert data["unrouted"] == [{"category": "audio", "files": 1, "bytes": size, "forgotten": 0}]
    # it waits, as the wizard said it would; nothing is wrong, so no red "needs attention"
    assert (data["state"], data["pending"], data["unclassified"], data["attention"]) == ("waiting", 1, 1, [])
    status = usbsync("status").stdout
    assert "1 waiting" in status and f"  {headline} (register a drive for audio to copy it)" in status
    assert "1 without a category" in status

    music = make_drive("MUSIC", size_mib=32)
    usbsync("register-drive", str(music.mountpoint), "--name", "Music", "--category", "audio")
    assert "1 file copied" in usbsync("sync-once").stdout
    assert music.files() == {"song.mp3": mp3_bytes()}
    assert usbsync("pending").stdout.strip() == "nothing waiting"
    data = usbsync.json("status")
    assert (data["unrouted"], data["pending"], data["state"]) == ([], 0, "idle")


def test_pending_gives_the_reason_the_summary_gives(usbsync, make_drive):
    """The walk's paused.jpg: Photos plugged in, the app paused. `pending` said "(waiting for the drive)"."""
    photos = make_drive("PHOTOS")
    usbsync("register-drive", str(photos.mountpoint), "--name", "Photos", "--category", "images")
    photos.unplug()
    (usbsync.source / "paused.jpg").write_bytes(png_bytes(1))
    usbsync("sync-once")
    assert usbsync("pending").stdout.rstrip().endswith("paused.jpg  (waiting for the drive)")  # away: true
    photos.plug()
    paths = app_paths({"USBSYNC_HOME": str(usbsync.home)})
    with StateDB(paths.state_db) as db, db.transaction():
        db.set_notice(PAUSED, "syncing is paused")  # what the running engine writes while paused
    engine = InstanceLock(paths.lock_file, paths.pid_file)  # this test plays the running, paused engine
    engine.acquire()
    try:
        assert usbsync("pending").stdout.rstrip().endswith("paused.jpg  (syncing is paused)")
        [job] = usbsync.json("pending")["jobs"]
        assert job["reason"] == "syncing is paused" and job["last_error"] is None
        assert usbsync("status").stdout.startswith("usbsync is running: paused")
    finally:
        engine.release()
    # It quit while paused: its notice stays until its next start, but a pause lasts until quit. Plugged in,
    # the file is next.
    assert usbsync("pending").stdout.rstrip().endswith("paused.jpg  (next in line)")
    assert usbsync("status").stdout.splitlines()[0] == "usbsync is not running"


def test_status_text_counts_the_removed_files_its_json_counts(usbsync, make_drive):
    photos = make_drive("PHOTOS")
    usbsync("register-drive", str(photos.mountpoint), "--name", "Photos", "--category", "images")
    photos.unplug()
    (usbsync.source / "a.png").write_bytes(png_bytes(1))
    (usbsync.source / "b.png").write_bytes(png_bytes(2))
    usbsync("sync-once")
    with StateDB(app_paths({"USBSYNC_HOME": str(usbsync.home)}).state_db) as db, db.transaction():
        db.remove_jobs(
            [j.id for j in db.list_jobs(["pending"]) if j.path.endswith("b.png")]
        )  # Remove from queue
    assert usbsync.json("status")["removed"] == 1
    assert "1 waiting, 0 failed, 0 synced, 1 removed from the queue" in usbsync("status").stdout
