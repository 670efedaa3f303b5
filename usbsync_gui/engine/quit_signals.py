"""Quit a Qt event loop cleanly on SIGINT/SIGTERM.

Python runs signal handlers only when the interpreter gets control, which a Qt event loop does not give it.
``signal.set_wakeup_fd`` writes each signal's number into a socket that a QSocketNotifier watches, so the loop
wakes at once and quits; the caller then stops the engine (rolling back the copy in flight) and exits 0.
"""

from __future__ import annotations

import logging
import signal
import socket
from collections.abc import Callable

from PySide6.QtCore import QCoreApplication, QSocketNotifier

log = logging.getLogger(__name__)
NAMES = {int(signal.SIGINT): "SIGINT", int(signal.SIGTERM): "SIGTERM"}


def install_quit_signals(app: QCoreApplication) -> Callable[[], None]:
    """Make SIGINT and SIGTERM quit ``app``. Returns a function that restores the previous handlers."""
    rsock, wsock = socket.socketpair()
    rsock.setblocking(False)
    wsock.setblocking(False)

    def _note(signum: int, _frame: object) -> None:
        pass  # the wakeup fd carries the signal; this handler only makes Python deliver it there

    old_fd = signal.set_wakeup_fd(wsock.fileno())
    old = {s: signal.signal(s, _note) for s in (signal.SIGINT, signal.SIGTERM)}
    notifier = QSocketNotifier(rsock.fileno(), QSocketNotifier.Type.Read)

    def _wake() -> None:
        try:
            data = rsock.recv(64)
        except BlockingIOError:
            return
        log.info("%s received: stopping", ", ".join(NAMES.get(b, str(b)) for b in data) or "signal")
        app.quit()

    notifier.activated.connect(_wake)

    def restore() -> None:
        notifier.setEnabled(False)
        signal.set_wakeup_fd(old_fd)
        for s, h in old.items():
            signal.signal(s, h)
        rsock.close()
        wsock.close()

    restore.notifier = notifier  # type: ignore[attr-defined]  # kept alive with the function
    return restore
