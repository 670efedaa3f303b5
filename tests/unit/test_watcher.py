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
