"""Registering a mounted volume as a drive: the one implementation behind ``usbsync register-drive``, the
drives dialog and the first-run wizard; and what those front ends show about each plugged-in volume.

A volume carrying another installation's marker is never taken over silently: :func:`register_volume` refuses
it unless asked with ``take_over=True``, which the front ends pass only after the user said yes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
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
from usbsync_gui.core.identify import identify_volumes, inspect_volumes
from usbsync_gui.core.identity import LOCKED_MESSAGE, KeyringLocked, SecretStore, make_token, token_matches
from usbsync_gui.core.paths import AppPaths
from usbsync_gui.core.state import StateDB
from usbsync_gui.core.units import human_bytes, plural
from usbsync_gui.core.volumes import (
    KEYRING_LOCKED,
    ConnectedVolume,
    Marker,
    MarkerError,
    Volume,
    new_drive_id,
    read_marker,
    volume_at,
    write_marker,
)
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
    take_over: bool = False,
) -> Registration:
    """Write a marker bound to the volume at ``mountpoint``, add or update the drive in the saved config, and
    queue the files already seen for its categories. Raises :class:`RegistrationError`.

    The same volume keeps its drive id; a marker copied from another volume does not verify and gives a new
    drive; an existing drive's name moves that drive to this volume unless it is plugged in elsewhere now.
    A volume whose marker another installation wrote (a drive id not registered here, with a token this
    installation did not make) is refused unless ``take_over`` is True: overwriting its marker means that
    installation's files waiting for it no longer go there. A drive this installation registered and then
    forgot (its token verifies here) is not another installation's and needs no ``take_over``.
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
    if existing is not None and not take_over and _foreign(existing, config, secret, info.uuid):
        raise RegistrationError(
            f"{volume.mountpoint} is used by another usbsync installation (as drive {existing.name!r}): "
            "registering it here means that installation's files waiting for it no longer go there; "
            "take it over only on purpose (register-drive --take-over)"
        )
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


def _foreign(marker: Marker, config: Config, secret: bytes | None, volume_uuid: str) -> bool:
    """Whether ``marker`` was written by another installation: its drive is not registered here and its token
    was not made with this installation's secret (a drive registered here and then forgotten verifies)."""
    if config.drive_by_id(marker.drive_id) is not None:
        return False
    return secret is None or not token_matches(secret, marker.drive_id, volume_uuid, marker.token)


class VolumeKind(StrEnum):
    """What a plugged-in volume is to this installation (the words the drives dialog and the wizard show for
    it are :attr:`PluggedVolume.status`)."""

    REGISTERED = "registered"  # a drive registered here; its marker verifies
    OTHER = "other installation"  # another usbsync installation's marker: taking it over needs a yes
    FORGOTTEN = "forgotten"  # registered here once, then forgotten (its marker still verifies)
    LOOK_ALIKE = "look-alike"  # carries a registered drive's marker or label, but is not that volume
    LOCKED = "keyring locked"  # carries a registered drive's marker that cannot be checked now
    UNREADABLE = "unreadable marker"
    NEW = "new"  # no usbsync marker


@dataclass(frozen=True)
class PluggedVolume:
    """A mounted volume and what it is here, with the words the front ends show.

    Attributes:
        cv: the identified volume (:func:`usbsync_gui.core.identify.inspect_volumes`).
        kind: what it is to this installation.
        marker_name: the drive name its marker carries (another installation's name for it), or ``''``.
        twin: for a look-alike (or a locked one), the name of the registered drive it looks like, or ``''``.
    """

    cv: ConnectedVolume
    kind: VolumeKind
    marker_name: str = ""
    twin: str = ""

    @property
    def volume(self) -> Volume:
        return self.cv.volume

    @property
    def mountpoint(self) -> str:
        return self.cv.volume.mountpoint

    @property
    def label(self) -> str:
        return self.cv.info.label

    @property
    def title(self) -> str:
        """The label, or the mount point's folder name when it has none."""
        return self.cv.info.label or Path(self.mountpoint).name or self.mountpoint

    @property
    def volume_id(self) -> str:
        return self.cv.info.uuid

    @property
    def short_id(self) -> str:
        """The volume ID as a table shows it: FAT/exFAT serials whole, long UUIDs cut to 8 characters."""
        uid = self.cv.info.uuid
        return uid if len(uid) <= 12 else uid[:8] + "…"

    @property
    def size_text(self) -> str:
        v = self.cv.volume
        return f"{human_bytes(v.total_bytes)}, {human_bytes(v.free_bytes)} free"

    @property
    def status(self) -> str:
        """What it is, in plain words for someone who never heard of markers or volume IDs: ``registered here
        (as Photos)``, ``used by another usbsync installation``, ``looks like Photos but is not it``, ``new drive
        (not used by usbsync yet)``... The one place these words are kept: the drives dialog and the wizard
        show them as they are."""
        words = {
            VolumeKind.REGISTERED: f"registered here (as {self.cv.drive.name if self.cv.drive else '?'})",
            VolumeKind.OTHER: "used by another usbsync installation"
            + (f" (there: {self.marker_name})" if self.marker_name else ""),
            VolumeKind.FORGOTTEN: f"was registered here as {self.marker_name or 'a drive'}, then forgotten",
            VolumeKind.LOOK_ALIKE: f"looks like {self.twin or 'a registered drive'} but is not it",
            VolumeKind.LOCKED: f"looks like {self.twin or 'a registered drive'}; "
            "cannot be checked while the keyring is locked",
            VolumeKind.UNREADABLE: "carries a usbsync marker that cannot be read",
            VolumeKind.NEW: "new drive (not used by usbsync yet)",
        }[self.kind]
        return words + ("; read-only" if self.cv.volume.read_only else "")

    @property
    def detail(self) -> str:
        """A longer explanation (a tooltip): the inspection's message, or the volume's particulars."""
        about = f"{self.mountpoint} ({self.cv.fs_type}, volume ID {self.volume_id or 'unknown'})"
        return f"{about}\n{self.cv.message}" if self.cv.message else about

    @property
    def needs_take_over(self) -> bool:
        """Registering it overwrites another installation's marker: ask first, then pass ``take_over``."""
        return self.kind is VolumeKind.OTHER

    @property
    def can_register(self) -> bool:
        return not self.cv.volume.read_only and self.kind not in (VolumeKind.REGISTERED, VolumeKind.LOCKED)


