"""The queue model over 100,000 real SQLite jobs: load time, scrolling, a filter; rows keyed by job id through
refreshes, sorting in SQL. The job list is read on a task runner (as the queue window has it) or inline: the
tests that hold for both run in both ways, waiting for the runner's result (:func:`settle`)."""

import os
import threading
import time

import pytest
from PySide6.QtCore import QItemSelectionModel
from PySide6.QtWidgets import QTableView

from tests.conftest import byte_names
from usbsync_gui.core.state import StateDB
from usbsync_gui.core.wait_reasons import ReasonFacts
from usbsync_gui.engine.tasks import TaskRunner
from usbsync_gui.views.queue_model import JobTableModel


def settle(qtbot, model: JobTableModel) -> None:
    """Wait until the job list read on the runner (if one is under way) has been applied."""
    qtbot.waitUntil(lambda: not model.busy, timeout=10_000)


@pytest.fixture
def runner():
    r = TaskRunner()
    yield r
    r.shutdown()


@pytest.fixture(params=["runner", "inline"])
def make_model(request, runner, qtbot):
    """Makes a model over ``db`` whose job list is read on ``runner`` (the window's way) or inline, loaded."""

    def make(db: StateDB, names: dict[str, str]) -> JobTableModel:
        if request.param == "runner":
            model = JobTableModel(db.conn, names, runner=runner, state_db=db.path)
        else:
            model = JobTableModel(db.conn, names)
        settle(qtbot, model)
        return model

    return make


def _fill(db: StateDB, n: int) -> None:
    now = time.time()
    with db.transaction() as c:
        c.executemany(
            "INSERT INTO files (id, path, source_root, relpath, size, mtime_ns, blake3, mime, category, seen_at)"
            " VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                (
                    i,
                    f"/out/f{i:06d}.jpg",
                    "/out",
                    f"f{i:06d}.jpg",
                    1000 + i,
                    1,
                    f"h{i}",
                    "image/jpeg",
                    "images",
                    now,
                )
                for i in range(1, n + 1)
            ),
        )
        c.executemany(
            "INSERT INTO jobs (file_id, drive_id, state, blake3, size, attempts, last_error, queued_at, updated_at)"
            " VALUES (?,?,?,?,?,?,?,?,?)",
            (
                (
                    i,
                    "d1" if i % 2 else "d2",
                    "failed" if i % 100 == 0 else "pending",
                    f"h{i}",
                    1000 + i,
                    3 if i % 100 == 0 else 0,
                    "verification failed" if i % 100 == 0 else None,
                    now,
                    now,
                )
                for i in range(1, n + 1)
            ),
        )


