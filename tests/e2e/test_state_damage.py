"""Issue 7, item 6: a damaged state database (truncated, garbage header, a garbage page) is detected, set aside
with a timestamp and rebuilt from the sources and the drive, never a traceback or a crash loop. Real ext4
volume, the real usbsync command, real SQLite files damaged on disk."""

from __future__ import annotations

import signal
import sqlite3
import time

import pytest

from tests.conftest import png_bytes
from tests.e2e.conftest import stop, wait_for

pytestmark = pytest.mark.e2e


def _damage(db_path, how: str) -> None:
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the main file, as after a clean stop
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name='jobs'").fetchone()[0]
    conn.close()
    size = db_path.stat().st_size
    with open(db_path, "r+b") as fh:
        if how == "truncated":
            fh.truncate(size // 2)
        elif how == "garbage header":
            fh.write(b"\xa5" * 100)
        else:  # a garbage page: the jobs table's root page
            fh.seek((root - 1) * page_size)
            fh.write(bytes((i * 7 + 3) & 0xFF for i in range(page_size)))


@pytest.mark.parametrize("how", ["truncated", "garbage header", "garbage page"])
def test_damaged_database_is_set_aside_and_rebuilt_without_copying_twice(usbsync, make_drive, how):
    stick = make_drive("PHOTOS")
    usbsync("register-drive", str(stick.mountpoint), "--name", "Photos", "--category", "images")
    usbsync.source.mkdir(parents=True, exist_ok=True)
    for i in range(3):
        (usbsync.source / f"p{i}.png").write_bytes(png_bytes(i))
    usbsync("sync-once")
    before = stick.files()
    assert sorted(before) == ["p0.png", "p1.png", "p2.png"]

    db_path = usbsync.home / "state" / "state.db"
    _damage(db_path, how)

    status = usbsync("status", "--json", check=None)
    assert status.returncode == 0, status.stderr
    # One more file arrives while the database is damaged: it must go too.
    (usbsync.source / "p3.png").write_bytes(png_bytes(3))
    p = usbsync("sync-once")
    assert "Traceback" not in p.stderr + p.stdout
    data = usbsync.json("status")
    notes = [n for n in data["notices"] if n["kind"] == "database_rebuilt"]
    assert notes and "set aside as state.db.damaged-" in notes[0]["message"], data["notices"]
    set_aside = sorted(db_path.parent.glob("state.db.damaged-*"))
    assert len(set_aside) == 1
    # Rebuilt from the sources and the drive: the three copies already there are adopted by content (no
    # "p0 (1).png"), the new file is copied, all are recorded as synced.
    after = stick.files()
    assert sorted(after) == ["p0.png", "p1.png", "p2.png", "p3.png"]
    assert all(after[k] == v for k, v in before.items())
    assert data["synced"] == 4 and data["pending"] == 0
    assert "set aside" in usbsync.log() or "set aside" in p.stderr


def test_engine_starts_on_a_damaged_database_and_stops_cleanly(usbsync, make_drive):
    stick = make_drive("PHOTOS")
    usbsync("register-drive", str(stick.mountpoint), "--name", "Photos", "--category", "images")
    usbsync.source.mkdir(parents=True, exist_ok=True)
    (usbsync.source / "a.png").write_bytes(png_bytes(1))
    usbsync("sync-once")
    db_path = usbsync.home / "state" / "state.db"
    _damage(db_path, "garbage header")
    proc = usbsync.start()
    try:
        (usbsync.source / "b.png").write_bytes(png_bytes(2))
        wait_for(lambda: "b.png" in stick.files(), timeout=30)
        time.sleep(0.5)
    finally:
        rc, out = stop(proc, signal.SIGTERM)
    assert rc == 0, out
    assert "Traceback" not in out
    assert "set aside as state.db.damaged-" in out
    assert sorted(stick.files()) == ["a.png", "b.png"]


@pytest.mark.parametrize("how", ["truncated", "garbage page"])
def test_damage_while_running_is_noticed_set_aside_and_rebuilt(usbsync, make_drive, how):
    stick = make_drive("PHOTOS")
    usbsync("register-drive", str(stick.mountpoint), "--name", "Photos", "--category", "images")
    usbsync.source.mkdir(parents=True, exist_ok=True)
    for i in range(3):
        (usbsync.source / f"p{i}.png").write_bytes(png_bytes(i))
    proc = usbsync.start()
    try:
        wait_for(lambda: len(stick.files()) == 3, timeout=30)
        time.sleep(0.5)  # idle: its last transactions committed
        _damage(usbsync.home / "state" / "state.db", how)
        # New work touches the damaged tables: the engine must notice, set the file aside and go on.
        for i in range(3, 6):
            (usbsync.source / f"p{i}.png").write_bytes(png_bytes(i))
        wait_for(lambda: len(stick.files()) == 6, timeout=30)
        wait_for(lambda: "set aside as state.db.damaged-" in usbsync.log(), timeout=10)
        assert "setting it aside and rebuilding it" in usbsync.log()  # noticed by the running engine
        data = usbsync.json("status")
        assert [n for n in data["notices"] if n["kind"] == "database_rebuilt"], data
    finally:
        rc, out = stop(proc, signal.SIGTERM)
    assert rc == 0, out
    assert "Traceback" not in out, out
    files = stick.files()
    assert sorted(files) == [f"p{i}.png" for i in range(6)]  # adopted, not copied twice as "p0 (1).png"
