"""usbsync run: a drive plugged in while running, kill -9 and SIGTERM mid-copy, a second instance, bad config."""

import random
import signal
import time

import pytest

from tests.conftest import png_bytes
from tests.e2e.conftest import stop, wait_for
from usbsync_gui.core.hashing import hash_file


def test_pending_for_absent_drive_then_resumed_on_plug(usbsync, make_drive):
    photos = make_drive("PHOTOS")
    usbsync("register-drive", str(photos.mountpoint), "--name", "Photos", "--category", "images")
    at = photos.mountpoint
    photos.unplug()
    proc = usbsync.start()
    try:
        wait_for(lambda: f"watching {usbsync.source}" in usbsync.log(), timeout=20)
        (usbsync.source / "a.png").write_bytes(png_bytes(1))
        (usbsync.source / "b.png").write_bytes(png_bytes(2))

        def both_pending():
            jobs = usbsync.json("pending")["jobs"]
            return len(jobs) == 2 and all(j["drive"] == "Photos" and j["state"] == "pending" for j in jobs)

        wait_for(both_pending, timeout=20)
        assert "queued 2 files for Photos" in usbsync.log() or "queued 1 file for Photos" in usbsync.log()
        assert usbsync("run", check=3).stderr.startswith("usbsync: usbsync is already running (pid ")
        photos.plug(at)
        took = wait_for(lambda: len(photos.files()) == 2, timeout=10)
        assert took < 3.0, f"files landed {took:.2f} s after the mount (poll is 1 s)"
        wait_for(lambda: usbsync.json("status")["synced"] == 2, timeout=10)
    finally:
        code, out = stop(proc)
    assert code == 0, out
    assert "drive Photos plugged in" in out and "SIGTERM received" in out
    assert photos.files() == {"a.png": png_bytes(1), "b.png": png_bytes(2)}


def _slow_copy_setup(usbsync, make_drive, fstype="ext4"):
    drive = make_drive("VIDEO", fstype=fstype, size_mib=128)
    usbsync("register-drive", str(drive.mountpoint), "--name", "Video", "--category", "videos")
    data = random.Random(7).randbytes(48 << 20)
    (usbsync.source / "film.mp4").write_bytes(data)
    usbsync.set("max_copy_rate_mib_s", "8")  # 6 s for the file: time to interrupt it mid-copy
    return drive


def _temp_files(drive):
    return [p for p in drive.mountpoint.rglob(".usbsync-*.part")]


@pytest.mark.parametrize("fstype", ["ext4", "exfat"])
def test_kill_9_mid_copy_then_restart_gives_one_good_copy(usbsync, make_drive, fstype):
    drive = _slow_copy_setup(usbsync, make_drive, fstype)
    proc = usbsync.start()
    try:
        wait_for(lambda: any(p.stat().st_size > (4 << 20) for p in _temp_files(drive)), timeout=30)
    finally:
        proc.kill()  # SIGKILL: no cleanup of any kind
        proc.communicate()
    assert _temp_files(drive), "the kill should leave the temporary file behind"
    assert not (drive.mountpoint / "USBSync" / "film.mp4").exists()
    assert usbsync.json("status")["copying"] == 1  # left 'copying' by the crash
    usbsync.set("max_copy_rate_mib_s", "0")
    p = usbsync("sync-once")
    assert "1 file copied" in p.stdout
    assert list(drive.files()) == ["film.mp4"]
    assert not _temp_files(drive)
    assert hash_file(drive.mountpoint / "USBSync" / "film.mp4") == hash_file(usbsync.source / "film.mp4")
    assert "removed stale temporary file" in usbsync.log()
    # and a second restart does not copy it again
    assert "0 files copied" in usbsync("sync-once").stdout


def test_sigterm_mid_copy_rolls_back_and_exits_0(usbsync, make_drive):
    drive = _slow_copy_setup(usbsync, make_drive)
    proc = usbsync.start()
    wait_for(lambda: any(p.stat().st_size > (4 << 20) for p in _temp_files(drive)), timeout=30)
    t0 = time.monotonic()
    code, out = stop(proc, signal.SIGTERM, timeout=15)
    took = time.monotonic() - t0
    assert code == 0, out
    assert took < 5, f"stop took {took:.1f} s"
    assert not _temp_files(drive)
    jobs = usbsync.json("pending")["jobs"]
    assert len(jobs) == 1 and jobs[0]["state"] == "pending" and "interrupted" in jobs[0]["reason"]
    usbsync.set("max_copy_rate_mib_s", "0")
    usbsync("sync-once")
    assert hash_file(drive.mountpoint / "USBSync" / "film.mp4") == hash_file(usbsync.source / "film.mp4")