def test_100000_jobs_load_scroll_and_filter(tmp_path, qtbot, runner):
    db = StateDB(tmp_path / "s.db")
    _fill(db, 100_000)
    t0 = time.perf_counter()
    model = JobTableModel(db.conn, {"d1": "Photos", "d2": "Docs"}, runner=runner, state_db=db.path)
    settle(qtbot, model)
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(model)
    view.resize(900, 600)
    view.show()
    qtbot.waitExposed(view)
    load_s = time.perf_counter() - t0
    assert model.rowCount() == 100_000
    assert model.data(model.index(0, 0)) == "f000001.jpg"
    assert model.data(model.index(0, 2)) == "Photos"
    t0 = time.perf_counter()
    view.scrollToBottom()
    qtbot.wait(10)
    assert model.data(model.index(99_999, 0)) == "f100000.jpg"
    scroll_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    model.set_filter(drive_id="d2", states=("failed",))
    settle(qtbot, model)
    filter_s = time.perf_counter() - t0
    assert model.rowCount() == 1000
    assert (
        model.data(model.index(0, 5)) == "verification failed" and model.data(model.index(0, 4)) == "failed"
    )
    print(
        f"100,000 jobs: shown in {load_s * 1000:.0f} ms, scrolled to the end in {scroll_s * 1000:.0f} ms, "
        f"filtered in {filter_s * 1000:.0f} ms"
    )
    from usbsync_gui.core.units import human_bytes

    photos = [1000 + i for i in range(1, 100_001) if i % 2]  # odd ids: Photos, all pending
    docs = [1000 + i for i in range(1, 100_001) if i % 2 == 0 and i % 100]  # even: Docs, less the failed
    # The totals under the table are the one summary's (the same figures as the tray and `usbsync status`).
    from usbsync_gui.core.summary import summarize

    with db.transaction():
        db.drive_seen("d1", "Photos", "/m/p", "exfat", 1 << 40, 1 << 39)
        db.drive_seen("d2", "Docs", "/m/d", "exfat", 1 << 40, 1 << 39)
    t0 = time.perf_counter()
    s = summarize(db, None, {})
    summary_s = time.perf_counter() - t0
    assert [(d.name, d.waiting_files, d.waiting_bytes) for d in s.drives] == [
        ("Docs", len(docs), sum(docs)),
        ("Photos", len(photos), sum(photos)),
    ]
    print(
        f"100,000 jobs: the state summary in {summary_s * 1000:.0f} ms ({human_bytes(s.waiting_bytes)} waiting)"
    )

    # Sorting and refreshing in place at this size: the list of job ids is re-read in SQL, the rows are not.
    from PySide6.QtCore import Qt

    model.set_filter()  # waiting and failed, every drive
    settle(qtbot, model)
    t0 = time.perf_counter()
    model.sort(0, Qt.SortOrder.DescendingOrder)
    settle(qtbot, model)
    sort_s = time.perf_counter() - t0
    assert model.data(model.index(0, 0)) == "f100000.jpg"
    assert model.data(model.index(99_999, 0)) == "f000001.jpg"
    _select(view, [model.job_id(5), model.job_id(50_000)])
    selected = _selected(view)
    view.scrollTo(model.index(50_000, 0))
    engine = StateDB(tmp_path / "s.db")
    engine.conn.execute("UPDATE jobs SET state='done' WHERE id % 1000 = 1")  # 100 jobs done elsewhere
    engine.close()
    t0 = time.perf_counter()
    model.refresh()
    settle(qtbot, model)
    refresh_s = time.perf_counter() - t0
    assert model.rowCount() == 99_900 and _selected(view) == selected
    t0 = time.perf_counter()
    assert not model.refresh_if_changed()
    idle_s = time.perf_counter() - t0
    print(
        f"100,000 jobs: sorted by name in {sort_s * 1000:.0f} ms, refreshed in {refresh_s * 1000:.0f} ms,"
        f" checked for changes in {idle_s * 1e6:.0f} µs"
    )
    db.close()


# -- rows keyed by job id, sorting, the File column -----------------------------------------------------------

T0 = 1_700_000_000.0
NAMES = {"d1": "Photos", "d2": "Archive"}


def add_job(
    conn,
    relpath: str,
    *,
    drive: str = "d1",
    state: str = "pending",
    size: int = 1000,
    reason: str | None = None,
    attempts: int = 0,
    queued_at: float = T0,
    category: str | None = "images",
    root: str = "/out",
) -> int:
    """One job for the file ``root/relpath`` (the file is recorded once, reused by later jobs). Returns its id."""
    path = f"{root}/{relpath}"
    conn.execute(
        "INSERT OR IGNORE INTO files (path, source_root, relpath, size, mtime_ns, blake3, mime, category, seen_at)"
        " VALUES (?,?,?,?,?,?,?,?,?)",
        (path, root, relpath, size, 1, "h" + relpath, "image/jpeg", category, queued_at),
    )
    file_id = conn.execute("SELECT id FROM files WHERE path=?", (path,)).fetchone()[0]
    cur = conn.execute(
        "INSERT INTO jobs (file_id, drive_id, state, blake3, size, attempts, last_error, queued_at, updated_at)"
        " VALUES (?,?,?,?,?,?,?,?,?)",
        (file_id, drive, state, "h" + relpath, size, attempts, reason, queued_at, queued_at),
    )
    return int(cur.lastrowid)


def _listed(model: JobTableModel) -> list[int]:
    return [model.job_id(r) for r in range(model.rowCount())]


def _selected(view: QTableView) -> list[int]:
    model = view.model()
    return sorted(model.job_id(i.row()) for i in view.selectionModel().selectedRows())


def _select(view: QTableView, job_ids: list[int]) -> None:
    model = view.model()
    sel = view.selectionModel()
    sel.clearSelection()
    for job_id in job_ids:
        sel.select(
            model.index(model.row_of(job_id), 0),
            QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows,
        )


@pytest.fixture
def dbs(tmp_path):
    """The GUI's read connection and, as the engine's, a second connection to the same database."""
    gui, engine = StateDB(tmp_path / "s.db"), StateDB(tmp_path / "s.db")
    yield gui, engine
    gui.close()
    engine.close()


