"""The three database damages: the state DB truncated, a garbage header, a garbage page; found at start (the
damage done while usbsync was stopped) or while running. Expected: detected, the file set aside with a
timestamp (``state.db.damaged-*``), rebuilt from the sources and the drives (copies already there adopted by
content, never written twice), no traceback, SIGTERM still exits 0."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from tests.faults.conftest import assert_clean
from tests.faults.harness import Scenario, make_content

pytestmark = pytest.mark.faults

PAGE = 4096


def _used_pages(db: str) -> list[int]:
    """Pages holding tables or indexes (dbstat when SQLite has it), else every page after the first."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            pages = [r[0] for r in conn.execute("SELECT pageno FROM dbstat WHERE pageno > 1")]
        if pages:
            return pages
    except sqlite3.Error:
        pass
    return list(range(2, max(3, os.path.getsize(db) // PAGE + 1)))


def _healthy(db: Path) -> bool:
    """``PRAGMA integrity_check`` of the database file says ok (read-only: nothing is changed)."""
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            return [r[0] for r in conn.execute("PRAGMA integrity_check")] == ["ok"]
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        return False


def _damage(sc: Scenario, how: str) -> str:
    db = str(sc.home / "state" / "state.db")
    size = os.path.getsize(db)
    if how == "truncated":
        at = sc.rng.randrange(PAGE // 2, max(PAGE, size - 1))
        os.truncate(db, at)
        return f"truncated from {size} to {at} bytes"
    if how == "garbage_header":
        n = sc.rng.choice([16, 100, PAGE])
        with open(db, "r+b") as fh:
            fh.write(sc.rng.randbytes(n))
        return f"first {n} bytes random"
    page = sc.rng.choice(_used_pages(db))
    with open(db, "r+b") as fh:
        fh.seek((page - 1) * PAGE)
        fh.write(sc.rng.randbytes(PAGE))
    return f"page {page} of {size // PAGE} random"


def _more_files(sc: Scenario, tag: str, n: int = 4) -> None:
    for i in range(n):
        k = sc.rng.choice(["png", "pdf", "mp4"])
        sc.write(f"{tag}/new-{i}.{k}", make_content(k, sc.rng, 5000))


def _db_fault(sc: Scenario, how: str) -> None:
    sc.standard(rate=0)
    sc.usb("sync-once")  # the drives now hold copies the rebuilt database must adopt, not copy again
    _more_files(sc, "before-damage")
    sc.add_new_sources()
    sc.damage_expected = True
    when = sc.rng.choice(["at-start", "while-running"])
    sc.notes["when"] = when
    if when == "at-start":
        sc.notes["damage"] = _damage(sc, how)
        if sc.rng.random() < 0.5:
            sc.notes["first"] = "sync-once"
            sc.usb("sync-once")
        sc.finish()
    else:
        engine = sc.start_engine()
        sc.wait_converged(10, engine)
        sc.notes["damage"] = _damage(sc, how)
        _more_files(sc, "after-damage")  # the engine must write to the database now
        sc.add_new_sources()
        sc.wait_converged(10, engine)
        sc.stop_engine(engine)
        if not list((sc.home / "state").glob("state.db.damaged-*")) and _healthy(
            sc.home / "state" / "state.db"
        ):
            # Not noticed while running because nothing read that page, and SQLite's checkpoint at the stop
            # wrote the page's good copy from the WAL back over the garbage: there is no damage left to find.
            sc.notes["healed_by_checkpoint"] = True
            sc.damage_expected = False
        sc.usb("sync-once")  # found at the next start at the latest
        sc.finish()
    st = sc.usb("status")
    if "damaged" not in st.stdout + st.stderr and "rebuilt" not in st.stdout + st.stderr:
        sc.notes["status_mentions_damage"] = False
    assert_clean(sc)


def test_db_truncated(scenario: Scenario):
    _db_fault(scenario, "truncated")


def test_db_garbage_header(scenario: Scenario):
    _db_fault(scenario, "garbage_header")


def test_db_garbage_page(scenario: Scenario):
    _db_fault(scenario, "garbage_page")
