"""Shared fixtures: an isolated USBSYNC_HOME, a thread-leak check, sample files with real content."""

from __future__ import annotations

import os
import struct
import sys
import tempfile
import threading
import time
import traceback
import zlib
from pathlib import Path

import pytest

from tests.os_threads import os_threads

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True, scope="session")
def _process_lifetime_pools():
    """blake3's rayon pool is created on first multi-threaded hash and lives as long as the process: start it
    before any test so the leak check below does not mistake it for a test's thread."""
    import blake3

    blake3.blake3(max_threads=blake3.blake3.AUTO).update(bytes(8 << 20))


@pytest.fixture(autouse=True)
def no_thread_leaks(_process_lifetime_pools):
    """Fail a test that leaves threads running (as watchdog's own suite does): Python threads and OS threads."""
    py_before = set(threading.enumerate())
    os_before = set(os_threads())
    yield
    deadline = time.monotonic() + 5
    while True:
        py_extra = [
            t.name
            for t in threading.enumerate()
            if t not in py_before and t.is_alive() and not isinstance(t, threading._DummyThread)  # type: ignore[attr-defined]
        ]
        # Qt's global QThreadPool ("Thread (pooled)") belongs to Qt for the process and retires idle threads
        # after 30 s; widgets use it internally. So does Qt's D-Bus thread ("QDBusConnection"), started once per
        # process by the first bus connection (UDisks2 signals, where a system bus runs). So does the OS's
        # own thread pool (Wine names its threads; Windows' are unnamed, not listed). Any other new OS
        # thread is the test's.
        os_extra = [
            n
            for tid, n in os_threads().items()
            if tid not in os_before
            and n not in ("Thread (pooled)", "QDBusConnection")
            and not n.startswith("wine_threadpool_")  # Wine's process thread pool (Windows', unnamed there)
        ]
        if not (py_extra or os_extra) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    if py_extra or os_extra:
        # Where each leftover Python thread is: what started it and never stopped it is usually one frame up.
        frames = sys._current_frames()
        where = [
            f"{t.name} ({type(t).__module__}.{type(t).__qualname__}) at "
            + " < ".join(
                f"{f.name}:{f.lineno} {f.filename}"
                for f in traceback.extract_stack(frames[t.ident])[-3:][::-1]
            )
            for t in threading.enumerate()
            if t.name in py_extra and t.ident in frames
        ]
        pytest.fail(
            f"threads left running: {py_extra + os_extra}" + "".join(f"\n  {w}" for w in where), pytrace=False
        )


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    h = tmp_path / "home"
    monkeypatch.setenv("USBSYNC_HOME", str(h))
    return h


def png_bytes(seed: int = 0) -> bytes:
    """A valid 1x1 PNG whose pixel depends on ``seed`` (distinct content per seed)."""

    def chunk(t: bytes, d: bytes) -> bytes:
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)

    raw = b"\x00" + bytes([seed & 255, (seed >> 8) & 255, (seed >> 16) & 255])
    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    )


def pdf_bytes(text: str = "hello") -> bytes:
    return (
        b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
        b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
        + f"% {text}\n".encode()
        + b"trailer << /Root 1 0 R >>\n%%EOF\n"
    )


def mp3_bytes() -> bytes:
    # An ID3v2 header is what libmagic keys on for audio/mpeg.
    return b"ID3\x03\x00\x00\x00\x00\x00\x0a" + b"\x00" * 10 + b"\xff\xfb\x90\x64" + b"\x00" * 400


def _symlinks_work() -> bool:
    """Whether this process can make a symbolic link that reads back as one. Windows needs Developer Mode or
    a privilege for it; Wine 8's CreateSymbolicLinkW reports success and makes nothing."""
    with tempfile.TemporaryDirectory() as d:
        target, link = os.path.join(d, "target"), os.path.join(d, "link")
        open(target, "w").close()
        try:
            os.symlink(target, link)
        except (OSError, NotImplementedError):
            return False
        return os.path.islink(link)


needs_symlinks = pytest.mark.skipif(
    not _symlinks_work(),
    reason="this system cannot make symbolic links (Windows without the privilege, Wine)",
)
# POSIX names are bytes: a name that is not valid UTF-8 exists there (and reaches Python as surrogate escapes).
# Windows names are UTF-16 text: such a name cannot be made or met.
byte_names = pytest.mark.skipif(
    sys.platform == "win32",
    reason="Windows file names are UTF-16 text: no name that is not valid UTF-8 exists",
)
needs_fifos = pytest.mark.skipif(
    not hasattr(os, "mkfifo"), reason="no FIFOs or Unix sockets in this OS's filesystem (Windows)"
)


def _under_wine() -> bool:
    if sys.platform != "win32":
        return False
    import ctypes

    try:
        return hasattr(ctypes.WinDLL("ntdll"), "wine_get_version")
    except OSError:
        return False


# Wine keeps a file deleted while open under its name until the last handle closes (it still exists, and a new
# file made under that name is the same file); Windows' POSIX delete semantics (NTFS, Windows 10 1809+) free
# the name at once, as POSIX does.
wine_keeps_deleted_names = pytest.mark.skipif(
    _under_wine(), reason="Wine keeps a file deleted while open under its name until it is closed"
)
