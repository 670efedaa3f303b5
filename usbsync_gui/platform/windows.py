"""Windows: volume facts, eject, and WM_DEVICECHANGE parsing, through ctypes against the documented Win32 API.

* Volume serial, filesystem and label: ``GetVolumeInformationW`` (the serial changes when the volume is
  formatted; volume GUIDs differ per PC, so they are not used). Removable: ``GetDriveTypeW`` ==
  ``DRIVE_REMOVABLE`` (USB hard disks often report ``DRIVE_FIXED``).
* Eject ("Safely Remove Hardware"): flush the volume (``FlushFileBuffers``), find its disk's device number
  (``IOCTL_STORAGE_GET_DEVICE_NUMBER``), find the disk device among ``GUID_DEVINTERFACE_DISK`` interfaces
  (SetupAPI), then ``CM_Request_Device_EjectW`` on the disk's parent device node (the USB device). A veto
  (files open) is reported in words.
* ``WM_DEVICECHANGE``: ``DBT_DEVICEARRIVAL`` / ``DBT_DEVICEREMOVECOMPLETE`` with a ``DEV_BROADCAST_VOLUME``
  whose ``dbcv_unitmask`` bit 0 is A:.

Every Win32 call goes through a :class:`Win32` object, so the tests run this code on any OS with the calls
faked at the ctypes boundary. Not run on Windows in this project's CI.
"""

from __future__ import annotations

import ctypes
import os
import sys
from ctypes import wintypes as w
from typing import Any

from usbsync_gui.platform import EjectError, VolumeInfo

WM_DEVICECHANGE = 0x0219
DBT_DEVICEARRIVAL = 0x8000
DBT_DEVICEREMOVECOMPLETE = 0x8004
DBT_DEVTYP_VOLUME = 0x00000002
DRIVE_REMOVABLE = 2
GENERIC_READ, GENERIC_WRITE = 0x80000000, 0x40000000
FILE_SHARE_READ, FILE_SHARE_WRITE = 0x1, 0x2
OPEN_EXISTING = 3
INVALID_HANDLE_VALUE = ctypes.c_void_p(-1).value
IOCTL_STORAGE_GET_DEVICE_NUMBER = 0x002D1080
DIGCF_PRESENT, DIGCF_DEVICEINTERFACE = 0x2, 0x10
CR_SUCCESS = 0
TOKEN_QUERY = 0x0008
TOKEN_USER_CLASS = 1  # TOKEN_INFORMATION_CLASS.TokenUser
SDDL_REVISION_1 = 1
DACL_SECURITY_INFORMATION = 0x00000004
PROTECTED_DACL_SECURITY_INFORMATION = 0x80000000
MAX_PATH = 260
# PNP_VETO_TYPE (cfgmgr32.h): why Windows refused an eject.
VETO_REASONS = {
    1: "a driver or service refused",
    2: "a device is in use",
    3: "a driver refused",
    4: "the device is not removable",
    5: "a program has files open on it",
    6: "a service refused",
    7: "a device refused",
    8: "a device is busy",
    9: "a program has files open on it",
    10: "a driver refused",
    11: "the device is busy",
    12: "a program has files open on it",
}
_FS_TYPES = {
    "FAT": "vfat",
    "FAT12": "vfat",
    "FAT16": "vfat",
    "FAT32": "vfat",
    "EXFAT": "exfat",
    "NTFS": "ntfs",
}


class GUID(ctypes.Structure):
    _fields_ = [("Data1", w.DWORD), ("Data2", w.WORD), ("Data3", w.WORD), ("Data4", w.BYTE * 8)]


GUID_DEVINTERFACE_DISK = GUID(
    0x53F56307,
    0xB6BF,
    0x11D0,
    (w.BYTE * 8)(0x94 - 256, 0xF2 - 256, 0x00, 0xA0, 0xC9 - 256, 0x1E, 0xFB - 256, 0x8B - 256),
)


class DEV_BROADCAST_HDR(ctypes.Structure):
    _fields_ = [("dbch_size", w.DWORD), ("dbch_devicetype", w.DWORD), ("dbch_reserved", w.DWORD)]


class DEV_BROADCAST_VOLUME(ctypes.Structure):
    _fields_ = [
        ("dbcv_size", w.DWORD),
        ("dbcv_devicetype", w.DWORD),
        ("dbcv_reserved", w.DWORD),
        ("dbcv_unitmask", w.DWORD),
        ("dbcv_flags", w.WORD),
    ]


class STORAGE_DEVICE_NUMBER(ctypes.Structure):
    _fields_ = [("DeviceType", w.DWORD), ("DeviceNumber", w.DWORD), ("PartitionNumber", w.DWORD)]


