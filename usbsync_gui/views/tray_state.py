"""What the tray icon says at a glance, decided from the engine's figures (no widgets here).

States, most urgent first: ``attention`` (a raised notice such as a locked keyring or incomplete watching,
failed jobs, a missing source folder), ``syncing`` (a copy in flight, with progress), ``waiting`` (files
waiting for drives that are not plugged in), ``idle``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from usbsync_gui.core.units import human_bytes, plural


@dataclass
class EngineStatus:
    """The engine's figures as the tray sees them. Sizes in bytes."""

    pending: int = 0
    failed: int = 0
    waiting_by_drive: dict[str, int] = field(default_factory=dict)  # drive name -> files waiting
    connected: set[str] = field(default_factory=set)  # drive names plugged in
    copying_file: str = ""
    copy_done: int = 0
    copy_total: int = 0
    missing_sources: list[str] = field(default_factory=list)
    paused: bool = False
    notices: list[str] = field(default_factory=list)  # messages of raised notices that need the user


@dataclass(frozen=True)
class TrayLook:
    state: str  # idle | syncing | waiting | attention | paused
    tooltip: str
    percent: int | None = None  # progress of the current file, when syncing


def tray_look(s: EngineStatus) -> TrayLook:
    """The icon state and tooltip for ``s``."""
    if s.failed or s.missing_sources or s.notices:
        parts = list(s.notices)
        if s.failed:
            parts.append(f"{plural(s.failed, 'file')} could not be copied (see the queue)")
        for src in s.missing_sources:
            parts.append(f"source folder missing: {src}")
        return TrayLook("attention", "usbsync: " + "; ".join(parts))
    if s.paused:
        return TrayLook("paused", f"usbsync: paused; {plural(s.pending, 'file')} waiting")
    if s.copying_file:
        pct = int(100 * s.copy_done / s.copy_total) if s.copy_total else 100
        left = f", {plural(s.pending, 'file')} to go" if s.pending > 1 else ""
        return TrayLook(
            "syncing",
            f"usbsync: copying {s.copying_file} ({pct}% of {human_bytes(s.copy_total)}){left}",
            pct,
        )
    absent = {d: n for d, n in s.waiting_by_drive.items() if n and d not in s.connected}
    if absent:
        wanted = "; ".join(f"plug in {d}: {plural(n, 'file')} waiting" for d, n in sorted(absent.items()))
        return TrayLook("waiting", f"usbsync: {wanted}")
    return TrayLook("idle", "usbsync: everything is copied")
