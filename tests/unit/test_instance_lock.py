"""The single-instance lock against processes that only look: ``usbsync status`` and the tray app probe it by
taking it for a moment (:meth:`InstanceLock.held_elsewhere`). A ``usbsync run`` starting at that instant exited "already
running" (status 3) with the prober's pid: seen twice in 4 passes of ``bench/bench_peer.py``'s flood, where the
bench polls ``usbsync status`` while its engine starts."""

from __future__ import annotations

import os
import threading

import filelock
import pytest

from usbsync_gui.core import instance_lock
from usbsync_gui.core.instance_lock import AlreadyRunning, InstanceLock


def test_a_start_waits_out_a_probe_holding_the_lock(tmp_path):
    lock_file, pid_file = tmp_path / "usbsync.lock", tmp_path / "usbsync.pid"
    held, go = threading.Event(), threading.Event()

    def probe() -> None:  # held_elsewhere's hold, stretched: a prober descheduled while it holds the lock
        p = filelock.FileLock(str(lock_file))
        p.acquire(timeout=0)
        held.set()
        go.wait(5)
        p.release()

    t = threading.Thread(target=probe)
    t.start()
    try:
        assert held.wait(5)
        threading.Timer(0.3, go.set).start()
        lock = InstanceLock(lock_file, pid_file)
        lock.acquire()  # before: AlreadyRunning at once
    finally:
        go.set()
        t.join(5)
    try:
        assert pid_file.read_text().strip() == str(os.getpid())
    finally:
        lock.release()


def test_a_running_usbsync_is_refused_at_once(tmp_path, monkeypatch):
    running = InstanceLock(tmp_path / "usbsync.lock", tmp_path / "usbsync.pid")
    running.acquire()
    try:

        def no_waiting(_s: float) -> None:
            raise AssertionError("waited for a holder whose pid file names a live process")

        monkeypatch.setattr(instance_lock.time, "sleep", no_waiting)
        with pytest.raises(AlreadyRunning, match=rf"already running \(pid {os.getpid()}\)"):
            InstanceLock(tmp_path / "usbsync.lock", tmp_path / "usbsync.pid").acquire(wait_s=60)
    finally:
        running.release()


def test_a_probe_writes_no_pid_and_leaves_the_holders(tmp_path):
    lock_file, pid_file = tmp_path / "usbsync.lock", tmp_path / "usbsync.pid"
    assert InstanceLock(lock_file, pid_file).held_elsewhere() is False
    assert not pid_file.exists()  # before: the prober wrote its own pid there while it held the lock
    running = InstanceLock(lock_file, pid_file)
    running.acquire()
    try:
        assert InstanceLock(lock_file, pid_file).held_elsewhere() is True
        assert running.held_elsewhere() is True  # the holder's own object too: a probe is a lock of its own
        assert pid_file.read_text().strip() == str(os.getpid())
    finally:
        running.release()
