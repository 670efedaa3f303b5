"""The OS's signals that volumes came or went, as one Qt signal: :attr:`VolumeEvents.changed`.

They are triggers only: whoever listens re-reads the mounted volumes (psutil is the source of truth).

* Linux: the kernel marks ``/proc/self/mountinfo`` with POLLPRI/POLLERR whenever the mount table changes
  (proc(5), "/proc/pid/mountinfo"); a QSocketNotifier of type Exception watches it, and re-reading the file
  from offset 0 re-arms it. Always available, also without D-Bus. Where the system bus offers UDisks2, its
  ObjectManager's InterfacesAdded/InterfacesRemoved are a second trigger (a device plugged in before it is
  mounted). PySide6's QtDBus cannot unpack their ``a{sa{sv}}`` payload, so it is not read.
* Windows: ``WM_DEVICECHANGE`` with ``DBT_DEVICEARRIVAL``/``DBT_DEVICEREMOVECOMPLETE`` for volumes reaches
  top-level windows only; see :mod:`usbsync_gui.platform.windows_events`.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, QSocketNotifier, Signal, Slot

log = logging.getLogger(__name__)

MOUNTINFO = "/proc/self/mountinfo"


class VolumeEvents(QObject):
    """Emits ``changed(source)`` when the OS says volumes may have come or gone. ``available`` tells whether
    any signal source works here (if not, the caller polls faster)."""

    changed = Signal(str)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.sources: list[str] = []

    @property
    def available(self) -> bool:
        return bool(self.sources)

    def stop(self) -> None:
        """Release OS resources (file descriptors, filters)."""


class LinuxVolumeEvents(VolumeEvents):
    def __init__(self, parent: QObject | None = None, mountinfo: str = MOUNTINFO, system_bus: bool = True):
        super().__init__(parent)
        self._fd = -1
        self._notifier: QSocketNotifier | None = None
        try:
            self._fd = os.open(mountinfo, os.O_RDONLY | os.O_CLOEXEC)
            self._drain()
            self._notifier = QSocketNotifier(self._fd, QSocketNotifier.Type.Exception, self)
            self._notifier.activated.connect(self._on_mountinfo)
            self.sources.append("mountinfo")
        except OSError as exc:
            log.warning("cannot watch %s for mount changes (%s); polling instead", mountinfo, exc.strerror)
        if system_bus:
            self._connect_udisks2()

    def _drain(self) -> None:
        os.lseek(self._fd, 0, os.SEEK_SET)
        while os.read(self._fd, 65536):
            pass

    @Slot()
    def _on_mountinfo(self) -> None:
        try:
            self._drain()  # re-arms the notification
        except OSError as exc:
            log.debug("re-reading %s: %s", MOUNTINFO, exc)
        self.changed.emit("mountinfo")

    def _connect_udisks2(self) -> None:
        if not os.path.exists("/run/dbus/system_bus_socket") and "DBUS_SYSTEM_BUS_ADDRESS" not in os.environ:
            log.info("no system D-Bus: UDisks2 device signals not used (mount-table signals still are)")
            return
        try:
            from PySide6.QtCore import SLOT
            from PySide6.QtDBus import QDBusConnection
        except ImportError:
            return
        bus = QDBusConnection.systemBus()
        if not bus.isConnected():
            log.info("system D-Bus not reachable: UDisks2 device signals not used")
            return
        # PySide6 6.x takes SLOT()'s str here; bytes raise at run time, though its type stub says bytes.
        slot: Any = SLOT("_on_udisks2(QDBusMessage)")
        ok = all(
            bus.connect(
                "org.freedesktop.UDisks2",
                "/org/freedesktop/UDisks2",
                "org.freedesktop.DBus.ObjectManager",
                member,
                self,
                slot,
            )
            for member in ("InterfacesAdded", "InterfacesRemoved")
        )
        if ok:
            self.sources.append("udisks2")
        else:
            log.info("UDisks2 signals could not be subscribed; mount-table signals still are")

    @Slot("QDBusMessage")
    def _on_udisks2(self, _message: object) -> None:
        self.changed.emit("udisks2")

    def stop(self) -> None:
        if self._notifier is not None:
            self._notifier.setEnabled(False)
            self._notifier = None
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def create_volume_events(app: QCoreApplication, parent: QObject | None = None) -> VolumeEvents:
    """The signal source for this platform. ``app`` is the running application (Windows installs a native
    event filter on it); pass it explicitly, the engine never looks it up."""
    if sys.platform == "win32":
        from usbsync_gui.platform.windows_events import WindowsVolumeEvents

        return WindowsVolumeEvents(app, parent)
    if sys.platform.startswith("linux"):
        return LinuxVolumeEvents(parent)
    return VolumeEvents(parent)  # no signals: the drive monitor polls
