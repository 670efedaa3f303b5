"""``usbsync run``: the engine under a QCoreApplication until SIGINT/SIGTERM."""

from __future__ import annotations

import sys

from PySide6.QtCore import QCoreApplication

from usbsync_gui.core.config import Config
from usbsync_gui.core.paths import AppPaths
from usbsync_gui.engine.engine import Engine
from usbsync_gui.engine.quit_signals import install_quit_signals


def run_headless(paths: AppPaths, config: Config) -> int:
    """Run until signalled. Returns the exit status: 0 after a clean stop, 1 if a thread did not stop in time."""
    app = QCoreApplication(sys.argv[:1])
    restore = install_quit_signals(app)
    engine = Engine(paths, config, app)
    try:
        engine.start()
        app.exec()
    finally:
        ok = engine.stop()
        restore()
    return 0 if ok else 1
