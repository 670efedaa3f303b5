"""The tray app's engine: ``usbsync run`` in a process of its own, followed over its command channel.

Why a process: in one process with the window, the engine's threads held Python's GIL so much in a flood of
files that the window stalled for 100-400 ms (``docs/performance.md``, "Fourth round" and "The engine in its
own process"). The tray app starts ``usbsync run --with-parent`` as its child (or follows one already running,
such as a ``usbsync run`` service) and reads it through a
:class:`~usbsync_gui.engine.remote.RemoteEngine`. The child stops when the app closes its standard input, and by
itself when the app dies (its standard input then reaches end of file).

An engine the app follows but did not start may stop while the app runs (its user stops the service, or ends
the terminal's ``usbsync run``). The app then takes over: it starts its own child as soon as that engine has let
go of the instance lock. (It went on showing that engine's last state, "Everything is copied", while nothing
synced any more.)
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QTimer, Signal, Slot

from usbsync_gui.core.instance_lock import InstanceLock
from usbsync_gui.core.paths import AppPaths
from usbsync_gui.engine.remote import RemoteEngine

log = logging.getLogger(__name__)

CONNECT_RETRY_MS = 100  # while the child starts: how often its command channel is tried
START_TIMEOUT_S = 60.0  # a child whose channel does not answer by then is reported as failed
STOP_TIMEOUT_MS = 30_000  # a clean stop rolls back a copy in flight; past this the child is killed


def engine_command() -> list[str]:
    """The command line of ``usbsync run`` for this installation: the frozen app's ``usbsync`` executable beside
    this one, the ``usbsync`` script beside this Python (a virtual environment or an installed package), or
    else this Python with ``-m usbsync_gui``."""
    here = Path(sys.executable)
    suffix = ".exe" if os.name == "nt" else ""
    for candidate in (here.with_name(f"usbsync{suffix}"), here.parent / "Scripts" / f"usbsync{suffix}"):
        if candidate.is_file() and candidate.resolve() != here.resolve():
            return [str(candidate), "run"]
    if getattr(sys, "frozen", False):
        return [str(here.with_name(f"usbsync{suffix}")), "run"]
    return [sys.executable, "-m", "usbsync_gui", "run"]


def engine_running(paths: AppPaths) -> bool:
    """Whether an engine holds this home's instance lock now."""
    return InstanceLock(paths.lock_file, paths.pid_file).held_elsewhere()


class EngineProcess(QObject):
    """Starts and follows the engine for the tray app.

    Args:
        paths: the home the engine serves (the child inherits the environment that names it).
        remote: follows the engine's channel; started here once the child listens.

    Signals:
        failed(str): the engine could not be started, or the child ended while the app was running: why, in
            words (its last output lines).
    """

    failed = Signal(str)

    def __init__(self, paths: AppPaths, remote: RemoteEngine, parent: QObject | None = None):
        super().__init__(parent)
        self._paths = paths
        self._remote = remote
        self._child: QProcess | None = None
        self._stopping = False
        self._waited = 0.0
        self._tail = ""  # the child's last output, for a failure's message
        self._retry = QTimer(self)  # runs only while the child starts and its channel does not answer yet
        self._retry.setInterval(CONNECT_RETRY_MS)
        self._retry.timeout.connect(self._try_link)
        # Runs only after an engine the app followed went away, until it has let go of the instance lock.
        self._takeover = QTimer(self)
        self._takeover.setInterval(CONNECT_RETRY_MS)
        self._takeover.timeout.connect(self._try_takeover)
        remote.link_changed.connect(self._on_link)

    def start(self) -> None:
        """Follow the running engine, or start one first."""
        if engine_running(self._paths):
            log.info("following the engine already running for %s", self._paths.state_dir)
            self._remote.start()
            return
        # The child inherits this environment: the same home (USBSYNC_HOME, or the user's folders).
        child = self._child = QProcess(self)
        child.setProcessChannelMode(QProcess.ProcessChannelMode.MergedChannels)
        child.readyReadStandardOutput.connect(self._drain_output)
        child.finished.connect(self._on_finished)
        # On Windows the child is usbsync.exe, a console program: QProcess starts it with CREATE_NO_WINDOW when
        # this process has no console (the windowed usbsync-gui.exe), so no console window opens beside the tray.
        cmd = [*engine_command(), "--with-parent"]
        log.info("starting the engine: %s", " ".join(cmd))
        child.start(cmd[0], cmd[1:])
        self._waited = 0.0
        self._retry.start()

    @Slot()
    def _try_link(self) -> None:
        if self._remote.up or self._stopping:
            self._retry.stop()
            return
        self._waited += CONNECT_RETRY_MS / 1000
        if self._waited > START_TIMEOUT_S:
            self._retry.stop()
            self.failed.emit(f"the engine did not answer within {START_TIMEOUT_S:g} s")
            return
        self._remote.start()

    @Slot(bool)
    def _on_link(self, up: bool) -> None:
        if up:
            self._retry.stop()
            self._takeover.stop()
            return
        if self._stopping or self._child is not None or self._retry.isActive() or self._takeover.isActive():
            return  # not a followed engine that went away (our child's end is told by _on_finished)
        log.warning("the engine this app followed has stopped; starting this app's own")
        self._waited = 0.0
        self._takeover.start()

    @Slot()
    def _try_takeover(self) -> None:
        """While the engine that went away still holds the instance lock (a clean stop finishes its batch
        first), try its channel again (it may only have dropped); once the lock is free, start this app's own,
        as :meth:`start` does."""
        if self._stopping:
            self._takeover.stop()
            return
        if engine_running(self._paths):
            self._remote.start()
            self._waited += CONNECT_RETRY_MS / 1000
            if self._waited > START_TIMEOUT_S:
                self._takeover.stop()
                self.failed.emit(
                    f"the engine this app followed stopped answering and still runs after {START_TIMEOUT_S:g} s"
                )
            return
        self._takeover.stop()
        self.start()

    @Slot()
    def _drain_output(self) -> None:
        # The child logs to its own file as well; its console output is kept for a failure's message only.
        assert self._child is not None
        data = bytes(self._child.readAllStandardOutput().data()).decode("utf-8", "replace")
        self._tail = (self._tail + data)[-2000:]

    @Slot(int, QProcess.ExitStatus)
    def _on_finished(self, code: int, _status: QProcess.ExitStatus) -> None:
        self._retry.stop()
        if self._stopping:
            return
        last = " / ".join(line for line in self._tail.strip().splitlines()[-3:])
        log.error("the engine stopped (exit %d): %s", code, last)
        self.failed.emit(f"the engine stopped (exit {code}){': ' + last if last else ''}")

    def stop(self, timeout_ms: int = STOP_TIMEOUT_MS) -> bool:
        """Stop following; stop the child if it was started here (standard input closed: a clean stop), waiting
        up to ``timeout_ms`` before killing it. Returns True when it ended cleanly (or was not ours)."""
        self._stopping = True
        self._retry.stop()
        self._takeover.stop()
        self._remote.stop()
        child = self._child
        if child is None or child.state() == QProcess.ProcessState.NotRunning:
            return child is None or child.exitCode() == 0
        child.closeWriteChannel()
        if not child.waitForFinished(timeout_ms):
            log.error("the engine did not stop within %d s: killed", timeout_ms // 1000)
            child.kill()
            child.waitForFinished(5000)
            return False
        return child.exitStatus() == QProcess.ExitStatus.NormalExit and child.exitCode() == 0