def test_broken_config_is_one_line_exit_2_and_the_queue_survives(usbsync, make_drive):
    photos = make_drive("PHOTOS")
    usbsync("register-drive", str(photos.mountpoint), "--name", "Photos", "--category", "images")
    photos.unplug()
    (usbsync.source / "a.png").write_bytes(png_bytes(1))
    usbsync("sync-once")
    assert len(usbsync.json("pending")["jobs"]) == 1
    cfg = usbsync.home / "config.toml"
    good = cfg.read_text()
    cfg.write_text(good.replace("heartbeat_interval_seconds = 300", "heartbeat_interval_seconds = = 300"))
    line = next(i for i, ln in enumerate(cfg.read_text().splitlines(), 1) if "= = 300" in ln)
    for cmd in (
        ["sync-once"],
        ["run"],
        ["validate"],
        ["process-pending"],
        ["clear", "--yes"],
        ["list-connected"],
    ):
        p = usbsync(*cmd, check=2)
        err = p.stderr.strip()
        assert err.count("\n") == 0, f"{cmd}: {err}"
        assert err.startswith(f"usbsync: {cfg}:{line}: TOML syntax error"), f"{cmd}: {err}"
    # The read-only commands show the state (issue 8), with the same one line as a warning.
    for cmd in (["status"], ["pending"], ["list-drives"]):
        err = usbsync(*cmd, check=0).stderr.strip()
        assert err.count("\n") == 0, f"{cmd}: {err}"
        assert err.startswith("usbsync: warning: the configuration is broken"), f"{cmd}: {err}"
        assert f"{cfg}:{line}: TOML syntax error" in err, f"{cmd}: {err}"
    cfg.write_text(good.replace('categories = [\n    "images",\n]', 'categories = ["fotos"]'))
    err = usbsync("sync-once", check=2).stderr.strip()
    assert "drives[0].categories: unknown category 'fotos'" in err and str(cfg) in err
    err = usbsync("status", check=0).stderr.strip()
    assert "drives[0].categories: unknown category 'fotos'" in err and str(cfg) in err
    cfg.write_text(good)
    jobs = usbsync.json("pending")["jobs"]
    assert len(jobs) == 1 and jobs[0]["file"].endswith("a.png")


def test_usage_errors_exit_2(usbsync):
    assert usbsync("frobnicate", check=2).stderr.startswith("usbsync: ")
    p = usbsync("register-drive", "/nonexistent", "--name", "X", "--category", "images", check=2)
    assert "not the mount point of a mounted volume" in p.stderr
    assert usbsync("clear", check=2).stderr.strip().endswith("confirm with --yes when not at a terminal")


def test_heartbeat_and_sigint(usbsync):
    usbsync.set("heartbeat_interval_seconds", "1")
    proc = usbsync.start()
    wait_for(lambda: usbsync.log().count("heartbeat:") >= 2, timeout=20)
    (usbsync.source / "a.png").write_bytes(png_bytes(1))  # no drive holds images: recorded, not queued
    wait_for(
        lambda: "heartbeat: 0 waiting (0 copying), 0 failed, 0 synced, 1 files seen" in usbsync.log(), 20
    )
    live = usbsync.json("status")["health"]
    assert (
        live["live"]
        and live["events_seen"] >= 1
        and live["files_seen"] == 1
        and live["watcher"] == "watching"
    )
    assert live["rss_bytes"] > 10 << 20 and live["last_scan"]["seen"] == 0  # the start-up scan: empty outbox
    code, out = stop(proc, signal.SIGINT)
    assert code == 0 and "SIGINT received: stopping" in out
    assert "heartbeat: 0 waiting (0 copying), 0 failed, 0 synced, 0 files seen; since start: 0 events" in out
    assert "watcher watching; last scan " in out and "drives connected: none; memory " in out
    assert "usbsync starting: config" in out  # the startup summary
    last = usbsync.json("status")["health"]  # no engine now: its last heartbeat's figures
    assert last["live"] is False and last["files_seen"] == 1 and last["events_seen"] >= 1


def test_unmounted_drive_never_receives_files_in_its_bare_mount_point(usbsync, make_drive):
    """Found by hand: unmounted, then files dropped at once, and before the drive monitor's next poll the
    copier wrote 'verified copies' into the empty mount point directory on the computer's own disk."""
    photos = make_drive("PHOTOS", fstype="exfat")
    usbsync("register-drive", str(photos.mountpoint), "--name", "Photos", "--category", "images")
    proc = usbsync.start()
    try:
        wait_for(lambda: "drive Photos plugged in" in usbsync.log(), timeout=20)
        photos.unplug()
        for i in range(5):
            (usbsync.source / f"p{i}.png").write_bytes(png_bytes(i))
        wait_for(lambda: len(usbsync.json("pending")["jobs"]) == 5, timeout=20)
        time.sleep(2)  # past the drive monitor's poll: whatever was going to happen has happened
        assert list(photos.mountpoint.iterdir()) == []
        assert usbsync.json("status")["synced"] == 0
    finally:
        code, out = stop(proc)
    assert code == 0, out
    photos.plug()
    usbsync("sync-once")
    assert len(photos.files()) == 5
