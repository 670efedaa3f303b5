"""The pending queue as a Qt table model over the job table: the rows stay in SQLite.

The model keeps one thing in memory: the ordered list of job ids for the current filter and sort (read by one
``SELECT j.id ... ORDER BY`` per refresh; 100,000 ints is under a megabyte). Row contents are read by id, a page
of :data:`PAGE` rows at a time as a view asks for them, into a small LRU cache of :data:`CACHE_ROWS` rows.

With a task runner (the views' ``ctx.tasks``) the id list is read on the runner's pool, in a connection of
its own to the state database (0.2 s at 100,000 jobs: never on the GUI thread), and applied on the GUI thread
when it arrives (``about_to_reload``, the rows moved, ``reloaded``). One read is in flight at a time; asked again
meanwhile, one more follows it. A filter or sort change makes the read in flight stale: its result is dropped,
and the rows shown are always those of the latest query. Without a runner (tools, some tests) it reads inline.

A refresh never resets the model. Rows are keyed by job id: when the id list changes, persistent indexes (a
view's selection and current row) are moved to the rows their jobs now have, inside
``layoutAboutToBeChanged``/``layoutChanged``; a job that left the list loses its indexes (it drops out of the
selection). Cached rows whose contents changed get ``dataChanged``. Sorting (:meth:`JobTableModel.sort`) is
done in SQL, by the text or number each column shows.

The Reason column says why each job waits as ``usbsync pending`` says it: from the job and the facts of the
latest state summary (paused, which drives are plugged in and registered: :class:`ReasonFacts`, handed in by
:meth:`JobTableModel.set_reason_facts`), by :meth:`ReasonFacts.reason`; it sorts by the same text in SQL.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import shiboken6
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal

from usbsync_gui.core.fs_text import for_display, from_db
from usbsync_gui.core.state import StateDB
from usbsync_gui.core.units import human_bytes
from usbsync_gui.core.wait_reasons import ReasonFacts  # the Reason column's words are the CLI's
from usbsync_gui.engine.tasks import TaskResult, TaskRunner

log = logging.getLogger(__name__)

PAGE = 256  # rows read at once when a view asks for one that is not cached
CACHE_ROWS = 2048  # rows whose contents are kept (least recently used dropped); a refresh re-reads them all
COLUMNS = ("File", "Category", "Drive", "Size", "State", "Reason", "Attempts", "Queued at")
FILE, CATEGORY, DRIVE, SIZE, STATE, REASON, ATTEMPTS, QUEUED = range(len(COLUMNS))
WAITING_STATES = ("pending", "copying", "failed")
#: The State column's words: the filter's ("Waiting", "Failed"), not the database's ("pending").
STATE_WORDS = {
    "pending": "waiting",
    "copying": "copying",
    "failed": "failed",
    "done": "copied",
    "removed": "removed",
}

_Index = QModelIndex | QPersistentModelIndex
_Row = tuple[
    Any, ...
]  # (id, path, category, drive_id, size, state, last_error, attempts, queued_at, relpath)

# The default order, and the tie-break after any sort column: oldest first, then by path, then by job id, so
# that rows with equal keys never swap places between two refreshes.
_DEFAULT_ORDER = "j.queued_at, f.path, j.id"
# What each column sorts by: the same value it shows. SIZE, ATTEMPTS and QUEUED sort by number; DRIVE and
# REASON are built per call, from the drive names and the reason facts (see JobTableModel._order).
_SORT_KEYS = {
    FILE: "f.relpath COLLATE NOCASE",
    CATEGORY: "COALESCE(f.category, '') COLLATE NOCASE",
    SIZE: "j.size",
    STATE: "j.state",
    ATTEMPTS: "j.attempts",
    QUEUED: "j.queued_at",
}
_SELECT_ROWS = (
    "SELECT j.id, f.path, f.category, j.drive_id, j.size, j.state, j.last_error, j.attempts, j.queued_at,"
    " f.relpath FROM jobs j JOIN files f ON f.id=j.file_id WHERE j.id IN ({marks})"
)
_IN_CHUNK = 500  # ids per IN (...) list: well under SQLite's bound-parameter limit on every build


def _read_ids(conn: sqlite3.Connection, sql: str, params: Sequence[Any]) -> list[int]:
    return [r[0] for r in conn.execute(sql, params)]


def _read_ids_apart(state_db: Path, sql: str, params: Sequence[Any]) -> tuple[list[int], float]:
    """On a pool thread: the id list in a read connection of its own (an sqlite3 connection stays on the thread
    that made it). Returns the ids and the seconds the read took."""
    t0 = time.perf_counter()
    with StateDB(state_db) as db:
        ids = _read_ids(db.conn, sql, params)
    return ids, time.perf_counter() - t0


class JobTableModel(QAbstractTableModel):
    """Rows: jobs in ``states`` (default: waiting, copying, failed), optionally of one drive; oldest first
    unless sorted.

    Args:
        conn: a SQLite connection to the state database, used only from the GUI thread (reads only): the change
            check and the rows' contents.
        drive_names: drive id -> name, for the Drive column.
        runner: where the id list is read (see the module's note); None reads it inline.
        state_db: the state database's path, opened by each read on the runner (needed with ``runner``).

    Signals:
        about_to_reload(): a new id list is about to be applied (on this thread): rows may move or go.
        reloaded(): it was applied; :attr:`last_read_s` is how long it took to read.
    """

    about_to_reload = Signal()
    reloaded = Signal()

    def __init__(
        self,
        conn: sqlite3.Connection,
        drive_names: dict[str, str],
        parent: Any = None,
        *,
        runner: TaskRunner | None = None,
        state_db: Path | None = None,
    ):
        super().__init__(parent)
        if runner is not None and state_db is None:
            raise ValueError("reading on a runner needs the state database's path")
        self._conn = conn
        self._runner = runner
        self._state_db = state_db
        self._query = 0  # bumped by every change of what the id list is (filter, order, database)
        self._busy = False  # a read is on the runner
        self._again = False  # asked for while one was: one more follows it
        self._names = dict(drive_names)
        self._facts = ReasonFacts()  # until the first summary: nothing paused, no drive plugged in
        self._drive: str | None = None
        self._states: tuple[str, ...] = WAITING_STATES
        self._sort_column = -1  # -1: the default order
        self._sort_order = Qt.SortOrder.AscendingOrder
        self._ids: list[int] = []
        self._row_of_id: dict[int, int] | None = None  # built when first needed after the list changed
        self._cache: OrderedDict[int, _Row | None] = OrderedDict()  # job id -> row (None: job gone)
        self._seen: tuple[int, int] = (-1, -1)
        self.last_read_s = 0.0
        self.refresh()

    # -- filtering and sorting ---------------------------------------------------------------------------

    @property
    def connection(self) -> sqlite3.Connection:
        return self._conn

    def set_connection(self, conn: sqlite3.Connection) -> None:
        """Read from ``conn`` from now on (the state database was replaced): a reset, since job ids in the new
        database name other jobs."""
        self.beginResetModel()
        self._conn = conn
        self._query += 1  # a read in flight may have opened the old file: its ids name other jobs
        self._ids = []
        self._row_of_id = None
        self._cache.clear()
        self.endResetModel()
        self.refresh()

    def set_filter(self, drive_id: str | None = None, states: tuple[str, ...] | None = None) -> None:
        """Show jobs of ``drive_id`` (None: every drive) in ``states`` (None: waiting and failed). Jobs that stay
        in the list keep their selection."""
        self._drive = drive_id
        self._states = states or WAITING_STATES
        self._query += 1
        self.refresh()

    def set_drive_names(self, names: dict[str, str]) -> None:
        """Drive id -> name for the Drive column. Does nothing when the names did not change."""
        if names == self._names:
            return
        self._names = dict(names)
        if self._sort_column == DRIVE:
            self._query += 1
            self.refresh()  # the order follows the names
        elif self._ids:
            self.dataChanged.emit(self.index(0, DRIVE), self.index(len(self._ids) - 1, DRIVE))

    @property
    def reason_facts(self) -> ReasonFacts:
        return self._facts

    def set_reason_facts(self, facts: ReasonFacts) -> None:
        """What the Reason column's texts depend on besides the job (from the latest state summary: paused,
        the drives plugged in and registered). Does nothing when they did not change."""
        if facts == self._facts:
            return
        self._facts = facts
        if self._sort_column == REASON:
            self._query += 1
            self.refresh()  # the order follows the texts
        elif self._ids:
            self.dataChanged.emit(self.index(0, REASON), self.index(len(self._ids) - 1, REASON))

    def reason(self, row: _Row) -> str:
        """The Reason column's text for a row (the column's SQL sort key computes the same)."""
        _, _, category, drive_id, _, state, last_error, _, _, _ = row
        return self._facts.reason(state, last_error, category, drive_id)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Order the rows by ``column`` in SQL; ties keep the default order. ``column`` -1 (no sort column) and
        Queued at ascending are the default order: oldest first, then by path, then by job id. Selected jobs
        stay selected. Does not re-read when the order and the database are unchanged."""
        if not 0 <= column < len(COLUMNS) or (column == QUEUED and order == Qt.SortOrder.AscendingOrder):
            column, order = -1, Qt.SortOrder.AscendingOrder
        if (column, order) == (self._sort_column, self._sort_order) and not self.changed():
            return  # a view turning sorting on asks for the order the rows already have
        if (column, order) != (self._sort_column, self._sort_order):
            self._query += 1
        self._sort_column, self._sort_order = column, order
        self._reload()

    def _where(self) -> tuple[str, list[Any]]:
        marks = ",".join("?" * len(self._states))
        sql = f"j.state IN ({marks})"
        params: list[Any] = list(self._states)
        if self._drive is not None:
            sql += " AND j.drive_id=?"
            params.append(self._drive)
        return sql, params

    def _order(self) -> tuple[str, list[Any]]:
        col = self._sort_column
        if col < 0:
            return _DEFAULT_ORDER, []
        params: list[Any] = []
        if col == DRIVE:
            # The name shown, not the id: a CASE over the configured names, the id for drives without one.
            whens = " ".join("WHEN ? THEN ?" for _ in self._names)
            for drive_id, name in self._names.items():
                params += [drive_id, name]
            key = f"(CASE j.drive_id {whens} ELSE j.drive_id END) COLLATE NOCASE" if whens else "j.drive_id"
        elif col == REASON:
            text, params = self._facts.sql()
            key = f"{text} COLLATE NOCASE"
        else:
            key = _SORT_KEYS[col]
        direction = "DESC" if self._sort_order == Qt.SortOrder.DescendingOrder else "ASC"
        return f"{key} {direction}, {_DEFAULT_ORDER}", params

    # -- reading --------------------------------------------------------------------------------------------

    def _version(self) -> tuple[int, int]:
        # data_version changes when another connection committed; total_changes counts this connection's own.
        return int(self._conn.execute("PRAGMA data_version").fetchone()[0]), self._conn.total_changes

    def changed(self) -> bool:
        """True when the database was written (by any connection) since the rows were last read: a check of
        microseconds, for callers that poll."""
        return self._version() != self._seen

    def refresh(self) -> None:
        """Re-read the list of jobs and the cached rows (call after the queue changed). Rows keep their
        selection by job id; a job no longer listed leaves the selection. With a runner this returns at once
        and the rows change when the list arrives (:attr:`reloaded`)."""
        self._reload()

    def refresh_if_changed(self) -> bool:
        """:meth:`refresh` only if the database changed since the last read. Returns whether it read."""
        if not self.changed():
            return False
        self.refresh()
        return True

    @property
    def busy(self) -> bool:
        """True while a read of the id list is on the runner (and until its result is applied)."""
        return self._busy

    def _list_query(self) -> tuple[str, list[Any]]:
        where, params = self._where()
        order, order_params = self._order()
        sql = f"SELECT j.id FROM jobs j JOIN files f ON f.id=j.file_id WHERE {where} ORDER BY {order}"
        return sql, [*params, *order_params]

    def _reload(self) -> None:
        if self._runner is None:
            t0 = time.perf_counter()
            # Before reading: a write during the read shows up as a change next time.
            self._seen = self._version()
            ids = _read_ids(self._conn, *self._list_query())
            self._apply(ids, time.perf_counter() - t0)
            return
        if self._busy:
            self._again = True  # one more read when this one is delivered: never two at once, none lost
            return
        self._start_read()

    def _start_read(self) -> None:
        assert self._runner is not None and self._state_db is not None
        self._busy, self._again = True, False
        self._seen = self._version()  # before the read starts: a write during it is a change next time
        sql, params = self._list_query()  # built here: the filter, order and names are this thread's
        query, state_db = self._query, self._state_db
        self._runner.run(
            lambda: _read_ids_apart(state_db, sql, params),
            lambda result: self._read_done(result, query),
            name="read the queue's job list",
        )

    def _read_done(self, result: TaskResult[tuple[list[int], float]], query: int) -> None:
        """On the GUI thread: apply the id list read on the runner, unless a newer query made it stale."""
        if not shiboken6.isValid(self):  # the window (and its model) was deleted while the runner read
            return
        self._busy = False
        if query != self._query:
            pass  # stale: asked under a filter, order or database since replaced; the read for it follows
        elif result.error is not None:
            self._seen = (-1, -1)  # not read: the next refresh tries again
            log.warning("cannot read the queue: %s", result.error)
        elif result.value is not None:
            # Shown also when asked again meanwhile (still this query's rows): the next read follows.
            try:
                self._apply(*result.value)
            except sqlite3.ProgrammingError as exc:
                # This thread's connection was closed while the list was read (the database was rebuilt):
                # read again once the view has handed the model the new one.
                self._seen = (-1, -1)
                log.debug("queue rows not re-read: %s", exc)
        if self._again:
            self._start_read()

    def _apply(self, ids: list[int], took: float) -> None:
        """Show ``ids`` as the rows, moving persistent indexes with their jobs, and re-read the cached rows."""
        self.about_to_reload.emit()
        try:
            if ids != self._ids:
                self._move_rows(ids)
            self._recheck_cached()
        finally:
            self.last_read_s = took
            self.reloaded.emit()

    def _move_rows(self, ids: list[int]) -> None:
        """Replace the id list, moving every persistent index to its job's new row (or invalidating it)."""
        old = self._ids
        self.layoutAboutToBeChanged.emit()  # PySide has only the no-argument form (no sort hint)
        self._ids = ids
        self._row_of_id = None
        moved = self.persistentIndexList()
        if moved:
            row_of = self._rows_by_id()
            targets = []
            for p in moved:
                new_row = row_of.get(old[p.row()]) if 0 <= p.row() < len(old) else None
                targets.append(QModelIndex() if new_row is None else self.index(new_row, p.column()))
            self.changePersistentIndexList(moved, targets)
        self.layoutChanged.emit()

    def _rows_by_id(self) -> dict[int, int]:
        if self._row_of_id is None:
            self._row_of_id = {job_id: row for row, job_id in enumerate(self._ids)}
        return self._row_of_id

    def _recheck_cached(self) -> None:
        """Drop cached rows no longer listed, re-read the others, and report those that changed."""
        if not self._cache:
            return
        row_of = self._rows_by_id()
        for job_id in [i for i in self._cache if i not in row_of]:
            del self._cache[job_id]
        fresh = self._fetch(list(self._cache))
        changed = []
        for job_id, before in list(self._cache.items()):
            now = fresh.get(job_id)
            if now != before:
                self._cache[job_id] = now
                changed.append(row_of[job_id])
        for first, last in _runs(sorted(changed)):
            self.dataChanged.emit(self.index(first, 0), self.index(last, len(COLUMNS) - 1))

    def _fetch(self, ids: Sequence[int]) -> dict[int, _Row]:
        # On the GUI thread, in its read connection: an indexed IN (...) lookup by primary key of at most a page
        # (PAGE rows) as a view scrolls, or of the cached rows (CACHE_ROWS) after a refresh: a few ms, unlike
        # the ordered id list of the whole queue, which is read on the runner.
        out: dict[int, _Row] = {}
        for i in range(0, len(ids), _IN_CHUNK):
            chunk = ids[i : i + _IN_CHUNK]
            for r in self._conn.execute(_SELECT_ROWS.format(marks=",".join("?" * len(chunk))), chunk):
                out[r[0]] = tuple(r)
        return out

    def _row(self, row: int) -> _Row | None:
        if not 0 <= row < len(self._ids):
            return None
        job_id = self._ids[row]
        if job_id in self._cache:
            self._cache.move_to_end(job_id)
            return self._cache[job_id]
        start = row - row % PAGE
        want = [i for i in self._ids[start : start + PAGE] if i not in self._cache]
        got = self._fetch(want)
        for i in want:
            self._cache[i] = got.get(i)  # None: the job was deleted since the list was read
        while len(self._cache) > CACHE_ROWS:
            self._cache.popitem(last=False)
        return self._cache.get(job_id)

    # -- model ------------------------------------------------------------------------------------------------

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt's API
        return 0 if parent.isValid() else len(self._ids)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        if role == Qt.ItemDataRole.InitialSortOrderRole:  # a header's first click: biggest / most tries first
            descending = section in (SIZE, ATTEMPTS)
            return Qt.SortOrder.DescendingOrder if descending else Qt.SortOrder.AscendingOrder
        return None

    def job_id(self, row: int) -> int | None:
        """The job shown in ``row``, or None past the end."""
        return self._ids[row] if 0 <= row < len(self._ids) else None

    def row_of(self, job_id: int) -> int | None:
        """The row showing ``job_id``, or None when it is not listed."""
        return self._rows_by_id().get(job_id)

    def path(self, row: int) -> str | None:
        """The absolute source path of ``row``'s file (as the OS names it: may hold surrogate escapes)."""
        r = self._row(row)
        return from_db(r[1]) if r else None

    def state(self, row: int) -> str | None:
        """The job state of ``row`` (``pending``, ``copying``, ``failed``, ``removed``), None past the end."""
        r = self._row(row)
        return str(r[5]) if r else None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        r = self._row(index.row())
        if r is None:
            return None
        _, path, category, drive_id, size, state, last_error, attempts, queued_at, relpath = r
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if col == FILE:
                return for_display(
                    from_db(relpath)
                )  # the path inside the outbox; the full path is the tooltip
            if col == CATEGORY:
                return category or ""
            if col == DRIVE:
                return self._names.get(drive_id, drive_id)
            if col == SIZE:
                return human_bytes(size)
            if col == STATE:
                return STATE_WORDS.get(state, state)
            if col == REASON:
                return self.reason(r)
            if col == ATTEMPTS:
                # blank, not "0", for a file never tried (one too big for its drive fails before any try)
                return attempts or ""
            if col == QUEUED:
                return time.strftime("%Y-%m-%d %H:%M", time.localtime(queued_at))
        if role == Qt.ItemDataRole.ToolTipRole and col in (FILE, REASON):
            if col == FILE:
                return for_display(from_db(path))
            shown = self.reason(r)  # and what was recorded last, when the row says something else now
            return shown if not last_error or last_error in shown else f"{shown} (last: {last_error})"
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (SIZE, ATTEMPTS):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


def _runs(rows: list[int]) -> list[tuple[int, int]]:
    """Sorted row numbers as (first, last) runs of consecutive rows."""
    out: list[tuple[int, int]] = []
    for r in rows:
        if out and out[-1][1] == r - 1:
            out[-1] = (out[-1][0], r)
        else:
            out.append((r, r))
    return out
