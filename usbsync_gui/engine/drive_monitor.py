"""Notice registered drives being plugged in and removed.

Until OS device-arrival signals are wired in, the mounted volumes are polled from psutil every
:data:`POLL_MS` (1 s, so a drive is noticed within 2 s). A drive is identified by its marker only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from usbsync_gui.core.service import ConnectedVolume
from usbsync_gui.core.volumes import Volume, list_volumes

Inspector = Callable[[list[Volume]], list[ConnectedVolume]]

log = logging.getLogger(__name__)

POLL_MS = 1000


class DriveMonitor(QObject):
    """Emits ``volume_added(ConnectedVolume)`` for each newly mounted volume (registered drive or not) and
    ``volume_removed(str mountpoint, str drive_id)`` (drive id empty for unregistered volumes)."""

    volume_added = Signal(object)
    volume_removed = Signal(str, str)

    def __init__(self, inspect: Inspector, parent: QObject | None = None):
        super().__init__(parent)
        self._inspect = inspect
        self._known: dict[str, ConnectedVolume] = {}
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.poll)

    def start(self) -> None:
        self.poll()
        self._timer.start(POLL_MS)

    def stop(self) -> None:
        self._timer.stop()

    def connected(self) -> list[ConnectedVolume]:
        return list(self._known.values())

    def set_inspector(self, inspect: Inspector) -> None:
        """New registrations: forget what we knew so every volume's marker is read again."""
        self._inspect = inspect
        for mount, cv in list(self._known.items()):
            del self._known[mount]
            self.volume_removed.emit(mount, cv.drive.id if cv.drive else "")
        self.poll()

    @Slot()
    def poll(self) -> None:
        try:
            volumes = list_volumes()
        except OSError as exc:
            log.warning("cannot list mounted volumes: %s", exc)
            return
        current: dict[str, Volume] = {v.mountpoint: v for v in volumes}
        for mount in [m for m in self._known if m not in current]:
            cv = self._known.pop(mount)
            self.volume_removed.emit(mount, cv.drive.id if cv.drive else "")
        new = [v for m, v in current.items() if m not in self._known]
        for cv in self._inspect(new) if new else []:
            self._known[cv.volume.mountpoint] = cv
            self.volume_added.emit(cv)

    @Slot(str)
    def drive_lost(self, drive_id: str) -> None:
        """A copy worker hit an I/O error meaning the drive vanished without a mount-table change (a yanked
        FUSE stick): treat it as removed now; it is re-added when it is mounted again."""
        for mount, cv in list(self._known.items()):
            if cv.drive is not None and cv.drive.id == drive_id:
                del self._known[mount]
                self.volume_removed.emit(mount, drive_id)