class SP_DEVICE_INTERFACE_DATA(ctypes.Structure):
    _fields_ = [
        ("cbSize", w.DWORD),
        ("InterfaceClassGuid", GUID),
        ("Flags", w.DWORD),
        ("Reserved", ctypes.c_void_p),
    ]


class SP_DEVINFO_DATA(ctypes.Structure):
    _fields_ = [("cbSize", w.DWORD), ("ClassGuid", GUID), ("DevInst", w.DWORD), ("Reserved", ctypes.c_void_p)]


def drive_letters(unitmask: int) -> list[str]:
    """``dbcv_unitmask`` -> drive letters: bit 0 is A:, bit 25 is Z:."""
    return [chr(ord("A") + i) for i in range(26) if unitmask >> i & 1]


def parse_device_change(wparam: int, lparam: int) -> tuple[str, list[str]] | None:
    """A WM_DEVICECHANGE message -> ("arrival" | "removal", drive letters), or None for anything else.
    ``lparam`` is the address of the DEV_BROADCAST_HDR (valid only while the message is handled)."""
    if wparam not in (DBT_DEVICEARRIVAL, DBT_DEVICEREMOVECOMPLETE) or not lparam:
        return None
    hdr = DEV_BROADCAST_HDR.from_address(lparam)
    if hdr.dbch_devicetype != DBT_DEVTYP_VOLUME:
        return None
    vol = DEV_BROADCAST_VOLUME.from_address(lparam)
    return ("arrival" if wparam == DBT_DEVICEARRIVAL else "removal", drive_letters(vol.dbcv_unitmask))


class Win32:
    """The Win32 functions used here, from kernel32, setupapi and cfgmgr32 (or fakes, in tests)."""

    def __init__(self, **functions: Any):
        self.__dict__.update(functions)

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(f"Win32 function {name} not available")


_P = ctypes.POINTER
# Every function used, with its DLL and prototype (restype, argtypes). Without argtypes ctypes passes a Python
# int as a C int: a 64-bit handle (HDEVINFO, HANDLE, INVALID_HANDLE_VALUE) raises ArgumentError.
PROTOTYPES: dict[str, tuple[str, Any, list[Any]]] = {
    "GetVolumeInformationW": (
        "kernel32",
        w.BOOL,
        [w.LPCWSTR, w.LPWSTR, w.DWORD, _P(w.DWORD), _P(w.DWORD), _P(w.DWORD), w.LPWSTR, w.DWORD],
    ),
    "GetDriveTypeW": ("kernel32", w.UINT, [w.LPCWSTR]),
    "CreateFileW": (
        "kernel32",
        w.HANDLE,
        [w.LPCWSTR, w.DWORD, w.DWORD, ctypes.c_void_p, w.DWORD, w.DWORD, w.HANDLE],
    ),
    "DeviceIoControl": (
        "kernel32",
        w.BOOL,
        [w.HANDLE, w.DWORD, ctypes.c_void_p, w.DWORD, ctypes.c_void_p, w.DWORD, _P(w.DWORD), ctypes.c_void_p],
    ),
    "FlushFileBuffers": ("kernel32", w.BOOL, [w.HANDLE]),
    "CloseHandle": ("kernel32", w.BOOL, [w.HANDLE]),
    "SetupDiGetClassDevsW": ("setupapi", w.HANDLE, [_P(GUID), w.LPCWSTR, w.HWND, w.DWORD]),
    "SetupDiEnumDeviceInterfaces": (
        "setupapi",
        w.BOOL,
        [w.HANDLE, _P(SP_DEVINFO_DATA), _P(GUID), w.DWORD, _P(SP_DEVICE_INTERFACE_DATA)],
    ),
    "SetupDiGetDeviceInterfaceDetailW": (
        "setupapi",
        w.BOOL,
        [w.HANDLE, _P(SP_DEVICE_INTERFACE_DATA), ctypes.c_void_p, w.DWORD, _P(w.DWORD), _P(SP_DEVINFO_DATA)],
    ),
    "SetupDiDestroyDeviceInfoList": ("setupapi", w.BOOL, [w.HANDLE]),
    "CM_Get_Parent": ("cfgmgr32", w.DWORD, [_P(w.DWORD), w.DWORD, w.ULONG]),
    "CM_Request_Device_EjectW": (
        "cfgmgr32",
        w.DWORD,
        [w.DWORD, _P(ctypes.c_int), w.LPWSTR, w.ULONG, w.ULONG],
    ),
}


