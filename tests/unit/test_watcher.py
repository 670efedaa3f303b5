"""The watcher and the engine's ingest path with real watchdog on a real folder."""

import os
import sys
import threading
import time
from dataclasses import replace

import pytest
from PySide6.QtCore import QTimer

from tests.conftest import png_bytes
from usbsync_gui.core.config import new_config
from usbsync_gui.core.paths import app_paths
from usbsync_gui.core.service import SyncService
from usbsync_gui.core.state import StateDB
from usbsync_gui.engine import watcher as watcher_mod
from usbsync_gui.engine.engine import Engine
from usbsync_gui.engine.watcher import SourceWatcher

# inotify tells a file closed after writing (IN_CLOSE_WRITE) and a rename into the folder (IN_MOVED_TO) at once.
# ReadDirectoryChangesW has neither (a file renamed in from outside is "added"): there the stability window decides.
inotify_events = pytest.mark.skipif(
    not sys.platform.startswith("linux"),
    reason="needs inotify's close-after-write and rename-in events; elsewhere the stability window decides",
)


@pytest.fixture
def watcher(tmp_path, qtbot):
    src = tmp_path / "out"
    src.mkdir()
    w = SourceWatcher([src], stability_window_s=0.5)
    ready: list[str] = []
    w.files_ready.connect(ready.extend)
    w.start()
    yield w, src, ready
    w.stop()


def test_closed_file_and_rename_into_folder_become_ready(watcher, qtbot, tmp_path):
    w, src, ready = watcher
    (src / "a.png").write_bytes(png_bytes())
    outside = tmp_path / "b.png"
    outside.write_bytes(png_bytes(2))
    os.rename(outside, src / "b.png")
    qtbot.waitUntil(lambda: {"a.png", "b.png"} <= {os.path.basename(p) for p in ready}, timeout=5000)
    assert w.pending_count() == 0


def test_a_file_rewritten_over_and_over_is_handed_over_at_once_then_once_more_when_quiet(watcher, qtbot):
    """A closed file goes at once; closed again within the debounce of its hand-over, it is being rewritten:
    it waits until quiet and goes once more, not once per save."""
    _, src, ready = watcher
    p = src / "c.txt"
    p.write_text("version 0")
    qtbot.waitUntil(lambda: str(p) in ready, timeout=5000)
    for i in range(1, 20):
        p.write_text(f"version {i}")
        time.sleep(0.01)
    qtbot.waitUntil(lambda: ready.count(str(p)) == 2, timeout=5000)
    qtbot.wait(int(watcher_mod.DEBOUNCE_S * 1000) + 300)
    assert ready.count(str(p)) == 2


def test_candidate_cap_requests_a_rescan(tmp_path, qtbot, monkeypatch):
    monkeypatch.setattr(watcher_mod, "MAX_CANDIDATES", 50)
    src = tmp_path / "out"
    src.mkdir()
    w = SourceWatcher([src], stability_window_s=30)  # never stable within the test: candidates pile up
    w.start()
    try:
        with qtbot.waitSignal(w.rescan_requested, timeout=5000):
            for i in range(200):
                (src / f"f{i}").write_bytes(b"x")
        assert w.pending_count() <= 50 and w.dropped > 0
    finally:
        w.stop()


def test_flood_of_20000_files_loses_none(tmp_path, qtbot, qapp):
    """20,000 files arrive at once while the engine runs: every one is recorded."""
    home = tmp_path / "home"
    paths = app_paths({"USBSYNC_HOME": str(home)})
    paths.ensure()
    src = tmp_path / "out"
    src.mkdir()
    from dataclasses import replace

    config = replace(new_config([src]), stability_window_s=0.5)
    engine = Engine(paths, config, qapp)
    engine.start()
    db = StateDB(paths.state_db)
    try:
        time.sleep(0.5)
        n = 20_000
        for i in range(n):
            d = src / f"d{i // 1000:02d}"
            if i % 1000 == 0:
                d.mkdir()
            with open(d / f"f{i:05d}.txt", "wb") as fh:
                fh.write(b"file %d\n" % i)

        def count() -> int:
            return db.counts()["files"]

        qtbot.waitUntil(lambda: count() == n, timeout=_flood_bound_ms(src, n))
    finally:
        assert engine.stop()
        db.close()


