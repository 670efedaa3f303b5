"""`usbsync verify` on real volumes: the drive's manifest lists what usbsync wrote there, and verify reads every
listed file back from the device. A healthy drive exits 0; a flipped byte, a deleted copy (exit 1, named) and
an added file (reported as unknown, not a failure); the same with the state database deleted, from the drive's
manifest alone. ext4 through the kernel and exFAT through FUSE (a stick as most people have it)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import png_bytes
from usbsync_gui.core import manifest

pytestmark = pytest.mark.e2e


def _manifest_lines(mount) -> list[dict]:
    """The entry lines of the drive's manifest (not its header or its batches' trailers)."""
    path = mount / manifest.MANIFEST
    lines = path.read_text().splitlines() if path.exists() else []
    return [json.loads(x) for x in lines if x.startswith('{"folder"')]


@pytest.mark.parametrize("fstype", ["ext4", "exfat"])
def test_verify_a_healthy_drive_then_a_damaged_one_also_without_the_database(usbsync, make_drive, fstype):
    photos = make_drive("PHOTOS", fstype=fstype, size_mib=64)
    usbsync("register-drive", str(photos.mountpoint), "--name", "Photos", "--category", "images")
    names = ["a.png", "b.png", "sub/c.png", "sub/d é.png"]
    for i, name in enumerate(names):
        (usbsync.source / name).parent.mkdir(parents=True, exist_ok=True)
        (usbsync.source / name).write_bytes(png_bytes(i) + bytes(50_000 * i))
    usbsync("sync-once")
    assert sorted(photos.files()) == sorted(names)

    # The manifest on the drive lists each copy: path in the drive's folder, size, hash, source.
    listed = {e["path"]: e for e in _manifest_lines(photos.mountpoint)}
    assert sorted(listed) == sorted(names)
    assert listed["sub/c.png"]["folder"] == "USBSync" and listed["sub/c.png"]["source"] == "sub/c.png"
    assert listed["b.png"]["size"] == len((usbsync.source / "b.png").read_bytes())

    p = usbsync("verify", "Photos")
    assert (
        "4 files listed, 4 read back from the device and matching" in p.stdout
        and "all files match" in p.stdout
    )
    data = usbsync.json("verify", "Photos")
    assert (
        data["all_match"] and data["ok"] == 4 and data["missing"] == data["changed"] == data["unknown"] == []
    )

    # A byte flipped in one copy (same size), one copy deleted, a file the user added.
    c = photos.mountpoint / "USBSync" / "sub" / "c.png"
    raw = bytearray(c.read_bytes())
    raw[100] ^= 0xFF
    c.write_bytes(bytes(raw))
    (photos.mountpoint / "USBSync" / "a.png").unlink()
    (photos.mountpoint / "USBSync" / "notes.txt").write_text("mine")
    for db_state in ("with the database", "without the database"):
        if db_state == "without the database":
            for f in usbsync.home.glob("state/*.db*"):
                f.unlink()
            assert not list(usbsync.home.glob("state/*.db"))
        p = usbsync("verify", "Photos", check=1)
        assert "missing: USBSync/a.png" in p.stdout, (db_state, p.stdout)
        assert "changed: USBSync/sub/c.png (content differs)" in p.stdout, (db_state, p.stdout)
        assert "unknown (not written by usbsync; not a failure): USBSync/notes.txt" in p.stdout, p.stdout
        data = json.loads(usbsync("verify", "Photos", "--json", check=1).stdout)
        assert data["ok"] == 2 and data["missing"] == ["USBSync/a.png"]
        assert data["changed"] == [{"path": "USBSync/sub/c.png", "why": "content differs"}]
        assert data["unknown"] == ["USBSync/notes.txt"]


def test_verify_names_a_drive_that_is_not_plugged_in_or_not_registered(usbsync, make_drive):
    photos = make_drive("PHOTOS", size_mib=32)
    usbsync("register-drive", str(photos.mountpoint), "--name", "Photos", "--category", "images")
    photos.unplug()
    p = usbsync("verify", "Photos", check=2)
    assert p.stderr.strip() == "usbsync: Photos is not plugged in"
    p = usbsync("verify", "Docs", check=2)
    assert p.stderr.strip() == "usbsync: no drive named 'Docs' (drives: Photos)"


def test_a_drive_written_before_manifests_gets_one_from_the_database_at_its_next_arrival(usbsync, make_drive):
    photos = make_drive("PHOTOS", size_mib=32)
    usbsync("register-drive", str(photos.mountpoint), "--name", "Photos", "--category", "images")
    (usbsync.source / "a.png").write_bytes(png_bytes(1))
    usbsync("sync-once")
    # as a drive written by a version without manifests: the copies are there, the manifest is not
    (photos.mountpoint / manifest.MANIFEST).unlink()
    assert "has no manifest yet" in usbsync("verify", "Photos").stdout
    photos.unplug()
    photos.plug()
    usbsync("sync-once")  # the drive's arrival: the copies the database records are listed on it
    assert [e["path"] for e in _manifest_lines(photos.mountpoint)] == ["a.png"]
    assert "all files match" in usbsync("verify", "Photos").stdout


def test_after_the_database_is_lost_the_manifest_says_which_copies_are_ours(usbsync, make_drive):
    """A rebuilt (here: deleted) database knows no copies. The drive's manifest says which files usbsync wrote:
    an edited source replaces its own copy instead of landing beside it as 'a (1).png', and nothing is copied
    twice."""
    photos = make_drive("PHOTOS", size_mib=32)
    usbsync("register-drive", str(photos.mountpoint), "--name", "Photos", "--category", "images")
    (usbsync.source / "a.png").write_bytes(png_bytes(1))
    (usbsync.source / "b.png").write_bytes(png_bytes(2))
    usbsync("sync-once")
    b_mtime = (photos.mountpoint / "USBSync" / "b.png").stat().st_mtime_ns
    for f in usbsync.home.glob("state/*.db*"):
        f.unlink()
    (usbsync.source / "a.png").write_bytes(png_bytes(3))  # edited while the database was gone
    photos.unplug()
    photos.plug()
    usbsync("sync-once")
    assert photos.files() == {"a.png": png_bytes(3), "b.png": png_bytes(2)}
    assert (photos.mountpoint / "USBSync" / "b.png").stat().st_mtime_ns == b_mtime  # not written again
    assert "all files match" in usbsync("verify", "Photos").stdout
    assert "copies recorded from its manifest" in usbsync.log()