class _RealWin32(Win32):
    """The real functions, each looked up when first used: a function this Windows (or Wine) lacks fails only
    the operation that needs it (eject), not volume probing."""

    def __getattr__(self, name: str) -> Any:
        try:
            dll, restype, argtypes = PROTOTYPES[name]
        except KeyError:
            raise AttributeError(f"Win32 function {name} not available") from None
        if sys.platform != "win32":
            raise AttributeError(f"Win32 function {name}: not on Windows")
        try:
            fn = getattr(ctypes.WinDLL(dll, use_last_error=True), name)
        except (OSError, AttributeError) as exc:
            raise AttributeError(f"Win32 function {name} not available ({exc})") from exc
        fn.restype, fn.argtypes = restype, argtypes
        self.__dict__[name] = fn
        return fn


def _real_api() -> Win32:
    if sys.platform != "win32":
        raise OSError("the Win32 API exists only on Windows")
    return _RealWin32()


_api: Win32 | None = None


def api() -> Win32:
    global _api
    if _api is None:
        _api = _real_api()
    return _api


def _root(mountpoint: str) -> str:
    return mountpoint if mountpoint.endswith("\\") else mountpoint + "\\"


def probe_volume(device: str, mountpoint: str, fstype: str, win: Win32 | None = None) -> VolumeInfo:
    """Serial (``XXXX-XXXX``, as ``vol`` prints it), filesystem, label and removability of ``E:\\``."""
    win = win or api()
    root = _root(mountpoint)
    label = ctypes.create_unicode_buffer(MAX_PATH + 1)
    fsname = ctypes.create_unicode_buffer(MAX_PATH + 1)
    serial = w.DWORD()
    ok = win.GetVolumeInformationW(
        root, label, MAX_PATH + 1, ctypes.byref(serial), None, None, fsname, MAX_PATH + 1
    )
    uuid = f"{serial.value >> 16:04X}-{serial.value & 0xFFFF:04X}" if ok else ""
    fs = _FS_TYPES.get(fsname.value.upper(), fsname.value.lower()) if ok and fsname.value else fstype.lower()
    removable = win.GetDriveTypeW(root) == DRIVE_REMOVABLE
    return VolumeInfo(uuid=uuid, fs_type=fs, label=label.value if ok else "", removable=bool(removable))


def _device_number(win: Win32, path: str) -> int | None:
    h = win.CreateFileW(path, 0, FILE_SHARE_READ | FILE_SHARE_WRITE, None, OPEN_EXISTING, 0, None)
    if h in (None, INVALID_HANDLE_VALUE):
        return None
    try:
        sdn = STORAGE_DEVICE_NUMBER()
        got = w.DWORD()
        if not win.DeviceIoControl(
            h,
            IOCTL_STORAGE_GET_DEVICE_NUMBER,
            None,
            0,
            ctypes.byref(sdn),
            ctypes.sizeof(sdn),
            ctypes.byref(got),
            None,
        ):
            return None
        return int(sdn.DeviceNumber)
    finally:
        win.CloseHandle(h)


def _disk_devinst(win: Win32, number: int) -> int | None:
    """The device instance of the disk with device number ``number`` (SetupAPI, GUID_DEVINTERFACE_DISK)."""
    devs = win.SetupDiGetClassDevsW(
        ctypes.byref(GUID_DEVINTERFACE_DISK), None, None, DIGCF_PRESENT | DIGCF_DEVICEINTERFACE
    )
    if devs in (None, INVALID_HANDLE_VALUE):
        return None
    try:
        index = 0
        while True:
            iface = SP_DEVICE_INTERFACE_DATA(cbSize=ctypes.sizeof(SP_DEVICE_INTERFACE_DATA))
            if not win.SetupDiEnumDeviceInterfaces(
                devs, None, ctypes.byref(GUID_DEVINTERFACE_DISK), index, ctypes.byref(iface)
            ):
                return None
            index += 1
            needed = w.DWORD()
            win.SetupDiGetDeviceInterfaceDetailW(
                devs, ctypes.byref(iface), None, 0, ctypes.byref(needed), None
            )
            if needed.value < 6:
                continue
            detail = ctypes.create_string_buffer(needed.value)
            # SP_DEVICE_INTERFACE_DETAIL_DATA_W.cbSize: the fixed part only (8 on 64-bit, 6 on 32-bit Windows).
            w.DWORD.from_buffer(detail).value = 8 if ctypes.sizeof(ctypes.c_void_p) == 8 else 6
            info = SP_DEVINFO_DATA(cbSize=ctypes.sizeof(SP_DEVINFO_DATA))
            if not win.SetupDiGetDeviceInterfaceDetailW(
                devs, ctypes.byref(iface), detail, needed, None, ctypes.byref(info)
            ):
                continue
            # DevicePath: WCHARs (UTF-16 on Windows) after the 4-byte cbSize, NUL-terminated.
            raw = ctypes.string_at(ctypes.addressof(detail) + 4, needed.value - 4)
            path = raw.decode("utf-16-le", "replace").split("\0", 1)[0]
            if _device_number(win, path) == number:
                return int(info.DevInst)
    finally:
        win.SetupDiDestroyDeviceInfoList(devs)


