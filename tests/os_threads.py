"""The OS threads of this process, by id, with their names: what the thread-leak check compares, so that it also
sees QThreads and watchdog's observers that never touched Python's threading module."""

from __future__ import annotations

import os
import sys


def os_threads() -> dict[str, str]:
    """OS threads of this process (thread id -> name). Linux: every thread, from /proc. Windows: the threads
    that have a description (``GetThreadDescription``; Qt names every QThread and its pool's threads), since
    unnamed ones are the system's own thread pool workers (and Python's, which the check sees through
    :mod:`threading`). Empty where neither applies."""
    if sys.platform == "win32":
        return {tid: name for tid, name in _windows_threads().items() if name}
    out = {}
    try:
        for tid in os.listdir("/proc/self/task"):
            try:
                with open(f"/proc/self/task/{tid}/comm") as fh:
                    out[tid] = fh.read().strip()
            except OSError:
                continue
    except OSError:
        pass
    return out


def _windows_threads() -> dict[str, str]:
    """Toolhelp32's thread snapshot, this process's entries, each named by ``GetThreadDescription``
    (Windows 10 1607 and later; Wine has it)."""
    import ctypes
    from ctypes import wintypes as w

    class THREADENTRY32(ctypes.Structure):
        _fields_ = [
            ("dwSize", w.DWORD),
            ("cntUsage", w.DWORD),
            ("th32ThreadID", w.DWORD),
            ("th32OwnerProcessID", w.DWORD),
            ("tpBasePri", w.LONG),
            ("tpDeltaPri", w.LONG),
            ("dwFlags", w.DWORD),
        ]

    k = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]
    k.CreateToolhelp32Snapshot.restype = w.HANDLE
    k.CreateToolhelp32Snapshot.argtypes = [w.DWORD, w.DWORD]
    k.Thread32First.argtypes = k.Thread32Next.argtypes = [w.HANDLE, ctypes.POINTER(THREADENTRY32)]
    k.OpenThread.restype = w.HANDLE
    k.OpenThread.argtypes = [w.DWORD, w.BOOL, w.DWORD]
    k.GetThreadDescription.argtypes = [w.HANDLE, ctypes.POINTER(w.LPWSTR)]
    k.GetThreadDescription.restype = ctypes.c_long  # an HRESULT
    k.LocalFree.argtypes = [ctypes.c_void_p]
    k.CloseHandle.argtypes = [w.HANDLE]
    TH32CS_SNAPTHREAD, THREAD_QUERY_LIMITED_INFORMATION = 0x4, 0x800
    INVALID_HANDLE_VALUE = ctypes.c_void_p(-1).value

    pid = k.GetCurrentProcessId()
    snap = k.CreateToolhelp32Snapshot(TH32CS_SNAPTHREAD, 0)
    if not snap or snap == INVALID_HANDLE_VALUE:
        return {}
    out: dict[str, str] = {}
    try:
        entry = THREADENTRY32()
        entry.dwSize = ctypes.sizeof(THREADENTRY32)
        more = k.Thread32First(snap, ctypes.byref(entry))
        while more:
            if entry.th32OwnerProcessID == pid:
                name = ""
                handle = k.OpenThread(THREAD_QUERY_LIMITED_INFORMATION, False, entry.th32ThreadID)
                if handle:
                    text = w.LPWSTR()
                    if k.GetThreadDescription(handle, ctypes.byref(text)) >= 0:
                        name = text.value or ""
                        k.LocalFree(ctypes.cast(text, ctypes.c_void_p))
                    k.CloseHandle(handle)
                out[str(entry.th32ThreadID)] = name
            more = k.Thread32Next(snap, ctypes.byref(entry))
    finally:
        k.CloseHandle(snap)
    return out
