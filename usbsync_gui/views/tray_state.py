"""What the tray icon says at a glance, decided from the one state summary (no widgets here).

States, most urgent first (:class:`usbsync_gui.core.summary.Overall`): ``attention`` (a file that does not
fit, a failed file, a read-only drive, a forgotten drive's files, a locked keyring, incomplete watching, a
missing source folder, a broken configuration), ``paused``, ``syncing`` (files going to a plugged-in drive, with
the current file's progress), ``waiting`` (files waiting for drives that are not plugged in, or for a drive to
hold their category), ``idle``.
"""

from __future__ import annotations

from dataclasses import dataclass

from usbsync_gui.core.summary import Overall, StateSummary
from usbsync_gui.core.units import human_bytes, plural


@dataclass(frozen=True)
class CopyProgress:
    """The file being copied now (from the engine's progress signal). Sizes in bytes."""

    file: str
    done: int
    total: int


@dataclass(frozen=True)
class TrayLook:
    state: str  # idle | syncing | waiting | attention | paused
    tooltip: str
    percent: int | None = None  # progress of the current file, when syncing


def tray_look(s: StateSummary, progress: CopyProgress | None = None) -> TrayLook:
    """The icon state and tooltip for the summary ``s`` (and the file in flight, when syncing)."""
    if s.state is Overall.SYNCING and progress is not None:
        pct = int(100 * progress.done / progress.total) if progress.total else 100
        left = f"; {plural(s.waiting_files, 'file')} to go" if s.waiting_files > 1 else ""
        if progress.total and progress.done >= progress.total:
            # Written: the copy is flushed and read back from the drive before it counts (what takes the time
            # after 100 %, up to seconds for a big file on a slow stick).
            tip = f"verifying {progress.file} ({human_bytes(progress.total)}){left}"
        else:
            tip = f"copying {progress.file} ({pct}% of {human_bytes(progress.total)}){left}"
        return TrayLook(s.state.value, f"usbsync: {tip}", pct)
    return TrayLook(s.state.value, f"usbsync: {s.headline}")
