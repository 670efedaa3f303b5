"""Pre-flight on real volumes: a read-only mount, and names too long for one filesystem but not another."""

import subprocess

from tests.conftest import png_bytes


def test_read_only_mount_waits_with_a_clear_reason(usbsync, make_drive):
    photos = make_drive("PHOTOS")
    usbsync("register-drive", str(photos.mountpoint), "--name", "Photos", "--category", "images")
    subprocess.run(["mount", "-o", "remount,ro", str(photos.mountpoint)], check=True)
    (usbsync.source / "a.png").write_bytes(png_bytes(1))
    for _ in range(3):
        usbsync("sync-once")  # exit 0: waiting is not failing
    jobs = usbsync.json("pending")["jobs"]
    assert [(j["state"], j["attempts"]) for j in jobs] == [("pending", 0)]
    assert jobs[0]["reason"].startswith("Photos is mounted read-only")
    vol = next(
        v for v in usbsync.json("list-connected")["volumes"] if v["mountpoint"] == str(photos.mountpoint)
    )
    assert vol["read_only"] and vol["status"] == "registered"
    subprocess.run(["mount", "-o", "remount,rw", str(photos.mountpoint)], check=True)
    usbsync("sync-once")
    assert photos.files() == {"a.png": png_bytes(1)}


def test_long_names_fit_each_filesystem(usbsync, make_drive):
    card = make_drive("CARD", fstype="exfat")  # the source: a camera card, where such names are legal
    usbsync("init", "--force", "--source", str(card.mountpoint))
    usbsync.set("stability_window_seconds", "0.3")
    ext4 = make_drive("LINUX")
    exfat = make_drive("STICK", fstype="exfat")
    usbsync("register-drive", str(ext4.mountpoint), "--name", "Linux", "--category", "images")
    usbsync("register-drive", str(exfat.mountpoint), "--name", "Stick", "--category", "images")
    name = "写真" * 60 + ".png"  # 120 UTF-16 units (fine on exFAT), 364 bytes of UTF-8 (over ext4's 255)
    (card.mountpoint / name).write_bytes(png_bytes(3))
    deep = card.mountpoint / "/".join(f"{i:02d}-a-folder-with-a-long-descriptive-name" for i in range(7))
    deep.mkdir(parents=True)
    (deep / "IMG_0001.png").write_bytes(png_bytes(4))  # over 255 units from the drive root on the stick
    p = usbsync("sync-once")
    assert "4 files copied" in p.stdout, p.stdout + p.stderr
    on_stick, on_ext4 = exfat.files(), ext4.files()
    assert on_stick[name] == png_bytes(3)
    [long_on_ext4] = [k for k in on_ext4 if k.startswith("写真")]
    assert len(long_on_ext4.encode()) <= 255 and long_on_ext4.endswith(".png")
    deep_rel = str(deep.relative_to(card.mountpoint)) + "/IMG_0001.png"
    assert on_ext4[deep_rel] == png_bytes(4)  # ext4 keeps the path as it is
    [deep_on_stick] = [k for k in on_stick if k.endswith("/IMG_0001.png")]
    assert len(("USBSync/" + deep_on_stick).encode("utf-16-le")) // 2 <= 255 and deep_on_stick != deep_rel


def test_a_drive_remounted_writable_while_running_gets_its_files(usbsync, make_drive):
    """The engine notices a remount in place (read-only -> writable, as after a lock switch) as a new mounting."""
    import signal

    from tests.e2e.conftest import stop, wait_for

    photos = make_drive("PHOTOS")
    usbsync("register-drive", str(photos.mountpoint), "--name", "Photos", "--category", "images")
    subprocess.run(["mount", "-o", "remount,ro", str(photos.mountpoint)], check=True)
    usbsync.source.mkdir(parents=True, exist_ok=True)
    (usbsync.source / "a.png").write_bytes(png_bytes(1))
    proc = usbsync.start()
    try:
        wait_for(lambda: "mounted read-only" in usbsync.log(), timeout=20)
        subprocess.run(["mount", "-o", "remount,rw", str(photos.mountpoint)], check=True)
        wait_for(lambda: photos.files() == {"a.png": png_bytes(1)}, timeout=20)
    finally:
        rc, out = stop(proc, signal.SIGTERM)
    assert rc == 0, out


def test_space_freed_and_a_quick_replug_while_running_lets_the_waiting_files_go(usbsync, make_drive):
    """A full drive: files wait for space. The user frees space and re-plugs the stick at once (same place,
    same device): whether or not the engine saw it leave, its files must go."""
    import os
    import signal

    from tests.e2e.conftest import stop, wait_for

    photos = make_drive("PHOTOS", size_mib=16)
    usbsync("register-drive", str(photos.mountpoint), "--name", "Photos", "--category", "images")
    filler = photos.mountpoint / "filler.bin"
    free = os.statvfs(photos.mountpoint).f_bavail * os.statvfs(photos.mountpoint).f_frsize
    filler.write_bytes(b"\0" * (free - (1 << 20)))  # ~1 MiB left
    usbsync.source.mkdir(parents=True, exist_ok=True)
    big = [png_bytes(i) + bytes(700_000) for i in range(3)]  # 2.1 MB: does not fit
    for i, data in enumerate(big):
        (usbsync.source / f"b{i}.png").write_bytes(data)
    proc = usbsync.start()
    try:
        wait_for(lambda: "not enough space on Photos" in usbsync.log(), timeout=20)
        filler.unlink()
        at = photos.mountpoint
        subprocess.run(["umount", str(at)], check=True)  # the same loop device comes back (lowest free)
        subprocess.run(["mount", "-o", "loop", str(photos.image), str(at)], check=True)
        wait_for(lambda: photos.files() == {f"b{i}.png": big[i] for i in range(3)}, timeout=20)
    finally:
        rc, out = stop(proc, signal.SIGTERM)
    assert rc == 0, out
