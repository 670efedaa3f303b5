"""Safe eject: directly, through the running engine (mid-copy), and automatically after a sync."""

import os
import random

from tests.conftest import png_bytes
from tests.e2e.conftest import stop, wait_for


def test_eject_without_the_engine(usbsync, make_drive):
    photos = make_drive("PHOTOS", fstype="exfat")
    usbsync("register-drive", str(photos.mountpoint), "--name", "Photos", "--category", "images")
    (usbsync.source / "a.png").write_bytes(png_bytes(1))
    usbsync("sync-once")
    p = usbsync("eject", "photos")
    assert p.stdout.strip() == "Photos ejected (unmounted): safe to unplug"
    assert not os.path.ismount(photos.mountpoint)
    assert usbsync("eject", "Photos", check=2).stderr.strip() == "usbsync: Photos is not plugged in"
    assert "no drive named 'Nope'" in usbsync("eject", "Nope", check=2).stderr


def test_eject_through_the_running_engine_mid_copy(usbsync, make_drive):
    video = make_drive("VIDEO", fstype="exfat", size_mib=128)
    usbsync("register-drive", str(video.mountpoint), "--name", "Video", "--category", "videos")
    usbsync.set("max_copy_rate_mib_s", "8")
    (usbsync.source / "film.mp4").write_bytes(random.Random(3).randbytes(32 << 20))
    proc = usbsync.start()
    try:
        wait_for(lambda: any(video.mountpoint.rglob(".usbsync-*.part")), timeout=30)
        p = usbsync("eject", "Video")
        assert p.stdout.strip() == "Video ejected (unmounted): safe to unplug; 1 file will wait for it"
        assert not os.path.ismount(video.mountpoint)
        jobs = usbsync.json("pending")["jobs"]
        assert [(j["state"], j["reason"]) for j in jobs] == [("pending", "ejected before the copy finished")]
        assert proc.poll() is None
        video.unplug()
        usbsync.set("max_copy_rate_mib_s", "0")
        wait_for(lambda: "configuration changed" in usbsync.log(), timeout=10)
        video.plug()
        wait_for(lambda: usbsync.json("status")["synced"] == 1, timeout=30)
    finally:
        code, out = stop(proc)
    assert code == 0, out
    assert list(video.files()) == ["film.mp4"] and not list(video.mountpoint.rglob(".usbsync-*.part"))


def test_auto_eject_after_the_queue_drains(usbsync, make_drive):
    photos = make_drive("PHOTOS")
    usbsync("register-drive", str(photos.mountpoint), "--name", "Photos", "--category", "images")
    cfg = usbsync.home / "config.toml"
    cfg.write_text(cfg.read_text().replace("auto_eject = false", "auto_eject = true"))
    usbsync("validate")
    (usbsync.source / "a.png").write_bytes(png_bytes(1))
    proc = usbsync.start()
    try:
        wait_for(
            lambda: "auto-eject: Photos ejected (unmounted): safe to unplug" in usbsync.log(), timeout=20
        )
        assert not os.path.ismount(photos.mountpoint)
    finally:
        code, out = stop(proc)
    assert code == 0, out
    photos.plug()
    assert photos.files() == {"a.png": png_bytes(1)}