def take_over_question(pv: PluggedVolume) -> str:
    """The question asked before registering a volume another installation uses (the answer defaults to no)."""
    called = f", where it is called {pv.marker_name!r}" if pv.marker_name else ""
    return (
        f"The volume {pv.title!r} at {pv.mountpoint} (volume ID {pv.volume_id or 'unknown'}) is used by "
        f"another usbsync installation{called}.\n\n"
        "If you use it here, that installation no longer recognises it: the files it has waiting for this "
        "drive will no longer go there.\n\n"
        "Use this drive here anyway?"
    )


Inspect = Callable[[Config], list[ConnectedVolume]]


def _secret_or_none(paths: AppPaths) -> bytes | None:
    try:
        return SecretStore(paths.state_dir).secret()
    except (KeyringLocked, OSError):
        return None


def describe_volume(
    cv: ConnectedVolume, config: Config, secret: bytes | None, labels: dict[str, str] | None = None
) -> PluggedVolume:
    """What ``cv`` is to this installation. Reads its marker again for another installation's volume (the
    name it carries, and whether this installation made it): call it off the GUI thread."""
    if cv.status == "registered" and cv.drive is not None:
        return PluggedVolume(cv, VolumeKind.REGISTERED)
    if cv.status == "unreadable marker":
        return PluggedVolume(cv, VolumeKind.UNREADABLE)
    try:
        marker = read_marker(cv.volume.mountpoint)
    except MarkerError:
        marker = None
    marker_name = marker.name if marker else ""
    if cv.status == "marker of another installation":
        if marker is not None and not _foreign(marker, config, secret, cv.info.uuid):
            return PluggedVolume(cv, VolumeKind.FORGOTTEN, marker_name)
        return PluggedVolume(cv, VolumeKind.OTHER, marker_name)
    twin = config.drive_by_id(cv.marker_id or (marker.drive_id if marker else ""))
    if twin is None and cv.info.label:
        twin = config.drive_by_id((labels or {}).get(cv.info.label.casefold(), ""))
    if cv.status == KEYRING_LOCKED:
        return PluggedVolume(cv, VolumeKind.LOCKED, marker_name, twin.name if twin else "")
    if cv.status == "look-alike":
        return PluggedVolume(cv, VolumeKind.LOOK_ALIKE, marker_name, twin.name if twin else "")
    return PluggedVolume(cv, VolumeKind.NEW)


def survey_volumes(
    paths: AppPaths,
    config: Config,
    inspect: Inspect | None = None,
    volumes: list[Volume] | None = None,
) -> list[PluggedVolume]:
    """Every plugged-in volume (but the root filesystem) and what it is here, for the drives dialog and the
    wizard. Slow (``blkid`` per volume, a keyring look-up, marker reads): run it on a pool thread.

    Args:
        inspect: identifies the volumes under a config (tests pass their own); default
            :func:`inspect_volumes` with this installation's secret (None while the keyring is locked) and the
            registered drives' labels from the state database.
        volumes: the volumes to look at (default: every mounted one); ignored when ``inspect`` is given.
    """
    secret = _secret_or_none(paths)
    labels: dict[str, str] = {}
    if paths.state_db.exists():  # the first run has none yet: do not make one just to look
        with StateDB(paths.state_db) as db:
            labels = db.registered_labels()
    found = inspect(config) if inspect is not None else inspect_volumes(config, secret, volumes, labels)
    return [describe_volume(cv, config, secret, labels) for cv in found if cv.volume.mountpoint != "/"]
