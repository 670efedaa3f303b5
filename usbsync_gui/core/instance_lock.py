"""One running usbsync per user: an OS file lock (``filelock``) in the state folder.

The lock is released by the OS when the process dies, even by ``kill -9``, so a crash never leaves a stale lock.
"""

from __future__ import annotations

import os
from pathlib import Path

import filelock


class AlreadyRunning(Exception):
    """Another usbsync holds the lock. ``str()`` is a one-line message with its pid when known."""


class InstanceLock:
    """Hold the single-instance lock at ``lock_file``; ``pid_file`` tells others who holds it."""

    def __init__(self, lock_file: Path, pid_file: Path):
        self._lock = filelock.FileLock(str(lock_file))
        self._pid_file = pid_file

    def acquire(self) -> None:
        """Take the lock now or raise :class:`AlreadyRunning`."""
        try:
            self._lock.acquire(timeout=0)
        except filelock.Timeout:
            try:
                pid = self._pid_file.read_text().strip()
            except OSError:
                pid = ""
            who = f" (pid {pid})" if pid else ""
            raise AlreadyRunning(
                f"usbsync is already running{who}; stop it first or use that instance"
            ) from None
        self._pid_file.write_text(f"{os.getpid()}\n")

    def release(self) -> None:
        if self._lock.is_locked:
            self._pid_file.unlink(missing_ok=True)
            self._lock.release()

    def __enter__(self) -> InstanceLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def held_elsewhere(lock_file: Path, pid_file: Path) -> bool:
    """Whether another process holds the lock at ``lock_file`` now (taken and released at once when free)."""
    probe = InstanceLock(lock_file, pid_file)
    try:
        probe.acquire()
    except AlreadyRunning:
        return True
    probe.release()
    return False
