"""Why a job waits, in words: one function (wait_reasons.job_reason) from the facts the summary judges by, and
its SQL twin (ReasonFacts.sql, the queue window's sort key), which must say the same thing for every job."""

from __future__ import annotations

import itertools
import sqlite3

from usbsync_gui.core.wait_reasons import (
    PAUSE_ROLLED_BACK,
    PAUSED_REASON,
    PENDING_REASON,
    QUEUED_REASON,
    ReasonFacts,
    job_reason,
    no_space,
    read_only,
)


def _reason(state, reason=None, *, registered=True, connected=False, paused=False):
    return job_reason(
        state, reason, "images", drive_registered=registered, drive_connected=connected, paused=paused
    )


def test_paused_with_the_drive_plugged_in_says_paused_not_waiting_for_the_drive():
    """The walk's paused.jpg: Photos plugged in, syncing paused. The status window said "Paused"; the queue and
    `usbsync pending` said "waiting for the drive"."""
    assert _reason("pending", connected=True, paused=True) == PAUSED_REASON == "syncing is paused"
    # whatever happened to it before, the pause is what holds it now
    assert _reason("pending", "drive removed", connected=True, paused=True) == PAUSED_REASON
    assert _reason("pending", PAUSE_ROLLED_BACK, connected=True, paused=True) == PAUSED_REASON
    # resumed: a copy the pause rolled back is not "paused" any more
    assert _reason("pending", PAUSE_ROLLED_BACK, connected=True) == QUEUED_REASON == "next in line"
    assert _reason("pending", connected=True) == QUEUED_REASON
    # the drive away: it waits for the drive, and the pause is said too (plugging it in will not start it)
    assert _reason("pending", paused=True) == f"{PENDING_REASON}; {PAUSED_REASON}"
    assert _reason("pending", PAUSE_ROLLED_BACK, paused=True) == f"{PENDING_REASON}; {PAUSED_REASON}"
    assert _reason("pending") == PENDING_REASON == "waiting for the drive"


def test_what_needs_the_user_outranks_the_pause_as_in_the_summary():
    for connected in (True, False):
        assert _reason("pending", no_space("Photos"), connected=connected, paused=True) == no_space("Photos")
    assert _reason("pending", read_only("Photos"), connected=True, paused=True) == read_only("Photos")
    assert _reason("failed", "Input/output error", connected=True, paused=True) == "Input/output error"
    assert _reason("pending", registered=False, paused=True) == "no drive holds images"
    assert (
        _reason("copying", "interrupted (usbsync stopped during the copy)", connected=True) == "copying now"
    )
    # away, a read-only mount is not the reason any more (it may come back writable): the drive is
    assert _reason("pending", read_only("Photos")) == PENDING_REASON


def test_what_happened_to_a_job_last_is_said_while_nothing_else_holds_it():
    for connected in (True, False):
        for text in ("drive removed", "ejected before the copy finished", "Input/output error"):
            assert _reason("pending", text, connected=connected) == text
    assert _reason("removed", "removed from the queue") == "removed from the queue"
    assert _reason("done", None) == ""


def test_the_sql_key_says_what_the_function_says_for_every_job():
    states = ("pending", "copying", "failed", "done", "removed")
    reasons = (
        None,
        "",
        no_space("Photos"),
        "NOT ENOUGH SPACE ON Photos",  # not the copier's text: GLOB, like fnmatchcase, minds the case
        read_only("Photos"),
        "Photos is mounted read-only",
        "Input/output error",
        PAUSE_ROLLED_BACK,
        "Paused",
    )
    rows = list(itertools.product(states, reasons, (None, "images"), ("d1", "d2", "d3")))
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (state, last_error, category, drive_id)")
    conn.executemany("INSERT INTO t VALUES (?,?,?,?)", rows)
    every = frozenset({"d1", "d2", "d3"})
    for paused, connected, registered in itertools.product(
        (False, True),
        (frozenset(), frozenset({"d1"}), every),
        (None, frozenset(), frozenset({"d1", "d2"}), every),
    ):
        facts = ReasonFacts(paused, connected, registered)
        expr, params = facts.sql(state="state", reason="last_error", category="category", drive_id="drive_id")
        got = conn.execute(f"SELECT state, last_error, category, drive_id, {expr} FROM t", params).fetchall()
        assert len(got) == len(rows)
        for *job, text in got:
            assert text == facts.reason(*job), (facts, job)
