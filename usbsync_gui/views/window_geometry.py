"""Window geometry kept between runs: one small JSON file in the state folder, one entry per window.

The file holds ``{"<window name>": "<base64 of QWidget.saveGeometry()>"}``. A JSON file of our own rather than
QSettings, so that its place follows :class:`~usbsync_gui.core.paths.AppPaths` (``USBSYNC_HOME``, a test's
temporary folder) like every other file usbsync writes. It is only a convenience: a missing, unreadable or
damaged file means default sizes, and a failed write is logged, never raised.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import os
from pathlib import Path

from PySide6.QtCore import QByteArray, QSize
from PySide6.QtWidgets import QWidget

log = logging.getLogger(__name__)

FILE_NAME = "windows.json"


class GeometryStore:
    """Saved window geometries in the JSON file ``path`` (created on first save, with its folder)."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def _read(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return {k: v for k, v in data.items() if isinstance(v, str)} if isinstance(data, dict) else {}

    def load(self, name: str) -> bytes | None:
        """The geometry saved for window ``name`` (the bytes of ``saveGeometry()``), or None."""
        text = self._read().get(name)
        if text is None:
            return None
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            return None

    def save(self, name: str, geometry: bytes) -> None:
        """Store ``geometry`` for window ``name``, keeping the other windows' entries. Never raises."""
        data = self._read()
        data[name] = base64.b64encode(geometry).decode("ascii")
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
            os.replace(tmp, self.path)  # a crash mid-write leaves the old file, not half a new one
        except OSError as exc:
            log.warning("could not save the window size to %s: %s", self.path, exc)
            with contextlib.suppress(OSError):
                tmp.unlink()

    def restore(self, window: QWidget, name: str) -> bool:
        """Give ``window`` its saved geometry (Qt moves it onto a screen if that one is gone). Returns whether
        one was saved and valid."""
        saved = self.load(name)
        return saved is not None and bool(window.restoreGeometry(QByteArray(saved)))

    def remember(self, window: QWidget, name: str) -> None:
        """Save ``window``'s current geometry under ``name``."""
        self.save(name, bytes(window.saveGeometry().data()))


def fit_to_screen(window: QWidget, wanted: QSize, margin: float = 0.9) -> QSize:
    """``wanted``, shrunk to ``margin`` of the available area of the window's screen (a 1366x768 laptop has
    about 1366x728 of it)."""
    screen = window.screen()
    if screen is None:
        return wanted
    avail = screen.availableGeometry().size()
    return QSize(
        min(wanted.width(), int(avail.width() * margin)), min(wanted.height(), int(avail.height() * margin))
    )
