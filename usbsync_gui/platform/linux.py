"""Linux: probe volumes with blkid/udev, eject through UDisks2 (udisksctl) or umount.

UUID sources, in order: the udev symlinks in ``/dev/disk/by-uuid`` (any user, desktop systems), ``lsblk``
(udev database), then ``blkid -p`` on the device (probes the superblock; needs read access to the device, so
root or the disk group). Plain ``blkid`` is never used: it answers from a cache and gives a re-used loop
device the UUID of the image it held before.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
from pathlib import Path

from usbsync_gui.platform import EjectError, VolumeInfo

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 5.0


_HEX_ESCAPE = re.compile(rb"\\x([0-9a-fA-F]{2})")


def _udev_unescape(value: str) -> str:
    """Decode udev's ``*_ENC`` form (``My\\x20Photos``: unsafe bytes as ``\\xNN``) to text."""
    raw = _HEX_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), value.encode("utf-8", "surrogateescape"))
    return raw.decode("utf-8", "replace")


def _blkid_probe(device: str) -> dict[str, str]:
    """``UUID``, ``TYPE``, ``LABEL`` of ``device`` from the superblock (``blkid -p -o udev``). The label comes
    from ``ID_FS_LABEL_ENC``: ``-o export`` writes non-ASCII bytes in ``M-`` notation and ``ID_FS_LABEL``
    replaces spaces, so neither gives the label as written."""
    if not device.startswith("/dev/") or not os.access(device, os.R_OK) or shutil.which("blkid") is None:
        return {}
    try:
        out = subprocess.run(
            ["blkid", "-p", "-o", "udev", device], capture_output=True, text=True, timeout=PROBE_TIMEOUT_S
        )
    except (OSError, subprocess.TimeoutExpired):
        return {}
    udev = dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)
    found = {"UUID": udev.get("ID_FS_UUID", ""), "TYPE": udev.get("ID_FS_TYPE", "")}
    if "ID_FS_LABEL_ENC" in udev:
        found["LABEL"] = _udev_unescape(udev["ID_FS_LABEL_ENC"])
    return {k: v for k, v in found.items() if v}


def _udev_uuid(device: str) -> str:
    by_uuid = Path("/dev/disk/by-uuid")
    try:
        real = os.path.realpath(device)
        for link in by_uuid.iterdir():
            if os.path.realpath(link) == real:
                return link.name
    except OSError:
        pass
    return ""


def _lsblk(device: str) -> dict[str, str]:
    if shutil.which("lsblk") is None:
        return {}
    try:
        out = subprocess.run(
            ["lsblk", "-dno", "UUID,FSTYPE,LABEL", "-P", device],
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT_S,
        )
    except (OSError, subprocess.TimeoutExpired):
        return {}
    fields: dict[str, str] = {}
    for part in out.stdout.split('" '):
        if "=" in part:
            k, v = part.split("=", 1)
            fields[k.strip()] = _udev_unescape(v.strip().strip('"'))  # -P escapes as \\xNN too
    return {k: v for k, v in fields.items() if v}


def _removable(device: str) -> bool:
    """/sys/block/<disk>/removable for the disk holding ``device`` (a partition's parent)."""
    name = os.path.basename(os.path.realpath(device))
    sys_class = Path("/sys/class/block") / name
    try:
        disk = sys_class.resolve()
        if (disk / "partition").exists():
            disk = disk.parent
        return (disk / "removable").read_text().strip() == "1"
    except OSError:
        return False


def probe_volume(device: str, mountpoint: str, fstype: str) -> VolumeInfo:
    """What the OS says about the volume on ``device`` mounted at ``mountpoint`` (psutil's ``fstype``)."""
    probed = _blkid_probe(device)
    uuid = probed.get("UUID", "") or _udev_uuid(device)
    if not uuid or not probed:
        probed = {**_lsblk(device), **probed}
        uuid = uuid or probed.get("UUID", "")
    real_type = probed.get("TYPE") or probed.get("FSTYPE") or fstype
    return VolumeInfo(
        uuid=uuid, fs_type=real_type, label=probed.get("LABEL", ""), removable=_removable(device)
    )


def eject_volume(device: str, mountpoint: str) -> str:
    """Flush, unmount and, where UDisks2 allows, power off the device. Returns what was done, in words.
    Raises :class:`EjectError` (busy, not permitted, ...)."""
    try:
        fd = os.open(mountpoint, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.sync()
    except OSError as exc:
        log.debug("flush before eject: %s", exc)
    udisksctl = shutil.which("udisksctl")
    if udisksctl and os.path.exists("/run/dbus/system_bus_socket") and device.startswith("/dev/"):
        out = subprocess.run([udisksctl, "unmount", "-b", device], capture_output=True, text=True, timeout=60)
        if out.returncode == 0:
            off = subprocess.run(
                [udisksctl, "power-off", "-b", device], capture_output=True, text=True, timeout=60
            )
            return "unmounted and powered off" if off.returncode == 0 else "unmounted"
        log.info("udisksctl unmount %s: %s", device, out.stderr.strip())
    out = subprocess.run(["umount", mountpoint], capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        msg = out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"umount exit {out.returncode}"
        if "busy" in msg:
            raise EjectError(f"{mountpoint} is busy: a program still has files open on it")
        raise EjectError(msg)
    return "unmounted"
