"""Icons and other files from ``resources/``, found from a source checkout, an editable install, or a frozen
(PyInstaller) build, where they are unpacked under ``sys._MEIPASS``."""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path

from PySide6.QtGui import QIcon

STATES = ("idle", "syncing", "waiting", "attention", "paused")


def resources_dir() -> Path:
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        return Path(frozen) / "resources"
    return Path(__file__).resolve().parents[2] / "resources"


@cache
def state_icon(state: str) -> QIcon:
    """The tray icon for a state (idle, syncing, waiting, attention, paused). Needs a QGuiApplication."""
    path = resources_dir() / "icons" / f"{state if state in STATES else 'idle'}.svg"
    return QIcon(str(path))


@cache
def app_icon() -> QIcon:
    return QIcon(str(resources_dir() / "usbsync.svg"))
