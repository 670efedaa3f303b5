"""Safe eject: directly, through the running engine (mid-copy), and automatically after a sync."""

import os
import random
import re

from tests.conftest import png_bytes
from tests.e2e.conftest import stop, wait_for


def _status_pending(usbsync, name: str) -> int:
    """Files waiting for drive ``name`` as `usbsync status` counts them (the one summary)."""
    [drive] = [d for d in usbsync.json("status")["drives"] if d["name"] == name]
    return int(drive["pending"])


def _will_wait(message: str) -> int:
    """The count in an eject's "…; N files will wait for it" (0 when it says none)."""
    m = re.search(r"; (\d+) files? will wait for it$", message)
    return int(m[1]) if m else 0


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
        assert _will_wait(p.stdout.strip()) == _status_pending(
            usbsync, "Video"
        )  # the engine says what status says
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


def test_eject_without_the_engine_counts_what_waits_as_status_does(usbsync, make_drive):
    video = make_drive("VIDEO", size_mib=64)
    usbsync("register-drive", str(video.mountpoint), "--name", "Video", "--category", "videos")
    for i in range(3):  # 3 x 24 MiB for a 64 MiB drive: the first ones fit, the last waits for space
        (usbsync.source / f"clip{i}.mp4").write_bytes(random.Random(10 + i).randbytes(24 << 20))
    usbsync("sync-once", check=None)
    waiting = _status_pending(usbsync, "Video")
    assert 0 < waiting < 3
    p = usbsync("eject", "Video")
    assert _will_wait(p.stdout.strip()) == waiting == _status_pending(usbsync, "Video"), p.stdout
    assert p.stdout.strip().startswith("Video ejected (unmounted): safe to unplug; ")
    assert not os.path.ismount(video.mountpoint)


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
