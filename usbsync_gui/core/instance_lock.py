"""One running usbsync per user: an OS file lock (``filelock``) in the state folder.

The lock is released by the OS when the process dies, even by ``kill -9``, so a crash never leaves a stale lock.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import filelock
import psutil

# How long a starting usbsync waits for a lock held by a process that only looks (held_elsewhere), seconds.
# Such a probe holds it for microseconds; a descheduled one on a loaded machine, for milliseconds.
PROBE_WAIT_S = 2.0


class AlreadyRunning(Exception):
    """Another usbsync holds the lock. ``str()`` is a one-line message with its pid when known."""


class InstanceLock:
    """Hold the single-instance lock at ``lock_file``; ``pid_file`` tells others who holds it."""

    def __init__(self, lock_file: Path, pid_file: Path):
        self._lock = filelock.FileLock(str(lock_file))
        self._pid_file = pid_file

    def acquire(self, wait_s: float = PROBE_WAIT_S) -> None:
        """Take the lock or raise :class:`AlreadyRunning`.

        A process that only looks (:meth:`held_elsewhere`: ``usbsync status``, the tray app asking whether its
        engine runs) holds the lock for a moment and writes no pid: for such a holder this waits, up to
        ``wait_s`` seconds. A holder whose pid file names a live process is a running usbsync: that raises at
        once. Before, a ``usbsync status`` probing at the instant ``usbsync run`` started made the engine exit
        "already running" (status 3), with the prober's pid in the message."""
        deadline = time.monotonic() + wait_s
        while True:
            try:
                self._lock.acquire(timeout=0)
                break
            except filelock.Timeout:
                pid = self._holder()
                if pid is not None or time.monotonic() >= deadline:
                    who = f" (pid {pid})" if pid is not None else ""
                    raise AlreadyRunning(
                        f"usbsync is already running{who}; stop it first or use that instance"
                    ) from None
                time.sleep(0.02)
        self._pid_file.write_text(f"{os.getpid()}\n")

    def held_elsewhere(self) -> bool:
        """Whether the lock is held now (by another process, or by this one through another object). When it is
        free it is taken and released at once, with no pid written: :meth:`acquire` in a starting usbsync waits
        out such a probe. The probe is a lock object of its own: filelock's are re-entrant, so the holder's own
        would find it free."""
        probe = filelock.FileLock(self._lock.lock_file)
        try:
            probe.acquire(timeout=0)
        except filelock.Timeout:
            return True
        probe.release()
        return False

    def _holder(self) -> int | None:
        """The live process the pid file names, or None (no file yet, unreadable, or a pid that has ended)."""
        try:
            pid = int(self._pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if psutil.pid_exists(pid) else None

    def release(self) -> None:
        if self._lock.is_locked:
            self._pid_file.unlink(missing_ok=True)
            self._lock.release()

    def __enter__(self) -> InstanceLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
