"""The removable drive letter ``make test-windows`` makes under Wine (scripts/windows/test-windows.sh, step 3b),
for the tests that use the real Win32 API on a drive: a mounted ext4 loop image behind a letter of type floppy.

Its environment: ``USBSYNC_TEST_DRIVE`` (the letter, ``E:``), ``USBSYNC_TEST_DRIVE_DOSDEVICE`` and
``USBSYNC_TEST_DRIVE_MOUNT`` (Unix paths: the prefix's ``dosdevices/e:`` link and the mount it leads to),
``USBSYNC_TEST_DRIVE_SERIAL`` and ``USBSYNC_TEST_DRIVE_LABEL`` (what the volume's root files tell Wine). Without
them (not Windows, not run by make test-windows as root) the tests that need the drive skip.

Plugging and unplugging is what Windows does when a stick comes and goes: the letter appears (disappears; here
the dosdevices link is made or removed, by ``ln``/``rm`` run through Wine's ``__wine_unix_spawnvp``: renaming a
link to the mounted folder from Windows fails with a lock violation while the app has files open there), and
a ``WM_DEVICECHANGE`` for it is sent to the top-level windows of every application, here by a second process
with ``BroadcastSystemMessageW`` (Wine broadcasts nothing for a new letter; field notes). The message is sent
(``BSF_QUERY``), as Windows sends it and as Wine's own mount manager does: Wine 8 never posts it to another
process (``BSF_POSTMESSAGE`` and ``BSF_SENDNOTIFYMESSAGE`` reach no window there, tried here: a message whose
lParam points into the sender's memory can only be sent).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

LETTER = os.environ.get("USBSYNC_TEST_DRIVE", "") if sys.platform == "win32" else ""
DOSDEVICE = os.environ.get("USBSYNC_TEST_DRIVE_DOSDEVICE", "")
MOUNT = os.environ.get("USBSYNC_TEST_DRIVE_MOUNT", "")
SERIAL = os.environ.get("USBSYNC_TEST_DRIVE_SERIAL", "")
LABEL = os.environ.get("USBSYNC_TEST_DRIVE_LABEL", "")
ROOT = LETTER + "\\"

needs_test_drive = pytest.mark.skipif(
    not (LETTER and DOSDEVICE and MOUNT),
    reason="needs the removable drive letter make test-windows makes as root under Wine (USBSYNC_TEST_DRIVE)",
)

# Run as a second process: the broadcast must come from outside the process that receives it, as Windows'
# own does. argv: "arrival" | "removal", the drive letter.
_BROADCAST = r"""
import ctypes, sys
from ctypes import wintypes as w

class DEV_BROADCAST_VOLUME(ctypes.Structure):
    _fields_ = [("dbcv_size", w.DWORD), ("dbcv_devicetype", w.DWORD), ("dbcv_reserved", w.DWORD),
                ("dbcv_unitmask", w.DWORD), ("dbcv_flags", w.WORD)]

WM_DEVICECHANGE, DBT_DEVTYP_VOLUME = 0x0219, 2
EVENTS = {"arrival": 0x8000, "removal": 0x8004}  # DBT_DEVICEARRIVAL, DBT_DEVICEREMOVECOMPLETE
BSF_QUERY, BSF_FORCEIFHUNG, BSM_APPLICATIONS = 0x1, 0x20, 0x8
kind, letter = sys.argv[1], sys.argv[2]
user32 = ctypes.WinDLL("user32", use_last_error=True)
user32.BroadcastSystemMessageW.argtypes = [w.DWORD, ctypes.POINTER(w.DWORD), w.UINT, w.WPARAM, w.LPARAM]
user32.BroadcastSystemMessageW.restype = ctypes.c_long
vol = DEV_BROADCAST_VOLUME(ctypes.sizeof(DEV_BROADCAST_VOLUME), DBT_DEVTYP_VOLUME, 0,
                           1 << (ord(letter[0].upper()) - ord("A")), 0)
recipients = w.DWORD(BSM_APPLICATIONS)
got = user32.BroadcastSystemMessageW(BSF_QUERY | BSF_FORCEIFHUNG, ctypes.byref(recipients), WM_DEVICECHANGE,
                                     EVENTS[kind], ctypes.addressof(vol))
if got <= 0:
    sys.exit(f"BroadcastSystemMessageW returned {got} (error {ctypes.get_last_error()})")
"""


def broadcast(kind: str, letter: str) -> subprocess.Popen[bytes]:
    """Start a second process that sends ``WM_DEVICECHANGE`` (``kind``: "arrival" or "removal") for ``letter``
    to every application's top-level windows. It ends once each has handled it: see :func:`finish`."""
    return subprocess.Popen(
        [sys.executable, "-c", _BROADCAST, kind, letter], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


def finish(proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """Wait for a :func:`broadcast` to end, handling this process's own messages meanwhile (the broadcast is
    sent to its windows too, and waits for them). Raises AssertionError when it failed or took ``timeout`` s."""
    from PySide6.QtCore import QCoreApplication

    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        if QCoreApplication.instance() is not None:
            QCoreApplication.processEvents()
        time.sleep(0.02)
    if proc.poll() is None:
        proc.kill()
    out = proc.communicate()[0].decode(errors="replace")
    assert proc.returncode == 0, f"the WM_DEVICECHANGE broadcast failed ({proc.returncode}): {out}"


def _unix(*argv: str) -> None:
    """Run a Unix command from Windows and wait for it (Wine's ntdll only). Raises OSError if it cannot start."""
    import ctypes

    spawn = ctypes.WinDLL("ntdll").__wine_unix_spawnvp
    spawn.argtypes = [ctypes.c_void_p, ctypes.c_int]
    spawn.restype = ctypes.c_long
    args = (ctypes.c_char_p * (len(argv) + 1))(*[os.fsencode(a) for a in argv], None)
    status = spawn(args, 1)
    if status:
        raise OSError(f"cannot run {argv[0]} (NTSTATUS {status & 0xFFFFFFFF:#x})")


def unplug() -> None:
    """The letter goes away (its dosdevices link is removed), then the removal is broadcast."""
    _unix("/bin/rm", "-f", DOSDEVICE)
    assert not plugged()
    finish(broadcast("removal", LETTER))


def plug() -> None:
    """The letter comes back (its dosdevices link is made again), then the arrival is broadcast."""
    _unix("/bin/ln", "-sfn", MOUNT, DOSDEVICE)
    assert plugged()
    finish(broadcast("arrival", LETTER))


def plugged() -> bool:
    return os.path.isdir(ROOT)
