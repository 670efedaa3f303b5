"""Engine.stop never makes a blocking call into a worker's thread. A worker retired just before the app quit
(its thread already ended, its ``finished`` not yet handled because the GUI thread was busy stopping) hung
``stop`` forever in CI: the old code closed every worker with a BlockingQueuedConnection. Run in a child
process so that the old code's hang is a failed test, not a hung suite."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_stop_returns_with_a_retired_worker_whose_thread_has_already_ended(tmp_path):
    code = textwrap.dedent(
        """
        import sys
        from PySide6.QtCore import QCoreApplication, QObject, Slot
        from usbsync_gui.core.config import new_config, save_config
        from usbsync_gui.core.paths import app_paths
        from usbsync_gui.engine.engine import Engine

        class Worker(QObject):
            closed = 0

            @Slot()
            def close(self):
                Worker.closed += 1

            @Slot()
            def finish(self):
                self.close()
                self.thread().quit()

        app = QCoreApplication([])
        paths = app_paths({"USBSYNC_HOME": sys.argv[1]})
        paths.ensure()
        save_config(new_config([paths.default_outbox]), paths.config_file)
        paths.default_outbox.mkdir(parents=True, exist_ok=True)
        from usbsync_gui.core.config import load_config
        engine = Engine(paths, load_config(paths.config_file), app)
        engine.start()
        slot = engine._spawn(Worker(), "retired")
        slot.worker.finish()  # as its queued finish would: closed, its thread told to end
        assert slot.thread.wait(5000)  # ended; its `finished` is not handled: no event loop runs here
        engine._retiring.append(slot)
        ok = engine.stop()
        print("stopped", ok, Worker.closed, flush=True)
        """
    )
    p = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "home")],
        capture_output=True,
        text=True,
        timeout=60,
        env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert p.returncode == 0, p.stderr
    assert "stopped True 1" in p.stdout, p.stdout + p.stderr


def test_a_stop_during_the_startup_scan_ends_it_at_the_next_file_and_loses_nothing(
    tmp_path, qtbot, qapp, caplog
):
    """A stop while the ingest thread scans a big outbox does not wait for the scan (under Wine, where a stat
    costs 2 ms, one batch outlasted the stop's 10 s bound): the scan ends at its next file, the stop returns
    True, and the next start's scan records the rest, each file once."""
    import logging
    import os
    import time

    from usbsync_gui.core.config import new_config
    from usbsync_gui.core.paths import app_paths
    from usbsync_gui.core.state import StateDB
    from usbsync_gui.engine.engine import Engine

    paths = app_paths({"USBSYNC_HOME": str(tmp_path / "home")})
    paths.ensure()
    src = tmp_path / "out"
    src.mkdir()
    # Enough that the scan lasts seconds (about 2,000 files a second here, 150 under Wine).
    n = 10_000 if sys.platform.startswith("linux") else 2_000
    an_hour_ago = time.time() - 3600  # settled files (a fresh one is left to the watcher's stability window)
    for i in range(n):
        f = src / f"f{i:05d}.txt"
        f.write_bytes(b"file %d\n" % i)
        os.utime(f, (an_hour_ago, an_hour_ago))
    config = new_config([src])
    caplog.set_level(logging.INFO, logger="usbsync_gui")
    db = StateDB(paths.state_db)
    try:
        engine = Engine(paths, config, qapp)
        engine.start()
        qtbot.waitUntil(lambda: db.counts()["files"] > 0, timeout=60_000)  # the first batch is in
        t0 = time.monotonic()
        assert engine.stop()
        took = time.monotonic() - t0
        recorded = db.counts()["files"]
        assert recorded < n, "the scan ended before the stop: nothing was interrupted"
        assert "scan stopped with the engine" in caplog.text
        print(f"stopped in {took:.2f} s with {recorded} of {n} files recorded")

        engine = Engine(paths, config, qapp)
        engine.start()
        try:
            qtbot.waitUntil(lambda: db.counts()["files"] == n, timeout=300_000)
        finally:
            assert engine.stop()
        assert db.conn.execute("SELECT COUNT(DISTINCT path) FROM files").fetchone()[0] == n
    finally:
        db.close()
