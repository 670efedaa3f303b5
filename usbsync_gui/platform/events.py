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

import sys

from PySide6.QtCore import QCoreApplication, QObject, Signal


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


def create_volume_events(app: QCoreApplication, parent: QObject | None = None) -> VolumeEvents:
    """The signal source for this platform. ``app`` is the running application (Windows installs a native
    event filter on it); pass it explicitly, the engine never looks it up."""
    if sys.platform == "win32":
        from usbsync_gui.platform.windows_events import WindowsVolumeEvents

        return WindowsVolumeEvents(app, parent)
    if sys.platform.startswith("linux"):
        from usbsync_gui.platform.linux_events import LinuxVolumeEvents

        return LinuxVolumeEvents(parent)
    return VolumeEvents(parent)  # no signals: the drive monitor polls
