"""The pending queue: a table over the job table (see :mod:`usbsync_gui.views.queue_model`), filters by drive
and state, sorting by column, retry / remove / reveal, and totals per drive.

What the user does here holds: refreshes move rows in place (selection and the row at the top stay put),
Retry and Remove write the database on a pool thread (a busy engine may hold its write lock for a while), the
list of jobs is read on the views' task runner (a refresh returns at once; the rows move when it arrives), and
the window's size and place are kept in the state folder between runs."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import shiboken6
from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QSize, Qt, QTimer, Slot
from PySide6.QtGui import QHideEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from usbsync_gui.core.state import StateDB
from usbsync_gui.core.summary import DriveState, StateSummary
from usbsync_gui.core.units import human_bytes, plural
from usbsync_gui.engine.tasks import TaskResult, TaskRunner
from usbsync_gui.views.context import ViewContext
from usbsync_gui.views.live_widget import LiveWidget
from usbsync_gui.views.open_folder import open_folder
from usbsync_gui.views.queue_model import FILE, QUEUED, REASON, JobTableModel
from usbsync_gui.views.resources import app_icon
from usbsync_gui.views.window_geometry import FILE_NAME, GeometryStore, fit_to_screen

_NEEDS_YOU = (DriveState.DOES_NOT_FIT, DriveState.READ_ONLY, DriveState.FAILED)

STATE_FILTERS = {
    "Waiting and failed": ("pending", "copying", "failed"),
    "Waiting": ("pending", "copying"),
    "Failed": ("failed",),
    "Done": ("done",),
    "Removed": ("removed",),  # removed from the queue by the user; Retry puts them back
}
DEFAULT_SIZE = QSize(1100, 600)  # fits a 1366x768 screen with room for the panel and the title bar
GEOMETRY_KEY = "queue"
REASON_WIDTH = 260  # px at first; the Reason column can hold a long error (its tooltip has all of it)
# A periodic re-read that took t seconds waits READ_GAP_FACTOR * t before the next one, so that a queue of
# 100,000 jobs (a few hundred ms to re-sort, on the runner) never keeps a core busy more than about 5% of the time.
READ_GAP_FACTOR = 20
SLOW_READ_S = 0.05  # re-reads faster than this are never held back
MESSAGE_MS = 5000  # how long "2 files queued again." stays under the table


def _write_jobs(state_db: Path, action: str, ids: list[int]) -> int:
    """On a pool thread: retry or remove ``ids`` in a connection of its own. Returns how many changed."""
    with StateDB(state_db) as db, db.transaction():
        # Retry is the state machine's own transition (the file's newest version, attempts afresh). Remove is a
        # recorded decision (state 'removed'), not a deletion: scans and configuration changes would queue a
        # deleted job again. It holds until the file's content changes.
        return db.retry_jobs(ids) if action == "retry" else db.remove_jobs(ids)


class _ElideMiddle(QStyledItemDelegate):
    """Draws a column's text elided in the middle (a path: its folder and its file name both stay)."""

    def initStyleOption(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        super().initStyleOption(option, index)
        option.textElideMode = Qt.TextElideMode.ElideMiddle


class QueueWindow(LiveWidget):  # refreshed every 2000 ms while shown
    """The pending-queue window.

    Args:
        ctx: the shared view context (paths, config, the GUI thread's read connection, the engine).
        parent: the usual widget parent (None: a top-level window).
        runner: runs the database writes off the GUI thread; None: the window makes its own (one thread, so
            that writes happen in the order they were asked for).
        geometry: where the window's size and place are kept; None: ``windows.json`` in the state folder.
    """

    def __init__(
        self,
        ctx: ViewContext,
        parent: QWidget | None = None,
        *,
        runner: TaskRunner | None = None,
        geometry: GeometryStore | None = None,
    ):
        super().__init__(2000, parent)
        self.ctx = ctx
        self.runner = runner if runner is not None else TaskRunner(max_threads=1, parent=self)
        self.geometry_store = (
            geometry if geometry is not None else GeometryStore(ctx.paths.state_dir / FILE_NAME)
        )
        self._next_read = 0.0  # monotonic time before which the timer does not re-read (see READ_GAP_FACTOR)
        self._drive_items: list[tuple[str, str]] = []
        # A read asked for by _keeping_place keeps the top row's job at the top when it is applied.
        self._keep_place = False
        self._anchor: tuple[int | None, int, int] = (None, -1, 0)  # (job id, row, viewport offset) at the top
        self.setWindowTitle("usbsync: pending queue")
        self.setWindowIcon(app_icon())
        # The job list is read on the views' runner (its own connection); only the rows on screen are read
        # here, by id, in the GUI thread's read connection.
        self.model = JobTableModel(
            ctx.db.conn, ctx.drive_names(), self, runner=ctx.tasks, state_db=ctx.paths.state_db
        )
        if ctx.summary.latest is not None:
            self.model.set_reason_facts(ctx.summary.latest.reason_facts)
        ctx.summary.changed.connect(self.on_summary)
        self.model.about_to_reload.connect(self._rows_about_to_change)
        self.model.reloaded.connect(self._rows_changed)
        layout = QVBoxLayout(self)
        bar = QHBoxLayout()
        self.drive = QComboBox()
        self.state = QComboBox()
        self.state.addItems(list(STATE_FILTERS))
        bar.addWidget(QLabel("Drive:"))
        bar.addWidget(self.drive)
        bar.addWidget(QLabel("Show:"))
        bar.addWidget(self.state)
        bar.addStretch(1)
        self.retry = QPushButton("Retry")
        self.remove = QPushButton("Remove from queue")
        self.reveal = QPushButton("Show in folder")
        for b in (self.retry, self.remove, self.reveal):
            bar.addWidget(b)
        layout.addLayout(bar)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        # Reasons are sentences whose point is at the end: elided at the right. The File column keeps both the
        # folder and the file name: elided in the middle.
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.table.setItemDelegateForColumn(FILE, _ElideMiddle(self.table))
        vheader = self.table.verticalHeader()
        vheader.setVisible(False)  # no spreadsheet row numbers
        # One line of text per row (the style's default is roomier): more of the queue on a small screen.
        vheader.setDefaultSectionSize(self.table.fontMetrics().height() + 8)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(FILE, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(REASON, QHeaderView.ResizeMode.Interactive)
        self.table.setColumnWidth(REASON, REASON_WIDTH)
        # Sized by the rows on screen and a page beyond, not all 100,000 (each would be read from SQLite).
        header.setResizeContentsPrecision(256)
        header.setSortIndicatorClearable(True)  # a third click goes back to the default order
        header.setSortIndicator(QUEUED, Qt.SortOrder.AscendingOrder)  # the default order: oldest first
        self.table.setSortingEnabled(True)
        layout.addWidget(self.table)
        # What the last Retry / Remove did: "Removing…" until it is known, then the outcome for MESSAGE_MS (a
        # single-shot timer, running only while an outcome is shown); a failure stays. An outcome or a failure
        # goes at once when the user moves on: picks other rows or another filter, acts again, closes the window.
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.hide()
        layout.addWidget(self.message)
        self._message_kind = ""  # "busy" | "done" | "failed" while a message is shown
        self._reading = False  # a refresh is moving the selection (not the user)
        self.message_timer = QTimer(self)
        self.message_timer.setSingleShot(True)
        self.message_timer.setInterval(MESSAGE_MS)
        self.message_timer.timeout.connect(self.clear_message)
        self.totals = QLabel()
        self.totals.setWordWrap(True)
        layout.addWidget(self.totals)
        self._fill_drives()
        self.drive.currentIndexChanged.connect(self._user_filter)
        self.state.currentIndexChanged.connect(self._user_filter)
        self.retry.clicked.connect(self.on_retry)
        self.remove.clicked.connect(self.on_remove)
        self.reveal.clicked.connect(self.on_reveal)
        self.table.selectionModel().selectionChanged.connect(self._update_buttons)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.resize(fit_to_screen(self, DEFAULT_SIZE))
        self.geometry_store.restore(self, GEOMETRY_KEY)
        self._update_buttons()
        self._totals()

    # -- geometry ---------------------------------------------------------------------------------------------

    def save_geometry(self) -> None:
        """Keep the window's size and place for the next time it is opened (also in a later run)."""
        self.geometry_store.remember(self, GEOMETRY_KEY)

    def hideEvent(self, event: QHideEvent) -> None:
        # Closing the window hides it (the tray keeps it, and closes it at quit), so this is where a close
        # saves too.
        if not event.spontaneous():  # not a minimize: the geometry to keep is the normal one
            self.save_geometry()
            self._user_moved_on()  # closed: what the last Retry / Remove did is not news when it opens again
        super().hideEvent(event)

    # -- filters and refresh ------------------------------------------------------------------------------

    def _fill_drives(self) -> None:
        items = [(d.name, d.id) for d in self.ctx.config.drives]
        if items == self._drive_items:
            return  # rebuilding the list every refresh would close its popup under the user
        self._drive_items = items
        self.drive.blockSignals(True)
        current = self.drive.currentData()
        self.drive.clear()
        self.drive.addItem("All drives", None)
        for name, drive_id in items:
            self.drive.addItem(name, drive_id)
        i = self.drive.findData(current)
        self.drive.setCurrentIndex(max(0, i))
        self.drive.blockSignals(False)
        if i < 0 and current is not None:  # the drive shown was removed from the configuration
            self.apply_filter()

    @Slot()
    def _user_filter(self) -> None:
        self._user_moved_on()
        self.apply_filter()

    @Slot()
    def apply_filter(self) -> None:
        self._keeping_place(
            lambda: self.model.set_filter(self.drive.currentData(), STATE_FILTERS[self.state.currentText()])
        )

    @Slot()
    def refresh(self) -> None:
        """Follow the database and the configuration: re-read the rows if the database changed (not more often
        than a slow read allows, see :data:`READ_GAP_FACTOR`)."""
        if self.model.connection is not self.ctx.db.conn:  # the state database was rebuilt meanwhile
            self.model.set_connection(self.ctx.db.conn)
            self._totals()
        self.ctx.reload_config()
        self._fill_drives()
        self.model.set_drive_names(self.ctx.drive_names())
        if time.monotonic() >= self._next_read and self.model.changed():
            self._keeping_place(self.model.refresh)

    def _keeping_place(self, read: Callable[[], None]) -> None:
        """Ask for ``read`` (a model refresh or filter) keeping the job at the top of the table at the top when
        its rows arrive, if it is still listed: rows added or removed above it would otherwise slide the view
        under the user. The selection needs nothing here: the model moves it with its jobs."""
        self._keep_place = True
        read()

    @Slot()
    def _rows_about_to_change(self) -> None:
        """A new job list is about to be applied: note the job at the top, and that a selection change now is
        the refresh's, not the user's (its jobs left the list)."""
        self._reading = True
        top = self.table.rowAt(0)
        anchor = self.model.job_id(top) if top >= 0 else None
        offset = (
            self.table.verticalHeader().sectionViewportPosition(top) if top >= 0 else 0
        )  # <= 0: sticks out
        self._anchor = (anchor, top, offset)

    @Slot()
    def _rows_changed(self) -> None:
        self._reading = False
        took = self.model.last_read_s
        self._next_read = time.monotonic() + (READ_GAP_FACTOR * took if took > SLOW_READ_S else 0.0)
        self._update_buttons()
        keep, self._keep_place = self._keep_place, False
        if not keep:
            return  # a new sort order: the scroll bar keeps its value
        self._totals()
        anchor, top, offset = self._anchor
        row = self.model.row_of(anchor) if anchor is not None else None
        if row is None or row == top:
            return  # unchanged, or gone: the scroll bar keeps its value
        self.table.doItemsLayout()  # the scroll range for the new row count now, not at the next paint
        bar = self.table.verticalScrollBar()
        if self.table.verticalScrollMode() == QAbstractItemView.ScrollMode.ScrollPerItem:
            bar.setValue(row)
        else:
            bar.setValue(self.table.verticalHeader().sectionPosition(row) - offset)

    def _totals(self) -> None:
        """Ask for a fresh summary: the totals line is the one summary's (:meth:`show_totals`)."""
        self.ctx.summary.invalidate()

    @Slot(object)
    def on_summary(self, s: StateSummary) -> None:
        """A new summary: the rows' reasons follow its facts (paused, drives plugged in), the totals its figures."""
        self.model.set_reason_facts(s.reason_facts)
        self.show_totals(s)

    def show_totals(self, s: StateSummary) -> None:
        """One line per drive with files waiting, and per category no drive holds: from the one summary, so the
        queue says what the tray and the status window say (a drive's files that do not fit included)."""
        lines = [
            # A drive that needs you: its headline, which counts the same files ("2 files (20.0 MB) do not fit
            # on Photos: ..."), not the count twice.
            d.headline[0].upper() + d.headline[1:]
            if d.state in _NEEDS_YOU
            else f"{plural(d.waiting_files, 'file')}, {human_bytes(d.waiting_bytes)} waiting for {d.name}"
            for d in s.drives
            if d.waiting_files or d.state in _NEEDS_YOU  # failed files wait for nothing, yet need you
        ]
        # Files of a category no drive holds have no row (no job: nothing to retry or remove); they are said here.
        lines += [u.headline[0].upper() + u.headline[1:] for u in s.unrouted]
        self.totals.setText("\n".join(lines) if lines else "Nothing waiting.")

    # -- actions ------------------------------------------------------------------------------------------

    def selected_job_ids(self) -> list[int]:
        """The jobs of the selected rows, in row order."""
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        return [i for r in rows if (i := self.model.job_id(r)) is not None]

    @Slot()
    def _update_buttons(self) -> None:
        """Each button only where it would do something (what StateDB.retry_jobs and remove_jobs change): Retry
        for failed or removed files (a waiting file is tried as soon as its drive can take it), Remove for
        waiting or failed ones (not one being copied, done or removed), Show in folder for any."""
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        states = {self.model.state(r) for r in rows}
        self.reveal.setEnabled(bool(rows))
        self.retry.setEnabled(bool(states & {"failed", "removed"}))
        self.remove.setEnabled(bool(states & {"pending", "failed"}))

    @Slot()
    def on_retry(self) -> None:
        self._write("retry", self.selected_job_ids())

    @Slot()
    def on_remove(self) -> None:
        self._write("remove", self.selected_job_ids())

    def _write(self, action: str, ids: list[int]) -> None:
        if not ids:
            return
        state_db = self.ctx.paths.state_db
        self._say("Retrying…" if action == "retry" else "Removing…", "busy")
        self.runner.run(
            lambda: _write_jobs(state_db, action, ids),
            lambda result: self._written(action, result),
            name=f"queue {action}",
        )

    def _say(self, text: str, kind: str) -> None:
        """Show ``text`` under the table: ``busy`` until the outcome replaces it, ``done`` for MESSAGE_MS,
        ``failed`` until the user moves on."""
        self._message_kind = kind
        self.message.setText(text)
        self.message.show()
        if kind == "done":
            self.message_timer.start()
        else:
            self.message_timer.stop()

    @Slot()
    def clear_message(self) -> None:
        self.message_timer.stop()
        self._message_kind = ""
        self.message.clear()
        self.message.hide()

    def _user_moved_on(self) -> None:
        """The user picked other rows or another filter: an outcome or a failure said before is old news (a
        write still under way keeps its "Removing…" until its outcome)."""
        if self._message_kind in ("done", "failed"):
            self.clear_message()

    @Slot()
    def _selection_changed(self) -> None:
        if not self._reading:
            self._user_moved_on()

    def _written(self, action: str, result: TaskResult[int]) -> None:
        """On the GUI thread, after a write: report it, and show its effect."""
        if not shiboken6.isValid(self):  # the window was deleted while an injected runner worked
            return
        if not result.ok:
            self._say(f"Could not {action}: {result.error}", "failed")
            return
        n = result.value or 0
        noun = "1 file" if n == 1 else f"{n} files"
        if action == "retry":
            self._say(f"{noun} queued again.", "done")
            if self.ctx.engine is not None:
                self.ctx.engine.sync_now()
        else:
            self._say(f"{noun} removed from the queue.", "done")
        self._keeping_place(self.model.refresh)

    @Slot()
    def on_reveal(self) -> None:
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        path = self.model.path(rows[0]) if rows else None
        if path:
            folder = os.path.dirname(path)
            open_folder(
                folder, self, lambda why: self._say(f"No file manager opened {folder} ({why}).", "failed")
            )
