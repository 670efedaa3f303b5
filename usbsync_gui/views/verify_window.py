"""Verify drive…: the tray's form of ``usbsync verify NAME`` (core/verify.py), with a progress bar and a result
the user can act on: the files that are missing or changed on the drive can be copied again from the outbox.

The reading runs on the task runner (a 64 GB stick takes minutes); the window only shows what it reports. Cancel
stops it within a chunk (1 MiB) of the file being read. "Copy again" forgets each missing or changed copy and
puts the job that wrote it back in the queue (``StateDB.recopy``, on the runner, in a connection of its own);
a file whose source is gone from the outbox is dropped by the copier as "source removed", as always.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QListWidget,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from usbsync_gui.core.config import DriveConfig
from usbsync_gui.core.copy_stream import Cancelled
from usbsync_gui.core.fs_text import for_display
from usbsync_gui.core.state import StateDB
from usbsync_gui.core.units import human_bytes, plural
from usbsync_gui.core.verify import VerifyReport, verify_drive
from usbsync_gui.engine.tasks import TaskResult
from usbsync_gui.views.context import ViewContext
from usbsync_gui.views.resources import app_icon

#: (files done, files listed, bytes done, bytes listed)
Progress = tuple[int, int, int, int]
PROGRESS_EVERY_S = 0.1  # reports thinned to this: each is one queued signal to the GUI thread
RECOPY_REASON = "missing or changed on the drive (Verify drive…): copied again"


def _recopy(state_db: Path, drive_id: str, paths: list[str]) -> int:
    """On a pool thread: put the jobs that wrote ``paths`` (volume-relative) back in the queue."""
    with StateDB(state_db) as db, db.transaction():
        return sum(db.recopy(drive_id, p, RECOPY_REASON) for p in paths)


class VerifyWindow(QDialog):
    """Reads back every file the drive's manifest lists, then says what matched, what is missing or changed,
    and what is on the drive that usbsync did not write."""

    def __init__(self, ctx: ViewContext, drive: DriveConfig, mountpoint: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx, self.drive, self.mountpoint = ctx, drive, mountpoint
        self.setWindowTitle(f"usbsync: verify {drive.name}")
        self.setWindowIcon(app_icon())
        self.report: VerifyReport | None = None
        self._cancel = threading.Event()
        self._running = False
        layout = QVBoxLayout(self)
        self.headline = QLabel(f"Reading back from {drive.name} every file usbsync wrote there…")
        self.headline.setWordWrap(True)
        layout.addWidget(self.headline)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        layout.addWidget(self.bar)
        self.detail = QLabel("")
        layout.addWidget(self.detail)
        self.results = QListWidget()
        self.results.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        layout.addWidget(self.results, 1)
        self.buttons = QDialogButtonBox()
        self.recopy_button = QPushButton("Copy again")
        self.recopy_button.setToolTip("Copy the missing and changed files again from the outbox")
        self.recopy_button.setEnabled(False)
        self.recopy_button.clicked.connect(self.recopy)
        self.buttons.addButton(self.recopy_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.close_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.close_button.clicked.connect(self.cancel_or_close)
        layout.addWidget(self.buttons)
        self.resize(620, 420)

    def start(self) -> None:
        """Start reading (on the task runner); the window shows progress as it comes."""
        self._running = True
        last = [0.0]
        mount, drive, cancel = self.mountpoint, self.drive, self._cancel

        def work(report: Callable[[Progress], None]) -> VerifyReport:
            def progress(files: int, listed: int, done: int, total: int) -> None:
                now = time.monotonic()
                if now - last[0] >= PROGRESS_EVERY_S or files == listed:
                    last[0] = now
                    report((files, listed, done, total))

            return verify_drive(mount, drive.id, drive.name, drive.folder, progress, cancel)

        self.ctx.tasks.run_reporting(work, self._on_progress, self._on_done, name=f"verify {drive.name}")

    @Slot(object)
    def _on_progress(self, value: Progress) -> None:
        files, listed, done, total = value
        self.bar.setValue(int(1000 * done / total) if total else 1000)
        self.detail.setText(
            f"{files:,} of {listed:,} files, {human_bytes(done)} of {human_bytes(total)} read from the device"
        )

    def _on_done(self, result: TaskResult[VerifyReport]) -> None:
        self._running = False
        self.close_button.setText("Close")
        if not result.ok:
            why = "stopped" if isinstance(result.error, Cancelled) else str(result.error)
            self.headline.setText(f"Could not verify {self.drive.name}: {why}")
            return
        r = self.report = result.unwrap()
        self.bar.setValue(1000)
        self.detail.setText(
            f"{human_bytes(r.bytes_read)} read back from the device in {r.seconds:.1f} s"
            + (
                f"; {plural(r.manifest_damaged, 'line')} of the manifest unreadable"
                if r.manifest_damaged
                else ""
            )
        )
        if r.no_manifest:
            self.headline.setText(
                f"{self.drive.name} has no manifest yet: it gets one the next time it is plugged in while usbsync "
                "runs."
            )
        elif r.all_match:
            self.headline.setText(
                f"All {plural(r.listed, 'file')} usbsync wrote on {self.drive.name} are there and read back "
                "the same."
            )
        else:
            self.headline.setText(
                f"{plural(len(r.missing), 'file')} missing and {plural(len(r.changed), 'file')} changed on "
                f"{self.drive.name}, of {r.listed:,} usbsync wrote there. Copy again puts them back from the "
                "outbox."
            )
        for p in r.missing:
            self.results.addItem(f"missing: {for_display(p)}")
        for c in r.changed:
            self.results.addItem(f"changed: {for_display(c.path)} ({c.why})")
        for p in r.unknown:
            self.results.addItem(f"not written by usbsync (left alone): {for_display(p)}")
        self.recopy_button.setEnabled(bool(r.missing or r.changed))

    @Slot()
    def recopy(self) -> None:
        r = self.report
        if r is None:
            return
        paths = [*r.missing, *(c.path for c in r.changed)]
        self.recopy_button.setEnabled(False)
        drive_id, state_db = self.drive.id, self.ctx.paths.state_db

        def done(result: TaskResult[int]) -> None:
            if not result.ok:
                self.headline.setText(f"Could not queue them: {result.error}")
                self.recopy_button.setEnabled(True)
                return
            n = result.unwrap()
            self.headline.setText(
                f"{plural(n, 'file')} will be copied again to {self.drive.name}."
                + (
                    f" {plural(len(paths) - n, 'file')} had no record of being written here (see the log)."
                    if n < len(paths)
                    else ""
                )
            )
            if self.ctx.engine is not None:
                self.ctx.engine.sync_now()

        self.ctx.tasks.run(lambda: _recopy(state_db, drive_id, paths), done, name="copy again")

    @Slot()
    def cancel_or_close(self) -> None:
        if self._running:
            self._cancel.set()
            self.headline.setText(f"Stopping the verification of {self.drive.name}…")
        else:
            self.close()

    def closeEvent(self, event: QCloseEvent) -> None:
        self._cancel.set()  # a window closed mid-read stops the reading
        super().closeEvent(event)