def test_selection_follows_its_jobs_when_other_rows_come_and_go(dbs, qtbot, make_model):
    gui, engine = dbs
    ids = [add_job(engine.conn, f"a{i:02d}.jpg", queued_at=T0 + i) for i in range(10)]
    model = make_model(gui, NAMES)
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(model)
    _select(view, [ids[3], ids[6], ids[8]])
    view.selectionModel().setCurrentIndex(
        model.index(model.row_of(ids[6]), 2), QItemSelectionModel.SelectionFlag.NoUpdate
    )
    resets: list[int] = []
    model.modelReset.connect(lambda: resets.append(1))
    assert not model.changed()

    # The engine finishes two jobs, two older files are queued (they sort first), one selected job is removed.
    with engine.transaction() as c:
        c.execute("UPDATE jobs SET state='done' WHERE id IN (?,?)", (ids[0], ids[4]))
        new = [add_job(c, f"b{i}.jpg", queued_at=T0 - 10 + i) for i in range(2)]
        engine.remove_jobs([ids[8]])
    assert model.changed()
    model.refresh()
    settle(qtbot, model)

    assert _listed(model) == [*new, ids[1], ids[2], ids[3], ids[5], ids[6], ids[7], ids[9]]
    assert _selected(view) == [ids[3], ids[6]]  # the removed job simply left the selection
    assert model.job_id(view.currentIndex().row()) == ids[6] and view.currentIndex().column() == 2
    assert resets == []
    assert not model.refresh_if_changed()  # nothing written since: no re-read


def test_changed_rows_get_data_changed_and_nothing_else_moves(dbs, qtbot, make_model):
    gui, engine = dbs
    ids = [add_job(engine.conn, f"a{i}.jpg", queued_at=T0 + i) for i in range(6)]
    model = make_model(gui, NAMES)
    assert [model.data(model.index(r, 5)) for r in range(6)] == ["waiting for the drive"] * 6  # now cached
    changed: list[tuple[int, int, int, int]] = []
    model.dataChanged.connect(lambda a, b, *_: changed.append((a.row(), a.column(), b.row(), b.column())))
    layouts: list[int] = []
    model.layoutChanged.connect(lambda *_: layouts.append(1))
    engine.conn.execute(
        "UPDATE jobs SET last_error='not enough space on Photos', attempts=1 WHERE id=?", (ids[2],)
    )
    engine.conn.execute("UPDATE jobs SET state='copying' WHERE id=?", (ids[3],))
    model.refresh()
    settle(qtbot, model)
    assert changed == [(2, 0, 3, 7)]  # rows 2 and 3, all columns, as one run
    assert layouts == []  # the same jobs in the same order
    assert (
        model.data(model.index(2, 5)) == "not enough space on Photos" and model.data(model.index(2, 6)) == 1
    )
    assert model.data(model.index(3, 4)) == "copying" and model.data(model.index(3, 5)) == "copying now"


def _jobs_for_sorting(conn) -> list[dict]:
    specs = [
        dict(relpath="b.jpg", drive="d1", size=500, reason=None, state="pending", queued_at=T0 + 5),
        dict(
            relpath="A/c.jpg", drive="d2", size=70, reason="verification failed", state="failed", queued_at=T0
        ),
        dict(
            relpath="a.jpg",
            drive="d3",
            size=500,
            reason="No space left on Photos",
            state="pending",
            queued_at=T0,
        ),
        dict(relpath="Z.jpg", drive="d1", size=3, reason=None, state="copying", queued_at=T0 + 9),
        dict(relpath="m/n/o.jpg", drive="d2", size=9000, reason="", state="pending", queued_at=T0 + 1),
        dict(
            relpath="b.jpg",
            drive="d2",
            size=500,
            reason="Verification failed",
            state="failed",
            queued_at=T0 + 5,
        ),
        dict(
            relpath="c.jpg",
            drive="d1",
            size=70,
            reason=None,
            state="pending",
            queued_at=T0 + 5,
            category=None,
        ),
    ]
    for i, s in enumerate(specs):
        s["attempts"] = i % 3
        s["id"] = add_job(conn, **s)
        s["path"] = "/out/" + s["relpath"]
        s.setdefault("category", "images")
    # A copy the pause rolled back, and one a read-only mount held: texts that hold only while they are true.
    for spec, text in ((specs[0], "paused"), (specs[4], "Photos is mounted read-only (remount it writable)")):
        conn.execute("UPDATE jobs SET last_error=? WHERE id=?", (text, spec["id"]))
        spec["reason"] = text
    return specs


