#!/usr/bin/env python3
"""Benchmark: does the tray app's event loop stay responsive while it works, and while the user acts on it?
Needs root (a loop-mounted drive). A standalone script, not part of ``make test``.

The real engine, tray controller and status window run in this process (offscreen). A 5 ms QTimer records the
gaps between its ticks: a gap is how long the GUI thread could not react. Two workloads, the files made by a
separate process so the measurement sees only usbsync's own cost:

  (a) one 1 GiB file copied to a loop-mounted ext4 drive (scan, copy, verify, progress into the status window),
      at a copy-speed limit (``--rate``, a USB stick's speed) so that the copy lasts long enough to act on it;
  (b) 20,000 new files arriving in the outbox (watcher, ingest, the tray's refresh), recorded and copied.

Each workload runs twice: quiet (nothing but the work: the baseline), then with a user acting on the tray app
while the work is in flight, each action from the GUI thread through ``QTimer.singleShot`` as a click's slot
runs, one after the other, the next one starting 2.5 s after the previous one's effect was seen:

  * pause, then resume 1.5 s later (the tray's Pause action): the copy must stop, then go on;
  * Settings: open it, switch one notification, Save (the real dialog's save path, written on the task runner):
    the file must change and the engine apply it (it polls the file every 2 s), the copy going on;
  * the drives dialog: open it (it looks at the volumes off the GUI thread), then ``refresh()``: it must list
    the drive as registered;
  * eject the drive mid-copy (``Engine.eject_drive``): the callback must say ok and the volume be unmounted;
    then re-plug it (mount the same loop device again) so the work finishes. The mount is run by a helper
    process started before the pass, as a desktop's mounter (udisksd) is a process of its own: started from
    the measured process at the click, the fork of a 150 MiB, 20-thread process was part of what was measured.

Reported: each pass's longest gap, 99th percentile and median; for each action the longest gap from its click
to two seconds after its effect was seen, whether that is under 100 ms, and what the effect was. To tell what a
long gap was, the bench records: the GUI thread's CPU time in it (``time.thread_time``: busy, or waiting for the
GIL, a lock or the CPU); which of the loop's ``processEvents()`` / ``sleep(1 ms)`` it was in; the GUI thread's
Python stack, sampled every 5 ms by another thread once the gap passes 40 ms (``sys._current_frames``); the
calls the GUI thread made to the engine's state database and to the mount-table read, timed by wrappers set in
this process; and the gaps of a control process doing nothing but a 5 ms sleep loop (when it stalled too, the
machine did). (``faulthandler.dump_traceback_later`` was tried as a GIL-free sampler: it segfaulted the process
while the worker threads ran, so it is not used.) The bench's own waiting (job counts, the mount table, the
saved configuration) is read by another thread with its own database connection, and the engine's signals are
observed from a bench thread: the GUI thread under test does no bench work but the tick. Mounts and the loop
device are undone in ``finally`` and, should the process die without it, by a janitor process. Exits 1 when a
gap reached 100 ms or an action's effect was not seen. Results: docs/performance.md.

    sudo .venv/bin/python bench/bench_ui_responsiveness.py [--rate 64] [--files 20000] [--no-quiet]
        [--only a|b] [--verbose] [--log FILE]
"""

from __future__ import annotations

import argparse
import collections
import datetime
import gc
import itertools
import linecache
import logging
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["PYTHON_KEYRING_BACKEND"] = "keyring.backends.null.Keyring"

TICK_MS = 5
STALL_MS = 100.0  # the target: no gap over this
SAMPLE_FROM_S = 0.040  # the sampler records the GUI thread's stack once a gap is this long
TAIL_S = 2.0  # an action's window: from its click to this long after its effect was seen
DRIVE = "Drive"
NOTE_KIND = "drive_full"  # the notification switched in Settings

Wait = Callable[[], bool]


def sh(*cmd: str) -> str:
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {out.returncode}: {out.stderr.strip()}")
    return out.stdout.strip()


JANITOR_CODE = """
import glob, os, shutil, subprocess, sys, time
mnt, img, work = sys.argv[1:4]
sys.stdin.read()  # returns at EOF: the bench ended, whichever way (a crash included)
for _ in range(10):
    if not os.path.ismount(mnt) or subprocess.run(["umount", mnt], capture_output=True).returncode == 0:
        break
    time.sleep(1)
if os.path.ismount(mnt):
    subprocess.run(["umount", "-l", mnt], capture_output=True)
for f in glob.glob("/sys/block/loop*/loop/backing_file"):  # only the loop device backed by our image
    try:
        mine = open(f).read().strip() == img
    except OSError:
        continue
    if mine:
        subprocess.run(["losetup", "-d", "/dev/" + f.split("/")[3]], capture_output=True)
shutil.rmtree(work, ignore_errors=True)
"""


# 1 GiB: an MP4 header, then random bytes. Without the header libmagic now and then takes random bytes for a DOS
# executable (application/x-dosexec), and a file of no kind is never copied.
FILM_CODE = """
import os, sys
head = b"\\x00\\x00\\x00\\x18ftypmp42\\x00\\x00\\x00\\x00mp42isom"
left = (1 << 30) - len(head)
with open(sys.argv[1], "wb") as f:
    f.write(head)
    while left > 0:
        left -= f.write(os.urandom(min(left, 4 << 20)))
"""

#: Set by SIGTERM/SIGINT; the bench's own loop then raises SystemExit (never inside a Qt slot), so the finally
#: blocks stop the engine and undo the mounts.
STOP = threading.Event()


def janitor(mnt: Path, img: Path, work: Path) -> subprocess.Popen[bytes]:
    """A process that, once this one ends however it ends (a segfault skips every ``finally``), unmounts
    ``mnt``, detaches the loop device backed by ``img`` (none other) and removes ``work``. Its own session:
    a Ctrl-C to the terminal does not stop it first."""
    return subprocess.Popen(
        [sys.executable, "-c", JANITOR_CODE, str(mnt), str(img), str(work)],
        stdin=subprocess.PIPE,
        start_new_session=True,
    )


def machine() -> str:
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"nproc {len(os.sched_getaffinity(0))}, CPU {cpu}, kernel {platform.release()}"


def load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def until(cond: Wait, timeout_s: float) -> Wait:
    """A wait that ends when ``cond()`` holds or after ``timeout_s`` (the caller checks ``cond()`` again)."""
    deadline = time.perf_counter() + timeout_s
    return lambda: cond() or time.perf_counter() > deadline


def pause_for(seconds: float) -> Wait:
    return until(lambda: False, seconds)


def where(filename: str, lineno: int, func: str) -> str:
    for mark in ("/usbsync_gui/", "/site-packages/", "/bench/"):
        if mark in filename:
            filename = filename[filename.index(mark) + 1 :]
            break
    else:
        filename = os.path.basename(filename)
    return f"{filename}:{lineno} {func}"


