"""Registering a mounted volume as a drive: the one implementation behind ``usbsync register-drive``, the
drives dialog and the first-run wizard; and what the front ends show for volumes while the keyring is locked."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from usbsync_gui.core.config import (
    DEFAULT_DRIVE_FOLDER,
    Config,
    ConfigError,
    DriveConfig,
    config_text,
    drive_name_problem,
    save_config,
)
from usbsync_gui.core.identity import LOCKED_MESSAGE, KeyringLocked, SecretStore, make_token, token_matches
from usbsync_gui.core.paths import AppPaths
from usbsync_gui.core.service import identify_volumes
from usbsync_gui.core.state import StateDB
from usbsync_gui.core.units import human_bytes, plural
from usbsync_gui.core.volumes import MarkerError, new_drive_id, read_marker, volume_at, write_marker
from usbsync_gui.platform import probe_volume


class RegistrationError(Exception):
    """The volume cannot be registered; ``str()`` is one line for the user."""


@dataclass(frozen=True)
class Registration:
    config: Config  # the new configuration, already saved
    drive: DriveConfig
    verb: str  # registered | updated | re-registered
    queued: int  # files already seen that are now queued for it
    lines: tuple[str, ...]  # what to tell the user


def register_volume(
    paths: AppPaths,
    config: Config,
    mountpoint: str | Path,
    name: str,
    categories: list[str] | tuple[str, ...],
    folder: str = DEFAULT_DRIVE_FOLDER,
) -> Registration:
    """Write a marker bound to the volume at ``mountpoint``, add or update the drive in the saved config, and
    queue the files already seen for its categories. Raises :class:`RegistrationError`.

    The same volume keeps its drive id; a marker copied from another volume does not verify and gives a new
    drive; an existing drive's name moves that drive to this volume unless it is plugged in elsewhere now.
    """
    problem = drive_name_problem(name)
    if problem is not None:
        raise RegistrationError(f"drive name {name!r} {problem}")
    folder = folder.strip().strip("/\\")  # as the config parser reads it back
    mount = Path(mountpoint).expanduser()
    volume = volume_at(mount)
    if volume is None:
        raise RegistrationError(
            f"{mount} is not the mount point of a mounted volume (see 'usbsync list-connected')"
        )
    if volume.read_only:
        raise RegistrationError(
            f"{mount} is mounted read-only; usbsync cannot write its marker or files there"
        )
    if not categories:
        raise RegistrationError("choose at least one category for the drive")
    unknown = [c for c in categories if config.category(c) is None]
    if unknown:
        names = ", ".join(c.name for c in config.categories)
        raise RegistrationError(f"unknown category {unknown[0]!r} (known: {names})")
    try:
        existing = read_marker(volume.mountpoint)
    except MarkerError:
        existing = None
    info = probe_volume(volume.device, volume.mountpoint, volume.fstype)
    if not info.uuid:
        raise RegistrationError(
            f"cannot read the volume ID of {volume.device} (needs blkid and read access to the device, or udev): "
            "usbsync binds a drive's identity to it"
        )
    try:
        secret = SecretStore(paths.state_dir).secret()
    except KeyringLocked as exc:
        raise RegistrationError(LOCKED_MESSAGE) from exc
    drive_id = None
    if (
        existing
        and config.drive_by_id(existing.drive_id)
        and token_matches(secret, existing.drive_id, info.uuid, existing.token)
    ):
        drive_id = existing.drive_id
    rebound = False
    other = config.drive_by_name(name)
    with StateDB(paths.state_db) as db:
        if other is not None and other.id != drive_id:
            elsewhere = [
                cv
                for cv in identify_volumes(paths.state_dir, config, db, secret=secret)
                if cv.drive is not None and cv.drive.id == other.id
            ]
            if elsewhere:
                raise RegistrationError(
                    f"a drive named {other.name!r} is plugged in at {elsewhere[0].volume.mountpoint}; pick another name"
                )
            drive_id, rebound = other.id, True
        new_id = drive_id or new_drive_id()
        old = config.drive_by_id(new_id)
        drive = DriveConfig(
            name, new_id, tuple(dict.fromkeys(categories)), folder, old.auto_eject if old else False
        )
        new = config.with_drive(drive)
        try:
            config_text(new, paths.config_file)  # before the marker: a config that would not load is not made
        except ConfigError as exc:
            raise RegistrationError(str(exc)) from exc
        try:
            write_marker(volume.mountpoint, name, new_id, make_token(secret, new_id, info.uuid))
        except OSError as exc:
            raise RegistrationError(f"cannot write the marker on {mount}: {exc.strerror}") from exc
        save_config(new, paths.config_file)
        with db.transaction():
            queued = db.enqueue_for_drive(drive.id, drive.categories)
            db.set_drive_volume(drive.id, drive.name, info.uuid, info.label)
            db.drive_seen(
                drive.id, drive.name, volume.mountpoint, info.fs_type, volume.total_bytes, volume.free_bytes
            )
    verb = "re-registered" if rebound else "updated" if drive_id else "registered"
    lines = [
        f"{verb} drive {name!r} at {volume.mountpoint} ({info.fs_type}, volume ID {info.uuid}, "
        f"{human_bytes(volume.free_bytes)} free)",
        f"it receives: {', '.join(drive.categories)}, into {drive.folder}/ on the drive",
    ]
    if rebound:
        lines.append(
            f"{name} now means this volume; the volume it was registered on before no longer receives files"
        )
    if queued:
        lines.append(f"{plural(queued, 'file')} already seen queued for it")
    return Registration(new, drive, verb, queued, tuple(lines))