def eject_volume(device: str, mountpoint: str, win: Win32 | None = None, attempts: int = 3) -> str:
    """Flush ``E:`` and ask Windows to eject its USB device. Returns "ejected". Raises EjectError with the
    reason Windows gave (veto type and the vetoing device or program)."""
    win = win or api()
    try:
        return _eject(win, mountpoint, attempts)
    except AttributeError as exc:  # a function this Windows lacks (Wine has no CM_Request_Device_EjectW)
        raise EjectError(f"cannot eject {mountpoint} here: {exc}") from exc


def _eject(win: Win32, mountpoint: str, attempts: int) -> str:
    volume = "\\\\.\\" + mountpoint.rstrip("\\")
    h = win.CreateFileW(
        volume, GENERIC_READ | GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_WRITE, None, OPEN_EXISTING, 0, None
    )
    if h in (None, INVALID_HANDLE_VALUE):
        raise EjectError(f"cannot open {volume}")
    try:
        win.FlushFileBuffers(h)
    finally:
        win.CloseHandle(h)
    number = _device_number(win, volume)
    if number is None:
        raise EjectError(f"cannot find the disk of {mountpoint}")
    devinst = _disk_devinst(win, number)
    if devinst is None:
        raise EjectError(f"cannot find the device of {mountpoint}")
    parent = w.DWORD()
    if win.CM_Get_Parent(ctypes.byref(parent), devinst, 0) != CR_SUCCESS:
        raise EjectError(f"cannot find the USB device holding {mountpoint}")
    veto = ctypes.c_int()
    name = ctypes.create_unicode_buffer(MAX_PATH)
    for _ in range(max(1, attempts)):  # Windows often vetoes once while Explorer lets go of the drive
        veto.value = 0
        result = win.CM_Request_Device_EjectW(parent.value, ctypes.byref(veto), name, MAX_PATH, 0)
        if result == CR_SUCCESS and veto.value == 0:
            return "ejected"
    why = VETO_REASONS.get(veto.value, f"veto type {veto.value}")
    raise EjectError(f"Windows refused: {why}" + (f" ({name.value})" if name.value else ""))


def _current_user_sid() -> str:
    """The SID of the user this process runs as (``S-1-5-21-...``), from its access token."""
    if sys.platform != "win32":
        raise OSError("the Win32 API exists only on Windows")
    advapi = ctypes.WinDLL("advapi32", use_last_error=True)
    k32 = ctypes.WinDLL("kernel32", use_last_error=True)
    k32.GetCurrentProcess.restype = w.HANDLE
    k32.GetCurrentProcess.argtypes = []
    k32.CloseHandle.argtypes = [w.HANDLE]
    k32.LocalFree.argtypes = [ctypes.c_void_p]
    advapi.OpenProcessToken.argtypes = [w.HANDLE, w.DWORD, _P(w.HANDLE)]
    advapi.GetTokenInformation.argtypes = [w.HANDLE, ctypes.c_int, ctypes.c_void_p, w.DWORD, _P(w.DWORD)]
    advapi.ConvertSidToStringSidW.argtypes = [ctypes.c_void_p, _P(w.LPWSTR)]
    token = w.HANDLE()
    if not advapi.OpenProcessToken(k32.GetCurrentProcess(), TOKEN_QUERY, ctypes.byref(token)):
        raise ctypes.WinError(ctypes.get_last_error())
    try:
        size = w.DWORD()
        advapi.GetTokenInformation(token, TOKEN_USER_CLASS, None, 0, ctypes.byref(size))
        buf = ctypes.create_string_buffer(size.value)
        if not advapi.GetTokenInformation(token, TOKEN_USER_CLASS, buf, size, ctypes.byref(size)):
            raise ctypes.WinError(ctypes.get_last_error())
        sid = ctypes.c_void_p.from_buffer(buf).value  # TOKEN_USER.User.Sid: the first field
        text = w.LPWSTR()
        if not advapi.ConvertSidToStringSidW(sid, ctypes.byref(text)):
            raise ctypes.WinError(ctypes.get_last_error())
        try:
            return str(text.value)
        finally:
            k32.LocalFree(text)
    finally:
        k32.CloseHandle(token)