# -- threads of the bench (never the GUI thread) ---------------------------------------------------------------


@dataclass(frozen=True)
class Snap:
    at: float
    counts: dict[str, int]
    mounted: bool
    notes: dict[str, bool]


class Probe(threading.Thread):
    """Every 0.2 s, on its own database connection: job counts, whether the drive is mounted, and the saved
    notification switches. Published as one :class:`Snap` (an attribute assignment, read by the GUI thread)."""

    def __init__(self, state_db: Path, mnt: Path, config_file: Path):
        super().__init__(name="bench-probe", daemon=True)
        self._state_db, self._mnt, self._config_file = state_db, str(mnt), config_file
        self._stop_event = threading.Event()
        self.snap = Snap(0.0, {}, True, {})
        self.ready = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        from usbsync_gui.core.config import load_config
        from usbsync_gui.core.state import StateDB

        try:
            db = StateDB(self._state_db)
            mtime, notes = -1.0, {}
            while True:
                counts = db.counts()
                with open("/proc/self/mounts") as f:
                    mounted = any(line.split()[1] == self._mnt for line in f)
                m = os.stat(self._config_file).st_mtime
                if m != mtime:
                    try:
                        notes = dict(load_config(self._config_file).notifications)
                        mtime = m
                    except Exception:  # mid-write: read it at the next look
                        pass
                self.snap = Snap(time.perf_counter(), counts, mounted, notes)
                self.ready.set()
                if self._stop_event.wait(0.2):
                    break
            db.close()
        except BaseException as exc:
            self.error = exc
            self.ready.set()

    def stop(self) -> None:
        self._stop_event.set()
        self.join(5)


class StallSampler(threading.Thread):
    """While the GUI thread's current gap is over :data:`SAMPLE_FROM_S`, every 5 ms: its Python stack, and the
    innermost frame of every other thread running Python. Kept per gap (keyed by the gap's start)."""

    def __init__(self, gui_ident: int, last: list[float]):
        super().__init__(name="bench-sampler", daemon=True)
        self._gui, self._last = gui_ident, last
        self._stop_event = threading.Event()
        self.samples: dict[float, list[tuple[float, tuple[str, ...], tuple[str, ...]]]] = {}

    def run(self) -> None:
        me = threading.get_ident()
        while not self._stop_event.wait(0.005):
            start = self._last[0]
            now = time.perf_counter()
            if now - start < SAMPLE_FROM_S:
                continue
            frames = sys._current_frames()
            gui = frames.pop(self._gui, None)
            if gui is None:
                continue
            stack = tuple(where(fs.filename, fs.lineno or 0, fs.name) for fs in traceback.extract_stack(gui))
            others = tuple(
                sorted(
                    where(f.f_code.co_filename, f.f_lineno or 0, f.f_code.co_name)
                    for ident, f in frames.items()
                    if ident != me
                )
            )
            self.samples.setdefault(start, []).append((now - start, stack, others))

    def stop(self) -> None:
        self._stop_event.set()
        self.join(5)


CONTROL_CODE = """
import os, sys, time
out = open(sys.argv[1], "w", buffering=1)
steal_out = open(sys.argv[2], "w", buffering=1)
parent = os.getppid()
last = time.perf_counter()
stolen = None
while os.getppid() == parent:
    time.sleep(0.005)
    now = time.perf_counter()
    if now - last > 0.03:
        out.write(f"{last!r} {now!r}\\n")
    last = now
    try:
        with open("/proc/stat") as f:
            s = int(f.readline().split()[8])  # steal, all CPUs, in USER_HZ ticks (proc(5))
    except (OSError, IndexError, ValueError):
        continue
    if s != stolen:
        steal_out.write(f"{now!r} {s}\\n")
        stolen = s
"""

USER_HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


class Control:
    """A second process doing nothing but a 5 ms sleep loop, recording its own gaps over 30 ms (CLOCK_MONOTONIC,
    as ``perf_counter`` here): when it stalled at the same time as the GUI thread, the machine did (other
    processes, I/O), not usbsync."""

    def __init__(self, work: Path):
        self.path = work / "control-gaps.txt"
        self.steal_path = work / "control-steal.txt"
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CONTROL_CODE, str(self.path), str(self.steal_path)]
        )

    def steal_ms(self, lo: float, hi: float) -> tuple[float, float]:
        """CPU time the hypervisor took from this VM's vCPUs (``steal`` in /proc/stat, summed over the CPUs) from
        the last reading at or before ``lo`` to the first at or after ``hi``: (ms stolen, ms spanned). The
        counter moves in ticks of 10 ms and is read every 5 ms, so this is coarse: a diagnosis, not a figure."""
        try:
            rows = [tuple(map(float, line.split())) for line in self.steal_path.read_text().splitlines()]
        except (OSError, ValueError):
            return (0.0, 0.0)
        before = [r for r in rows if r[0] <= lo]
        after = [r for r in rows if r[0] >= hi]
        if not before or not after:
            return (0.0, 0.0)
        (t0, s0), (t1, s1) = before[-1], after[0]
        return ((s1 - s0) * 1000 / USER_HZ, (t1 - t0) * 1000)

    def gaps(self) -> list[tuple[float, float]]:
        try:
            text = self.path.read_text()
        except OSError:
            return []
        out = []
        for line in text.splitlines():
            a, _, b = line.partition(" ")
            try:
                out.append((float(a), float(b)))
            except ValueError:
                continue
        return out

    def overlap_ms(self, lo: float, hi: float) -> float:
        """The longest control gap overlapping [lo, hi], in ms (0: the control process ran meanwhile)."""
        return max(((b - a) * 1000 for a, b in self.gaps() if b > lo and a < hi), default=0.0)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class CallTimer:
    """Times the calls made on the GUI thread to product functions that do I/O there: the engine's state
    database methods and the drive monitor's mount-table read (and its statvfs of each volume). For diagnosis only (a few microseconds a call);
    the product code is not changed, only wrapped in this process."""

    def __init__(self, gui_ident: int):
        self._gui = gui_ident
        self.calls: dict[str, list[tuple[float, float]]] = collections.defaultdict(
            list
        )  # name -> (start, ms)

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            if threading.get_ident() != self._gui:
                return fn(*args, **kwargs)
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.calls[name].append((t0, (time.perf_counter() - t0) * 1000))

        return timed

    def instrument(self, engine: Any) -> None:
        import usbsync_gui.engine.drive_monitor as drive_monitor

        db = engine.db
        for name in dir(type(db)):
            if name.startswith("_") or name in ("transaction", "close", "of"):
                continue
            fn = getattr(db, name)
            if callable(fn):
                setattr(db, name, self.wrap(f"StateDB.{name}", fn))
        drive_monitor.list_volumes = self.wrap("list_volumes", drive_monitor.list_volumes)  # type: ignore[attr-defined]
        import psutil

        usage = psutil.disk_usage

        def disk_usage(path: str) -> Any:  # list_volumes' statvfs of each mounted volume: which one was slow
            if threading.get_ident() != self._gui:
                return usage(path)
            t0 = time.perf_counter()
            try:
                return usage(path)
            finally:
                ms = (time.perf_counter() - t0) * 1000
                self.calls[f"psutil.disk_usage({path})" if ms >= 20 else "psutil.disk_usage"].append((t0, ms))

        psutil.disk_usage = disk_usage

    def during(self, lo: float, hi: float) -> list[tuple[str, float, float]]:
        """(name, start, ms) of the calls that overlap [lo, hi], longest first."""
        out = [(n, t, ms) for n, cs in self.calls.items() for t, ms in cs if t < hi and t + ms / 1000 > lo]
        return sorted(out, key=lambda c: -c[2])

    def summary(self, lo: float, hi: float) -> str:
        rows = []
        for name, cs in sorted(self.calls.items()):
            ms = [m for t, m in cs if lo <= t <= hi]
            if ms and max(ms) >= 1.0:
                rows.append(f"{name} {len(ms)}x, longest {max(ms):.0f} ms, total {sum(ms):.0f} ms")
        return "; ".join(rows) or "none over 1 ms"


