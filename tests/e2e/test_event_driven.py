"""The pipeline runs on events, not clocks: with every timer the engine starts made a day long (and every
interval in the configuration too), a file closed in the outbox, one renamed in and a drive plugged in still go
through, each because its own event arrived. Only a file still open waits (its stability window, a day here),
and goes the moment it is closed.

The timers are stretched in the ``usbsync run`` process by a ``sitecustomize`` module put first on its
PYTHONPATH (test setup only): every ``QTimer`` interval above 0 ms becomes a day. The watcher's old 200 ms
tick, stretched so, left every file waiting: this test failed on it."""

import os
import textwrap

from tests.conftest import png_bytes
from tests.e2e.conftest import stop, wait_for

DAY = 86_400

STRETCH = textwrap.dedent(
    f"""
    from PySide6.QtCore import QTimer

    DAY_MS = {DAY * 1000}
    _start, _set_interval, _single_shot = QTimer.start, QTimer.setInterval, QTimer.singleShot


    def _long(ms):
        return DAY_MS if ms > 0 else ms


    def start(self, *args):
        if args and isinstance(args[0], int):
            args = (_long(args[0]),)
        elif self.interval() > 0:
            _set_interval(self, DAY_MS)
        return _start(self, *args)


    def set_interval(self, ms):
        return _set_interval(self, _long(ms))


    def single_shot(ms, *args):
        return _single_shot(_long(ms), *args)


    QTimer.start = start
    QTimer.setInterval = set_interval
    QTimer.singleShot = staticmethod(single_shot)
    """
)


def test_with_every_timer_a_day_long_closed_files_still_reach_the_drive(
    usbsync, make_drive, monkeypatch, tmp_path
):
    photos = make_drive("PHOTOS")
    usbsync("register-drive", str(photos.mountpoint), "--name", "Photos", "--category", "images")
    at = photos.mountpoint
    photos.unplug()
    for key in (
        "stability_window_seconds",
        "rescan_interval_seconds",
        "heartbeat_interval_seconds",
        "volume_poll_seconds",
    ):
        usbsync.set(key, str(DAY))
    monkeypatch.setenv("USBSYNC_WATCH_RETRY_SECONDS", str(DAY))  # read from the environment, not a QTimer's
    stretch = tmp_path / "stretch"
    stretch.mkdir()
    (stretch / "sitecustomize.py").write_text(STRETCH)
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(p for p in (str(stretch), os.environ.get("PYTHONPATH")) if p)
    )
    proc = usbsync.start()
    try:
        wait_for(lambda: f"watching {usbsync.source}" in usbsync.log(), timeout=20)
        # Written and closed: its close event alone queues it (the drive is absent, so it waits there).
        (usbsync.source / "a.png").write_bytes(png_bytes(1))
        wait_for(lambda: len(usbsync.json("pending")["jobs"]) == 1, timeout=10)
        # The drive's arrival is an event too (the mount table changed), not the day-long poll.
        photos.plug(at)
        wait_for(lambda: set(photos.files()) == {"a.png"}, timeout=10)
        # Renamed in from outside the outbox: complete, goes at once.
        staged = tmp_path / "b.png"
        staged.write_bytes(png_bytes(2))
        os.rename(staged, usbsync.source / "b.png")
        # Still open: waits (a day), then goes when closed.
        with open(usbsync.source / "c.png", "wb") as open_file:
            open_file.write(png_bytes(3))
            open_file.flush()
            wait_for(lambda: set(photos.files()) == {"a.png", "b.png"}, timeout=10)
            assert "c.png" not in photos.files()
        wait_for(lambda: set(photos.files()) == {"a.png", "b.png", "c.png"}, timeout=10)
        wait_for(lambda: usbsync.json("status")["synced"] == 3, timeout=10)
    finally:
        code, out = stop(proc)
    assert code == 0, out
    assert "noticed by mountinfo" in out
    assert photos.files() == {"a.png": png_bytes(1), "b.png": png_bytes(2), "c.png": png_bytes(3)}
