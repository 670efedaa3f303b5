"""Linux volume events: the mount table's change notification, and UDisks2 when the system bus has it.
See :mod:`usbsync_gui.platform.events`."""

from __future__ import annotations

import logging
import os
from typing import Any

from PySide6.QtCore import QObject, QSocketNotifier, Slot

from usbsync_gui.platform.events import VolumeEvents

log = logging.getLogger(__name__)

MOUNTINFO = "/proc/self/mountinfo"


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
