"""Several drives for one category, and what the user sees before a drive is plugged in."""

from tests.conftest import png_bytes
from usbsync_gui.core.hashing import hash_file


def test_two_drives_for_one_category_each_get_a_verified_copy(usbsync, make_drive):
    a = make_drive("BACKUP-A", fstype="exfat")
    b = make_drive("BACKUP-B")
    usbsync("register-drive", str(a.mountpoint), "--name", "Photos A", "--category", "images")
    usbsync("register-drive", str(b.mountpoint), "--name", "Photos B", "--category", "images")
    b.unplug()
    for i in range(3):
        (usbsync.source / f"{i}.png").write_bytes(png_bytes(i))
    usbsync("sync-once")
    drives = {d["name"]: d for d in usbsync.json("status")["drives"]}
    assert (drives["Photos A"]["synced"], drives["Photos A"]["pending"]) == (3, 0)
    assert (drives["Photos B"]["synced"], drives["Photos B"]["pending"]) == (0, 3)
    listing = usbsync("list-drives").stdout
    assert "Photos B (images -> USBSync/): not plugged in" in listing
    assert "3 files, 207 bytes waiting; " in listing and " free when last seen; 0 failed, 0 synced" in listing
    status = usbsync("status").stdout
    assert "Photos A (connected): 0 files (0 bytes) waiting, 0 failed, 3 synced" in status
    b.plug()
    usbsync("sync-once")
    for d in (a, b):
        assert d.files() == {f"{i}.png": png_bytes(i) for i in range(3)}
        assert hash_file(d.mountpoint / "USBSync" / "0.png") == hash_file(usbsync.source / "0.png")
    assert usbsync.json("status")["synced"] == 6


def test_list_connected_shows_what_the_os_says(usbsync, make_drive):
    import subprocess

    stick = make_drive("MYSTICK", fstype="exfat")
    uuid = subprocess.run(
        ["blkid", "-p", "-s", "UUID", "-o", "value", stick.loop], capture_output=True, text=True, check=True
    ).stdout.strip()
    v = next(v for v in usbsync.json("list-connected")["volumes"] if v["mountpoint"] == str(stick.mountpoint))
    assert (v["label"], v["filesystem"], v["volume_id"], v["status"]) == ("MYSTICK", "exfat", uuid, "unknown")
    assert v["removable"] is False and v["read_only"] is False and v["total_bytes"] > v["free_bytes"] > 0
    usbsync("register-drive", str(stick.mountpoint), "--name", "Stick", "--category", "images")
    line = next(
        ln for ln in usbsync("list-connected").stdout.splitlines() if ln.startswith(str(stick.mountpoint))
    )
    assert f"'MYSTICK'  exfat  id {uuid}" in line and line.endswith("[registered drive 'Stick']")
