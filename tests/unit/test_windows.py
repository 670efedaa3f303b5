"""The Windows paths, run here with the Win32 calls faked at the ctypes boundary: the fakes receive the same
ctypes buffers and byref() out-parameters Windows would, and fill them as the Win32 documentation says."""

import ctypes
import re
import sys
from ctypes import wintypes as w
from typing import ClassVar

import pytest

from usbsync_gui.platform import EjectError
from usbsync_gui.platform.windows import (
    DBT_DEVICEARRIVAL,
    DBT_DEVICEREMOVECOMPLETE,
    DBT_DEVTYP_VOLUME,
    DEV_BROADCAST_VOLUME,
    DRIVE_REMOVABLE,
    IOCTL_STORAGE_GET_DEVICE_NUMBER,
    STORAGE_DEVICE_NUMBER,
    WM_DEVICECHANGE,
    Win32,
    drive_letters,
    eject_volume,
    parse_device_change,
    probe_volume,
)
from usbsync_gui.platform.windows_events import DeviceChangeFilter, WindowsVolumeEvents


def _volume_broadcast(unitmask: int, devtype: int = DBT_DEVTYP_VOLUME) -> DEV_BROADCAST_VOLUME:
    return DEV_BROADCAST_VOLUME(ctypes.sizeof(DEV_BROADCAST_VOLUME), devtype, 0, unitmask, 0)


def test_unitmask_bit_0_is_a():
    assert drive_letters(0b10001) == ["A", "E"]
    assert drive_letters(1 << 25) == ["Z"]


def test_parse_device_change():
    vol = _volume_broadcast(1 << 4)
    assert parse_device_change(DBT_DEVICEARRIVAL, ctypes.addressof(vol)) == ("arrival", ["E"])
    assert parse_device_change(DBT_DEVICEREMOVECOMPLETE, ctypes.addressof(vol)) == ("removal", ["E"])
    assert parse_device_change(0x0007, ctypes.addressof(vol)) is None  # DBT_DEVNODES_CHANGED: no payload
    port = _volume_broadcast(1 << 4, devtype=3)  # DBT_DEVTYP_PORT
    assert parse_device_change(DBT_DEVICEARRIVAL, ctypes.addressof(port)) is None


def _msg(message: int, wparam: int, lparam: int) -> w.MSG:
    return w.MSG(None, message, wparam, lparam, 0, w.POINT(0, 0))


def test_native_event_filter_sees_volume_arrivals_and_never_eats_them():
    seen = []
    f = DeviceChangeFilter(seen.append)
    vol = _volume_broadcast(1 << 5)
    msg = _msg(WM_DEVICECHANGE, DBT_DEVICEARRIVAL, ctypes.addressof(vol))
    assert f.nativeEventFilter(b"windows_generic_MSG", ctypes.addressof(msg)) == (False, 0)
    assert seen == [("arrival", ["F"])]
    other = _msg(0x0010, 0, 0)  # WM_CLOSE
    f.nativeEventFilter(b"windows_generic_MSG", ctypes.addressof(other))
    f.nativeEventFilter(b"xcb_generic_event_t", ctypes.addressof(msg))  # not a Windows message
    assert len(seen) == 1


def test_windows_volume_events_emit_changed(qapp, qtbot):
    events = WindowsVolumeEvents(qapp)
    try:
        assert events.available and events.sources == ["WM_DEVICECHANGE"]
        vol = _volume_broadcast(1 << 4)
        msg = _msg(WM_DEVICECHANGE, DBT_DEVICEREMOVECOMPLETE, ctypes.addressof(vol))
        with qtbot.waitSignal(events.changed, timeout=1000) as sig:
            events._filter.nativeEventFilter(b"windows_generic_MSG", ctypes.addressof(msg))
        assert sig.args == ["WM_DEVICECHANGE"]
    finally:
        events.stop()


