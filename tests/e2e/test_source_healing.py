"""A source folder deleted and recreated while `usbsync run` watches (a user emptying the outbox by deleting it,
a sync tool replacing it): the watch is restarted on the new folder, the log says so, and a file dropped
afterwards still lands on its drive, without waiting for the periodic rescan (2 h by default)."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import png_bytes
from tests.e2e.conftest import stop, wait_for

pytestmark = pytest.mark.e2e


def test_a_source_folder_deleted_and_recreated_is_watched_again(usbsync, make_drive):
    photos = make_drive("PHOTOS", size_mib=32)
    usbsync("register-drive", str(photos.mountpoint), "--name", "Photos", "--category", "images")
    proc = usbsync.start()
    try:
        wait_for(lambda: "drive Photos plugged in" in usbsync.log(), timeout=20)
        (usbsync.source / "a.png").write_bytes(png_bytes(1))
        wait_for(lambda: "a.png" in photos.files(), timeout=20)
        shutil.rmtree(usbsync.source)
        wait_for(lambda: "source folder missing" in " ".join(usbsync.json("status")["attention"]), timeout=20)
        usbsync.source.mkdir()
        wait_for(lambda: f"watch restarted on {usbsync.source}" in usbsync.log(), timeout=20)
        (usbsync.source / "b.png").write_bytes(png_bytes(2))
        wait_for(lambda: "b.png" in photos.files(), timeout=20)
        assert not any("source folder missing" in a for a in usbsync.json("status")["attention"])
    finally:
        code, out = stop(proc)
    assert code == 0, out


def test_a_volume_mounted_over_the_source_folder_is_watched(usbsync, make_drive):
    """A source folder that becomes a mount point (a network share or a second disk mounted there after usbsync
    started) gives no events through the watch on the folder underneath: the watch is restarted on the mount."""
    photos = make_drive("PHOTOS", size_mib=32)
    usbsync("register-drive", str(photos.mountpoint), "--name", "Photos", "--category", "images")
    over = make_drive("OUTBOX2", size_mib=16, plug=False)
    proc = usbsync.start()
    try:
        wait_for(lambda: "drive Photos plugged in" in usbsync.log(), timeout=20)
        over.plug(usbsync.source)  # mounted over the watched folder
        wait_for(
            lambda: "is now on another filesystem (a mount): watch restarted" in usbsync.log(), timeout=20
        )
        (usbsync.source / "on-the-mount.png").write_bytes(png_bytes(5))
        wait_for(lambda: "on-the-mount.png" in photos.files(), timeout=20)
    finally:
        code, out = stop(proc)
        over.unplug()
    assert code == 0, out
