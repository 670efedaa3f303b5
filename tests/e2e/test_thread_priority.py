"""The engine's threads run below the window's priority, and so does every thread they start (thread pools,
watchdog's observer and readers): in a flood they keep the CPU busy, and the GUI thread must still get a core
at once (see ``usbsync_gui/platform/thread_priority.py``). Read from the kernel, per thread, after a real run
that watched, analysed and copied files onto a real volume.
"""

from __future__ import annotations

import os
import sys
import threading

import pytest

from tests.conftest import png_bytes
from usbsync_gui.core.config import load_config
from usbsync_gui.engine.engine import Engine
from usbsync_gui.platform.thread_priority import BACKGROUND_NICE

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not sys.platform.startswith("linux"), reason="reads per-thread nice values from /proc"
    ),
]

# Threads Qt owns for the process, not the engine: its global pool (also the task runner's, whose tasks a user
# waits for, so they keep normal priority) and its D-Bus thread.
QT_OWN = ("Thread (pooled)", "QDBusConnection")


def _threads() -> dict[int, tuple[str, int]]:
    """tid -> (name, nice) of this process's threads, from /proc/self/task/TID/{comm,stat} (proc(5): nice is
    the 19th field of stat)."""
    out = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/comm") as fh:
                name = fh.read().strip()
            with open(f"/proc/self/task/{tid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        out[int(tid)] = (name, int(fields[16]))  # fields[0] is field 3 (state)
    return out


def test_every_thread_the_engine_starts_runs_below_the_window(engine_home, qtbot, qapp):
    paths, src, photos = engine_home.paths, engine_home.src, engine_home.photos
    window = os.getpriority(os.PRIO_PROCESS, 0)  # this test's thread plays the GUI thread
    before = set(_threads())
    engine = Engine(paths, load_config(paths.config_file), qapp)
    engine.start()
    try:
        for i in range(40):  # enough for the analysis pool and a copy batch
            (src / f"p{i:02}.png").write_bytes(png_bytes(i))
        target = photos.mountpoint / "USBSync"
        qtbot.waitUntil(
            lambda: len(list(target.glob("*.png"))) == 40 if target.is_dir() else False, timeout=30_000
        )
        started = {tid: t for tid, t in _threads().items() if tid not in before}
        # The engine's QThreads, watchdog's threads, the analysis pool and the copy worker: at least these.
        assert len(started) >= 6, started
        background = min(19, window + BACKGROUND_NICE)
        at_normal = {tid: t for tid, t in started.items() if t[1] < background and t[0] not in QT_OWN}
        assert not at_normal, f"engine threads at the window's priority: {at_normal}"
        assert os.getpriority(os.PRIO_PROCESS, 0) == window  # the GUI thread itself is untouched
        assert threading.get_native_id() not in started
    finally:
        assert engine.stop()
