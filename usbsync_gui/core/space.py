"""How much free space a set of files needs on a volume: the one answer to "does it fit?".

The copier's batch planning (:mod:`usbsync_gui.core.copier`: which files go now, which wait for space) and the
summary's shortfall (:mod:`usbsync_gui.core.summary`: "does not fit: 3.1 MB more needed") both ask
:func:`space_needed`, so what the user is told and what the copier does cannot disagree.

All figures are bytes. What a set of files needs is:

* each file rounded up to the volume's **allocation unit** (a file of 5.9 kB takes two 4 KiB blocks on ext4, one
  128 KiB cluster on a large exFAT stick; an empty file takes none). The unit comes from the volume
  (:func:`allocation_unit`): ``statvfs(3)``'s ``f_frsize`` on POSIX (``f_bsize`` where ``f_frsize`` is 0), which
  Linux's vfat and exfat drivers, exfat-fuse and ext4 all set to their cluster or block size; on Windows
  ``GetDiskFreeSpaceW``'s sectors per cluster × bytes per sector. When the volume cannot be asked (a drive not
  plugged in, a Windows call that fails) :data:`DEFAULT_UNIT` stands in: it is chosen large, so the estimate
  errs towards "needs more", never towards a copy that runs out of space half way;
* plus, **once per volume**, :data:`VOLUME_RESERVE`, and a small :data:`ENTRY_ALLOWANCE` per file for its
  directory entries (see there for why those sizes).

Free space is ``f_bavail × f_frsize`` (:func:`usbsync_gui.core.volumes.free_bytes`), space the user may write;
files fit when :func:`space_needed` is at most that. It is an estimate made before writing, not a promise: a
copy that still meets ENOSPC waits for space just the same (the copier's error path), it is not lost.

No Qt here, and nothing but the question of the volume's allocation unit touches the system.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path

#: Bytes assumed per allocation unit when the volume cannot be asked: 128 KiB, the cluster Windows' and
#: exfatprogs' ``mkfs`` give an exFAT volume of 32 GB to 256 TB (most sticks sold today). FAT32 sticks use 4 to
#: 32 KiB clusters, ext4 and NTFS 4 KiB (ext4 images under 512 MB: 1 KiB), so rounding to 128 KiB is on the
#: safe side everywhere: it over-counts small files, never under-counts them.
DEFAULT_UNIT = 128 << 10

#: Bytes kept free once per volume (not per file): room for what a copy writes besides the files' data, which
#: is not per file and not known in advance. Directories that grow by a cluster (a new folder takes a whole
#: one on FAT/exFAT; a directory whose entries overflow their cluster or block takes another), the journal and
#: extent blocks ext4 may allocate, a FAT/exFAT allocation that ends part way through a cluster. 1 MiB holds
#: eight 128 KiB exFAT clusters or 256 ext4 blocks: more than one batch of copies into a few folders needs, and
#: little enough that a stick with a few MB free still takes a few MB of files. The FAT and the exFAT allocation
#: bitmap are laid out at format time and do not grow.
VOLUME_RESERVE = 1 << 20

#: Bytes allowed per file for its directory entries, which take free space on FAT and exFAT (directories are
#: clusters like any file): 32 bytes per entry; FAT32 needs one short entry plus one long-name entry per 13
#: characters, exFAT two entries plus one per 15 characters. 256 bytes (8 entries) cover names up to about 90
#: characters on both; a longer name (up to 255 characters: 640 bytes) borrows the rest from
#: :data:`VOLUME_RESERVE`, which holds that excess for over 2,000 such files. ext4's entries (8 bytes plus the
#: name) are smaller; its inodes are preallocated and take no free space.
ENTRY_ALLOWANCE = 256


def allocated(size: int, unit: int) -> int:
    """Bytes a file of ``size`` bytes occupies on a volume whose allocation unit is ``unit`` bytes: ``size``
    rounded up to a whole number of units (0 for an empty file)."""
    return -(-size // unit) * unit


def space_needed(sizes: Iterable[int], unit: int) -> int:
    """Bytes of free space the files of ``sizes`` (bytes each) need, together, on a volume whose allocation unit
    is ``unit`` bytes (:func:`allocation_unit`): each rounded up to whole units, plus :data:`ENTRY_ALLOWANCE`
    each, plus :data:`VOLUME_RESERVE` once. 0 for no files.

    Files fit when this is at most the volume's free bytes. The copier plans a batch with it; the summary's
    shortfall is the same figure (:func:`space_needed_in_units`) minus the free bytes."""
    tally = SpaceTally(unit)
    for size in sizes:
        tally.add(size)
    return space_needed_in_units(tally.files, tally.units, unit)


class SpaceTally:
    """:func:`space_needed` of files added one at a time: the copier plans a batch file by file and asks, for
    each, whether it fits beside the ones planned before it. (It summed the whole list again for each file:
    quadratic in the batch, a tenth of the copier's CPU per small file at 256 a batch.)"""

    def __init__(self, unit: int):
        self.unit = unit  # bytes, the volume's allocation unit
        self.files = 0
        self.units = 0  # allocation units the files added take

    def needed_with(self, size: int) -> int:
        """Bytes of free space the files added so far and one more of ``size`` bytes need together."""
        return space_needed_in_units(self.files + 1, self.units + -(-size // self.unit), self.unit)

    def add(self, size: int) -> None:
        """Count one more file of ``size`` bytes (rounded up to whole allocation units)."""
        self.files += 1
        self.units += -(-size // self.unit)


def space_needed_in_units(files: int, units: int, unit: int) -> int:
    """:func:`space_needed` of ``files`` files that take ``units`` allocation units of ``unit`` bytes in all
    (each file's size rounded up to whole units: :func:`sql_units` counts them in a query, where reading every
    size into Python would take several times as long for a queue of 100,000 files)."""
    if not files:
        return 0
    return units * unit + files * ENTRY_ALLOWANCE + VOLUME_RESERVE


def sql_units(size_column: str, unit: int) -> str:
    """An SQLite expression for the allocation units of ``unit`` bytes a file of ``size_column`` bytes takes:
    its size rounded up to whole units, as :func:`space_needed` counts them (sizes are whole bytes, at least 0,
    and SQLite's integer division truncates). Sum it and hand the sum to :func:`space_needed_in_units`."""
    u = int(unit)
    return f"(({size_column} + {u - 1}) / {u})"


def space_needed_at_most(files: int, total_bytes: int, unit: int) -> int:
    """An upper bound of :func:`space_needed` for ``files`` files of ``total_bytes`` bytes in all, without their
    sizes one by one: as if each file's last unit were one byte full. When even this fits, the files fit; the
    summary uses it to skip reading every size (a query over all of a drive's waiting files) in the usual case
    of plenty of room."""
    if not files:
        return 0
    return total_bytes + files * (unit - 1) + files * ENTRY_ALLOWANCE + VOLUME_RESERVE


def allocation_unit(mountpoint: str | Path) -> int:
    """The allocation unit (cluster or block size, bytes) of the volume mounted at ``mountpoint``.

    POSIX: ``statvfs(3)``'s ``f_frsize`` (``f_bsize`` where a filesystem leaves it 0); raises OSError as
    ``statvfs`` does (ENOTCONN when a FUSE stick was yanked), as :func:`~usbsync_gui.core.volumes.free_bytes`.
    Windows: ``GetDiskFreeSpaceW`` of the volume's root (``GetVolumePathNameW``), sectors per cluster × bytes
    per sector; :data:`DEFAULT_UNIT` when either call fails. Never returns less than 1."""
    if sys.platform == "win32":
        return _windows_unit(str(mountpoint))
    st = os.statvfs(mountpoint)
    unit = st.f_frsize or st.f_bsize
    return int(unit) if unit > 0 else DEFAULT_UNIT


def _windows_unit(path: str) -> int:
    if sys.platform != "win32":  # for mypy: the calls below exist on Windows only
        return DEFAULT_UNIT
    import ctypes
    from ctypes import wintypes

    k32 = ctypes.WinDLL("kernel32", use_last_error=True)
    root = ctypes.create_unicode_buffer(261)
    if not k32.GetVolumePathNameW(ctypes.c_wchar_p(path), root, 261):
        return DEFAULT_UNIT
    spc, bps, free_clusters, clusters = (wintypes.DWORD() for _ in range(4))
    ok = k32.GetDiskFreeSpaceW(
        root, ctypes.byref(spc), ctypes.byref(bps), ctypes.byref(free_clusters), ctypes.byref(clusters)
    )
    unit = int(spc.value) * int(bps.value) if ok else 0
    return unit if unit > 0 else DEFAULT_UNIT
