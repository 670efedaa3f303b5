"""The pending-queue window keeps what the user does: selection and scroll through refreshes, sorting by
column, its size between runs, and Retry / Remove that never hold the GUI thread on the database lock.

Real widgets (pytest-qt, offscreen), real SQLite. A second connection plays the engine, writing as it does.
The job list is read on the views' task runner: after a refresh, a filter or a sort the tests wait for it to
arrive (:func:`settle`)."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest
from PySide6.QtCore import QPoint, QSize, Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QAbstractItemView, QHeaderView

from tests.unit.test_queue_model import T0, _listed, _select, add_job, settle
from usbsync_gui.core.config import DriveConfig, new_config
from usbsync_gui.core.paths import app_paths
from usbsync_gui.core.state import StateDB
from usbsync_gui.engine.tasks import TaskRunner
from usbsync_gui.views.context import ViewContext
from usbsync_gui.views.queue_model import FILE, QUEUED, REASON, SIZE
from usbsync_gui.views.queue_window import QueueWindow
from usbsync_gui.views.window_geometry import GeometryStore


def _setting(tmp_path):
    """A USBSYNC_HOME with two drives for images (Photos d1, Archive d2), and its state database."""
    paths = app_paths({"USBSYNC_HOME": str(tmp_path / "home")})
    paths.ensure()
    config = (
        new_config([paths.default_outbox])
        .with_drive(DriveConfig("Photos", "d1", ("images",)))
        .with_drive(DriveConfig("Archive", "d2", ("images",)))
    )
    return paths, config, StateDB(paths.state_db)


@pytest.fixture
def ctx(tmp_path):
    paths, config, db = _setting(tmp_path)
    yield ViewContext(paths, config, db)
    db.close()


@pytest.fixture
def engine(ctx):
    """The engine's connection: writes from another connection, as the engine's threads make them."""
    db = StateDB(ctx.paths.state_db)
    yield db
    if db.conn.in_transaction:
        db.conn.execute("ROLLBACK")
    db.close()


def _window(qtbot, ctx, **kw) -> QueueWindow:
    kw.setdefault("geometry", GeometryStore(ctx.paths.state_dir / "test-windows.json"))
    win = QueueWindow(ctx, **kw)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    settle(qtbot, win.model)  # the first list of jobs, read on the runner
    return win


def _state(engine: StateDB, job_id: int) -> tuple[str, int]:
    state, attempts = engine.conn.execute("SELECT state, attempts FROM jobs WHERE id=?", (job_id,)).fetchone()
    return state, attempts


def test_retry_and_remove_act_on_the_selection_kept_through_refreshes(ctx, engine, qtbot):
    ids = [add_job(engine.conn, f"a{i:02d}.jpg", queued_at=T0 + i) for i in range(12)]
    failed = [ids[4], ids[7]]
    for job_id in failed:
        engine.conn.execute(
            "UPDATE jobs SET state='failed', attempts=3, last_error='verification failed' WHERE id=?",
            (job_id,),
        )
    win = _window(qtbot, ctx)
    win.model.refresh()
    settle(qtbot, win.model)
    assert not win.retry.isEnabled()  # nothing selected: nothing to act on
    _select(win.table, failed)
    assert win.retry.isEnabled() and win.remove.isEnabled() and win.reveal.isEnabled()

    # Meanwhile the engine queues older files (they sort first) and finishes others, around the selection.
    with engine.transaction() as c:
        new = [add_job(c, f"new{i}.jpg", queued_at=T0 - 5 + i) for i in range(3)]
        c.execute("UPDATE jobs SET state='done' WHERE id IN (?,?,?)", (ids[0], ids[5], ids[11]))
    win.refresh()  # what the window's timer does every 2 s
    settle(qtbot, win.model)
    assert _listed(win.model)[:3] == new and win.model.rowCount() == 12
    assert win.selected_job_ids() == failed

    win.retry.click()
    qtbot.waitUntil(lambda: win.message.text() == "2 files queued again.", timeout=5000)
    settle(qtbot, win.model)  # the refresh the write asked for
    assert [_state(engine, j) for j in failed] == [("pending", 0), ("pending", 0)]
    assert win.selected_job_ids() == failed  # the refresh after the write kept the selection
    assert (
        win.model.data(win.model.index(win.model.row_of(failed[0]), 4)) == "waiting"
    )  # the filter's word, not the database's

    _select(win.table, [ids[3], *failed])
    win.remove.click()
    qtbot.waitUntil(lambda: win.message.text() == "3 files removed from the queue.", timeout=5000)
    settle(qtbot, win.model)
    assert {_state(engine, j)[0] for j in (ids[3], *failed)} == {"removed"}
    assert not {ids[3], *failed} & set(_listed(win.model))
    assert win.selected_job_ids() == [] and not win.remove.isEnabled()  # the removed rows left the selection


def test_writes_run_off_the_gui_thread_while_the_engine_holds_the_lock(ctx, engine, qtbot, monkeypatch):
    ids = [add_job(engine.conn, f"f{i}.jpg", state="failed", attempts=3, queued_at=T0 + i) for i in range(3)]
    writers: list[int] = []
    real_retry = StateDB.retry_jobs

    def retry_jobs(self, job_ids):
        writers.append(threading.get_ident())
        return real_retry(self, job_ids)

    monkeypatch.setattr(StateDB, "retry_jobs", retry_jobs)
    win = _window(qtbot, ctx)
    _select(win.table, [ids[1]])

    engine.conn.execute("BEGIN IMMEDIATE")  # a busy engine: the write lock held for as long as it takes
    t0 = time.monotonic()
    win.retry.click()
    assert time.monotonic() - t0 < 1.0  # the click returned: the write waits for the lock elsewhere
    assert win.message.text() == "Retrying…"
    qtbot.wait(300)  # the GUI thread runs its event loop meanwhile: reads and refreshes still work
    win.refresh()
    settle(qtbot, win.model)
    assert win.model.rowCount() == 3 and win.selected_job_ids() == [ids[1]]
    assert _state(engine, ids[1]) == ("failed", 3) and win.runner.pending() == 1

    engine.conn.execute("COMMIT")  # the engine lets go: the waiting write goes through
    qtbot.waitUntil(lambda: win.message.text() == "1 file queued again.", timeout=10_000)
    settle(qtbot, win.model)
    assert writers and threading.get_ident() not in writers
    assert _state(engine, ids[1]) == ("pending", 0)
    assert win.selected_job_ids() == [ids[1]]


def test_a_failed_write_is_shown_and_changes_nothing(ctx, engine, qtbot, monkeypatch):
    ids = [add_job(engine.conn, f"f{i}.jpg", queued_at=T0 + i) for i in range(2)]

    def locked(self, job_ids):
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(StateDB, "remove_jobs", locked)
    win = _window(qtbot, ctx)
    _select(win.table, [ids[0]])
    win.remove.click()
    qtbot.waitUntil(lambda: win.message.text().startswith("Could not remove"), timeout=5000)
    assert win.message.text() == "Could not remove: database is locked"
    assert _listed(win.model) == ids and win.selected_job_ids() == [ids[0]]


@pytest.mark.parametrize(
    "mode", [QAbstractItemView.ScrollMode.ScrollPerItem, QAbstractItemView.ScrollMode.ScrollPerPixel]
)
def test_the_row_at_the_top_stays_there_when_rows_come_and_go_above_it(ctx, engine, qtbot, mode):
    with engine.transaction() as c:
        ids = [add_job(c, f"f{i:03d}.jpg", queued_at=T0 + i) for i in range(300)]
    win = _window(qtbot, ctx)
    win.table.setVerticalScrollMode(mode)
    win.resize(900, 500)
    qtbot.wait(20)
    win.table.scrollTo(win.model.index(150, 0), QAbstractItemView.ScrollHint.PositionAtTop)
    if mode == QAbstractItemView.ScrollMode.ScrollPerPixel:  # the top row half out of sight
        bar = win.table.verticalScrollBar()
        bar.setValue(bar.value() + win.table.rowHeight(150) // 2)
    qtbot.wait(20)
    top = win.model.job_id(win.table.rowAt(0))
    assert top == ids[150]
    offset = win.table.rowViewportPosition(150)

    with engine.transaction() as c:
        older = [add_job(c, f"older{i}.jpg", queued_at=T0 - 100 + i) for i in range(40)]
        c.execute(f"UPDATE jobs SET state='done' WHERE id IN ({','.join('?' * 10)})", ids[100:110])
        c.execute(f"UPDATE jobs SET state='done' WHERE id IN ({','.join('?' * 5)})", ids[200:205])
    win.refresh()
    settle(qtbot, win.model)
    qtbot.wait(20)
    assert win.model.row_of(top) == 150 + 40 - 10
    assert win.model.job_id(win.table.rowAt(0)) == top
    assert win.table.rowViewportPosition(150 + 40 - 10) == offset
    assert _listed(win.model)[:40] == older

    # Rows leaving above it: the same.
    engine.conn.execute(f"UPDATE jobs SET state='done' WHERE id IN ({','.join('?' * 40)})", older)
    win.refresh()
    settle(qtbot, win.model)
    qtbot.wait(20)
    assert win.model.job_id(win.table.rowAt(0)) == top

    # Nothing changed: nothing moves.
    value = win.table.verticalScrollBar().value()
    win.refresh()
    assert not win.model.busy  # nothing written: nothing read
    assert win.table.verticalScrollBar().value() == value


def _click_header(qtbot, win: QueueWindow, section: int) -> None:
    header = win.table.horizontalHeader()
    x = header.sectionViewportPosition(section) + header.sectionSize(section) // 2
    QTest.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, header.height() // 2))
    settle(qtbot, win.model)  # the rows in the new order, read on the runner


def test_clicking_a_header_sorts_and_keeps_the_selection(ctx, engine, qtbot):
    sizes = [300, 100, 200, 100, 900]
    names = ["d.jpg", "b.jpg", "e.jpg", "a.jpg", "c.jpg"]
    ids = [
        add_job(engine.conn, n, size=s, queued_at=T0 + i)
        for i, (n, s) in enumerate(zip(names, sizes, strict=True))
    ]
    win = _window(qtbot, ctx)
    header = win.table.horizontalHeader()
    assert win.table.isSortingEnabled()
    assert (header.sortIndicatorSection(), header.sortIndicatorOrder()) == (
        QUEUED,
        Qt.SortOrder.AscendingOrder,
    )
    assert _listed(win.model) == ids  # oldest first
    _select(win.table, [ids[2]])

    _click_header(qtbot, win, SIZE)  # the first click on Size: biggest first
    assert (header.sortIndicatorSection(), header.sortIndicatorOrder()) == (
        SIZE,
        Qt.SortOrder.DescendingOrder,
    )
    assert _listed(win.model) == [ids[4], ids[0], ids[2], ids[1], ids[3]]  # equal sizes: the older first
    assert win.selected_job_ids() == [ids[2]]
    _click_header(qtbot, win, SIZE)  # the other direction
    assert header.sortIndicatorOrder() == Qt.SortOrder.AscendingOrder
    assert _listed(win.model) == [ids[1], ids[3], ids[2], ids[0], ids[4]]
    _click_header(qtbot, win, FILE)  # names: A to Z first
    assert (header.sortIndicatorSection(), header.sortIndicatorOrder()) == (FILE, Qt.SortOrder.AscendingOrder)
    assert _listed(win.model) == [ids[3], ids[1], ids[4], ids[0], ids[2]]
    _click_header(qtbot, win, SIZE)
    _click_header(qtbot, win, SIZE)
    _click_header(qtbot, win, SIZE)  # a third click: back to the default order
    assert header.sortIndicatorSection() == -1
    assert _listed(win.model) == ids
    assert win.selected_job_ids() == [ids[2]]


def test_window_fits_a_small_screen_and_comes_back_as_it_was_left(ctx, qtbot):
    store = GeometryStore(ctx.paths.state_dir / "test-windows.json")
    win = QueueWindow(ctx, geometry=store)
    qtbot.addWidget(win)
    assert win.width() <= 1200 and win.height() <= 640
    avail = win.screen().availableGeometry()
    assert win.width() <= avail.width() and win.height() <= avail.height()
    assert not win.table.verticalHeader().isVisible()  # no spreadsheet row numbers
    header = win.table.horizontalHeader()
    assert header.sectionResizeMode(FILE) == QHeaderView.ResizeMode.Stretch
    assert header.sectionResizeMode(REASON) == QHeaderView.ResizeMode.Interactive
    assert {header.sectionResizeMode(c) for c in range(8) if c not in (FILE, REASON)} == {
        QHeaderView.ResizeMode.ResizeToContents
    }
    # how each column elides: test_reasons_elide_at_the_end_and_paths_in_the_middle

    win.show()
    qtbot.waitExposed(win)
    # A size of the user's: 700x450, or as narrow as the window goes if its fonts make it wider than that.
    left = QSize(max(700, win.minimumSizeHint().width()), 450)
    win.resize(left)
    qtbot.wait(20)
    assert win.size() == left
    assert store.load("queue") is None
    win.close()  # the tray keeps the window: closing hides it, and that saves
    assert store.load("queue") is not None

    again = QueueWindow(ctx, geometry=store)
    qtbot.addWidget(again)
    again.show()
    qtbot.waitExposed(again)
    assert again.size() == left


def test_geometry_is_kept_in_the_state_folder_by_default(ctx, qtbot):
    win = QueueWindow(ctx)
    qtbot.addWidget(win)
    assert win.geometry_store.path == ctx.paths.state_dir / "windows.json"
    win.show()
    qtbot.waitExposed(win)
    win.hide()
    assert win.geometry_store.load("queue") is not None


def test_a_window_deleted_during_a_write_is_left_alone(ctx, engine, qtbot):
    ids = [add_job(engine.conn, f"f{i}.jpg", queued_at=T0 + i) for i in range(2)]
    runner = TaskRunner()
    win = QueueWindow(ctx, runner=runner, geometry=GeometryStore(ctx.paths.state_dir / "w.json"))
    win.show()
    qtbot.waitExposed(win)
    settle(qtbot, win.model)
    _select(win.table, [ids[0]])
    engine.conn.execute("BEGIN IMMEDIATE")
    win.remove.click()
    win.close()
    win.deleteLater()
    qtbot.wait(50)
    engine.conn.execute("COMMIT")
    qtbot.waitUntil(lambda: runner.pending() == 0, timeout=10_000)  # delivered to a deleted window: ignored
    assert _state(engine, ids[0])[0] == "removed"
    assert runner.shutdown()


def test_what_remove_said_goes_after_a_few_seconds_on_a_single_shot_timer(ctx, engine, qtbot):
    ids = [add_job(engine.conn, f"f{i}.jpg", queued_at=T0 + i) for i in range(3)]
    win = _window(qtbot, ctx)
    timer = win.message_timer
    assert timer.isSingleShot() and timer.interval() == 5000 and not timer.isActive()
    _select(win.table, [ids[0]])
    engine.conn.execute("BEGIN IMMEDIATE")  # the write waits: "Removing…" stays until it is done, untimed
    win.remove.click()
    assert win.message.text() == "Removing…" and not timer.isActive()
    engine.conn.execute("COMMIT")
    qtbot.waitUntil(lambda: win.message.text() == "1 file removed from the queue.", timeout=5000)
    assert win.message.isVisible() and timer.isActive()  # armed only now, while the outcome is shown
    settle(qtbot, win.model)
    assert win.selected_job_ids() == []  # the removed row left the selection: that did not clear it
    win.refresh()  # the periodic refresh neither
    settle(qtbot, win.model)
    assert win.message.isVisible()

    timer.setInterval(200)  # not five seconds in a test: the same single-shot timer, sooner
    timer.start()
    qtbot.waitUntil(lambda: not win.message.isVisible(), timeout=2000)
    assert win.message.text() == "" and not timer.isActive()  # and nothing runs on a clock for it now
    assert [t for t in win.findChildren(QTimer) if t.isActive()] == [win._timer]  # the 2 s refresh only


def test_picking_other_rows_clears_what_the_last_action_said(ctx, engine, qtbot, monkeypatch):
    ids = [add_job(engine.conn, f"f{i}.jpg", state="failed", attempts=3, queued_at=T0 + i) for i in range(3)]
    win = _window(qtbot, ctx)
    _select(win.table, [ids[0]])
    win.retry.click()
    qtbot.waitUntil(lambda: win.message.text() == "1 file queued again.", timeout=5000)
    _select(win.table, [ids[1]])  # the user moves on
    assert not win.message.isVisible() and not win.message_timer.isActive()

    def locked(self, job_ids):
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(StateDB, "remove_jobs", locked)
    win.remove.click()
    qtbot.waitUntil(lambda: win.message.text().startswith("Could not remove"), timeout=5000)
    assert not win.message_timer.isActive()  # a failure is not timed away: it stays until the user moves on
    win.refresh()
    settle(qtbot, win.model)
    assert win.message.isVisible()
    _select(win.table, [ids[2]])
    assert not win.message.isVisible()

    win.retry.click()  # the next action replaces what the last one said
    qtbot.waitUntil(lambda: win.message.text() == "1 file queued again.", timeout=5000)
    win.state.setCurrentIndex(win.state.findText("Failed"))  # another filter: moving on too
    assert not win.message.isVisible()
    settle(qtbot, win.model)

    _select(win.table, [ids[1]])  # still failed, so listed
    win.retry.click()
    qtbot.waitUntil(lambda: win.message.text() == "1 file queued again.", timeout=5000)
    win.close()  # closed: not news when it opens again
    assert win.message.text() == "" and not win.message_timer.isActive()


def _totals_window(tmp_path, qtbot, n, change):
    """A queue window over test_summary's home (``n`` 10 MB photos for Photos, away), after ``change(db, job
    ids)`` in a transaction, with the summary of that state pushed to it."""
    from tests.unit.test_summary import _setup
    from usbsync_gui.core.paths import app_paths
    from usbsync_gui.core.summary import summarize
    from usbsync_gui.views.context import ViewContext
    from usbsync_gui.views.queue_window import QueueWindow

    config, db, ids = _setup(tmp_path, n=n)
    with db.transaction():
        change(db, ids)
    paths = app_paths({"USBSYNC_HOME": str(tmp_path / "home")})
    paths.ensure()
    ctx = ViewContext(paths, config, db)
    win = QueueWindow(ctx)
    qtbot.addWidget(win)
    ctx.summary.changed.emit(summarize(db, config, {}))
    return ctx, win


def test_the_totals_are_the_one_summarys(tmp_path, qtbot, monkeypatch):
    from usbsync_gui.core.wait_reasons import no_space

    ctx, win = _totals_window(tmp_path, qtbot, 2, lambda db, ids: db.set_reason(ids[0], no_space("Photos")))
    # 2 x 10 MB in 128 KiB clusters (the drive is away: its unit is not known) + 256 bytes of directory entries
    # each + one 1 MiB reserve (core/space.py) = 21,234,176 bytes, against 19.4 MB free when last seen
    assert win.totals.text() == (
        "1 file (10.0 MB) does not fit on Photos: 1.8 MB more space needed for all 2 files (20.0 MB) waiting"
    )
    ctx.tasks.shutdown()


def test_each_button_is_enabled_only_where_it_would_do_something(ctx, engine, qtbot):
    waiting = add_job(engine.conn, "waiting.jpg", queued_at=T0)
    failed = add_job(engine.conn, "failed.jpg", state="failed", attempts=3, queued_at=T0 + 1)
    removed = add_job(engine.conn, "removed.jpg", state="removed", queued_at=T0 + 2)
    win = _window(qtbot, ctx)
    _select(win.table, [waiting])  # waits for its drive: nothing to retry, but it can be removed
    assert (win.retry.isEnabled(), win.remove.isEnabled(), win.reveal.isEnabled()) == (False, True, True)
    _select(win.table, [failed])
    assert (win.retry.isEnabled(), win.remove.isEnabled()) == (True, True)
    win.state.setCurrentText("Removed")
    settle(qtbot, win.model)
    _select(win.table, [removed])  # already removed: it can be put back, not removed again
    assert (win.retry.isEnabled(), win.remove.isEnabled(), win.reveal.isEnabled()) == (True, False, True)


def test_reasons_and_totals_say_what_the_summary_says(tmp_path, qtbot):
    """The walk: Photos plugged in, syncing paused. The status window said "Paused", the queue "(waiting for the
    drive)". And song.wav (no drive holds audio) was in neither the rows nor the totals."""
    from usbsync_gui.core.summary import LiveVolume
    from usbsync_gui.engine.summary_feed import LiveState, SummaryFeed
    from usbsync_gui.views.queue_model import REASON

    paths, config, db = _setting(tmp_path)
    paused = add_job(db.conn, "paused.jpg", drive="d1", size=5900)
    away = add_job(db.conn, "paused.jpg", drive="d2", size=5900)
    # recorded as audio, and no job: no drive holds audio
    db.upsert_file("/out/song.wav", "/out", "song.wav", 30_000_000, 1, "hs", "audio/x-wav", "audio")
    live = {"paused": True, "connected": {"d1": LiveVolume("/media/anna/PHOTOS", 900_000_000, 1_000_000_000)}}
    runner = TaskRunner()
    # The engine's feed: what it knows live (paused, Photos plugged in) with each summary it computes.
    feed = SummaryFeed(paths, runner, lambda: LiveState(config, live["connected"], live["paused"]))
    ctx = ViewContext(paths, config, db, runner=runner, feed=feed)
    win = _window(qtbot, ctx)
    qtbot.waitUntil(lambda: win.model.reason_facts.paused, timeout=5000)

    def reason(job_id: int) -> str:
        return win.model.data(win.model.index(win.model.row_of(job_id), REASON))

    assert reason(paused) == "syncing is paused"
    assert reason(away) == "waiting for the drive; syncing is paused"  # Archive is not plugged in
    assert win.totals.text().splitlines() == [
        "1 file, 5.9 kB waiting for Photos",
        "1 file, 5.9 kB waiting for Archive",
        "No drive holds audio: 1 file (30.0 MB) waits",
    ]
    live["paused"] = False  # resumed: the rows follow the next summary
    feed.invalidate()
    qtbot.waitUntil(lambda: not win.model.reason_facts.paused, timeout=5000)
    assert (reason(paused), reason(away)) == ("next in line", "waiting for the drive")
    win.close()
    runner.shutdown()
    db.close()


