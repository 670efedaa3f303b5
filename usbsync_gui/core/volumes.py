"""Mounted volumes (from psutil) and the usbsync marker that identifies a registered drive.

A drive is recognised only by the marker ``.usbsync/drive.json`` at the root of its volume, holding the drive
id written by ``usbsync register-drive``; never by label, mount path or drive letter, so a stick that merely
carries the same label receives nothing.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import psutil

from usbsync_gui.core import replace_file

if TYPE_CHECKING:
    from usbsync_gui.core.config import DriveConfig
    from usbsync_gui.platform import VolumeInfo

MARKER_DIR = ".usbsync"
MARKER_FILE = "drive.json"
MARKER_FORMAT = 2  # 2 adds the identity token; format 1 markers (no token) never verify

# Pseudo and system filesystems that can never be a user's drive.
_SKIP_FSTYPES = {"squashfs", "overlay", "tmpfs", "devtmpfs", "proc", "sysfs", "autofs", "iso9660", "udf"}
_SKIP_MOUNTS = ("/boot", "/snap/", "/var/lib/docker", "/run/credentials")


class MarkerError(Exception):
    """A marker exists but cannot be read or is not a usbsync marker. ``str()`` names the file."""


@dataclass(frozen=True)
class Marker:
    """The marker's contents. ``token`` binds ``drive_id`` to the volume (see :mod:`usbsync_gui.core.identity`)."""

    drive_id: str
    name: str
    registered_at: float
    token: str | None = None


@dataclass(frozen=True)
class Volume:
    """A mounted volume. Sizes in bytes."""

    mountpoint: str
    device: str
    fstype: str
    total_bytes: int
    free_bytes: int
    read_only: bool


def marker_path(mountpoint: str | Path) -> Path:
    return Path(mountpoint) / MARKER_DIR / MARKER_FILE


def read_marker(mountpoint: str | Path) -> Marker | None:
    """The marker on the volume at ``mountpoint``; None when there is none. Raises MarkerError if unreadable."""
    p = marker_path(mountpoint)
    try:
        raw = replace_file.read_bytes(p)  # not refused while write_marker replaces it (Windows)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise MarkerError(f"{p}: cannot read marker: {exc.strerror}") from exc
    try:
        data = json.loads(raw)
        if data.get("format") not in (1, MARKER_FORMAT):
            raise MarkerError(f"{p}: unsupported marker format {data.get('format')!r}")
        token = data.get("token")
        return Marker(
            str(data["id"]),
            str(data["name"]),
            float(data.get("registered_at", 0)),
            str(token) if token else None,
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise MarkerError(f"{p}: not a usbsync marker ({exc})") from exc


def new_drive_id() -> str:
    return uuid.uuid4().hex


def write_marker(
    mountpoint: str | Path, name: str, drive_id: str | None = None, token: str | None = None
) -> Marker:
    """Write (atomically) a marker for a new or existing drive id on the volume. Raises OSError."""
    marker = Marker(drive_id or new_drive_id(), name, time.time(), token)
    d = Path(mountpoint) / MARKER_DIR
    d.mkdir(exist_ok=True)
    tmp = d / f".{MARKER_FILE}.{os.getpid()}.tmp"
    body = json.dumps(
        {
            "format": MARKER_FORMAT,
            "id": marker.drive_id,
            "name": name,
            "registered_at": marker.registered_at,
            "token": token,
        },
        indent=2,
    )
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(body + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    replace_file.replace(tmp, marker_path(mountpoint))  # the engine may be reading it (Windows)
    fsync_dir(d)
    return marker


def fsync_dir(path: str | Path) -> None:
    """fsync a directory so renames in it are durable. Filesystems that cannot (FUSE exFAT: EINVAL) and
    Windows (no directory handles through os.open) are skipped: their rename is as durable as it gets."""
    if os.name == "nt":
        return
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (22, 95):  # EINVAL, EOPNOTSUPP
            raise
    finally:
        os.close(fd)


def list_volumes() -> list[Volume]:
    """Mounted volumes that could be a user's drive, from ``psutil.disk_partitions()``.

    Unreachable mounts (a yanked FUSE stick answers ENOTCONN) are left out.
    """
    out: list[Volume] = []
    seen: set[str] = set()
    for p in psutil.disk_partitions(all=False):
        if p.fstype in _SKIP_FSTYPES or p.mountpoint in seen:
            continue
        if any(p.mountpoint.startswith(s) for s in _SKIP_MOUNTS):
            continue
        seen.add(p.mountpoint)
        try:
            usage = psutil.disk_usage(p.mountpoint)
        except OSError:
            continue
        opts = set(p.opts.split(","))
        out.append(Volume(p.mountpoint, p.device, p.fstype, usage.total, usage.free, "ro" in opts))
    return out


def volume_at(mountpoint: str | Path) -> Volume | None:
    """The mounted volume whose mount point is exactly ``mountpoint`` (resolved), or None."""
    target = os.path.realpath(mountpoint)
    return next((v for v in list_volumes() if os.path.realpath(v.mountpoint) == target), None)


def free_bytes(mountpoint: str | Path) -> int:
    """Bytes available to this user on the volume. Raises OSError (ENOTCONN when a FUSE stick was yanked)."""
    if os.name == "nt":
        return int(psutil.disk_usage(str(mountpoint)).free)
    st = os.statvfs(mountpoint)
    return st.f_bavail * st.f_frsize


@dataclass(frozen=True)
class ConnectedVolume:
    """A mounted volume and what usbsync makes of it.

    Attributes:
        volume: psutil's view (mount point, device, sizes).
        info: the OS's view (real filesystem type, UUID/serial, label, removable).
        drive: the registered drive, set only when the marker's token verifies against this volume.
        status: ``registered``, ``look-alike`` (a registered drive's marker that does not verify, or no marker
            but the label of a registered drive), ``marker of another installation``, ``unreadable marker``
            or ``unknown``.
        message: for look-alikes, what the user should be told.
    """

    volume: Volume
    info: VolumeInfo
    drive: DriveConfig | None
    status: str
    marker_id: str | None = None
    message: str = ""

    @property
    def fs_type(self) -> str:
        return self.info.fs_type or self.volume.fstype


KEYRING_LOCKED = (
    "keyring locked"  # ConnectedVolume.status of a registered drive's volume that cannot be checked
)
