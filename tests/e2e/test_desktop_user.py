"""usbsync as a desktop user lives with it: not root, the stick mounted by UDisks2 at ``/media/USER/LABEL``.

For this module only, the desktop's storage stack runs (the system D-Bus, udevd, polkitd, UDisks2; see
:mod:`tests.e2e.desktop_stack`), with a polkit rule giving one unprivileged system user, ``usbsync-desktop``,
what an active desktop session has. That user plugs a stick in the way a file manager does (``udisksctl
loop-setup`` on an image the user owns, ``udisksctl mount``), registers it, unplugs it, runs ``usbsync run``,
drops files into the outbox, plugs the stick in again and asks usbsync to make it safe to unplug. Every usbsync
command runs as that user (``setpriv``), with its own ``USBSYNC_HOME``; the user is in no extra group (not in
``disk``: a desktop user cannot read block devices, so usbsync gets the volume's UUID from udev).

The stick is ext4 (made with ``root_owner`` so the user can write to it): this kernel has no exfat or vfat, so
UDisks2 can mount nothing else here (FUSE mounts would be root's, not UDisks2's).

Needs root (to start the stack); skips when not root or when the stack's packages are missing (``make test``
installs them as root).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import pdf_bytes, png_bytes
from tests.e2e import desktop_stack
from tests.e2e.conftest import CHECKOUT, USBSYNC, Usbsync, stop, system_user, wait_for
from tests.e2e.desktop_stack import DesktopStack, DesktopUser, mounted_at

USER = "usbsync-desktop"
LABEL = "PHOTOS"


@pytest.fixture(scope="module")
def desktop() -> Iterator[DesktopUser]:
    """The storage stack running and the test user's side of it; all of it gone afterwards."""
    if os.geteuid() != 0:
        pytest.skip("needs root to start the desktop storage stack (D-Bus, udevd, polkitd, UDisks2)")
    missing = desktop_stack.missing()
    if missing:
        pytest.skip(
            f"missing: {', '.join(missing)} (Debian: {desktop_stack.PACKAGES}; make test installs them as root)"
        )
    uid, gid = system_user(USER)
    user = DesktopUser(USER, uid, gid)
    runs = subprocess.run(
        [*user.prefix, USBSYNC, "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
        env={**os.environ, "HOME": "/", "PYTHONPATH": str(CHECKOUT)},
    )
    if runs.returncode != 0:
        pytest.skip(
            f"{USER} cannot run {USBSYNC} (the venv must be readable by other users): {runs.stderr[-300:]}"
        )
    stack = DesktopStack(USER)
    try:
        stack.start()
        yield user
    finally:
        forced = user.cleanup()
        problems = stack.stop()
    assert not forced, f"had to be cleaned up as root, not through UDisks2: {forced}"
    assert not problems, problems


@pytest.fixture
def workdir(desktop: DesktopUser) -> Iterator[Path]:
    """A directory the test user owns (pytest's tmp_path is root's, mode 0700)."""
    d = Path(tempfile.mkdtemp(prefix="usbsync-desktop-"))
    os.chown(d, desktop.uid, desktop.gid)
    yield d
    shutil.rmtree(d)


def _stick(user: DesktopUser, where: Path, label: str, volume_id: str, size_mib: int = 64) -> Path:
    """An ext4 image the user owns and can write to, labelled ``label``, with UUID ``volume_id``."""
    image = where / f"{label.lower()}.img"
    subprocess.run(["truncate", "-s", f"{size_mib}M", str(image)], check=True)
    subprocess.run(
        [
            "mkfs.ext4",
            "-q",
            "-E",
            f"root_owner={user.uid}:{user.gid}",
            "-L",
            label,
            "-U",
            volume_id,
            str(image),
        ],
        check=True,
        capture_output=True,
    )
    os.chown(image, user.uid, user.gid)
    return image


def _wait_status(usb: Usbsync, what: str, predicate, timeout: float = 30) -> dict:
    """Poll ``usbsync status --json`` (as the user) until ``predicate(status)``; on a timeout the failure shows
    the last status and the engine's log."""
    last: dict = {}

    def check() -> bool:
        nonlocal last
        last = usb.json("status")
        return bool(predicate(last))

    try:
        wait_for(check, timeout=timeout, interval=0.2)
    except pytest.fail.Exception:
        pytest.fail(f"status never showed {what}:\n{json.dumps(last, indent=1)}\n--- log ---\n{usb.log()}")
    return last


def _as_user(user: DesktopUser, path: Path, data: bytes) -> None:
    """A file the user saved: written, then owned by the user."""
    path.write_bytes(data)
    os.chown(path, user.uid, user.gid)


def test_desktop_user_syncs_to_a_stick_udisks2_mounts(desktop: DesktopUser, workdir: Path):
    user = desktop
    for d in ("home", "usbsync", "outbox"):
        (workdir / d).mkdir()
        os.chown(workdir / d, user.uid, user.gid)
    usb = Usbsync(
        workdir / "usbsync",
        workdir / "outbox",
        prefix=user.prefix,
        extra_env={"HOME": str(workdir / "home"), "USER": user.name, "LOGNAME": user.name},
    )

    # Plugged in: the file manager (UDisks2) mounts it where a desktop does.
    volume_id = str(uuid.uuid4())
    image = _stick(user, workdir, LABEL, volume_id)
    device = user.loop_setup(image)
    media = user.mount(device)
    assert media == Path("/media") / user.name / LABEL
    assert os.stat(media).st_uid == user.uid

    usb("init", "--source", str(usb.source))
    usb.set("stability_window_seconds", "0.3")
    # The user cannot read the block device (blkid -p): the volume ID comes from udev, as on a desktop.
    assert subprocess.run([*user.prefix, "test", "-r", device]).returncode != 0, (
        f"{user.name} can read {device}"
    )
    reg = usb("register-drive", str(media), "--name", "Photos", "--category", "images")
    assert reg.stdout.startswith(f"registered drive 'Photos' at {media} (ext4, volume ID {volume_id}, "), reg
    [drive] = usb.json("list-drives")["drives"]
    assert (drive["name"], drive["connected"], drive["mountpoint"]) == ("Photos", True, str(media)), drive

    # Unplugged (UDisks2 unmounts it; the loop device stays, as a stick stays in the port until pulled).
    user.unmount(device)
    assert not mounted_at(device)

    engine = usb.start()
    try:
        # As a desktop user, usbsync listens to UDisks2 on the system bus (and to the mount table).
        wait_for(lambda: "watching for drives" in usb.log(), timeout=30)
        assert "watching for drives: OS signals mountinfo, udisks2;" in usb.log(), usb.log()
        photo, doc = png_bytes(7), pdf_bytes("desktop")
        _as_user(user, usb.source / "holiday.png", photo)
        _as_user(user, usb.source / "letter.pdf", doc)

        # Queued for the absent stick; the PDF waits for a drive that holds documents (none does).
        status = _wait_status(
            usb, "the photo waiting for Photos", lambda s: s["drives"][0]["pending"] == 1 and s["unrouted"]
        )
        [photos] = status["drives"]
        assert (photos["name"], photos["connected"], status["synced"]) == ("Photos", False, 0), status
        assert [(u["category"], u["files"]) for u in status["unrouted"]] == [("documents", 1)], status
        assert status["pending"] == 2, status  # the photo and the PDF

        # Plugged in again: UDisks2 mounts it at the same place, and the running usbsync notices it.
        assert user.mount(device) == media
        status = _wait_status(usb, "the photo copied", lambda s: s["synced"] == 1)
        log = usb.log()
        assert f"drive Photos plugged in at {media} (noticed by " in log, log
        [photos] = status["drives"]
        assert (photos["pending"], photos["failed"], photos["synced"]) == (0, 0, 1), status
        assert (status["pending"], status["failed"]) == (1, 0), status  # only the PDF, which has no drive
        copies = [p for p in media.rglob("*") if p.is_file() and p.name == "holiday.png"]
        assert [p.relative_to(media).as_posix() for p in copies] == ["USBSync/holiday.png"], copies
        assert copies[0].read_bytes() == photo
        assert copies[0].stat().st_uid == user.uid  # written by the user's usbsync, not root
        assert not list(media.rglob("letter.pdf"))  # no drive holds documents
        assert not list(media.rglob(".usbsync-*.part"))

        # Safe to unplug, as the user asks for it (the running engine does it).
        ejected = usb("eject", "Photos")
        # Unmounted through UDisks2 as the user; a loop device has no drive UDisks2 could power off.
        assert ejected.stdout.strip() == "Photos ejected (unmounted): safe to unplug", ejected
        assert not mounted_at(device), f"{device} still mounted after eject: {mounted_at(device)}"
        # UDisks2 removes the mount point it made: the unmount went through it (a plain umount is root's alone).
        assert not media.exists()
        status = usb.json("status")
        [photos] = status["drives"]
        assert not photos["connected"], status
        assert (photos["pending"], photos["synced"], status["synced"]) == (0, 1, 1), status
        assert engine.poll() is None, "usbsync run ended on its own"
    finally:
        code, out = stop(engine)
    assert code == 0, out
    assert "Traceback" not in out + usb.log(), out + usb.log()

    # What was copied is on the stick, byte for byte, the next time it is plugged in.
    assert user.mount(device) == media
    assert (media / "USBSync" / "holiday.png").read_bytes() == photo
    user.unmount(device)
    user.loop_delete(device)
    assert f"({image})" not in subprocess.run(["losetup", "-a"], capture_output=True, text=True).stdout

    # The audit log says the same: the photo copied (and verified) onto Photos, nothing failed.
    with open(usb.home / "logs" / "file_operations.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    ops = [(r["operation"], Path(r["source"]).name, r["drive"], r["destination"], r["status"]) for r in rows]
    dest = str(media / "USBSync" / "holiday.png")
    assert ops == [
        ("queued", "holiday.png", "Photos", "", "pending"),
        ("copy", "holiday.png", "Photos", dest, "ok"),
    ], ops
