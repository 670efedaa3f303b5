"""Issue 7, item 13: "Remove from queue" is a recorded decision that holds until the file changes.

Real widgets (pytest-qt, offscreen), real SQLite, a real outbox scanned by the real ingest."""

from __future__ import annotations

import os

import pytest
from PySide6.QtCore import QItemSelectionModel

from tests.conftest import png_bytes
from usbsync_gui.core.config import DriveConfig, load_config, new_config, save_config
from usbsync_gui.core.paths import app_paths
from usbsync_gui.core.service import SyncService
from usbsync_gui.core.state import StateDB
from usbsync_gui.views.context import ViewContext
from usbsync_gui.views.queue_window import QueueWindow


@pytest.fixture
def paths(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    p = app_paths({"USBSYNC_HOME": str(tmp_path / "home")})
    p.ensure()
    return p


def _waiting(paths) -> list[str]:
    with StateDB(paths.state_db) as db:
        return sorted(j.relpath for j in db.list_jobs(["pending", "copying", "failed"]))


def test_removed_file_stays_removed_through_scans_and_config_changes(paths, qtbot):
    out = paths.default_outbox
    out.mkdir(parents=True, exist_ok=True)
    (out / "keep.png").write_bytes(png_bytes(1))
    (out / "drop.png").write_bytes(png_bytes(2))
    cfg = new_config([out]).with_drive(DriveConfig("Photos", "d1", ("images",)))
    save_config(cfg, paths.config_file)
    cfg = load_config(paths.config_file)
    svc = SyncService(paths, cfg)
    try:
        svc.scan()
    finally:
        svc.close()
    assert _waiting(paths) == ["drop.png", "keep.png"]

    db = StateDB(paths.state_db)
    ctx = ViewContext(paths, cfg, db)
    win = QueueWindow(ctx)
    qtbot.addWidget(win)
    win.show()
    win.model.refresh()
    qtbot.waitUntil(lambda: not win.model.busy, timeout=10_000)  # the job list is read on the runner
    row = next(r for r in range(win.model.rowCount()) if win.model.path(r).endswith("drop.png"))
    win.table.selectionModel().select(
        win.model.index(row, 0),
        QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows,
    )
    win.remove.click()
    qtbot.waitUntil(lambda: _waiting(paths) == ["keep.png"], timeout=5000)  # written off the GUI thread
    # ... and reported back, with the window's refresh after it, before the database connection is closed
    qtbot.waitUntil(lambda: win.message.text() == "1 file removed from the queue.", timeout=5000)
    qtbot.waitUntil(lambda: not win.model.busy, timeout=10_000)

    # The next scan, a forced rescan of every file, and a configuration change (a second drive for the same
    # category, which queues known files for drives) must not bring it back for Photos.
    cfg2 = cfg.with_drive(DriveConfig("Backup", "d2", ("images",)))
    save_config(cfg2, paths.config_file)
    for config in (cfg, cfg2):
        svc = SyncService(paths, load_config(paths.config_file) if config is cfg2 else config)
        try:
            svc.scan()
            svc.queue_for_drives()
            svc.reingest(str(out / "drop.png"))
        finally:
            svc.close()
    with StateDB(paths.state_db) as check:
        live = [(j.relpath, j.drive_id) for j in check.list_jobs(["pending", "copying", "failed"])]
    assert ("drop.png", "d1") not in live
    assert ("keep.png", "d1") in live and ("drop.png", "d2") in live  # the new drive is a new decision

    # The decision holds until the file changes: new content is queued again.
    (out / "drop.png").write_bytes(png_bytes(3))
    st = os.stat(out / "drop.png")
    os.utime(out / "drop.png", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    svc = SyncService(paths, load_config(paths.config_file))
    try:
        svc.scan()
    finally:
        svc.close()
    with StateDB(paths.state_db) as check:
        live = [(j.relpath, j.drive_id) for j in check.list_jobs(["pending"])]
    assert ("drop.png", "d1") in live
    db.close()