# -- what is measured --------------------------------------------------------------------------------------------


@dataclass
class Action:
    name: str
    start: float = 0.0  # perf_counter at its (first) click
    click_ms: float = 0.0  # the clicks' own slots, on the GUI thread
    end: float = 0.0  # when its effect was seen (or the wait for it gave up)
    ok: bool = False
    during: str = ""  # what was in flight at the click
    effect: str = ""
    stall_ms: float = 0.0
    stall_start: float = 0.0
    control_ms: float = 0.0  # the control process's longest gap during the GUI thread's longest in the window
    cpu_ms: float | None = None  # the GUI thread's CPU time in that gap (measured for gaps over 40 ms)


@dataclass
class Pass:
    name: str
    seconds: float
    ticks: list[tuple[float, float]]  # (gap start, gap end), perf_counter
    actions: list[Action]
    control_ms: float = 0.0  # the control process's longest gap during the pass

    def gaps_ms(self) -> list[float]:
        return sorted((b - a) * 1000 for a, b in self.ticks)

    def summary(self) -> str:
        ms = self.gaps_ms()
        p99 = ms[int(len(ms) * 0.99)] if ms else 0.0
        over = sum(1 for g in ms if g > STALL_MS)
        return (
            f"{self.name}: {self.seconds:.1f} s of work, {len(ms)} ticks; longest event-loop gap {ms[-1]:.0f} ms, "
            f"99th percentile {p99:.0f} ms, median {statistics.median(ms):.1f} ms, {over} over {STALL_MS:.0f} ms"
        )

    def window_stall(self, lo: float, hi: float) -> tuple[float, float]:
        """The longest gap overlapping [lo, hi]: (ms, its start)."""
        best = (0.0, 0.0)
        for a, b in self.ticks:
            if b >= lo and a <= hi and (b - a) * 1000 > best[0]:
                best = ((b - a) * 1000, a)
        return best


def make_tap_class() -> type:
    from PySide6.QtCore import QObject, Slot

    class Tap(QObject):
        """Records the engine's copy progress and drive arrivals, in the bench's own thread."""

        def __init__(self, progress: list[tuple[float, str, int, int]], connected: list[float]):
            super().__init__()
            self._progress, self._connected = progress, connected

        @Slot(str, str, int, int)
        def on_progress(self, drive_id: str, path: str, done: int, total: int) -> None:
            self._progress.append((time.perf_counter(), path, done, total))

        @Slot(str, str, str)
        def on_connected(self, drive_id: str, name: str, mount: str) -> None:
            self._connected.append(time.perf_counter())

    return Tap


class GcRecorder:
    """Every garbage collection of this process that took 5 ms or more: (start, end, generation, thread), from
    ``gc.callbacks``. A collection holds the GIL throughout, whichever thread runs it, so every other thread
    that needs the GIL waits for its whole length."""

    def __init__(self) -> None:
        self.long: list[tuple[float, float, int, str]] = []
        self._start: dict[int, float] = {}
        self.sizes: list[int] = []  # objects tracked after each long generation-2 collection
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        now = time.perf_counter()
        me = threading.get_ident()
        if phase == "start":
            self._start[me] = now
            return
        t0 = self._start.pop(me, now)
        if now - t0 >= 0.005:
            self.long.append((t0, now, info["generation"], threading.current_thread().name))
            if info["generation"] == 2:
                self.sizes.append(len(gc.get_objects()))

    def during(self, lo: float, hi: float) -> list[tuple[float, float, int, str]]:
        return [g for g in self.long if g[1] > lo and g[0] < hi]

    def stop(self) -> None:
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)


GC = GcRecorder()


class EntryCounter:
    """Counts how often the GUI thread enters Python from Qt (a slot, an event handler, a virtual override such
    as ``paintEvent`` or ``sizeHint``), by the function entered: each entry takes the GIL, which costs up to a
    switch interval (5 ms) while other threads run Python. A ``sys.setprofile`` hook on the GUI thread only."""

    def __init__(self) -> None:
        self.entries: collections.Counter[str] = collections.Counter()

    def _hook(self, frame: Any, event: str, _arg: Any) -> None:
        # Entered from Qt: the frame below is the bench's loop (Bench.run_until, inside processEvents()).
        if event == "call" and frame.f_back is not None and frame.f_back.f_code is LOOP_CODE[0]:
            code = frame.f_code
            self.entries[f"{where(code.co_filename, code.co_firstlineno, code.co_qualname)}"] += 1

    def start(self) -> None:
        self.entries.clear()
        sys.setprofile(self._hook)

    def stop(self) -> None:
        sys.setprofile(None)


ENTRIES = EntryCounter()
COUNT_ENTRIES = False  # --count-entries
LOOP_CODE: list[Any] = [None]  # the code of Bench.run_until, set when the class is made