def _out(ref):  # the object behind ctypes.byref(...)
    return ref._obj


def test_probe_volume_reads_serial_filesystem_label_and_drive_type():
    calls = []

    def get_volume_information(root, label, label_len, serial, max_comp, flags, fsname, fs_len):
        calls.append(root)
        label.value = "PHOTOS"
        _out(serial).value = 0x7FC7EC41
        fsname.value = "FAT32"
        return 1

    win = Win32(GetVolumeInformationW=get_volume_information, GetDriveTypeW=lambda root: DRIVE_REMOVABLE)
    info = probe_volume("E:\\", "E:\\", "FAT32", win)
    assert calls == ["E:\\"]
    assert (info.uuid, info.fs_type, info.label, info.removable) == ("7FC7-EC41", "vfat", "PHOTOS", True)
    failing = Win32(GetVolumeInformationW=lambda *a: 0, GetDriveTypeW=lambda root: 3)
    assert probe_volume("F:\\", "F:", "NTFS", failing).uuid == ""


class FakeWindows:
    """Disk #1 is the USB stick E: (device instance 42, its USB parent 7); disk #0 is the system disk."""

    VOLUME, DISK0, DISK1 = 100, 200, 201
    PATHS: ClassVar[dict[str, int]] = {
        "\\\\.\\E:": VOLUME,
        "\\\\?\\usbstor#disk0": DISK0,
        "\\\\?\\usbstor#disk1": DISK1,
    }

    def __init__(self, vetoes=()):
        self.vetoes = list(vetoes)
        self.flushed = []
        self.ejected = []
        self.closed = []

    def api(self) -> Win32:
        return Win32(
            CreateFileW=self.create_file,
            CloseHandle=self.closed.append,
            FlushFileBuffers=self.flushed.append,
            DeviceIoControl=self.ioctl,
            SetupDiGetClassDevsW=lambda *a: 555,
            SetupDiEnumDeviceInterfaces=self.enum,
            SetupDiGetDeviceInterfaceDetailW=self.detail,
            SetupDiDestroyDeviceInfoList=lambda h: 1,
            CM_Get_Parent=self.parent,
            CM_Request_Device_EjectW=self.eject,
        )

    def create_file(self, path, *args):
        return self.PATHS.get(path, ctypes.c_void_p(-1).value)

    def ioctl(self, handle, code, inbuf, inlen, outbuf, outlen, returned, overlapped):
        assert code == IOCTL_STORAGE_GET_DEVICE_NUMBER and outlen == ctypes.sizeof(STORAGE_DEVICE_NUMBER)
        number = {self.VOLUME: 1, self.DISK0: 0, self.DISK1: 1}[handle]
        _out(outbuf).DeviceNumber = number
        _out(returned).value = outlen
        return 1

    def enum(self, devs, info, guid, index, iface):
        return 1 if index < 2 else 0

    def detail(self, devs, iface, detail, size, needed, info):
        index = self._index = getattr(self, "_index", -1) + (detail is None)
        path = ["\\\\?\\usbstor#disk0", "\\\\?\\usbstor#disk1"][index].encode("utf-16-le") + b"\0\0"
        if detail is None:
            _out(needed).value = 4 + len(path)
            return 0
        ctypes.memmove(ctypes.addressof(detail) + 4, path, len(path))
        _out(info).DevInst = 40 + index * 2  # disk1 -> 42
        return 1

    def parent(self, out, devinst, flags):
        assert devinst == 42
        _out(out).value = 7
        return 0

    def eject(self, devinst, veto, name, name_len, flags):
        self.ejected.append(devinst)
        if self.vetoes:
            _out(veto).value, name.value = self.vetoes.pop(0)
        return 0


def test_eject_flushes_and_ejects_the_usb_parent_of_the_volumes_disk():
    fake = FakeWindows()
    assert eject_volume("E:\\", "E:\\", fake.api()) == "ejected"
    assert fake.flushed == [FakeWindows.VOLUME]
    assert fake.ejected == [7]
    assert FakeWindows.VOLUME in fake.closed