def test_every_column_sorts_in_sql_by_what_it_shows(dbs, qtbot, make_model):
    from PySide6.QtCore import Qt

    from usbsync_gui.views.queue_model import COLUMNS

    gui, engine = dbs
    specs = _jobs_for_sorting(engine.conn)
    model = make_model(gui, NAMES)

    def reason(s):  # what the Reason column says: the one reason function, under the model's facts
        return model.reason_facts.reason(s["state"], s["reason"], s["category"], s["drive"])

    shown_name = {"d1": "Photos", "d2": "Archive", "d3": "d3"}  # d3 has no configured name: its id is shown
    keys = {
        0: lambda s: s["relpath"].lower(),
        1: lambda s: (s["category"] or "").lower(),
        2: lambda s: shown_name[s["drive"]].lower(),
        3: lambda s: s["size"],
        4: lambda s: s["state"],
        5: lambda s: reason(s).lower(),
        6: lambda s: s["attempts"],
        7: lambda s: s["queued_at"],
    }
    default = sorted(specs, key=lambda s: (s["queued_at"], s["path"], s["id"]))
    assert _listed(model) == [s["id"] for s in default]
    for col in range(len(COLUMNS)):
        for order, reverse in ((Qt.SortOrder.AscendingOrder, False), (Qt.SortOrder.DescendingOrder, True)):
            model.sort(col, order)
            settle(qtbot, model)
            # Python's sort is stable, also reversed: ties keep the default order in both directions.
            expected = sorted(default, key=keys[col], reverse=reverse)
            assert _listed(model) == [s["id"] for s in expected], (COLUMNS[col], order)
    model.sort(5, Qt.SortOrder.AscendingOrder)
    settle(qtbot, model)
    shown = [model.data(model.index(r, 5)) for r in range(model.rowCount())]
    assert shown == sorted(shown, key=str.lower) and "waiting for the drive" in shown
    # Other facts (paused; Photos plugged in; d3 forgotten, or every drive plugged in): the rows say other
    # things, and the column still sorts by what they say.
    for facts in (
        ReasonFacts(paused=True, connected=frozenset({"d1"}), registered=frozenset({"d1", "d2"})),
        ReasonFacts(connected=frozenset({"d1", "d2", "d3"}), registered=frozenset({"d1", "d2", "d3"})),
    ):
        model.set_reason_facts(facts)
        settle(qtbot, model)
        for order, reverse in ((Qt.SortOrder.AscendingOrder, False), (Qt.SortOrder.DescendingOrder, True)):
            model.sort(5, order)
            settle(qtbot, model)
            expected = sorted(default, key=keys[5], reverse=reverse)
            assert _listed(model) == [s["id"] for s in expected], (facts, order)
            assert [model.data(model.index(r, 5)) for r in range(model.rowCount())] == [
                reason(s) for s in expected
            ]
    model.set_reason_facts(ReasonFacts())
    model.sort(-1)
    settle(qtbot, model)
    assert _listed(model) == [s["id"] for s in default]


def test_default_order_is_stable_for_equal_queue_times(dbs, qtbot, make_model):
    from PySide6.QtCore import Qt

    gui, engine = dbs
    # All queued in the same second (one scan): the order is by path, then job id (one file, two drives).
    c = add_job(engine.conn, "c.jpg")
    a2 = add_job(engine.conn, "a.jpg", drive="d2")
    b = add_job(engine.conn, "b.jpg")
    a1 = add_job(engine.conn, "a.jpg", drive="d1")
    model = make_model(gui, NAMES)
    assert _listed(model) == [a2, a1, b, c]
    for _ in range(3):  # unrelated writes and refreshes never swap equal rows
        engine.conn.execute("UPDATE jobs SET attempts=attempts+1, updated_at=updated_at+1")
        model.refresh()
        settle(qtbot, model)
        assert _listed(model) == [a2, a1, b, c]
    model.sort(3, Qt.SortOrder.DescendingOrder)  # all the same size: the default order again
    settle(qtbot, model)
    assert _listed(model) == [a2, a1, b, c]
    model.sort(7, Qt.SortOrder.AscendingOrder)
    settle(qtbot, model)
    assert _listed(model) == [a2, a1, b, c]


