"""Open a folder in the desktop's file manager, and hear when that failed.

``QDesktopServices.openUrl`` on Linux only starts ``xdg-open`` and reports that it started: when no file manager
is registered for ``inode/directory`` (a bare window manager, a fresh minimal desktop) xdg-open exits 3 or 4
and the user saw nothing happen. Here xdg-open's exit status is read (xdg-utils' documented codes: 0 success,
1 syntax, 2 file missing, 3 a required tool missing, 4 the action failed), asynchronously so that nothing waits
on the GUI thread. Elsewhere (Windows: ``ShellExecute``, macOS) ``openUrl``'s own result is the answer.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable

from PySide6.QtCore import QObject, QProcess, QUrl
from PySide6.QtGui import QDesktopServices


def open_folder(folder: str, parent: QObject, on_failed: Callable[[str], None]) -> None:
    """Show ``folder`` in the file manager. Never blocks.

    Args:
        folder: an absolute path.
        parent: owns the xdg-open process while it runs (it is deleted when it ends).
        on_failed: called on the GUI thread, at most once, with a one-line reason when no file manager opened
            the folder; not called on success.
    """
    xdg_open = shutil.which("xdg-open") if sys.platform.startswith("linux") else None
    if xdg_open is None:
        if not QDesktopServices.openUrl(QUrl.fromLocalFile(folder)):
            on_failed("no file manager is registered for folders")
        return
    proc = QProcess(parent)
    proc.setProgram(xdg_open)
    proc.setArguments([folder])
    proc.setProcessChannelMode(QProcess.ProcessChannelMode.MergedChannels)
    proc.setStandardInputFile(QProcess.nullDevice())

    def finished(code: int, status: QProcess.ExitStatus) -> None:
        if status != QProcess.ExitStatus.NormalExit or code != 0:
            said = bytes(proc.readAll().data()).decode(errors="replace").strip().splitlines()
            on_failed(f"xdg-open ended with status {code}" + (f": {said[-1]}" if said else ""))
        proc.deleteLater()

    def error(err: QProcess.ProcessError) -> None:
        if err == QProcess.ProcessError.FailedToStart:
            on_failed(f"xdg-open could not be started ({proc.errorString()})")
            proc.deleteLater()

    proc.finished.connect(finished)
    proc.errorOccurred.connect(error)
    proc.start()
