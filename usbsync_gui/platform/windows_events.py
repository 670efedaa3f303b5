"""Windows volume events: WM_DEVICECHANGE through a Qt native event filter.

``DBT_DEVICEARRIVAL``/``DBT_DEVICEREMOVECOMPLETE`` are broadcast to top-level windows only, not to
message-only windows. A :class:`QAbstractNativeEventFilter` installed on the application sees them for Qt's
own top-level windows (the tray app). A headless ``usbsync run`` has none, so a hidden top-level window of our
own (never shown) is created too; its window procedure hands the message to the same handler. Both may see
one event: harmless, it only triggers a re-read of the volumes.

Not run on Windows in this project's CI: the filter and the message parsing are tested with MSG and
DEV_BROADCAST_VOLUME structures built in memory.
"""

from __future__ import annotations

import ctypes
import logging
import sys
from collections.abc import Callable
from ctypes import wintypes as w
from typing import Any

from PySide6.QtCore import QAbstractNativeEventFilter, QCoreApplication, QObject

from usbsync_gui.platform.events import VolumeEvents
from usbsync_gui.platform.windows import WM_DEVICECHANGE, parse_device_change

log = logging.getLogger(__name__)

Handler = Callable[[tuple[str, list[str]]], None]
_MSG_TYPES = (b"windows_generic_MSG", b"windows_dispatcher_MSG")


class DeviceChangeFilter(QAbstractNativeEventFilter):
    """Calls ``handler(("arrival" | "removal", letters))`` for volume WM_DEVICECHANGE messages; never eats them."""

    def __init__(self, handler: Handler):
        super().__init__()
        self._handler = handler

    def nativeEventFilter(self, eventType: Any, message: Any) -> tuple[bool, int]:
        kind = bytes(eventType) if not isinstance(eventType, str) else eventType.encode()
        if kind in _MSG_TYPES and message:
            msg = w.MSG.from_address(int(message))
            if msg.message == WM_DEVICECHANGE:
                event = parse_device_change(int(msg.wParam), int(msg.lParam))
                if event is not None:
                    self._handler(event)
        return False, 0


class _HiddenWindow:
    """A never-shown top-level window whose window procedure forwards WM_DEVICECHANGE (win32 only)."""

    def __init__(self, handler: Handler):
        self.hwnd = None
        self._user32: Any = None
        self._hinst: Any = None
        self._class = ""
        self._registered = False
        if sys.platform != "win32":
            return
        user32 = ctypes.WinDLL("user32", use_last_error=True)
        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
        user32.DefWindowProcW.argtypes = [w.HWND, w.UINT, w.WPARAM, w.LPARAM]
        user32.DefWindowProcW.restype = ctypes.c_ssize_t
        wndproc_type = ctypes.WINFUNCTYPE(ctypes.c_ssize_t, w.HWND, w.UINT, w.WPARAM, w.LPARAM)

        def wndproc(hwnd: Any, msg: int, wparam: int, lparam: int) -> int:
            if msg == WM_DEVICECHANGE:
                event = parse_device_change(int(wparam), int(lparam or 0))
                if event is not None:
                    handler(event)
            return int(user32.DefWindowProcW(hwnd, msg, wparam, lparam))

        self._proc = wndproc_type(wndproc)  # kept alive as long as the window

        class WNDCLASSW(ctypes.Structure):
            _fields_ = [
                ("style", w.UINT),
                ("lpfnWndProc", wndproc_type),
                ("cbClsExtra", ctypes.c_int),
                ("cbWndExtra", ctypes.c_int),
                ("hInstance", w.HINSTANCE),
                ("hIcon", w.HICON),
                ("hCursor", w.HANDLE),
                ("hbrBackground", w.HBRUSH),
                ("lpszMenuName", w.LPCWSTR),
                ("lpszClassName", w.LPCWSTR),
            ]

        # Prototypes for all: a module handle or HWND is 64 bits, and ctypes' default int return would cut it.
        kernel32.GetModuleHandleW.argtypes = [w.LPCWSTR]
        kernel32.GetModuleHandleW.restype = w.HMODULE
        user32.RegisterClassW.argtypes = [ctypes.c_void_p]
        user32.RegisterClassW.restype = w.ATOM
        user32.CreateWindowExW.argtypes = [
            w.DWORD, w.LPCWSTR, w.LPCWSTR, w.DWORD, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int,
            w.HWND, w.HMENU, w.HINSTANCE, w.LPVOID,
        ]  # fmt: skip
        user32.CreateWindowExW.restype = w.HWND
        user32.DestroyWindow.argtypes = [w.HWND]
        user32.DestroyWindow.restype = w.BOOL
        user32.UnregisterClassW.argtypes = [w.LPCWSTR, w.HINSTANCE]
        user32.UnregisterClassW.restype = w.BOOL
        self._user32 = user32
        self._hinst = hinst = kernel32.GetModuleHandleW(None)
        # A class of its own per window, unregistered with it: the class holds this window's procedure, and a
        # second window (an engine restarted in the same process) must not get the first one's, freed by then.
        self._class = f"usbsync-device-events-{id(self):x}"
        cls = WNDCLASSW(lpfnWndProc=self._proc, hInstance=hinst, lpszClassName=self._class)
        self._registered = bool(user32.RegisterClassW(ctypes.byref(cls)))
        if not self._registered:
            log.warning(
                "could not register the device-notification window (error %d)", ctypes.get_last_error()
            )
            return
        self.hwnd = user32.CreateWindowExW(0, self._class, "usbsync", 0, 0, 0, 0, 0, None, None, hinst, None)
        if not self.hwnd:
            log.warning("could not create the device-notification window (error %d)", ctypes.get_last_error())

    def destroy(self) -> None:
        if self.hwnd:
            self._user32.DestroyWindow(self.hwnd)
            self.hwnd = None
        if self._registered:
            self._user32.UnregisterClassW(self._class, self._hinst)
            self._registered = False


class WindowsVolumeEvents(VolumeEvents):
    """WM_DEVICECHANGE for volumes -> ``changed("WM_DEVICECHANGE")``. ``app`` gets the native event filter."""

    def __init__(self, app: QCoreApplication, parent: QObject | None = None):
        super().__init__(parent)
        self._app = app
        self._filter = DeviceChangeFilter(self._on_change)
        app.installNativeEventFilter(self._filter)
        self._window = _HiddenWindow(self._on_change)
        self.sources.append("WM_DEVICECHANGE")

    def _on_change(self, event: tuple[str, list[str]]) -> None:
        kind, letters = event
        log.debug("WM_DEVICECHANGE: %s of %s", kind, ", ".join(f"{x}:" for x in letters))
        self.changed.emit("WM_DEVICECHANGE")

    def stop(self) -> None:
        self._app.removeNativeEventFilter(self._filter)
        self._window.destroy()
