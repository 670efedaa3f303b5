"""Which registered drive each mounted volume is: its marker read, its volume ID probed, the marker's token
verified with this installation's secret (:class:`~usbsync_gui.core.volumes.ConnectedVolume` holds the answer).
Used by every front end that identifies volumes itself (the engine's drive monitor, the CLI, registration),
without the copy machinery of :mod:`~usbsync_gui.core.service`. The tray app's process, whose engine runs in a
process of its own, imports this (and with it OpenSSL's libcrypto, for HMAC) only when it registers a drive."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from usbsync_gui.core.config import Config
from usbsync_gui.core.identity import SecretStore, token_matches
from usbsync_gui.core.state import StateDB
from usbsync_gui.core.volumes import (
    KEYRING_LOCKED,
    ConnectedVolume,
    MarkerError,
    Volume,
    list_volumes,
    read_marker,
)
from usbsync_gui.platform import VolumeInfo, probe_volume

Prober = Callable[[str, str, str], VolumeInfo]


def inspect_volumes(
    config: Config,
    secret: bytes | None,
    volumes: list[Volume] | None = None,
    labels: dict[str, str] | None = None,
    probe: Prober = probe_volume,
) -> list[ConnectedVolume]:
    """Identify each mounted volume: read its marker, probe its UUID, verify the marker's token.

    Args:
        secret: the installation's identity secret (:class:`usbsync_gui.core.identity.SecretStore`), or None
            while it cannot be read (keyring locked): then no volume is a registered drive, and one whose marker
            names a registered drive gets the status :data:`KEYRING_LOCKED` (``marker_id`` None: an unchecked
            marker's claim is trusted for nothing).
        volumes: the volumes to inspect (default: every mounted one).
        labels: case-folded volume label -> drive id of registered drives (to recognise a re-formatted one).
        probe: how to ask the OS about a volume (tests of other platforms pass their own).
    """
    out: list[ConnectedVolume] = []
    labels = labels or {}
    for v in list_volumes() if volumes is None else volumes:
        info = probe(v.device, v.mountpoint, v.fstype)
        try:
            marker = read_marker(v.mountpoint)
        except MarkerError as exc:
            out.append(ConnectedVolume(v, info, None, "unreadable marker", message=str(exc)))
            continue
        if marker is None:
            twin = config.drive_by_id(labels.get(info.label.casefold(), "")) if info.label else None
            if twin is not None:
                msg = (
                    f"a drive labelled {info.label!r} like {twin.name} was plugged in at {v.mountpoint}, but it "
                    f"carries no usbsync marker: if you re-formatted {twin.name}, register it again "
                    f"(usbsync register-drive {v.mountpoint} --name {twin.name} ...)"
                )
                out.append(ConnectedVolume(v, info, None, "look-alike", message=msg))
            else:
                out.append(ConnectedVolume(v, info, None, "unknown"))
            continue
        drive = config.drive_by_id(marker.drive_id)
        if drive is None:
            out.append(ConnectedVolume(v, info, None, "marker of another installation", marker.drive_id))
        elif secret is None:
            msg = (
                f"looks like {drive.name}, but its marker cannot be checked while the keyring is locked: "
                "nothing is written to it until the keyring is unlocked"
            )
            out.append(ConnectedVolume(v, info, None, KEYRING_LOCKED, None, msg))
        elif token_matches(secret, drive.id, info.uuid, marker.token):
            out.append(ConnectedVolume(v, info, drive, "registered", marker.drive_id))
        else:
            why = (
                "its volume ID could not be read"
                if not info.uuid
                else "its marker was copied from the registered drive, or the drive was re-formatted"
            )
            msg = (
                f"a drive that looks like {drive.name} was plugged in at {v.mountpoint} but is not the registered "
                f"one ({why}); nothing is written to it. To use it for {', '.join(drive.categories)}, register "
                f"it: usbsync register-drive {v.mountpoint} --name NAME --category ..."
            )
            out.append(ConnectedVolume(v, info, None, "look-alike", marker.drive_id, msg))
    return out


def identify_volumes(
    state_dir: Path,
    config: Config,
    db: StateDB,
    volumes: list[Volume] | None = None,
    secret: bytes | None = None,
) -> list[ConnectedVolume]:
    """:func:`inspect_volumes` with this installation's secret (loaded from the keyring or its file unless
    given) and the labels of the registered drives from ``db``: what every front end means by "the volumes"."""
    if secret is None:
        secret = SecretStore(state_dir).secret()
    return inspect_volumes(config, secret, volumes, db.registered_labels())