class Bench:
    """The GUI thread's side: the meter, the event loop, and the scripted user."""

    def __init__(self, app: Any, engine: Any, tray: Any, probe: Probe, mnt: Path, dev: str, work: Path):
        from PySide6.QtCore import QThread, QTimer

        self.app, self.engine, self.tray, self.probe, self.mnt, self.dev = app, engine, tray, probe, mnt, dev
        self.control = Control(work)
        self.calls = CallTimer(threading.get_ident())
        if hasattr(engine, "db"):  # an engine in this process: time the GUI thread's calls into it
            self.calls.instrument(engine)
        self.ticks: list[tuple[float, float]] = []
        self.last = [time.perf_counter()]
        self._cpu = time.thread_time()
        # gap start -> the GUI thread's CPU time in it (gaps of 40 ms and more)
        self.gap_cpu_ms: dict[float, float] = {}
        # (what, start, ms): the loop's processEvents() and sleep calls that took over 30 ms
        self.loop_calls: list[tuple[str, float, float]] = []
        self.progress: list[tuple[float, str, int, int]] = []  # (when, path, done, total)
        self.connected: list[float] = []
        # The engine's signals are observed from a thread of the bench's own (queued to it): a Python slot on
        # the GUI thread would add a GIL acquisition per progress signal (20,000 in workload b) to what is measured.
        self.tap_thread = QThread()
        self.tap_thread.setObjectName("bench-tap")
        self.tap = make_tap_class()(self.progress, self.connected)
        self.tap.moveToThread(self.tap_thread)
        self.tap_thread.start()
        engine.copy_progress.connect(self.tap.on_progress)
        engine.drive_connected.connect(self.tap.on_connected)
        self.meter = QTimer()
        self.meter.timeout.connect(self._tick)
        self.meter.start(TICK_MS)
        self.sampler = StallSampler(threading.get_ident(), self.last)
        self.sampler.start()
        self.mounter: subprocess.Popen[bytes] | None = None  # the re-plug's mount helper (ready_mount)
        self._applied_before: int | None = None  # configurations applied by a separate engine before a save
        self.finished: Wait = lambda: False  # the pass's work is all done (set by run_pass)
        self.mount_error: BaseException | None = None

    def _tick(self) -> None:
        now = time.perf_counter()
        cpu = time.thread_time()
        if now - self.last[0] >= 0.040:
            self.gap_cpu_ms[self.last[0]] = (cpu - self._cpu) * 1000
        self._cpu = cpu
        self.ticks.append((self.last[0], now))
        self.last[0] = now

    def ready_mount(self) -> None:
        """Start the helper that mounts the drive again at the re-plug: it waits for a line on its stdin."""
        self.mounter = subprocess.Popen(
            ["sh", "-c", 'read go && exec mount "$0" "$1"', self.dev, str(self.mnt)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def _mount_failed(self) -> bool:
        m = self.mounter
        if m is not None and m.poll() not in (None, 0) and self.mount_error is None:
            err = m.stderr.read().decode(errors="replace").strip() if m.stderr else ""
            self.mount_error = RuntimeError(f"mount: exit {m.returncode}: {err}")
        return self.mount_error is not None

    def reset(self) -> None:
        self.ticks = []
        self.last[0] = time.perf_counter()

    def stop(self) -> None:
        self.meter.stop()
        self.sampler.stop()
        self.control.stop()
        self.tap_thread.quit()
        self.tap_thread.wait(5000)

    # -- the event loop --------------------------------------------------------------------------------------

    def run_until(self, done: Wait, timeout: float) -> float:
        t0 = time.monotonic()
        while not done() and time.monotonic() - t0 < timeout:
            a = time.perf_counter()
            self.app.processEvents()
            b = time.perf_counter()
            time.sleep(0.001)
            c = time.perf_counter()
            if b - a > 0.030:
                self.loop_calls.append(("processEvents()", a, (b - a) * 1000))
            if c - b > 0.030:
                self.loop_calls.append(("time.sleep(0.001)", b, (c - b) * 1000))
            if STOP.is_set():
                raise SystemExit("bench_ui_responsiveness: stopped by a signal")
            if self.probe.error is not None:
                raise RuntimeError(f"the probe thread failed: {self.probe.error}")
        return time.monotonic() - t0

    LOOP_CODE[0] = run_until.__code__

    def play(
        self, script: Iterator[Wait], done: Wait, timeout: float, status: Callable[[], str] | None = None
    ) -> tuple[float, bool]:
        """Run the event loop until ``done()`` and ``script`` ended. The script runs in a 20 ms driver timer's
        slot; it yields what to wait for next; its actions go through :meth:`click`. With ``status``, a line of
        it every 5 s (``--verbose``)."""
        from PySide6.QtCore import QTimer

        state: dict[str, Any] = {"wait": lambda: True, "over": False}
        t0 = said = time.perf_counter()

        def step() -> None:
            nonlocal said
            if status is not None and time.perf_counter() - said >= 5:
                said = time.perf_counter()
                age = f"{said - self.progress[-1][0]:.1f} s ago" if self.progress else "never"
                print(
                    f"    +{said - t0:.0f} s: {status()}; {len(self.progress)} progress signals, last {age}"
                )
            try:
                while not state["over"] and state["wait"]():
                    state["wait"] = next(script)
            except StopIteration:
                state["over"] = True

        driver = QTimer()
        driver.timeout.connect(step)
        driver.start(20)
        took = self.run_until(lambda: state["over"] and done(), timeout)
        driver.stop()
        return took, bool(state["over"] and done())

    def click(self, action: Action, fn: Callable[[], Any], out: list[Any] | None = None) -> Wait:
        """Run ``fn`` on the GUI thread from ``QTimer.singleShot`` (as a click's slot runs); its time goes to
        ``action.click_ms``, its return value to ``out``. Returns a wait for it to have run."""
        from PySide6.QtCore import QTimer

        ran: list[bool] = []

        def run() -> None:
            t0 = time.perf_counter()
            if not action.start:
                action.start = t0
            value = fn()
            action.click_ms += (time.perf_counter() - t0) * 1000
            if out is not None:
                out.append(value)
            ran.append(True)

        QTimer.singleShot(0, run)
        return lambda: bool(ran)

    # -- what is going on ------------------------------------------------------------------------------------

    def copying(self, within_s: float = 0.5, big: bool = True) -> bool:
        """A copy is in flight: a progress signal not long ago (for a ``big`` file, not its last one; a small
        file has only its last one)."""
        if not self.progress:
            return False
        t, _path, done, total = self.progress[-1]
        return time.perf_counter() - t < within_s and (done < total or not big)

    def progress_since(self, t: float) -> list[tuple[float, str, int, int]]:
        return [p for p in self.progress if p[0] > t]

    def applied(self, kind: str, value: bool) -> bool:
        """Whether the engine runs with notification ``kind`` set to ``value``: its config in this process, or,
        for an engine in its own process (``--engine-process``), its log line for a configuration applied."""
        config = getattr(self.engine, "config", None)
        if config is not None:
            return config.notifications.get(kind) is value
        log = Path(os.environ["USBSYNC_HOME"]) / "logs" / "file_watcher.log"
        try:
            text = log.read_text()
        except OSError:
            return False
        seen = text.count("configuration changed; applying it")
        if self._applied_before is None:
            self._applied_before = seen
        return seen > self._applied_before

    # -- the user's actions ------------------------------------------------------------------------------------

    def pause_resume(self, acts: list[Action], during: Callable[[], str]) -> Iterator[Wait]:
        a = Action("pause, resume 1.5 s later")
        acts.append(a)
        a.during = during()
        yield self.click(a, self.tray.act_pause.trigger)
        yield until(lambda: bool(self.engine.paused), 5)  # at once in-process; the next event from a process
        paused = self.engine.paused
        done_at_pause = self.probe.snap.counts.get("done", 0)
        yield pause_for(0.5)
        quiet_from = time.perf_counter()
        done_then = self.probe.snap.counts.get("done", 0)
        yield pause_for(1.0)
        moved = self.progress_since(quiet_from)
        done_now = self.probe.snap.counts.get("done", 0)
        last_before = [p[0] for p in self.progress_since(a.start)]
        stop_ms = ((last_before[-1] - a.start) * 1000) if last_before else 0.0
        resumed_at: list[float] = []
        yield self.click(a, lambda: (self.tray.act_pause.trigger(), resumed_at.append(time.perf_counter())))
        went_on = lambda: bool(self.progress_since(resumed_at[0])) or self.finished()  # noqa: E731
        yield until(went_on, 30)
        yield until(lambda: not self.engine.paused, 5)
        a.end = time.perf_counter()
        stopped = paused and not moved and done_now == done_then
        after = self.progress_since(resumed_at[0])
        a.ok = stopped and not self.engine.paused and (bool(after) or self.finished())
        a.effect = (
            f"paused={paused}; last progress {stop_ms:.0f} ms after the click, none in the last 1.0 s of the "
            f"pause ({done_now - done_at_pause} job(s) done after the click); "
            + (
                f"resumed: progress again {(after[0][0] - resumed_at[0]) * 1000:.0f} ms after the click "
                f"({after[0][1].rsplit('/', 1)[-1]} at {after[0][2] >> 20} MiB)"
                if after
                else "resumed: nothing was left to copy"
                if self.finished()
                else "no progress within 30 s of resuming"
            )
        )
        if not stopped:
            a.effect += f"; NOT STOPPED: {len(moved)} progress signals and {done_now - done_then} copies late"

    def settings_save(self, acts: list[Action], during: Callable[[], str]) -> Iterator[Wait]:
        from PySide6.QtWidgets import QDialogButtonBox

        a = Action("Settings: switch a notification, Save")
        acts.append(a)
        a.during = during()
        got: list[Any] = []
        yield self.click(a, self.tray.show_settings, got)
        dlg = got[0]
        box = dlg.notify[NOTE_KIND]
        new = not box.isChecked()
        yield pause_for(0.3)  # the user reads the dialog, finds the switch
        yield self.click(a, box.click)
        yield pause_for(0.2)
        saved_at: list[float] = []
        before_save = self.progress[-1] if self.progress else None
        save = dlg.buttons.button(QDialogButtonBox.StandardButton.Save)
        self._applied_before = None
        self.applied(NOTE_KIND, new)  # (a separate engine: count what its log says before the save)
        yield self.click(a, lambda: (saved_at.append(time.perf_counter()), save.click()))
        seen: dict[str, float] = {}

        def effect() -> bool:
            now = time.perf_counter()
            if "closed" not in seen and not dlg.isVisible():
                seen["closed"] = now
            if "file" not in seen and self.probe.snap.notes.get(NOTE_KIND) is new:
                seen["file"] = self.probe.snap.at
            if "applied" not in seen and self.applied(NOTE_KIND, new):
                seen["applied"] = now
            return len(seen) == 3

        yield until(effect, 15)
        a.end = time.perf_counter()
        a.ok = effect()
        # The copy in flight must go on: a file's progress never goes back, and progress keeps coming.
        prog = self.progress_since(saved_at[0])
        same = [p for p in prog if before_save is not None and p[1] == before_save[1]]
        restarted = any(q[2] < p[2] for p, q in itertools.pairwise(same)) or (
            bool(same) and before_save is not None and same[0][2] < before_save[2]
        )
        t0 = saved_at[0]
        a.effect = (
            f"{NOTE_KIND} -> {new}: "
            + ", ".join(
                f"{k} +{(v - t0) * 1000:.0f} ms" for k, v in sorted(seen.items(), key=lambda kv: kv[1])
            )
            + " after Save"
            + (
                f" (missing: {', '.join(k for k in ('closed', 'file', 'applied') if k not in seen)})"
                if not a.ok
                else ""
            )
            + f"; {len(prog)} progress signals meanwhile, "
            + ("the copy in flight STARTED OVER" if restarted else "the copy in flight went on")
        )
        a.ok = a.ok and not restarted

    def drives_dialog(self, acts: list[Action], during: Callable[[], str]) -> Iterator[Wait]:
        from usbsync_gui.core.registration import VolumeKind

        a = Action("drives dialog: open, refresh")
        acts.append(a)
        a.during = during()
        got: list[Any] = []
        yield self.click(a, self.tray.show_drives, got)
        dlg = got[0]
        first = dlg.plugged  # replaced by a new list when a look at the volumes is delivered
        yield until(lambda: dlg.plugged is not first, 30)
        listed_ms = (time.perf_counter() - a.start) * 1000
        yield pause_for(0.3)
        shown = dlg.plugged
        refreshed: list[float] = []
        yield self.click(a, lambda: (refreshed.append(time.perf_counter()), dlg.refresh()))
        yield until(lambda: dlg.plugged is not shown, 30)
        relisted_ms = (time.perf_counter() - refreshed[0]) * 1000
        a.end = time.perf_counter()
        mine = [pv for pv in dlg.plugged if pv.mountpoint == str(self.mnt)]
        row = [dlg.table.item(0, c).text() for c in range(3)] if dlg.table.rowCount() else []
        a.ok = bool(mine) and mine[0].kind is VolumeKind.REGISTERED and bool(row) and row[0] == DRIVE
        a.effect = (
            f"listed after {listed_ms:.0f} ms, re-listed {relisted_ms:.0f} ms after refresh(); "
            + (f"{self.mnt.name} is '{mine[0].status}'" if mine else f"{self.mnt} NOT LISTED")
            + f" among {len(dlg.plugged)} volumes; drives table: {' | '.join(row)}"
        )
        yield self.click(a, dlg.close)

    def eject_replug(self, acts: list[Action], during: Callable[[], str]) -> Iterator[Wait]:
        a = Action("eject mid-copy")
        acts.append(a)
        a.during = during()
        answer: list[tuple[float, bool, str]] = []
        yield self.click(
            a,
            lambda: self.engine.eject_drive(
                DRIVE, lambda ok, msg: answer.append((time.perf_counter(), ok, msg))
            ),
        )
        yield until(lambda: bool(answer), 120)
        gone = lambda: not self.probe.snap.mounted  # noqa: E731
        yield until(gone, 5)
        a.end = time.perf_counter()
        if answer:
            t, ok, msg = answer[0]
            a.ok = ok and gone()
            a.effect = f'callback +{(t - a.start) * 1000:.0f} ms: ok={ok}, "{msg}"; ' + (
                "unmounted" if gone() else "STILL MOUNTED"
            )
        else:
            a.effect = "no callback within 120 s"
        yield pause_for(TAIL_S + 0.5)

        b = Action("re-plug (mount again)")
        acts.append(b)
        b.during = "drive ejected, the copy rolled back"

        def plug() -> None:
            mounter = self.mounter
            if mounter is None or mounter.stdin is None:
                self.mount_error = RuntimeError("no mount helper was started for this pass")
                return
            mounter.stdin.write(b"go\n")  # the helper mounts; nothing is forked from this process
            mounter.stdin.close()

        yield self.click(b, plug)
        back = lambda: any(t > b.start for t in self.connected)  # noqa: E731
        yield until(back, 30)
        connected_ms = (min(t for t in self.connected if t > b.start) - b.start) * 1000 if back() else None
        yield until(lambda: bool(self.progress_since(b.start)) or self._mount_failed() or self.finished(), 60)
        b.end = time.perf_counter()
        after = self.progress_since(b.start)
        b.ok = connected_ms is not None and (bool(after) or self.finished())
        b.effect = (
            (
                f"drive connected again {connected_ms:.0f} ms after the mount started"
                if connected_ms
                else "NOT CONNECTED"
            )
            + (
                f"; copying again after {(after[0][0] - b.start) * 1000:.0f} ms"
                if after
                else "; nothing was left to copy"
                if self.finished()
                else "; NO COPY AFTER"
            )
            + (f"; mount failed: {self.mount_error}" if self.mount_error else "")
        )


# -- the workloads -------------------------------------------------------------------------------------------------


def run_pass(
    bench: Bench,
    name: str,
    start_work: Callable[[], subprocess.Popen[bytes]],
    finished: Wait,
    timeout: float,
    script: Callable[[list[Action]], Iterator[Wait]] | None,
    status: Callable[[], str] | None = None,
) -> Pass:
    if script is not None:
        bench.ready_mount()
    bench.reset()
    bench.finished = finished
    if COUNT_ENTRIES:
        ENTRIES.start()
    maker = start_work()
    acts: list[Action] = []
    try:
        done = lambda: maker.poll() is not None and finished()  # noqa: E731
        if script is None:
            took, ok = bench.run_until(done, timeout), True
        else:
            took, ok = bench.play(script(acts), done, timeout, status)
        if not (ok and done()):
            print(f"{name}: NOT FINISHED within {timeout:.0f} s", file=sys.stderr)
    finally:
        ENTRIES.stop()
        if maker.poll() is None:
            maker.kill()
            maker.wait()
        m, bench.mounter = bench.mounter, None
        if m is not None:
            if m.stdin is not None and not m.stdin.closed:  # never told to mount (the script stopped early)
                m.kill()
            m.wait()
            if m.stderr is not None:
                m.stderr.close()
    if COUNT_ENTRIES:
        total = sum(ENTRIES.entries.values())
        print(
            f"{name}: the GUI thread entered Python {total} times ({total / max(took, 0.001):.0f}/s); most:"
        )
        for what, n in ENTRIES.entries.most_common(25):
            print(f"    {n:7d}  {what}")
    p = Pass(name, took, list(bench.ticks), acts)
    for a in acts:
        a.stall_ms, a.stall_start = p.window_stall(a.start, (a.end or a.start) + TAIL_S)
        a.control_ms = bench.control.overlap_ms(a.stall_start, a.stall_start + a.stall_ms / 1000)
        a.cpu_ms = bench.gap_cpu_ms.get(a.stall_start)
    if p.ticks:
        p.control_ms = bench.control.overlap_ms(p.ticks[0][0], p.ticks[-1][1])
    return p


def explain(bench: Bench, start: float, end: float) -> list[str]:
    """What was going on during the GUI thread's gap [start, end]."""
    out = []
    cpu = bench.gap_cpu_ms.get(start)
    if cpu is not None:
        out.append(f"the GUI thread used {cpu:.0f} ms of CPU in this {(end - start) * 1000:.0f} ms gap")
    for what, t, ms in bench.loop_calls:
        if t < end and t + ms / 1000 > start:
            out.append(f"the loop's {what} took {ms:.0f} ms (from +{(t - start) * 1000:.0f} ms)")
    ctl = bench.control.overlap_ms(start, end)
    out.append(
        f"control process (a plain 5 ms sleep loop): longest gap {ctl:.0f} ms meanwhile"
        if ctl
        else "control process (a plain 5 ms sleep loop): ran normally meanwhile (no gap over 30 ms)"
    )
    stolen, span = bench.control.steal_ms(start, end)
    out.append(
        f"hypervisor steal (/proc/stat, all vCPUs) over the {span:.0f} ms around it: {stolen:.0f} ms"
        if span
        else "hypervisor steal: not read"
    )
    for g0, g1, gen, thread in GC.during(start, end):
        out.append(
            f"a generation-{gen} garbage collection in thread {thread} took {(g1 - g0) * 1000:.0f} ms "
            f"(from +{(g0 - start) * 1000:.0f} ms): the GIL held throughout"
        )
    for name, t, ms in bench.calls.during(start, end)[:3]:
        if ms >= 5:
            out.append(f"the GUI thread was in {name} for {ms:.0f} ms (from +{(t - start) * 1000:.0f} ms)")
    samples = bench.sampler.samples.get(start, [])
    if not samples:
        out.append("no sample by the sampler thread (it got no GIL or no CPU meanwhile)")
        return out
    spots: collections.Counter[str] = collections.Counter()
    for _t, stack, _o in samples:
        inner = [f for f in stack if "bench_ui_responsiveness" not in f]
        if inner:
            spots[" > ".join(inner)] += 1
        else:  # in the bench's own loop: which line of it (Qt's processEvents, or the 1 ms sleep)
            line = int(stack[-1].split(":")[1].split()[0])
            spots[f"no usbsync frame: in `{linecache.getline(__file__, line).strip()}`"] += 1
    out.append(f"{len(samples)} stack samples of the GUI thread (5 ms apart once the gap passed 40 ms):")
    out += [f"  {n}x {spot}" for spot, n in spots.most_common(3)]
    others = collections.Counter(
        o for _t, _s, oth in samples for o in oth if not re.search(r" (wait|_wait|select|poll|sleep|get)$", o)
    )
    if others:
        out.append("  other threads meanwhile: " + "; ".join(f"{o} ({n}x)" for o, n in others.most_common(5)))
    return out


def print_stalls(bench: Bench, p: Pass, limit: int = 6) -> None:
    """What was going on during the longest gaps over 100 ms, and during each action's longest gap when that is
    over 50 ms."""
    gaps = dict(p.ticks)
    long = sorted(((b - a) * 1000, a) for a, b in p.ticks if (b - a) * 1000 > STALL_MS)[::-1][:limit]
    shown: dict[float, str] = {start: f"gap {ms:.0f} ms" for ms, start in long}
    for a in p.actions:
        if a.stall_ms > 50:
            shown[a.stall_start] = f"gap {a.stall_ms:.0f} ms, the longest in the window of '{a.name}'"
    t0 = p.ticks[0][0] if p.ticks else 0.0
    for start, label in sorted(shown.items()):
        print(f"  {label}, at +{start - t0:.2f} s:")
        for line in explain(bench, start, gaps.get(start, start)):
            print(f"    {line}")
    if p.ticks:
        gcs = GC.during(p.ticks[0][0], p.ticks[-1][1])
        longest = max(((b - a) * 1000 for a, b, _g, _t in gcs), default=0.0)
        print(f"  garbage collections of 5 ms or more: {len(gcs)}, the longest {longest:.0f} ms")
        print(f"  objects tracked after the long generation-2 collections: {GC.sizes}")
        for g0, g1, gen, thread in gcs:
            if g1 - g0 >= 0.030:
                print(
                    f"    at +{g0 - t0:.2f} s: generation {gen}, {(g1 - g0) * 1000:.0f} ms, in thread {thread}"
                )
    print(
        f"  GUI-thread calls timed: {bench.calls.summary(p.ticks[0][0], p.ticks[-1][1]) if p.ticks else '-'}"
    )


def print_table(passes: list[Pass]) -> None:
    print()
    print("| pass | work | ticks | longest gap | p99 | median | gaps > 100 ms | control's longest gap |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for p in passes:
        ms = p.gaps_ms()
        p99 = ms[int(len(ms) * 0.99)]
        over = sum(1 for g in ms if g > STALL_MS)
        print(
            f"| {p.name} | {p.seconds:.1f} s | {len(ms)} | {ms[-1]:.0f} ms | {p99:.0f} ms | "
            f"{statistics.median(ms):.1f} ms | {over} | {p.control_ms:.0f} ms |"
        )
    print()
    print(
        "| workload | action | in flight at the click | click | longest gap in its window | < 100 ms "
        "| GUI thread's CPU in that gap | control's longest gap then | effect seen |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for p in passes:
        for a in p.actions:
            window = (a.end + TAIL_S - a.start) if a.end else 0.0
            cpu = "-" if a.cpu_ms is None else f"{a.cpu_ms:.0f} ms"
            print(
                f"| {p.name[:3]} | {a.name} | {a.during} | {a.click_ms:.0f} ms | {a.stall_ms:.0f} ms "
                f"(window {window:.1f} s) | {'yes' if a.stall_ms < STALL_MS else '**NO**'} | {cpu} | {a.control_ms:.0f} ms | "
                f"{'ok' if a.ok else '**FAILED**'}: {a.effect} |"
            )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--rate", type=float, default=64.0, help="copy speed limit in MiB/s (0: none); default 64"
    )
    ap.add_argument("--files", type=int, default=20_000, help="files arriving in workload (b)")
    ap.add_argument("--no-quiet", action="store_true", help="skip the quiet baseline passes")
    ap.add_argument("--only", choices=("a", "b"), help="one workload only")
    ap.add_argument(
        "--switch-ms",
        type=float,
        help="the interpreter's thread switch interval in ms (default: CPython's, 5; 1 ms was tried and did not "
        "shorten the stalls: docs/performance.md)",
    )
    ap.add_argument(
        "--count-entries",
        action="store_true",
        help="count the GUI thread's entries into Python by function (a profile hook: adds its own cost)",
    )
    ap.add_argument("--verbose", action="store_true", help="a status line every 5 s during the action passes")
    ap.add_argument(
        "--engine-process",
        action="store_true",
        help="the engine as `usbsync run` in a process of its own, the views following it over the command "
        "channel (engine/remote.py), instead of in this process",
    )
    ap.add_argument("--log", type=Path, help="write usbsync's log (INFO, with thread names) to this file")
    ap.add_argument(
        "--gaps-out",
        type=Path,
        help="write the GUI thread's id and its gaps over 50 ms (CLOCK_MONOTONIC seconds, as `perf record -k mono` "
        "stamps its events) to this file, one 'pass<TAB>start<TAB>end' line each, to read beside a system trace",
    )
    args = ap.parse_args()
    global COUNT_ENTRIES
    COUNT_ENTRIES = args.count_entries
    if os.geteuid() != 0:
        print("bench_ui_responsiveness: needs root to mount a loop image", file=sys.stderr)
        return 2
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_a: STOP.set())
    if args.log:
        logging.basicConfig(
            filename=args.log, level=logging.INFO, format="%(asctime)s %(threadName)s %(name)s: %(message)s"
        )

    from PySide6.QtWidgets import QApplication

    import usbsync_gui
    from usbsync_gui.core.config import load_config, new_config, save_config
    from usbsync_gui.core.paths import app_paths
    from usbsync_gui.core.registration import register_volume
    from usbsync_gui.core.state import StateDB
    from usbsync_gui.engine.engine import Engine
    from usbsync_gui.gui import freeze_startup_objects
    from usbsync_gui.views.context import ViewContext
    from usbsync_gui.views.tray import TrayController

    if args.switch_ms is not None:
        sys.setswitchinterval(args.switch_ms / 1000)
    print(f"switch interval {sys.getswitchinterval() * 1000:g} ms; gc thresholds {gc.get_threshold()}")
    print(f"{datetime.datetime.now().isoformat(timespec='seconds')}; {machine()}; {load()}")
    print(f"usbsync_gui from {Path(usbsync_gui.__file__).parent}; copy speed limit {args.rate:g} MiB/s")
    work = Path(tempfile.mkdtemp(prefix="usbsync-ui-"))
    img, mnt = work / "d.img", work / "mnt"
    mnt.mkdir()
    cleaner = janitor(mnt, img, work)
    dev = ""
    engine = db = tray = probe = bench = None
    engine_proc: Any = None  # the tray app's engine process (--engine-process)
    passes: list[Pass] = []
    try:
        sh("truncate", "-s", "4G", str(img))
        sh("mkfs.ext4", "-q", str(img))
        dev = sh("losetup", "--find", "--show", str(img))  # our own device: umount (eject) does not free it
        sh("mount", dev, str(mnt))
        os.environ["USBSYNC_HOME"] = str(work / "home")
        paths = app_paths()
        paths.ensure()
        src = work / "out"
        src.mkdir()
        save_config(new_config([src]), paths.config_file)
        config = register_volume(
            paths, load_config(paths.config_file), mnt, DRIVE, ["videos", "documents"]
        ).config
        config = replace(config, max_copy_rate_mib_s=args.rate)
        save_config(config, paths.config_file)
        app = QApplication([])
        if args.engine_process:
            from usbsync_gui.gui import build_tray_app

            db = None  # the app's context has its own connection
            ctx, tray, engine_proc = build_tray_app(app, paths, config, sender=lambda t, b: True)
            engine = ctx.engine
            engine_proc.start()
            deadline = time.monotonic() + 60
            while not engine.up and time.monotonic() < deadline:  # type: ignore[union-attr]
                app.processEvents()
                time.sleep(0.01)
            if not engine.up:  # type: ignore[union-attr]
                raise RuntimeError("usbsync run did not answer on its command channel within 60 s")
        else:
            db = StateDB(paths.state_db)
            engine = Engine(paths, config, app)
            ctx = ViewContext(paths, config, db, engine)
            tray = TrayController(ctx, app, sender=lambda t, b: True)
            engine.start()
        tray.show_status()
        probe = Probe(paths.state_db, mnt, paths.config_file)
        probe.start()
        probe.ready.wait(10)
        bench = Bench(app, engine, tray, probe, mnt, dev, work)
        bench.run_until(lambda: False, 2.0)  # settle: startup scan, drive arrival
        freeze_startup_objects()  # as the tray app does once it is up (gui.run_app)
        print(
            f"objects tracked by the garbage collector after start: {len(gc.get_objects())}, "
            f"{gc.get_freeze_count()} frozen"
        )
        count = lambda k: bench.probe.snap.counts.get(k, 0)  # type: ignore[union-attr]  # noqa: E731

        def copy_1g(name: str, act: bool) -> Pass:
            base = count("done")

            def start() -> subprocess.Popen[bytes]:
                return subprocess.Popen([sys.executable, "-c", FILM_CODE, str(src / name)])

            def during() -> str:
                last = bench.progress[-1] if bench.progress else None
                if last is None or not bench.copying():
                    return "(no copy in flight)"
                return f"copy at {last[2] >> 20} of {last[3] >> 20} MiB"

            def script(acts: list[Action]) -> Iterator[Wait]:
                in_flight = lambda: bench.copying() or count("done") > base  # noqa: E731
                for step in (
                    bench.pause_resume,
                    bench.settings_save,
                    bench.drives_dialog,
                    bench.eject_replug,
                ):
                    yield until(in_flight, 300)
                    yield from step(acts, during)
                    yield pause_for(TAIL_S + 0.5)  # windows do not reach the next click

            label = "(a) 1 GiB copied and verified, " + ("with actions" if act else "quiet")
            return run_pass(
                bench,
                label,
                start,
                lambda: count("done") >= base + 1,
                900,
                script if act else None,
                during if args.verbose else None,
            )

        def arrival(prefix: str, act: bool) -> Pass:
            base_files, base_done, n = count("files"), count("done"), args.files
            # Each pass's files have their own content: bytes already on the drive are recorded, not copied.
            code = (
                "import sys,os\nd,p,n=sys.argv[1],sys.argv[2],int(sys.argv[3])\nfor i in range(n):\n"
                "    open(os.path.join(d, f'{p}{i:05d}.txt'),'w').write(f'{p} note {i}\\n')\n"
            )

            def start() -> subprocess.Popen[bytes]:
                return subprocess.Popen([sys.executable, "-c", code, str(src), prefix, str(n)])

            def during() -> str:
                return (
                    f"{count('files') - base_files:,} of {n:,} recorded, {count('done') - base_done:,} copied"
                    + ("" if bench.copying(1.0, big=False) else " (no copy in flight)")
                )

            def script(acts: list[Action]) -> Iterator[Wait]:
                started = lambda: count("done") > base_done and bench.copying(1.0, big=False)  # noqa: E731
                yield until(started, 300)
                for step in (
                    bench.pause_resume,
                    bench.settings_save,
                    bench.drives_dialog,
                    bench.eject_replug,
                ):
                    yield from step(acts, during)
                    yield pause_for(TAIL_S + 0.5)  # windows do not reach the next click

            label = f"(b) {n:,} files recorded and copied, " + ("with actions" if act else "quiet")
            return run_pass(
                bench,
                label,
                start,
                lambda: count("files") >= base_files + n and count("done") >= base_done + n,
                1200,
                script if act else None,
                during if args.verbose else None,
            )

        plan: list[Callable[[], Pass]] = []
        if args.only != "b":
            if not args.no_quiet:
                plan.append(lambda: copy_1g("quiet.mp4", False))
            plan.append(lambda: copy_1g("film.mp4", True))
        if args.only != "a":
            if not args.no_quiet:
                plan.append(lambda: arrival("q", False))
            plan.append(lambda: arrival("n", True))
        for p_fn in plan:
            print(f"[{load()}]", flush=True)
            p = p_fn()
            passes.append(p)
            print(p.summary(), flush=True)
            print_stalls(bench, p)
            bench.run_until(lambda: False, 1.0)  # let the tail of the work settle between passes
        print_table(passes)
        if args.gaps_out:
            with open(args.gaps_out, "w") as out:
                out.write(f"gui_tid\t{threading.get_native_id()}\n")
                for p in passes:
                    for a, b in p.ticks:
                        if b - a > 0.050:
                            out.write(f"{p.name}\t{a:.6f}\t{b:.6f}\n")
        print(f"\n{datetime.datetime.now().isoformat(timespec='seconds')}; {load()}")
        failed = [a for p in passes for a in p.actions if not a.ok or a.stall_ms >= STALL_MS]
        return 1 if failed or any(p.gaps_ms()[-1] >= STALL_MS for p in passes) else 0
    finally:
        if bench is not None:
            bench.stop()
            if bench.mounter is not None:
                bench.mounter.kill()
                bench.mounter.wait(30)
        if probe is not None:
            probe.stop()
        if tray is not None:
            tray.close()
        if engine_proc is not None:
            engine_proc.stop()  # as the app does at quit: the engine's input closed, a clean stop
            ctx.db.close()
        elif engine is not None:
            engine.stop()
        if db is not None:
            db.close()
        for _ in range(5):
            if not os.path.ismount(mnt):
                break
            if subprocess.run(["umount", str(mnt)], capture_output=True).returncode != 0:
                time.sleep(1)
        if os.path.ismount(mnt):
            subprocess.run(["umount", "-l", str(mnt)], check=False)
        if dev:
            subprocess.run(["losetup", "-d", dev], check=False)
        shutil.rmtree(work, ignore_errors=True)
        assert cleaner.stdin is not None
        cleaner.stdin.close()  # nothing left for it to do
        cleaner.wait(30)


if __name__ == "__main__":
    sys.exit(main())
