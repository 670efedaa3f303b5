"""Issue 7 on the source side, with the real ``usbsync`` command: links that leave the outbox, names that are
not UTF-8 and bad manifest lines, and the inotify watch limit (lowered in a user namespace of its own, so the
machine's limit is never touched)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.conftest import png_bytes
from tests.e2e.conftest import USBSYNC, stop, wait_for


def test_links_out_of_the_outbox_never_reach_the_drive(usbsync, make_drive, tmp_path):
    stick = make_drive("DOCS")
    usbsync("register-drive", str(stick.mountpoint), "--name", "Docs", "--category", "documents")
    secret = tmp_path / "dot-ssh" / "id_ed25519"
    secret.parent.mkdir()
    secret.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nsecret\n")
    src = usbsync.source
    (src / "notes.txt").symlink_to(secret)
    (src / "passwd").symlink_to("/etc/passwd")
    (src / "report.txt").write_text("quarterly report\n")
    (src / "same.txt").symlink_to(src / "report.txt")  # inside: synced under its own name
    (src / "send.lst").write_text("notes.txt\n")
    usbsync("sync-once")
    files = stick.files()
    # same.txt (a link inside) is read under its own name; whichever of the two the copier takes first is
    # written, the other is found already there (which one depends on the stability window's timing: a file
    # still "fresh" at the scan is taken a moment later). Nothing from outside the outbox ever is.
    assert list(files.values()) == [b"quarterly report\n"] and set(files) <= {"report.txt", "same.txt"}, files
    usbsync("sync-once")  # again: still refused, not logged again
    log = usbsync.log()
    assert log.count("refused ") - log.count("send.lst:") == 2, log
    assert "passwd: a symbolic link that leads outside the source folders (to /etc/passwd)" in log


def test_bad_names_and_bad_manifest_lines_stop_nothing(usbsync, make_drive):
    stick = make_drive("STICK", fstype="exfat")
    usbsync("register-drive", str(stick.mountpoint), "--name", "Stick", "--category", "images")
    src = os.fsencode(usbsync.source)
    for i, name in enumerate([b"a.png", b"caf\xe9.png", b"\xff\xfe.png", b"z.png"]):
        with open(os.path.join(src, name), "wb") as fh:
            fh.write(png_bytes(i))
    with open(os.path.join(src, b"x.tmp"), "wb") as fh:
        fh.write(png_bytes(9))
    with open(os.path.join(src, b"list.lst"), "wb") as fh:
        fh.write(b"bad\x00line.png\nx.tmp\n")
    p = usbsync("sync-once")
    assert "Logging error" not in p.stderr
    assert stick.files() == {
        "a.png": png_bytes(0),
        "caf_.png": png_bytes(1),
        "__.png": png_bytes(2),
        "z.png": png_bytes(3),
        "x.tmp": png_bytes(9),
    }
    assert "list.lst:1: refused" in usbsync.log()
    assert usbsync.json("status")["pending"] == 0


def test_usbsync_run_queues_files_already_there_despite_a_bad_name(usbsync):
    src = os.fsencode(usbsync.source)
    for i, name in enumerate([b"a.png", b"\xff.png", b"z.png"]):
        with open(os.path.join(src, name), "wb") as fh:
            fh.write(png_bytes(i))
    proc = usbsync.start()
    try:
        wait_for(lambda: "scan: 3 files" in usbsync.log(), timeout=20)
    finally:
        code, out = stop(proc)
    assert code == 0 and "Traceback" not in out and "Logging error" not in out, out


def _userns_available() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "--user", "--map-root-user", "sh", "-c", "echo 5 > /proc/sys/user/max_inotify_watches"],
        capture_output=True,
    )
    return probe.returncode == 0


LIMIT = 12
FOLDERS = 30


def _start_with_watch_limit(usbsync):
    """``usbsync run`` in a user namespace of its own whose inotify watch limit is :data:`LIMIT`."""
    if not _userns_available():
        pytest.skip("needs root and a user namespace whose max_inotify_watches can be set (unshare)")
    env = {**usbsync.env, "USBSYNC_WATCH_RETRY_SECONDS": "1"}
    cmd = f"echo {LIMIT} > /proc/sys/user/max_inotify_watches && exec {USBSYNC} run"
    return subprocess.Popen(
        ["unshare", "--user", "--map-root-user", "sh", "-c", cmd],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _tree(usbsync) -> list:
    folders = [usbsync.source / f"album{i:02d}" for i in range(FOLDERS)]
    for f in folders:
        f.mkdir()
    return folders


def test_watch_limit_is_reported_and_unwatched_folders_still_get_queued(usbsync, make_drive):
    stick = make_drive("PHOTOS", plug=False)  # not plugged: files wait in the queue
    stick.plug()
    usbsync("register-drive", str(stick.mountpoint), "--name", "Photos", "--category", "images")
    stick.unplug()
    folders = _tree(usbsync)
    proc = _start_with_watch_limit(usbsync)
    try:
        wait_for(lambda: "watching incomplete" in usbsync.log(), timeout=20)
        log = usbsync.log()
        assert "fs.inotify.max_user_watches" in log and f"= {LIMIT}" in log
        # Files arrive in every folder after the start: events from the watched ones, the periodic rescan
        # for the others.
        for i, f in enumerate(folders):
            (f / f"p{i}.png").write_bytes(png_bytes(i))
        wait_for(lambda: usbsync.json("status")["pending"] == FOLDERS, timeout=20)
    finally:
        code, out = stop(proc)
    assert code == 0, out
    assert log.count("watching incomplete") == 1  # said once, not at every retry


def test_watch_limit_shows_in_status(usbsync):
    _tree(usbsync)
    proc = _start_with_watch_limit(usbsync)
    try:
        wait_for(lambda: "watching incomplete" in usbsync.log(), timeout=20)
        status = usbsync.json("status")
        (note,) = [n for n in status["notices"] if n["kind"] == "watching_incomplete"]
        assert "fs.inotify.max_user_watches" in note["message"], note
        text = usbsync("status").stdout
        assert "watching incomplete" in text.lower() and "max_user_watches" in text, text
    finally:
        stop(proc)


def test_a_name_that_is_not_utf8_dropped_while_running_lands(usbsync, make_drive):
    """Found walking through as a user: the watcher's paths crossed to the ingest thread as a Qt list, whose
    QString conversion dropped the undecodable byte, so 'caf\\xe9.png' became 'caf.png' and was never found."""
    stick = make_drive("PHOTOS", fstype="exfat")
    usbsync("register-drive", str(stick.mountpoint), "--name", "Photos", "--category", "images")
    usbsync.source.mkdir(parents=True, exist_ok=True)
    proc = usbsync.start()
    try:
        wait_for(lambda: f"watching {usbsync.source}" in usbsync.log(), timeout=20)
        with open(os.fsencode(usbsync.source) + b"/caf\xe9-latin1.png", "wb") as fh:
            fh.write(png_bytes(7))
        wait_for(lambda: stick.files() == {"caf_-latin1.png": png_bytes(7)}, timeout=20)
    finally:
        rc, out = stop(proc)
    assert rc == 0 and "Traceback" not in out, out
