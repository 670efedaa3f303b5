"""The pending queue as a Qt table model over the job table: the rows stay in SQLite.

Only the rows a view asks for are read, a page of :data:`PAGE` rows at a time (keyset-free LIMIT/OFFSET over
the ``jobs_by_drive`` index is a few milliseconds even at 100,000 jobs), with a small page cache. The row count
comes from one COUNT per refresh. Filters (drive, state) re-count; :meth:`JobTableModel.refresh` re-reads after
the engine reports progress.
"""

from __future__ import annotations

import sqlite3
import time
from collections import OrderedDict
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

from usbsync_gui.core.fs_text import for_display, from_db
from usbsync_gui.core.units import human_bytes

PAGE = 256
MAX_PAGES = 32
COLUMNS = ("File", "Category", "Drive", "Size", "State", "Reason", "Attempts", "Queued at")
WAITING_STATES = ("pending", "copying", "failed")

_Index = QModelIndex | QPersistentModelIndex


class JobTableModel(QAbstractTableModel):
    """Rows: jobs in ``states`` (default: waiting, copying, failed), optionally of one drive, oldest first.

    Args:
        conn: a SQLite connection to the state database, used only from the GUI thread (reads only).
        drive_names: drive id -> name, for the Drive column.
    """

    def __init__(self, conn: sqlite3.Connection, drive_names: dict[str, str], parent: Any = None):
        super().__init__(parent)
        self._conn = conn
        self._names = drive_names
        self._drive: str | None = None
        self._states: tuple[str, ...] = WAITING_STATES
        self._count = 0
        self._pages: OrderedDict[int, list[tuple[Any, ...]]] = OrderedDict()
        self.refresh()

    # -- filtering --------------------------------------------------------------------------------------------

    @property
    def connection(self) -> sqlite3.Connection:
        return self._conn

    def set_connection(self, conn: sqlite3.Connection) -> None:
        """Read from ``conn`` from now on (the state database was replaced)."""
        self._conn = conn
        self.refresh()

    def set_filter(self, drive_id: str | None = None, states: tuple[str, ...] | None = None) -> None:
        self._drive = drive_id
        self._states = states or WAITING_STATES
        self.refresh()

    def set_drive_names(self, names: dict[str, str]) -> None:
        self._names = names
        self.refresh()

    def _where(self) -> tuple[str, list[Any]]:
        marks = ",".join("?" * len(self._states))
        sql = f"j.state IN ({marks})"
        params: list[Any] = list(self._states)
        if self._drive is not None:
            sql += " AND j.drive_id=?"
            params.append(self._drive)
        return sql, params

    def refresh(self) -> None:
        """Re-read the count and drop cached pages (call after the queue changed)."""
        where, params = self._where()
        self.beginResetModel()
        self._count = int(
            self._conn.execute(f"SELECT COUNT(*) FROM jobs j WHERE {where}", params).fetchone()[0]
        )
        self._pages.clear()
        self.endResetModel()

    # -- model ------------------------------------------------------------------------------------------------

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt's API
        return 0 if parent.isValid() else self._count

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None

    def _row(self, row: int) -> tuple[Any, ...] | None:
        page_no = row // PAGE
        page = self._pages.get(page_no)
        if page is None:
            where, params = self._where()
            page = self._conn.execute(
                "SELECT j.id, f.path, f.category, j.drive_id, j.size, j.state, j.last_error, j.attempts, j.queued_at,"
                " f.relpath"
                f" FROM jobs j JOIN files f ON f.id=j.file_id WHERE {where} ORDER BY j.id LIMIT ? OFFSET ?",
                [*params, PAGE, page_no * PAGE],
            ).fetchall()
            self._pages[page_no] = page
            if len(self._pages) > MAX_PAGES:
                self._pages.popitem(last=False)
        else:
            self._pages.move_to_end(page_no)
        i = row - page_no * PAGE
        return page[i] if i < len(page) else None

    def job_id(self, row: int) -> int | None:
        r = self._row(row)
        return int(r[0]) if r else None

    def path(self, row: int) -> str | None:
        r = self._row(row)
        return from_db(r[1]) if r else None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        r = self._row(index.row())
        if r is None:
            return None
        _, path, category, drive_id, size, state, reason, attempts, queued_at, relpath = r
        path, relpath = for_display(from_db(path)), for_display(from_db(relpath))
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                return relpath  # the path inside the outbox; the full path is the tooltip
            if col == 1:
                return category or ""
            if col == 2:
                return self._names.get(drive_id, drive_id)
            if col == 3:
                return human_bytes(size)
            if col == 4:
                return state
            if col == 5:
                return reason or ("waiting for the drive" if state == "pending" else "")
            if col == 6:
                return attempts
            if col == 7:
                return time.strftime("%Y-%m-%d %H:%M", time.localtime(queued_at))
        if role == Qt.ItemDataRole.ToolTipRole and col in (0, 5):
            return path if col == 0 else reason
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (3, 6):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


def waiting_totals(conn: sqlite3.Connection, drive_names: dict[str, str]) -> list[str]:
    """One line per drive with waiting files: ``'12 files, 3.4 GB waiting for Photos'``."""
    out = []
    for drive_id, n, size in conn.execute(
        "SELECT drive_id, COUNT(*), COALESCE(SUM(size), 0) FROM jobs WHERE state IN ('pending','copying')"
        " GROUP BY drive_id ORDER BY drive_id"
    ):
        files = "1 file" if n == 1 else f"{n} files"
        out.append(f"{files}, {human_bytes(size)} waiting for {drive_names.get(drive_id, drive_id)}")
    return out
