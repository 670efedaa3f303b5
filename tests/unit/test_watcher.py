"""The watcher and the engine's ingest path with real watchdog on a real folder."""

import os
import time

import pytest

from tests.conftest import png_bytes
from usbsync_gui.core.config import new_config
from usbsync_gui.core.paths import app_paths
from usbsync_gui.core.state import StateDB
from usbsync_gui.engine import watcher as watcher_mod
from usbsync_gui.engine.engine import Engine
from usbsync_gui.engine.watcher import SourceWatcher


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


def test_debounce_repeated_events_give_one_ready(watcher, qtbot):
    _, src, ready = watcher
    p = src / "c.txt"
    for i in range(20):
        p.write_text(f"version {i}")
    qtbot.waitUntil(lambda: str(p) in ready, timeout=5000)
    time.sleep(0.5)
    assert ready.count(str(p)) == 1


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

        qtbot.waitUntil(lambda: count() == n, timeout=180_000)
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
    assert len(folders) == 21 - 8  # the source and its 20 folders, 8 watches
    assert set(folders) <= set(seen["ready"])  # handed over to be scanned
    assert seen["complete"] == 1 and seen["still"] == []  # watched whole once the limit was raised
