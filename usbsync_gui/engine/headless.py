"""``usbsync run``: the engine under a QCoreApplication until SIGINT/SIGTERM (or, for the tray app's engine,
until its standard input is closed)."""

from __future__ import annotations

import logging
import sys
import threading

from PySide6.QtCore import QCoreApplication, QMetaObject, Qt

from usbsync_gui.core.config import Config
from usbsync_gui.core.paths import AppPaths
from usbsync_gui.engine.engine import Engine
from usbsync_gui.engine.quit_signals import install_quit_signals

log = logging.getLogger(__name__)


def run_headless(paths: AppPaths, config: Config, with_parent: bool = False) -> int:
    """Run until signalled; with ``with_parent``, also until standard input reaches end of file (the parent,
    the tray app, closed it or died). Returns the exit status: 0 after a clean stop, 1 if a thread did not stop
    in time."""
    app = QCoreApplication(sys.argv[:1])
    restore = install_quit_signals(app)
    engine = Engine(paths, config, app)
    if with_parent:
        _quit_at_end_of_input(app)
    try:
        engine.start()
        app.exec()
    finally:
        ok = engine.stop()
        restore()
    return 0 if ok else 1


def _quit_at_end_of_input(app: QCoreApplication) -> None:
    """Quit ``app`` when standard input ends: a thread blocked in read(2) (a pipe has no event on Windows that
    Qt's loop could wait for), handing the quit to the app's thread."""

    def wait() -> None:
        try:
            while sys.stdin.buffer.read(65536):
                pass
        except (OSError, ValueError):
            pass
        log.info("the tray app closed the engine's standard input: stopping")
        QMetaObject.invokeMethod(app, "quit", Qt.ConnectionType.QueuedConnection)

    threading.Thread(target=wait, name="usbsync-parent", daemon=True).start()
