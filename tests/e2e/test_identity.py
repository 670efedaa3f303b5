"""Identity bound to the volume: a copied marker and a re-formatted stick."""

import shutil
import subprocess

from tests.conftest import png_bytes


def test_copied_marker_on_a_same_label_exfat_stick_receives_nothing(usbsync, make_drive):
    real = make_drive("PHOTOS", fstype="exfat")
    usbsync("register-drive", str(real.mountpoint), "--name", "Photos", "--category", "images")
    fake = make_drive("PHOTOS", fstype="exfat")  # same label, different volume serial
    shutil.copytree(real.mountpoint / ".usbsync", fake.mountpoint / ".usbsync")
    real.unplug()
    (usbsync.source / "a.png").write_bytes(png_bytes(1))
    usbsync("sync-once")
    assert fake.files() == {}
    vols = {v["mountpoint"]: v for v in usbsync.json("list-connected")["volumes"]}
    v = vols[str(fake.mountpoint)]
    assert v["status"] == "look-alike" and v["drive"] is None and v["filesystem"] == "exfat"
    assert "looks like Photos" in v["message"] and "not the registered one" in v["message"]
    assert "looks like Photos" in usbsync.log()
    real.plug()
    usbsync("sync-once")
    assert real.files() == {"a.png": png_bytes(1)}


def test_reformatted_stick_must_be_registered_again(usbsync, make_drive):
    stick = make_drive("PHOTOS", fstype="exfat")
    usbsync("register-drive", str(stick.mountpoint), "--name", "Photos", "--category", "images")
    old_id = usbsync.json("list-drives")["drives"][0]["id"]
    stick.unplug()
    subprocess.run(["mkfs.exfat", "-L", "PHOTOS", str(stick.image)], check=True, capture_output=True)
    stick.plug()
    (usbsync.source / "a.png").write_bytes(png_bytes(1))
    usbsync("sync-once")
    assert stick.files() == {}
    v = next(v for v in usbsync.json("list-connected")["volumes"] if v["mountpoint"] == str(stick.mountpoint))
    assert v["status"] == "look-alike" and "if you re-formatted Photos, register it again" in v["message"]
    # Registering it again under the same name: same drive entry, new volume binding, and the file goes.
    p = usbsync("register-drive", str(stick.mountpoint), "--name", "Photos", "--category", "images")
    assert "re-registered drive 'Photos'" in p.stdout
    drives = usbsync.json("list-drives")["drives"]
    assert len(drives) == 1 and drives[0]["id"] == old_id
    usbsync("sync-once")
    assert stick.files() == {"a.png": png_bytes(1)}


def test_the_same_name_is_refused_while_that_drive_is_plugged_in(usbsync, make_drive):
    a = make_drive("A", fstype="exfat")
    b = make_drive("B")
    usbsync("register-drive", str(a.mountpoint), "--name", "Photos", "--category", "images")
    p = usbsync("register-drive", str(b.mountpoint), "--name", "Photos", "--category", "images", check=2)
    assert f"a drive named 'Photos' is plugged in at {a.mountpoint}" in p.stderr
