"""``usbsync run``: the engine under a QCoreApplication until SIGINT/SIGTERM.

Signals are delivered through ``signal.set_wakeup_fd`` into a socket watched by a QSocketNotifier, so the
Qt event loop wakes at once (Python signal handlers alone only run when the interpreter gets control).
"""

from __future__ import annotations

import logging
import signal
import socket
import sys

from PySide6.QtCore import QCoreApplication, QSocketNotifier

from usbsync_gui.core.config import Config
from usbsync_gui.core.paths import AppPaths
from usbsync_gui.engine.engine import Engine

log = logging.getLogger(__name__)


def run_headless(paths: AppPaths, config: Config) -> int:
    """Run until signalled. Returns the exit status: 0 after a clean stop, 1 if a thread did not stop in time."""
    app = QCoreApplication(sys.argv[:1])
    rsock, wsock = socket.socketpair()
    rsock.setblocking(False)
    wsock.setblocking(False)
    received: list[int] = []

    def _note(signum: int, _frame: object) -> None:
        received.append(signum)

    old_fd = signal.set_wakeup_fd(wsock.fileno())
    old = {s: signal.signal(s, _note) for s in (signal.SIGINT, signal.SIGTERM)}
    notifier = QSocketNotifier(rsock.fileno(), QSocketNotifier.Type.Read)

    def _wake() -> None:
        try:
            data = rsock.recv(64)
        except BlockingIOError:
            return
        names = {int(signal.SIGINT): "SIGINT", int(signal.SIGTERM): "SIGTERM"}
        log.info("%s received: stopping", ", ".join(names.get(b, str(b)) for b in data) or "signal")
        app.quit()

    notifier.activated.connect(_wake)
    engine = Engine(paths, config, app)
    try:
        engine.start()
        app.exec()
    finally:
        ok = engine.stop()
        notifier.setEnabled(False)
        signal.set_wakeup_fd(old_fd)
        for s, h in old.items():
            signal.signal(s, h)
        rsock.close()
        wsock.close()
    return 0 if ok else 1
