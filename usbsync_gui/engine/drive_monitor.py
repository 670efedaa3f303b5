"""Notice volumes being plugged in (mounted) and removed, and identify them.

The OS's signals (:mod:`usbsync_gui.platform.events`) trigger a re-read of the mounted volumes from psutil,
which stays the source of truth; once at once, again after 0.25 s and 1 s (a FUSE volume can be in the mount
table a moment before it answers). A slow poll remains as the safety net for anything the signals miss. A
drive can also vanish without any signal: a yanked stick under FUSE leaves a stale mount that answers ENOTCONN
until it is unmounted; the copy worker reports that through :meth:`DriveMonitor.drive_lost`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from usbsync_gui.core.service import ConnectedVolume
from usbsync_gui.core.volumes import Volume, list_volumes
from usbsync_gui.platform.events import VolumeEvents

log = logging.getLogger(__name__)

Inspector = Callable[[list[Volume]], list[ConnectedVolume]]
RECHECK_MS = (250, 1000)


def _remounted(known: Volume, now: Volume | None) -> bool:
    """True when the volume known at a mount point is gone or is no longer the same mounting."""
    return now is None or (now.device, now.read_only) != (known.device, known.read_only)


class DriveMonitor(QObject):
    """Emits ``volume_added(ConnectedVolume)`` for each newly mounted volume (registered drive or not),
    ``volume_removed(str mountpoint, str drive_id)`` (drive id empty for unregistered volumes), and
    ``mounts_changed()`` after each look an OS signal caused.

    Args:
        inspect: identifies volumes (reads markers, verifies tokens).
        events: the OS signal source, or None to rely on polling.
        poll_s: the safety-net poll interval in seconds (used as given when signals are available, capped at
            1 s when they are not).
    """

    volume_added = Signal(object)
    volume_removed = Signal(str, str)
    mounts_changed = Signal()  # after each look an OS signal caused (not the safety-net poll)

    def __init__(
        self,
        inspect: Inspector,
        events: VolumeEvents | None = None,
        poll_s: float = 5.0,
        parent: QObject | None = None,
    ):
        super().__init__(parent)
        self._inspect = inspect
        self._known: dict[str, ConnectedVolume] = {}
        self._events = events
        self._poll_ms = int(1000 * (poll_s if events is not None and events.available else min(poll_s, 1.0)))
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.poll)
        self.last_trigger = ""  # what noticed the latest new volume: "poll" or the signal's source
        if events is not None:
            events.changed.connect(self._on_event)

    def start(self) -> None:
        sources = ", ".join(self._events.sources) if self._events and self._events.available else "none"
        log.info(
            "watching for drives: OS signals %s; safety-net poll every %.1f s", sources, self._poll_ms / 1000
        )
        self.poll()
        self._timer.start(self._poll_ms)

    def stop(self) -> None:
        self._timer.stop()
        if self._events is not None:
            self._events.stop()

    def connected(self) -> list[ConnectedVolume]:
        return list(self._known.values())

    def set_inspector(self, inspect: Inspector) -> None:
        """New registrations: forget what we knew so every volume's marker is read again."""
        self._inspect = inspect
        for mount, cv in list(self._known.items()):
            del self._known[mount]
            self.volume_removed.emit(mount, cv.drive.id if cv.drive else "")
        self.poll()

    @Slot(str)
    def _on_event(self, source: str) -> None:
        self._poll_for_event(source)
        for ms in RECHECK_MS:
            QTimer.singleShot(ms, self, lambda s=source: self._poll_for_event(s))

    @Slot()
    def poll(self) -> None:
        self._poll("poll")

    def _poll_for_event(self, trigger: str) -> None:
        self._poll(trigger)
        # The mount table changed. A stick pulled and put back at the same place between two looks is the
        # same mount point, device and options, and Linux reuses mount IDs: only the drive's own checks
        # (marker, device number) can tell. So every event asks each connected drive to look again.
        self.mounts_changed.emit()

    def _poll(self, trigger: str) -> None:
        try:
            volumes = list_volumes()
        except OSError as exc:
            log.warning("cannot list mounted volumes: %s", exc)
            return
        current: dict[str, Volume] = {v.mountpoint: v for v in volumes}
        # Gone, or mounted anew in place: another device, or remounted read-only / writable (``mount -o
        # remount,rw`` after a lock switch): announced as removed, then added again with what it is now.
        for mount in [m for m in self._known if _remounted(self._known[m].volume, current.get(m))]:
            cv = self._known.pop(mount)
            self.volume_removed.emit(mount, cv.drive.id if cv.drive else "")
        new = [v for m, v in current.items() if m not in self._known]
        if not new:
            return
        self.last_trigger = trigger
        for cv in self._inspect(new):
            self._known[cv.volume.mountpoint] = cv
            self.volume_added.emit(cv)

    def forget(self, mountpoint: str) -> None:
        """The volume at ``mountpoint`` was ejected by us: drop it without announcing a removal."""
        self._known.pop(mountpoint, None)

    @Slot(str)
    def drive_lost(self, drive_id: str) -> None:
        """A copy worker hit an I/O error meaning the drive vanished without a mount-table change (a yanked
        FUSE stick): treat it as removed now; it is added again when it is mounted again."""
        for mount, cv in list(self._known.items()):
            if cv.drive is not None and cv.drive.id == drive_id:
                del self._known[mount]
                self.volume_removed.emit(mount, drive_id)
