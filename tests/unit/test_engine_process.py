"""The tray app's engine process (engine/engine_process.py): a child that dies is reported in words."""

from __future__ import annotations

import sys

from usbsync_gui.core.config import new_config
from usbsync_gui.core.paths import app_paths
from usbsync_gui.engine import engine_process
from usbsync_gui.engine.engine_process import EngineProcess
from usbsync_gui.engine.remote import RemoteEngine


def test_an_engine_that_ends_by_itself_is_reported_with_its_last_words(tmp_path, qtbot, monkeypatch):
    paths = app_paths({"USBSYNC_HOME": str(tmp_path / "home")})
    paths.ensure()
    crash = "import sys; print('usbsync: the state database is locked'); sys.exit(3)"
    monkeypatch.setattr(engine_process, "engine_command", lambda: [sys.executable, "-c", crash])
    remote = RemoteEngine(paths.control_endpoint, lambda: new_config([]))
    proc = EngineProcess(paths, remote)
    with qtbot.waitSignal(proc.failed, timeout=10_000) as got:
        proc.start()
    [why] = got.args
    assert why == "the engine stopped (exit 3): usbsync: the state database is locked"
    assert proc.stop() is False  # it did not end cleanly