def test_the_totals_name_failed_files_too(tmp_path, qtbot):
    """A file too big for its drive fails at once; the window listed its row but said "Nothing waiting."."""
    ctx, win = _totals_window(
        tmp_path,
        qtbot,
        1,
        lambda db, ids: db.conn.execute("UPDATE jobs SET state = 'failed' WHERE id = ?", (ids[0],)),
    )
    assert win.totals.text() == "1 file could not be copied to Photos"
    ctx.tasks.shutdown()


def test_reasons_elide_at_the_end_and_paths_in_the_middle(ctx, engine, qtbot):
    """A walk-through saw reasons cut in the middle ("not enough space on … more needed"): a reason is a
    sentence whose point is at its end; a path keeps its folder and its file name."""
    from PySide6.QtWidgets import QStyleOptionViewItem

    add_job(engine.conn, "a.jpg", queued_at=T0)
    win = _window(qtbot, ctx)
    qtbot.waitUntil(lambda: win.model.rowCount() == 1)

    def elide(col: int) -> Qt.TextElideMode:
        index = win.model.index(0, col)
        option = QStyleOptionViewItem()
        win.table.initViewItemOption(option)
        win.table.itemDelegateForIndex(index).initStyleOption(option, index)
        return option.textElideMode

    assert elide(REASON) == Qt.TextElideMode.ElideRight
    assert elide(FILE) == Qt.TextElideMode.ElideMiddle