def private_dacl() -> str:
    """The SDDL of a DACL that lets only the current user in: protected (nothing inherited from the folder, so
    neither Users nor Everyone nor an administrator's group), one full-control entry for the user."""
    return f"D:P(A;;FA;;;{_current_user_sid()})"


def make_private(path: str) -> None:
    """Make ``path`` readable and writable by the current user only (what ``chmod 0600`` means on POSIX, which
    Windows ignores). Raises OSError."""
    if sys.platform != "win32":
        raise OSError("the Win32 API exists only on Windows")
    advapi = ctypes.WinDLL("advapi32", use_last_error=True)
    k32 = ctypes.WinDLL("kernel32", use_last_error=True)
    k32.LocalFree.argtypes = [ctypes.c_void_p]
    advapi.ConvertStringSecurityDescriptorToSecurityDescriptorW.argtypes = [
        w.LPCWSTR,
        w.DWORD,
        _P(ctypes.c_void_p),
        _P(w.ULONG),
    ]
    advapi.SetFileSecurityW.argtypes = [w.LPCWSTR, w.DWORD, ctypes.c_void_p]
    sd = ctypes.c_void_p()
    if not advapi.ConvertStringSecurityDescriptorToSecurityDescriptorW(
        private_dacl(), SDDL_REVISION_1, ctypes.byref(sd), None
    ):
        raise ctypes.WinError(ctypes.get_last_error())
    try:
        if not advapi.SetFileSecurityW(
            path, DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION, sd
        ):
            raise ctypes.WinError(ctypes.get_last_error())
    finally:
        k32.LocalFree(sd)


def file_dacl(path: str) -> str:
    """The SDDL of ``path``'s DACL (``D:P(A;;FA;;;S-1-5-...)``). Raises OSError."""
    if sys.platform != "win32":
        raise OSError("the Win32 API exists only on Windows")
    advapi = ctypes.WinDLL("advapi32", use_last_error=True)
    k32 = ctypes.WinDLL("kernel32", use_last_error=True)
    k32.LocalFree.argtypes = [ctypes.c_void_p]
    advapi.GetFileSecurityW.argtypes = [w.LPCWSTR, w.DWORD, ctypes.c_void_p, w.DWORD, _P(w.DWORD)]
    advapi.ConvertSecurityDescriptorToStringSecurityDescriptorW.argtypes = [
        ctypes.c_void_p,
        w.DWORD,
        w.DWORD,
        _P(w.LPWSTR),
        _P(w.ULONG),
    ]
    need = w.DWORD()
    advapi.GetFileSecurityW(path, DACL_SECURITY_INFORMATION, None, 0, ctypes.byref(need))
    buf = ctypes.create_string_buffer(max(need.value, 1))
    if not advapi.GetFileSecurityW(path, DACL_SECURITY_INFORMATION, buf, need, ctypes.byref(need)):
        raise ctypes.WinError(ctypes.get_last_error())
    text = w.LPWSTR()
    if not advapi.ConvertSecurityDescriptorToStringSecurityDescriptorW(
        buf, SDDL_REVISION_1, DACL_SECURITY_INFORMATION, ctypes.byref(text), None
    ):
        raise ctypes.WinError(ctypes.get_last_error())
    try:
        return str(text.value)
    finally:
        k32.LocalFree(text)


FILE_SHARE_DELETE = 0x4
FILE_ATTRIBUTE_NORMAL = 0x80


def open_shared_read(path: str) -> int:
    """A read-only, binary file descriptor for ``path`` that lets others rename and delete the file while it is
    open (``FILE_SHARE_DELETE``), as on POSIX. ``os.open`` shares reading and writing only: a file being copied
    could not be moved or deleted from the outbox meanwhile. Raises OSError (FileNotFoundError, ...)."""
    if sys.platform != "win32":
        raise OSError("the Win32 API exists only on Windows")
    import msvcrt

    k32 = ctypes.WinDLL("kernel32", use_last_error=True)
    create = k32.CreateFileW
    create.argtypes = PROTOTYPES["CreateFileW"][2]
    create.restype = w.HANDLE
    share = FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE
    h = create(path, GENERIC_READ, share, None, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, None)
    if h in (None, INVALID_HANDLE_VALUE):
        err = ctypes.get_last_error()
        raise OSError(None, ctypes.FormatError(err), path, err)
    try:
        return msvcrt.open_osfhandle(h, os.O_RDONLY | os.O_BINARY)
    except BaseException:
        k32.CloseHandle.argtypes = [w.HANDLE]
        k32.CloseHandle(h)
        raise
