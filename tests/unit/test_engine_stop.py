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