def _flood_bound_ms(src, n: int) -> int:
    """How long the flood test waits for ``n`` files: 180 s, or longer where this machine's filesystem is slow,
    at 20 times the cost of reading the files by hand (a stat and a read each, timed on 200 of them). The test
    is about losing none, not speed (bench/bench_flood.py measures that). Under Wine a stat costs about 2 ms:
    stat, read, libmagic and BLAKE3 of 20,000 files by hand took 188 s there, more than 180 s on its own."""
    sample = sorted(src.glob("d00/*"))[:200]
    t0 = time.perf_counter()
    for f in sample:
        os.stat(f)
        with open(f, "rb") as fh:
            fh.read()
    by_hand_s = (time.perf_counter() - t0) / max(1, len(sample))
    return int(1000 * max(180.0, 20 * n * by_hand_s))


def test_file_closed_after_the_startup_scan_and_before_the_watch_is_ingested(
    tmp_path, qtbot, qapp, monkeypatch
):
    """The engine's startup scan (ingest thread) and the watch (watcher thread) start at the same time, in no set
    order. A file closed after the scan has listed its folder and before the inotify watch is added gives no
    event and is not in the scan: it waited for the next rescan (2 hours). Forced here in exactly that order:
    the watcher adds its watch only once the startup scan is over and the file is closed."""
    home = tmp_path / "home"
    paths = app_paths({"USBSYNC_HOME": str(home)})
    paths.ensure()
    src = tmp_path / "out"
    src.mkdir()
    config = replace(new_config([src]), stability_window_s=0.3)
    scanned = threading.Event()
    real_scan, real_observer = SyncService.scan, watcher_mod._new_observer

    def scan(self, *args, **kwargs):
        try:
            return real_scan(self, *args, **kwargs)
        finally:
            scanned.set()

    def observer_after_the_scan(on_overflow):  # in the watcher's thread, before its watch is added
        scanned.wait(10)  # the startup scan has listed the (empty) folder ...
        (src / "late.png").write_bytes(png_bytes(3))  # ... then a file is written and closed, unwatched
        return real_observer(on_overflow)

    monkeypatch.setattr(SyncService, "scan", scan)
    monkeypatch.setattr(watcher_mod, "_new_observer", observer_after_the_scan)
    engine = Engine(paths, config, qapp)
    engine.start()
    db = StateDB(paths.state_db)
    try:
        qtbot.waitUntil(lambda: db.counts()["files"] == 1, timeout=10_000)
        assert scanned.is_set() and (src / "late.png").exists()
    finally:
        assert engine.stop()
        db.close()


