"""Operating-system specifics behind one interface: what a volume really is, ejecting it, and (in
:mod:`usbsync_gui.platform.events`) the OS's signals that volumes came or went. Nothing outside this package
checks which platform it runs on.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class VolumeInfo:
    """What the OS says about a volume, beyond psutil's mount table.

    Attributes:
        uuid: the filesystem UUID or volume serial (ext4 UUID, ``7FC7-EC41`` for FAT/exFAT); changes when the
            volume is re-formatted. Empty when it could not be read.
        fs_type: the real filesystem type (``exfat`` even when psutil says ``fuseblk``), or psutil's.
        label: the volume label, or empty.
        removable: the kernel/OS says the device is removable (USB hard disks often say False).
    """

    uuid: str
    fs_type: str
    label: str
    removable: bool


class EjectError(Exception):
    """The volume could not be ejected; ``str()`` says why in words (e.g. busy)."""


if sys.platform == "win32":
    from usbsync_gui.platform.windows import eject_volume, probe_volume
else:
    from usbsync_gui.platform.linux import eject_volume, probe_volume

__all__ = ["EjectError", "VolumeInfo", "eject_volume", "probe_volume"]