def test_eject_retries_a_passing_veto_then_reports_a_lasting_one():
    fake = FakeWindows(vetoes=[(6, "explorer")])
    assert eject_volume("E:\\", "E:", fake.api()) == "ejected" and fake.ejected == [7, 7]
    stuck = FakeWindows(vetoes=[(5, "C:\\Program Files\\Editor\\editor.exe")] * 3)
    with pytest.raises(EjectError, match=r"a program has files open on it \(C:\\Program Files"):
        eject_volume("E:\\", "E:", stuck.api())


def test_eject_of_an_unknown_volume_says_so():
    with pytest.raises(EjectError, match="cannot open"):
        eject_volume("Q:\\", "Q:", FakeWindows().api())


# The real Win32 API: these run under Windows CPython (make test-windows runs them under Wine).
real_win32 = pytest.mark.skipif(
    sys.platform != "win32", reason="calls the real Win32 API (make test-windows)"
)


@real_win32
def test_real_api_probes_a_volume_without_looking_up_the_eject_functions():
    from usbsync_gui.platform import windows

    api = windows._real_api()
    info = probe_volume("C:", "C:\\", "", api)
    assert re.fullmatch(r"[0-9A-F]{4}-[0-9A-F]{4}", info.uuid) and info.fs_type
    # Looked up when used: a Windows (or Wine) without an eject function still probes volumes.
    assert "CM_Request_Device_EjectW" not in vars(api) and "SetupDiGetClassDevsW" not in vars(api)


@real_win32
def test_real_functions_take_64_bit_handles():
    from usbsync_gui.platform.windows import CR_SUCCESS, INVALID_HANDLE_VALUE, PROTOTYPES, _real_api

    api = _real_api()
    for name in PROTOTYPES:
        try:
            fn = getattr(api, name)
        except AttributeError:
            continue  # missing here (Wine's cfgmgr32 has no CM_Request_Device_EjectW)
        assert fn.argtypes is not None and fn.restype is not None, name
    bogus = 0x7FFF_FFFF_0000  # above 32 bits: without argtypes, ctypes raises ArgumentError
    assert not api.CloseHandle(bogus)
    assert not api.SetupDiDestroyDeviceInfoList(INVALID_HANDLE_VALUE)
    parent = w.DWORD()
    assert api.CM_Get_Parent(ctypes.byref(parent), 0xFFFF_FFF0, 0) != CR_SUCCESS


@real_win32
def test_real_eject_of_a_volume_it_cannot_eject_is_an_eject_error():
    from usbsync_gui.platform.windows import _real_api

    with pytest.raises(EjectError):
        eject_volume("C:", "C:", _real_api(), attempts=1)


def test_a_missing_eject_function_is_an_eject_error_not_an_attribute_error():
    class Lacking(Win32):
        def __getattr__(self, name):
            raise AttributeError(f"Win32 function {name} not available")

    with pytest.raises(EjectError, match="not available"):
        eject_volume("E:", "E:", Lacking(), attempts=1)


@real_win32
def test_hidden_window_receives_wm_devicechange(qapp):
    from usbsync_gui.platform.windows_events import _HiddenWindow

    seen = []
    window = _HiddenWindow(seen.append)
    try:
        assert window.hwnd
        user32 = ctypes.WinDLL("user32")
        user32.SendMessageW.argtypes = [w.HWND, w.UINT, w.WPARAM, w.LPARAM]
        user32.SendMessageW.restype = ctypes.c_ssize_t
        vol = _volume_broadcast(1 << 4)
        user32.SendMessageW(window.hwnd, WM_DEVICECHANGE, DBT_DEVICEARRIVAL, ctypes.addressof(vol))
        assert seen == [("arrival", ["E"])]
    finally:
        window.destroy()