_LIMIT_SCRIPT = r"""
import json, os, sys
from PySide6.QtCore import QCoreApplication, QTimer
from usbsync_gui.engine import watcher as w

def set_limit(n):
    with open("/proc/sys/user/max_inotify_watches", "w") as fh:
        fh.write(str(n))

src = sys.argv[1]
set_limit(8)
app = QCoreApplication([])
sw = w.SourceWatcher([src], stability_window_s=0.3)
sw._retry_s = 0.5
seen = {"incomplete": [], "complete": 0, "ready": []}
sw.watching_incomplete.connect(lambda msg, folders: seen["incomplete"].append([msg, folders]))
sw.watching_complete.connect(lambda: seen.__setitem__("complete", seen["complete"] + 1))
sw.files_ready.connect(lambda paths: seen["ready"].extend(paths))
sw.start()
QTimer.singleShot(1500, lambda: set_limit(1000))  # the user raises the limit
QTimer.singleShot(3500, app.quit)
app.exec()
still = sw._unwatched_in([src])
sw.stop()
print(json.dumps({**seen, "still": sorted(still)}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify's per-user watch limit is Linux'")
def test_watch_limit_detected_rescanned_and_healed(tmp_path):
    """A real lowered inotify limit, in a user namespace of its own (the machine's limit is not touched)."""
    import json
    import shutil
    import subprocess
    import sys

    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare for a user namespace with its own inotify limit")
    src = tmp_path / "out"
    for i in range(20):
        (src / f"d{i:02d}").mkdir(parents=True)
    p = subprocess.run(
        ["unshare", "--user", "--map-root-user", sys.executable, "-c", _LIMIT_SCRIPT, str(src)],
        capture_output=True,
        text=True,
        timeout=25,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert p.returncode == 0, p.stderr
    seen = json.loads(p.stdout.strip().splitlines()[-1])
    message, folders = seen["incomplete"][0]
    assert "fs.inotify.max_user_watches = 8" in message
    # the source and its 20 folders; 8 watches, one of them on the folder above the source (its removal and
    # return are seen there)
    assert len(folders) == 21 - 7
    assert set(folders) <= set(seen["ready"])  # handed over to be scanned
    assert seen["complete"] == 1 and seen["still"] == []  # watched whole once the limit was raised


# -- renamed into place: complete at once, whatever the stability window -------------------------------------

LONG_WINDOW_S = 30.0  # far beyond every wait below: whatever is handed over in time did not wait the window
AT_ONCE_MS = 3000


@pytest.fixture
def long_window(tmp_path, qtbot):
    """A watcher on ``out`` with a 30 s window, and a staging folder beside it on the same filesystem."""
    src = tmp_path / "out"
    src.mkdir()
    (src / "old.txt").write_bytes(b"there before the watcher started")
    staging = tmp_path / "staging"
    staging.mkdir()
    w = SourceWatcher([src], stability_window_s=LONG_WINDOW_S)
    ready: list[str] = []
    w.files_ready.connect(ready.extend)
    w.start()
    yield w, src, staging, ready
    w.stop()


@inotify_events
def test_file_renamed_in_goes_at_once_while_an_open_one_waits_its_window(long_window, qtbot):
    w, src, staging, ready = long_window
    writing = open(src / "growing.bin", "wb")  # noqa: SIM115 - held open across the test on purpose
    try:
        writing.write(b"first part")
        writing.flush()
        (staging / "photo.png").write_bytes(png_bytes())
        os.rename(staging / "photo.png", src / "photo.png")
        qtbot.waitUntil(lambda: str(src / "photo.png") in ready, timeout=AT_ONCE_MS)
        for _ in range(5):  # still being appended, never closed: the window (30 s) decides
            writing.write(b"more")
            writing.flush()
            qtbot.wait(200)
        assert str(src / "growing.bin") not in ready
        assert w.pending_count() == 1
    finally:
        writing.close()
    # closed now: it goes at once too (the watcher did see it; it was only waiting)
    qtbot.waitUntil(lambda: str(src / "growing.bin") in ready, timeout=AT_ONCE_MS)


@inotify_events
def test_folder_renamed_in_is_scanned_at_once_and_its_files_are_not_handed_over_again(long_window, qtbot):
    w, src, staging, ready = long_window
    album = staging / "album"
    (album / "day2").mkdir(parents=True)
    for i in range(50):
        (album / f"p{i:02d}.png").write_bytes(png_bytes(i))
    (album / "day2" / "q.png").write_bytes(png_bytes(99))
    os.rename(album, src / "album")
    qtbot.waitUntil(lambda: str(src / "album") in ready, timeout=AT_ONCE_MS)
    # Everything in it came with it: the folder's scan covers it, so nothing is left waiting the window.
    qtbot.waitUntil(lambda: w.pending_count() == 0, timeout=AT_ONCE_MS)
    qtbot.wait(500)
    assert ready == [str(src / "album")]


@inotify_events
def test_a_file_written_into_a_folder_just_renamed_in_is_still_handed_over(long_window, qtbot):
    """The folder goes at once, and watchdog's walk of it (synthetic events) is dropped as covered by its scan;
    a file written into it right after the rename is a real event, not part of the walk, and goes too."""
    w, src, staging, ready = long_window
    album = staging / "album"
    (album / "day2").mkdir(parents=True)
    for i in range(200):
        (album / f"p{i:03d}.png").write_bytes(png_bytes(i))
    os.rename(album, src / "album")
    # Handed over: watchdog watched the whole folder before reporting it. A file written into it now is an event
    # of its own (written before, it would be in the folder's scan), while watchdog may still be walking it.
    qtbot.waitUntil(lambda: str(src / "album") in ready, timeout=AT_ONCE_MS)
    (src / "album" / "day2" / "late.png").write_bytes(png_bytes(999))
    qtbot.waitUntil(lambda: str(src / "album" / "day2" / "late.png") in ready, timeout=AT_ONCE_MS)
    qtbot.waitUntil(lambda: w.pending_count() == 0, timeout=AT_ONCE_MS)
    qtbot.wait(500)
    assert ready[0] == str(src / "album")
    assert sorted(ready[1:]) == [str(src / "album" / "day2" / "late.png")]  # no file of the walk


def test_renamed_within_the_source_goes_at_once(long_window, qtbot):
    w, src, _, ready = long_window
    (src / "sub").mkdir()
    qtbot.waitUntil(lambda: w.pending_count() == 1, timeout=AT_ONCE_MS)  # the new folder waits its window
    os.rename(src / "old.txt", src / "sub" / "moved.txt")
    qtbot.waitUntil(lambda: str(src / "sub" / "moved.txt") in ready, timeout=AT_ONCE_MS)
    assert str(src / "sub") not in ready  # a folder created in place is no rename: it still waits


def test_folder_renamed_within_the_source_goes_at_once(tmp_path, qtbot):
    src = tmp_path / "out"
    (src / "a" / "inner").mkdir(parents=True)
    (src / "a" / "inner" / "f.txt").write_bytes(b"x")
    w = SourceWatcher([src], stability_window_s=LONG_WINDOW_S)
    ready: list[str] = []
    w.files_ready.connect(ready.extend)
    w.start()
    try:
        os.rename(src / "a", src / "b")
        qtbot.waitUntil(lambda: str(src / "b") in ready, timeout=AT_ONCE_MS)
        qtbot.waitUntil(lambda: w.pending_count() == 0, timeout=AT_ONCE_MS)
        assert ready == [str(src / "b")]
    finally:
        w.stop()


@inotify_events
def test_renamed_out_of_the_source_is_not_a_new_file(long_window, qtbot, tmp_path):
    w, src, staging, ready = long_window
    (src / "keep").mkdir()
    # Its watch is in place once its event is here: a file closed before that has no close event to see.
    qtbot.waitUntil(lambda: w.pending_count() == 1, timeout=AT_ONCE_MS)
    (src / "keep" / "f.txt").write_bytes(b"x")
    qtbot.waitUntil(lambda: str(src / "keep" / "f.txt") in ready, timeout=AT_ONCE_MS)
    ready.clear()
    os.rename(src / "old.txt", staging / "old.txt")
    os.rename(src / "keep" / "f.txt", staging / "f.txt")
    qtbot.wait(1500)  # past watchdog's wait for a matching rename (0.5 s) and the debounce
    assert ready == []
    assert w.pending_count() == 1  # only the folder created in place, waiting its window


def test_a_dead_observer_thread_is_replaced_and_files_still_come(watcher, qtbot):
    """watchdog's observer thread can end on an exception in its emitter; the watcher noticed nothing and no
    file came any more. Now a new observer watches the sources again, and a rescan covers the gap."""
    w, src, ready = watcher
    restarted: list[str] = []
    rescans: list[bool] = []
    w.watcher_restarted.connect(restarted.append)
    w.rescan_requested.connect(lambda: rescans.append(True))
    old = w._observer
    old.stop()  # as an uncaught exception in it would: the thread ends
    old.join(5)
    qtbot.waitUntil(lambda: bool(restarted), timeout=5000)
    assert w._observer is not old and w._observer.is_alive() and rescans
    (src / "after.png").write_bytes(png_bytes(3))
    qtbot.waitUntil(lambda: any(p.endswith("after.png") for p in ready), timeout=5000)


def test_a_source_folder_renamed_away_and_back_is_watched_again(watcher, qtbot, tmp_path):
    w, src, ready = watcher
    missing: list[str] = []
    restored: list[str] = []
    w.source_missing.connect(missing.append)
    w.source_restored.connect(restored.append)
    os.rename(src, tmp_path / "away")
    qtbot.waitUntil(lambda: missing == [str(src)], timeout=5000)
    (tmp_path / "away" / "x.png").write_bytes(png_bytes(4))
    os.rename(tmp_path / "away", src)  # back, with a file in it
    qtbot.waitUntil(lambda: restored == [str(src)], timeout=5000)
    assert str(src) in ready  # scanned whole: x.png came with it
    (src / "y.png").write_bytes(png_bytes(5))
    qtbot.waitUntil(lambda: any(p.endswith("y.png") for p in ready), timeout=5000)


def test_a_watcher_restart_is_an_alert_until_the_next_heartbeat(tmp_path, qtbot, qapp):
    """The engine says the watch healed itself: a notice (status and the tray's notification) that goes at the
    next heartbeat."""
    paths = app_paths({"USBSYNC_HOME": str(tmp_path / "home")})
    paths.ensure()
    src = tmp_path / "out"
    src.mkdir()
    engine = Engine(paths, replace(new_config([src]), stability_window_s=0.3), qapp)
    engine.start()
    state = StateDB(paths.state_db)
    try:
        # Ended on the watch thread, queued behind the watcher's start (which runs before that thread's event
        # loop): stopped from this thread while start was still scheduling its watches, a watch added after
        # the stop outlived it, its reader blocked for good (watchdog cannot remove a watch from the closed
        # inotify descriptor). Seen when the machine's watch limit was reached and start took longer.
        qtbot.waitUntil(lambda: engine._watch is not None)
        worker = engine._watch.worker
        ended = threading.Event()

        def end_observer() -> None:
            worker._observer.stop()  # as an uncaught exception in watchdog's emitter would end it
            ended.set()

        QTimer.singleShot(0, worker, end_observer)
        qtbot.waitUntil(ended.is_set)
        qtbot.waitUntil(lambda: any(n.kind == "watcher_restarted" for n in state.notices()), timeout=10_000)
        [n] = [n for n in state.notices() if n.kind == "watcher_restarted"]
        assert n.message.startswith("watchdog's observer thread ended unexpectedly at ")
        assert "watching restarted and rescanned" in n.message
        (src / "after.png").write_bytes(png_bytes(6))
        qtbot.waitUntil(lambda: state.counts()["files"] == 1, timeout=10_000)  # watched again
        engine.emit_heartbeat()
        assert not any(n.kind == "watcher_restarted" for n in state.notices())
    finally:
        state.close()
        assert engine.stop()


def test_overflow_queue_reports_every_empty_read_after_the_start_marker():
    lost = []
    q = watcher_mod._OverflowQueue(lambda: lost.append(1))
    q.put((b"", False))  # the reader thread's "started"
    q.put((b"\x01", True))
    assert lost == []
    q.put((b"", True))  # ReadDirectoryChangesW returned 0 bytes: its buffer overflowed
    assert lost == [1] and q.qsize() == 3


@pytest.mark.skipif(sys.platform != "win32", reason="watchdog's ReadDirectoryChangesW reader is Windows'")
def test_windows_overflow_requests_a_rescan(tmp_path, qtbot):
    src = tmp_path / "out"
    src.mkdir()
    w = SourceWatcher([src], stability_window_s=0.5)
    w.start()
    try:
        # The source's recursive watch; the folder above it is watched too (for the source going away).
        (emitter,) = [e for e in w._observer.emitters if e.watch.path == str(src)]
        qtbot.waitUntil(lambda: emitter._reader is not None, timeout=5000)
        assert isinstance(emitter._reader._buf_queue, watcher_mod._OverflowQueue)
        qtbot.wait(200)  # the start's own rescan request goes first
        with qtbot.waitSignal(w.rescan_requested, timeout=5000):
            emitter._reader._buf_queue.put((b"", True))  # what a read of 0 bytes puts there
    finally:
        w.stop()


# -- events, not clocks ----------------------------------------------------------------------------------------


def _active_timers(w: SourceWatcher) -> list[int]:
    from PySide6.QtCore import QTimer

    return [t.remainingTime() for t in w.findChildren(QTimer) if t.isActive()]


@inotify_events
def test_no_timer_runs_while_nothing_waits_and_one_only_for_a_file_still_open(long_window, qtbot):
    """Idle means asleep: with nothing waiting the watcher has no active timer at all; a file still open arms the
    one timer for its stability window (30 s here), and a closed file goes on its event, not on that timer."""
    w, src, _, ready = long_window
    assert _active_timers(w) == []
    writing = open(src / "growing.bin", "wb")  # noqa: SIM115 - held open across the test on purpose
    try:
        writing.write(b"part")
        writing.flush()
        qtbot.waitUntil(lambda: w.pending_count() == 1, timeout=AT_ONCE_MS)
        qtbot.waitUntil(lambda: len(_active_timers(w)) == 1, timeout=AT_ONCE_MS)
        (remaining,) = _active_timers(w)
        # (a coarse timer, as QTimer's are by default, may fire up to 5% late: the OS can batch its wake-ups)
        assert LONG_WINDOW_S * 1000 - 5000 < remaining <= LONG_WINDOW_S * 1050 + 1
        (src / "photo.png").write_bytes(png_bytes())
        qtbot.waitUntil(lambda: str(src / "photo.png") in ready, timeout=AT_ONCE_MS)
        assert len(_active_timers(w)) == 1  # still only the open file's
    finally:
        writing.close()
    qtbot.waitUntil(lambda: str(src / "growing.bin") in ready, timeout=AT_ONCE_MS)
    qtbot.waitUntil(lambda: _active_timers(w) == [], timeout=AT_ONCE_MS)
