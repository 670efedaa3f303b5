"""Routing by content, no second copy, FAT-hostile names on exFAT, a file too big, a look-alike stick, .lst."""

import random

from tests.conftest import mp3_bytes, pdf_bytes, png_bytes
from usbsync_gui.core.hashing import hash_file


def test_routes_by_content_and_never_copies_twice(usbsync, make_drive):
    photos = make_drive("PHOTOS")
    docs = make_drive("DOCS")
    usbsync("register-drive", str(photos.mountpoint), "--name", "Photos", "--category", "images")
    usbsync(
        "register-drive",
        str(docs.mountpoint),
        "--name",
        "Docs",
        "--category",
        "documents",
        "--category",
        "audio",
    )
    src = usbsync.source
    (src / "camera").mkdir()
    (src / "camera" / "IMG_0001.txt").write_bytes(png_bytes(1))  # a PNG named .txt is an image
    (src / "report.dat").write_bytes(pdf_bytes())
    (src / "notes.txt").write_text("shopping list\n")
    (src / "song").write_bytes(mp3_bytes())
    (src / "blob.bin").write_bytes(random.Random(3).randbytes(5000))  # nothing says what it is

    p = usbsync("sync-once")
    assert "4 files copied" in p.stdout
    assert photos.files() == {"camera/IMG_0001.txt": png_bytes(1)}
    assert set(docs.files()) == {"report.dat", "notes.txt", "song"}
    assert docs.files()["report.dat"] == pdf_bytes()

    again = usbsync("sync-once")
    assert "0 files copied" in again.stdout
    assert len(photos.files()) == 1 and len(docs.files()) == 3
    status = usbsync.json("status")
    assert (status["pending"], status["failed"], status["synced"]) == (0, 0, 4)
    assert status["unclassified"] == 1
    csv_text = (usbsync.home / "logs" / "file_operations.csv").read_text()
    assert csv_text.splitlines()[0] == (
        "timestamp,operation,source,destination,drive,size_bytes,blake3,duration_ms,status,error"
    )
    assert csv_text.count(",copy,") == 4


def test_fat_hostile_names_on_exfat(usbsync, make_drive):
    stick = make_drive("STICK", fstype="exfat")
    usbsync("register-drive", str(stick.mountpoint), "--name", "Stick", "--category", "images")
    src = usbsync.source
    names = {
        "a:b?c.png": "a_b_c.png",
        "CON.png": "CON_.png",
        "trailing. ": "trailing__",
        'q"<x>|y*.png': "q__x__y_.png",
        "Case.png": None,  # these two collide on a case-insensitive filesystem
        "case.png": None,
    }
    for i, name in enumerate(names):
        (src / name).write_bytes(png_bytes(i))
    usbsync("sync-once")
    on_drive = stick.files()
    for i, (name, safe) in enumerate(names.items()):
        if safe:
            assert on_drive[safe] == png_bytes(i), name
    lower = {k.lower(): v for k, v in on_drive.items()}
    assert {lower["case.png"], lower["case (1).png"]} == {png_bytes(4), png_bytes(5)}
    assert usbsync.json("status")["pending"] == 0


def test_file_too_big_waits_and_the_rest_goes_on(usbsync, make_drive):
    small = make_drive("SMALL", size_mib=32)
    usbsync("register-drive", str(small.mountpoint), "--name", "Small", "--category", "videos")
    (small.mountpoint / "filler.bin").write_bytes(bytes(16 << 20))  # the user's own files take half of it
    src = usbsync.source
    (src / "big.mp4").write_bytes(random.Random(1).randbytes(20 << 20))  # fits an empty Small, not this one
    (src / "huge.mp4").write_bytes(random.Random(3).randbytes(40 << 20))  # bigger than the whole drive
    (src / "clip.mp4").write_bytes(random.Random(2).randbytes(1 << 20))
    p = usbsync("sync-once", check=1)  # huge.mp4 failed: freeing space on Small cannot help
    assert "1 file copied" in p.stdout
    assert set(small.files()) == {"clip.mp4"}
    jobs = {j["file"].rsplit("/", 1)[-1]: j for j in usbsync.json("pending")["jobs"]}
    assert (jobs["big.mp4"]["state"], jobs["big.mp4"]["reason"]) == ("pending", "not enough space on Small")
    assert jobs["huge.mp4"]["state"] == "failed"
    assert jobs["huge.mp4"]["reason"].startswith("too big for Small: 41.9 MB does not fit on a ")
    assert not list(small.mountpoint.rglob("*.part"))
    # Looking again (every plug-in, every mount-table change) does not say it again: one audit row each.
    usbsync("sync-once", check=0)
    audit = (usbsync.home / "logs" / "file_operations.csv").read_text()
    rows = [r for r in audit.splitlines() if ",copy," in r]
    assert sum("big.mp4" in r and ",deferred," in r for r in rows) == 1, audit
    assert sum("huge.mp4" in r and ",failed," in r for r in rows) == 1, audit


def test_lookalike_stick_with_same_label_receives_nothing(usbsync, make_drive):
    real = make_drive("PHOTOS")
    usbsync("register-drive", str(real.mountpoint), "--name", "Photos", "--category", "images")
    at = real.mountpoint
    real.unplug()
    fake = make_drive("PHOTOS", plug=False)
    fake.plug(at)  # same label, same mount path: only the marker is missing
    (usbsync.source / "a.png").write_bytes(png_bytes(1))
    usbsync("sync-once")
    assert fake.files() == {}
    vols = {v["mountpoint"]: v for v in usbsync.json("list-connected")["volumes"]}
    # Same label as Photos, no marker: reported as a look-alike (perhaps Photos re-formatted), never written to.
    assert vols[str(at)]["status"] == "look-alike" and vols[str(at)]["drive"] is None
    assert "if you re-formatted Photos, register it again" in vols[str(at)]["message"]
    assert usbsync.json("pending")["jobs"][0]["state"] == "pending"


def test_manifest_pointing_outside_the_source_is_refused(usbsync, make_drive, tmp_path):
    photos = make_drive("PHOTOS")
    usbsync("register-drive", str(photos.mountpoint), "--name", "Photos", "--category", "images")
    secret = tmp_path / "private.png"
    secret.write_bytes(png_bytes(9))
    src = usbsync.source
    (src / "keep.png").write_bytes(png_bytes(1))
    (src / "send.lst").write_text(f"# to the stick\nkeep.png\n../private.png\n{secret}\nmissing.png\n")
    p = usbsync("sync-once")
    assert photos.files() == {"keep.png": png_bytes(1)}
    log = usbsync.log()
    assert "send.lst:3: refused ../private.png: outside the source folders" in log
    assert f"send.lst:4: refused {secret}: outside the source folders" in log
    assert "send.lst:5: listed file not found: missing.png" in log
    assert "refused" in p.stderr


def test_verified_copy_matches_source_hash(usbsync, make_drive):
    photos = make_drive("PHOTOS", fstype="exfat")
    usbsync("register-drive", str(photos.mountpoint), "--name", "Photos", "--category", "videos")
    data = random.Random(5).randbytes(9 << 20)
    (usbsync.source / "v.mp4").write_bytes(data)
    usbsync("sync-once")
    assert hash_file(photos.mountpoint / "USBSync" / "v.mp4") == hash_file(usbsync.source / "v.mp4")