@byte_names
def test_file_column_is_the_path_inside_the_outbox(tmp_path, qtbot):
    from PySide6.QtCore import Qt

    from tests.conftest import png_bytes
    from tests.unit.helpers import make_service

    svc, src, _ = make_service(tmp_path)
    (src / "Holiday 2024" / "Day 2").mkdir(parents=True)
    (src / "Holiday 2024" / "IMG_0001.jpg").write_bytes(png_bytes(1))
    (src / "Holiday 2024" / "Day 2" / "IMG_0002.jpg").write_bytes(png_bytes(2))
    odd = os.fsdecode(b"caf\xe9.jpg")  # not valid UTF-8: stored as a BLOB
    (src / "Holiday 2024" / odd).write_bytes(png_bytes(3))
    try:
        svc.scan()
    finally:
        svc.close()
    db = StateDB(svc.paths.state_db)
    model = JobTableModel(db.conn, {})
    model.sort(0, Qt.SortOrder.AscendingOrder)
    shown = [model.data(model.index(r, 0)) for r in range(model.rowCount())]
    assert shown == [
        "Holiday 2024/Day 2/IMG_0002.jpg",
        "Holiday 2024/IMG_0001.jpg",
        "Holiday 2024/caf\ufffd.jpg",
    ]
    tips = [model.data(model.index(r, 0), Qt.ItemDataRole.ToolTipRole) for r in range(model.rowCount())]
    assert tips[1] == str(src / "Holiday 2024" / "IMG_0001.jpg")
    assert tips[2] == str(src / "Holiday 2024" / "caf\ufffd.jpg")
    assert model.path(2) == str(src / "Holiday 2024" / odd)  # the real name, to open its folder
    db.close()


def test_model_passes_qts_model_checks_through_refreshes(dbs, qtmodeltester, qtbot, make_model):
    gui, engine = dbs
    ids = [add_job(engine.conn, f"a{i}.jpg", queued_at=T0 + i) for i in range(5)]
    model = make_model(gui, NAMES)
    qtmodeltester.check(model)
    add_job(engine.conn, "0.jpg", queued_at=T0 - 1)
    engine.remove_jobs([ids[1]])
    model.refresh()
    settle(qtbot, model)
    qtmodeltester.check(model)


# -- the job list read on the runner ----------------------------------------------------------------------------


def test_the_job_list_is_never_read_on_the_gui_thread(dbs, qtbot, runner):
    from PySide6.QtCore import Qt

    gui, engine = dbs
    ids = [
        add_job(engine.conn, f"a{i}.jpg", drive="d1" if i % 2 else "d2", queued_at=T0 + i) for i in range(6)
    ]
    on_gui: list[str] = []
    gui.conn.set_trace_callback(on_gui.append)  # every statement the GUI thread's connection runs
    model = JobTableModel(gui.conn, NAMES, runner=runner, state_db=gui.path)
    assert model.busy and model.rowCount() == 0  # returned at once; the list arrives later
    settle(qtbot, model)
    assert _listed(model) == ids
    b = add_job(engine.conn, "b.jpg", drive="d2", queued_at=T0 - 1)
    model.refresh()
    settle(qtbot, model)
    assert _listed(model) == [b, *ids]
    model.sort(0, Qt.SortOrder.DescendingOrder)
    settle(qtbot, model)
    model.set_filter(drive_id="d1")
    settle(qtbot, model)
    assert _listed(model) == [ids[5], ids[3], ids[1]]
    assert [model.data(model.index(r, 0)) for r in range(3)] == ["a5.jpg", "a3.jpg", "a1.jpg"]
    # Here: the change check and the rows' contents by id; the ordered list of every job, never.
    assert on_gui and not [q for q in on_gui if "ORDER BY" in q or "SELECT j.id FROM" in q], on_gui
    assert {q.split()[0] for q in on_gui} <= {"PRAGMA", "SELECT"}


