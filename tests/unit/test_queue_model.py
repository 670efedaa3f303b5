"""The queue model over 100,000 real SQLite jobs: load time, scrolling, a filter."""

import time

from PySide6.QtWidgets import QTableView

from usbsync_gui.core.state import StateDB
from usbsync_gui.views.queue_model import JobTableModel, waiting_totals


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


def test_100000_jobs_load_scroll_and_filter(tmp_path, qtbot):
    db = StateDB(tmp_path / "s.db")
    _fill(db, 100_000)
    t0 = time.perf_counter()
    model = JobTableModel(db.conn, {"d1": "Photos", "d2": "Docs"})
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
    assert waiting_totals(db.conn, {"d1": "Photos", "d2": "Docs"}) == [
        f"{len(photos)} files, {human_bytes(sum(photos))} waiting for Photos",
        f"{len(docs)} files, {human_bytes(sum(docs))} waiting for Docs",
    ]
    db.close()
