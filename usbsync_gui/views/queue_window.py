"""The pending queue: a table over the job table (see :mod:`usbsync_gui.views.queue_model`), filters by drive
and state, retry / remove / reveal, and totals per drive."""

from __future__ import annotations

import os

from PySide6.QtCore import Qt, QUrl, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from usbsync_gui.views.context import ViewContext
from usbsync_gui.views.live_widget import LiveWidget
from usbsync_gui.views.queue_model import JobTableModel, waiting_totals
from usbsync_gui.views.resources import app_icon

STATE_FILTERS = {
    "Waiting and failed": ("pending", "copying", "failed"),
    "Waiting": ("pending", "copying"),
    "Failed": ("failed",),
    "Done": ("done",),
}


class QueueWindow(LiveWidget):  # refreshed every 2000 ms while shown
    def __init__(self, ctx: ViewContext, parent: QWidget | None = None):
        super().__init__(2000, parent)
        self.ctx = ctx
        self.setWindowTitle("usbsync: pending queue")
        self.setWindowIcon(app_icon())
        self.resize(980, 560)
        self.model = JobTableModel(ctx.db.conn, ctx.drive_names(), self)
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
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col, width in ((1, 90), (2, 100), (3, 80), (4, 70), (5, 240), (6, 70), (7, 130)):
            self.table.setColumnWidth(col, width)
        layout.addWidget(self.table)
        self.totals = QLabel()
        self.totals.setWordWrap(True)
        layout.addWidget(self.totals)
        self._fill_drives()
        self.drive.currentIndexChanged.connect(self.apply_filter)
        self.state.currentIndexChanged.connect(self.apply_filter)
        self.retry.clicked.connect(self.on_retry)
        self.remove.clicked.connect(self.on_remove)
        self.reveal.clicked.connect(self.on_reveal)
        self.refresh()

    def _fill_drives(self) -> None:
        self.drive.blockSignals(True)
        current = self.drive.currentData()
        self.drive.clear()
        self.drive.addItem("All drives", None)
        for d in self.ctx.config.drives:
            self.drive.addItem(d.name, d.id)
        i = self.drive.findData(current)
        self.drive.setCurrentIndex(max(0, i))
        self.drive.blockSignals(False)

    @Slot()
    def apply_filter(self) -> None:
        self.model.set_filter(self.drive.currentData(), STATE_FILTERS[self.state.currentText()])
        self._totals()

    @Slot()
    def refresh(self) -> None:
        if self.model.connection is not self.ctx.db.conn:  # the state database was rebuilt meanwhile
            self.model.set_connection(self.ctx.db.conn)
        self.ctx.reload_config()
        self._fill_drives()
        self.model.set_drive_names(self.ctx.drive_names())
        self._totals()

    def _totals(self) -> None:
        lines = waiting_totals(self.ctx.db.conn, self.ctx.drive_names())
        self.totals.setText("\n".join(lines) if lines else "Nothing waiting.")

    def _selected_rows(self) -> list[int]:
        return sorted({i.row() for i in self.table.selectionModel().selectedRows()})

    @Slot()
    def on_retry(self) -> None:
        ids = [i for r in self._selected_rows() if (i := self.model.job_id(r)) is not None]
        from usbsync_gui.core.state import StateDB

        with StateDB(self.ctx.paths.state_db) as db, db.transaction():
            db.retry_jobs(
                ids
            )  # the state machine's own transition: the file's newest version, attempts afresh
        if self.ctx.engine is not None:
            self.ctx.engine.sync_now()
        self.model.refresh()

    @Slot()
    def on_remove(self) -> None:
        ids = [i for r in self._selected_rows() if (i := self.model.job_id(r)) is not None]
        # A recorded decision (state 'removed'), not a deletion: scans and configuration changes would queue a
        # deleted job again. It holds until the file's content changes.
        from usbsync_gui.core.state import StateDB

        with StateDB(self.ctx.paths.state_db) as db, db.transaction():
            db.remove_jobs(ids)
        self.model.refresh()
        self._totals()

    @Slot()
    def on_reveal(self) -> None:
        rows = self._selected_rows()
        path = self.model.path(rows[0]) if rows else None
        if path:
            QDesktopServices.openUrl(QUrl.fromLocalFile(os.path.dirname(path)))