def test_one_read_at_a_time_and_a_superseded_query_is_never_shown(dbs, qtbot):
    from PySide6.QtCore import Qt

    gui, engine = dbs
    d1 = [add_job(engine.conn, f"p{i}.jpg", drive="d1", queued_at=T0 + i) for i in range(3)]
    d2 = [add_job(engine.conn, f"a{i}.jpg", drive="d2", queued_at=T0 + 10 + i) for i in range(3)]
    runner = TaskRunner(max_threads=1)  # one pool thread, held by the test: reads queue behind it
    gate = threading.Event()
    try:
        runner.run(lambda: gate.wait(30))
        model = JobTableModel(gui.conn, NAMES, runner=runner, state_db=gui.path)
        applied: list[list[int]] = []
        model.reloaded.connect(lambda: applied.append(_listed(model)))
        for _ in range(3):
            model.refresh()
        model.set_filter(drive_id="d2")  # the read queued above is for every drive: stale now
        model.sort(0, Qt.SortOrder.DescendingOrder)
        assert runner.pending() == 2  # the held task and one read: no pile-up
        gate.set()
        settle(qtbot, model)
        assert applied == [d2[::-1]]  # the stale list was dropped, never shown; the newest query's was
        assert runner.pending() == 0

        # Asked again while a read of the same query is under way: that one is shown, and one more follows.
        gate.clear()
        runner.run(lambda: gate.wait(30))
        newer = add_job(engine.conn, "z.jpg", drive="d2", queued_at=T0 + 20)
        model.refresh()
        model.refresh()
        model.refresh()
        assert runner.pending() == 2
        gate.set()
        settle(qtbot, model)
        assert applied[1:] == [[newer, *d2[::-1]]] * 2 and d1[0] not in _listed(model)
    finally:
        gate.set()
        runner.shutdown()


def test_a_model_deleted_while_its_list_is_read_is_left_alone(dbs, qtbot):
    import shiboken6

    gui, engine = dbs
    add_job(engine.conn, "a.jpg")
    runner = TaskRunner(max_threads=1)
    gate = threading.Event()
    try:
        runner.run(lambda: gate.wait(30))
        model = JobTableModel(gui.conn, NAMES, runner=runner, state_db=gui.path)
        assert model.busy
        shiboken6.delete(model)  # the window closed and went: its model with it
        gate.set()
        qtbot.waitUntil(lambda: runner.pending() == 0, timeout=10_000)  # delivered to nothing: no error
    finally:
        gate.set()
        runner.shutdown()


def test_new_reason_facts_change_the_reason_column_only(dbs, qtbot, make_model):
    gui, engine = dbs
    [add_job(engine.conn, f"a{i}.jpg", queued_at=T0 + i) for i in range(3)]
    model = make_model(gui, NAMES)
    assert [model.data(model.index(r, 5)) for r in range(3)] == ["waiting for the drive"] * 3
    changed: list[tuple[int, int, int, int]] = []
    model.dataChanged.connect(lambda a, b, *_: changed.append((a.row(), a.column(), b.row(), b.column())))
    facts = ReasonFacts(paused=True, connected=frozenset({"d1"}), registered=frozenset(NAMES))
    model.set_reason_facts(facts)
    model.set_reason_facts(facts)  # the same again: nothing to tell
    assert changed == [(0, 5, 2, 5)]
    assert [model.data(model.index(r, 5)) for r in range(3)] == ["syncing is paused"] * 3
    assert not model.busy  # no re-read for a column that is not the sort column


def test_state_and_attempts_columns_speak_the_users_words(dbs, qtbot, make_model):
    """A walk-through saw a file too big for its drive listed as "failed" with "0" attempts, and waiting files
    as "pending": the State column uses the filter's words, and a file never tried has no attempt count."""
    from usbsync_gui.views.queue_model import ATTEMPTS, STATE

    db = dbs[0]
    _fill(db, 200)  # job i: failed after 3 tries when i % 100 == 0, else pending and never tried
    with db.transaction() as c:
        c.execute(
            "UPDATE jobs SET state='failed', attempts=0, last_error='too big for Small' WHERE file_id=1"
        )
    model = make_model(db, {"d1": "Small", "d2": "Big"})

    def cells(file_id: int) -> tuple[str, object]:
        row = model.row_of(db.conn.execute("SELECT id FROM jobs WHERE file_id=?", (file_id,)).fetchone()[0])
        return model.data(model.index(row, STATE)), model.data(model.index(row, ATTEMPTS))

    assert cells(1) == ("failed", "")  # never tried: it cannot fit
    assert cells(100) == ("failed", 3)
    assert cells(2) == ("waiting", "")
