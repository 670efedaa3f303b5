"""NotificationCenter: texts with exact figures, grouping and rate limits, actions and the balloon fallback.

A recording fake stands in for the desktop service here; tests/e2e/test_notify_daemon.py drives the real
D-Bus path (DesktopNotifier) against a real notification daemon."""

from PySide6.QtCore import QObject, Signal

from usbsync_gui.views.notifications import (
    ACTION_HINTS,
    ACTION_LABELS,
    GROUP_WINDOW_S,
    KIND_ACTIONS,
    KIND_TITLES,
    KINDS,
    MIN_INTERVAL_S,
    UP_TO_DATE_SETTLE_S,
    Note,
    NotificationCenter,
)


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


class Balloon:
    """The tray balloon as ``send`` sees it: records (title, body); ``ok`` says whether it could show them."""

    def __init__(self, ok: bool = True):
        self.shown: list[tuple[str, str]] = []
        self.ok = ok

    def __call__(self, title: str, body: str) -> bool:
        self.shown.append((title, body))
        return self.ok


class FakeDesktop(QObject):
    """A desktop notification service with buttons (or, ``up=False``, none running)."""

    action_invoked = Signal(object, str)
    unshown = Signal(object)  # what the real one emits when the daemon refuses a note or never answers

    def __init__(self, up: bool = True):
        super().__init__()
        self.up = up
        self.notes: list[Note] = []
        self.closed: list[tuple[str, str, str]] = []

    def send_note(self, note: Note) -> str | None:
        if not self.up:
            return None
        self.notes.append(note)
        return note.body("buttons")

    def close_note(self, key):
        self.closed.append(key)


def _one(kind, drive="", **kw):
    """The (title, body) one event gives through a plain sender."""
    balloon = Balloon()
    center = NotificationCenter(balloon, clock=Clock())
    center.event(kind, drive, **kw)
    center.flush(force=True)
    [shown] = balloon.shown
    return shown


def test_up_to_date_counts_this_plug_ins_work():
    assert _one("safe_to_unplug", "Photos", copied=12, already=7) == (
        "Photos is up to date",
        "12 files copied, 7 already there. Eject it from the usbsync menu, then unplug it.",
    )
    assert _one("safe_to_unplug", "Photos", copied=1, already=1)[1].startswith(
        "1 file copied, 1 already there."
    )
    assert _one("safe_to_unplug", "Photos", copied=3)[1].startswith("3 files copied. Eject")
    assert _one("safe_to_unplug", "Photos", copied=0, already=7)[1].startswith(
        "Nothing new: 7 files already there."
    )
    assert _one("safe_to_unplug", "Photos", already=1)[1].startswith("Nothing new: 1 file already there.")
    assert _one("safe_to_unplug", "Photos", copied=0, already=0)[1].startswith("Nothing to copy.")
    # The old running total came in as ``count``: it is not a figure of this plug-in and is not shown.
    assert _one("safe_to_unplug", "Photos", count=19, copied=12)[1].startswith("12 files copied.")


def test_passes_add_up_within_a_group_and_a_new_plug_in_starts_from_zero():
    balloon, clock = Balloon(), Clock()
    center = NotificationCenter(balloon, clock=clock)
    center.event("safe_to_unplug", "Photos", copied=8, already=0)  # first drain pass
    center.event("safe_to_unplug", "Photos", copied=4, already=7)  # the next pass, within the window
    clock.t += UP_TO_DATE_SETTLE_S
    center.flush()
    assert balloon.shown[-1][1].startswith("12 files copied, 7 already there.")
    # Unplugged and plugged again within the rate limit's interval: told as promptly, only the new plug-in
    # counted (the user waits for it to unplug the drive; the rate limit is for floods of "waiting" news).
    center.event("safe_to_unplug", "Photos", copied=0, already=12)
    clock.t += UP_TO_DATE_SETTLE_S
    center.flush()
    assert len(balloon.shown) == 2
    assert balloon.shown[-1][1].startswith("Nothing new: 12 files already there.")
    # A drive unplugged while its note is held: the stale note is dropped, not shown later.
    center.event("safe_to_unplug", "Photos", copied=2)
    center.withdraw("safe_to_unplug", "Photos")
    clock.t += MIN_INTERVAL_S
    center.flush(force=True)
    assert len(balloon.shown) == 2


def test_up_to_date_goes_a_second_after_the_queue_emptied_and_no_rate_limit_holds_it():
    """The walk: Docs plugged back in 28 s after its first "Docs is up to date", its file copied in 0.08 s, and
    the note came 33 s later, when the 60 s rate limit of its first note had run out."""
    balloon, clock = Balloon(), Clock()
    center = NotificationCenter(balloon, clock=clock)
    center.event("safe_to_unplug", "Docs", copied=2)
    assert center.next_due() == UP_TO_DATE_SETTLE_S <= 1.0
    clock.t += UP_TO_DATE_SETTLE_S
    assert center.next_due() == 0
    center.flush()
    assert balloon.shown == [
        ("Docs is up to date", "2 files copied. Eject it from the usbsync menu, then unplug it.")
    ]
    assert center.next_due() is None
    clock.t += 28  # unplugged, a file queued, plugged back in, copied
    center.event("safe_to_unplug", "Docs", copied=1)
    center.event("drive_wanted", "Photos", count=3, total=3)  # other news meanwhile: grouped over 3 s
    assert center.next_due() == UP_TO_DATE_SETTLE_S
    clock.t += UP_TO_DATE_SETTLE_S
    center.flush()
    assert [t for t, _ in balloon.shown] == ["Docs is up to date", "Docs is up to date"]
    assert balloon.shown[-1][1].startswith("1 file copied.")
    assert center.next_due() == GROUP_WINDOW_S - UP_TO_DATE_SETTLE_S  # the "waiting" note keeps its window
    # A "waiting" note is still rate-limited: a second one for Photos within the minute is held and summed.
    clock.t += GROUP_WINDOW_S
    center.flush()
    center.event("drive_wanted", "Photos", count=2, total=5)
    assert center.next_due() == MIN_INTERVAL_S
    clock.t += GROUP_WINDOW_S
    center.flush()
    assert [t for t, _ in balloon.shown] == ["Docs is up to date"] * 2 + ["Plug in Photos"]


def test_a_note_no_sender_could_show_is_tried_again_later_not_in_a_loop():
    balloon, clock = Balloon(ok=False), Clock()
    center = NotificationCenter(balloon, clock=clock)
    center.event("drive_full", "Photos", total=1)
    clock.t += GROUP_WINDOW_S
    center.flush()
    assert len(balloon.shown) == 1 and center.sent == []
    assert center.next_due() == GROUP_WINDOW_S  # not 0: a timer armed for it does not spin
    balloon.ok = True
    clock.t += GROUP_WINDOW_S
    center.flush()
    assert center.sent == [
        ("Not enough space on Photos", "1 file does not fit on Photos; it waits until there is space.")
    ]


def test_a_flood_becomes_one_notification_and_the_rate_is_limited():
    balloon, clock = Balloon(), Clock()
    center = NotificationCenter(balloon, clock=clock)
    for _ in range(5000):
        center.event("drive_wanted", "Photos")
    center.flush()
    assert balloon.shown == []  # still inside the grouping window
    clock.t += GROUP_WINDOW_S
    center.flush()
    assert balloon.shown == [("Plug in Photos", "5000 files waiting for Photos.")]
    center.event("drive_wanted", "Photos", count=7, total=5007)
    clock.t += GROUP_WINDOW_S
    center.flush()
    assert len(balloon.shown) == 1  # within the minimum interval: held back, not dropped
    center.event("drive_wanted", "Photos", count=2, total=5009)
    clock.t += MIN_INTERVAL_S
    center.flush()
    # The new files are summed, the waiting figure is the latest: not a running total of increments.
    assert balloon.shown[-1] == ("Plug in Photos", "5009 files waiting for Photos (9 new).")
    assert center.sent == balloon.shown


def test_drive_wanted_full_and_failures_say_exactly_how_many():
    assert _one("drive_wanted", "Photos", count=1, total=1) == (
        "Plug in Photos",
        "1 file waiting for Photos.",
    )
    assert _one("drive_wanted", "Photos", count=1, total=4)[1] == "4 files waiting for Photos (1 new)."
    # Each drain pass reports the files that do not fit; two passes over the same 3 files are still 3.
    balloon = Balloon()
    center = NotificationCenter(balloon, clock=Clock())
    center.event("drive_full", "Photos", total=3)
    center.event("drive_full", "Photos", total=3)
    center.flush(force=True)
    assert balloon.shown == [
        ("Not enough space on Photos", "3 files do not fit on Photos; they wait until there is space.")
    ]
    assert _one("drive_full", "Photos", total=1)[1] == (
        "1 file does not fit on Photos; it waits until there is space."
    )
    assert _one("failures", count=1, line="cannot read the source: Permission denied") == (
        "A file could not be copied",
        "1 file could not be copied: cannot read the source: Permission denied. See Status… in the usbsync menu.",
    )
    balloon = Balloon()
    center = NotificationCenter(balloon, clock=Clock())
    center.event("failures", "Photos", "verification failed", count=1, total=3)
    center.event("failures", "Photos", "verification failed", count=1, total=4)
    center.event("failures", "Photos", "cannot write to Photos: I/O error", count=1, total=5)
    center.flush(force=True)
    assert balloon.shown == [
        (
            "Files could not be copied",
            "3 files could not be copied to Photos: verification failed (and 1 other reason). "
            "5 files failed in all. See Status… in the usbsync menu.",
        )
    ]


def test_new_drive_names_its_mount_point_and_offers_set_up():
    desktop, balloon = FakeDesktop(), Balloon()
    center = NotificationCenter(balloon, clock=Clock(), desktop=desktop)
    center.event("new_drive", "KINGSTON", mount="/media/u/KINGSTON")
    center.flush(force=True)
    [note] = desktop.notes
    assert (note.title, note.action, note.action_label) == (
        "New drive KINGSTON: use it with usbsync?",
        "setup",
        "Set up…",
    )
    assert center.sent == [
        (
            "New drive KINGSTON: use it with usbsync?",
            "Mounted at /media/u/KINGSTON. Choose “Set up…” to have usbsync copy files to it.",
        )
    ]
    assert balloon.shown == []
    got = []
    center.action_invoked.connect(lambda *a: got.append(a))
    desktop.action_invoked.emit(note, "setup")
    assert got == [("new_drive", "KINGSTON", "setup", "/media/u/KINGSTON")]
    assert _one("new_drive", "", mount="/media/u/disk")[0] == "New drive: use it with usbsync?"


def test_desktop_buttons_and_the_balloon_fallback_with_its_click():
    desktop, balloon = FakeDesktop(), Balloon()
    center = NotificationCenter(balloon, clock=Clock(), desktop=desktop, balloon_clicks=True)
    got = []
    center.action_invoked.connect(lambda *a: got.append(a))
    center.event("safe_to_unplug", "Photos", copied=12, already=7)
    center.flush(force=True)
    assert center.sent == [
        ("Photos is up to date", "12 files copied, 7 already there. Eject it, then unplug it.")
    ]
    desktop.action_invoked.emit(desktop.notes[0], "eject")
    assert got == [("safe_to_unplug", "Photos", "eject", "")]
    center.balloon_clicked()  # nothing went to the balloon: a click means nothing
    assert len(got) == 1

    desktop.up = False  # the daemon went away: the balloon shows it, and a click on it is the action
    center.event("safe_to_unplug", "Docs", copied=1)
    center.flush(force=True)
    assert balloon.shown == [("Docs is up to date", "1 file copied. Click here to eject it, then unplug it.")]
    center.balloon_clicked()
    center.balloon_clicked()  # once per message
    assert got[1:] == [("safe_to_unplug", "Docs", "eject", "")]

    center.event("new_drive", "KINGSTON", mount="/media/u/KINGSTON")
    center.flush(force=True)
    center.event("failures", count=2)
    center.flush(force=True)
    center.balloon_clicked()  # the last balloon was about failures, which has no action
    assert len(got) == 2

    center.event("safe_to_unplug", "Docs", copied=1)
    center.flush(
        force=True,
    )
    center.withdraw("safe_to_unplug", "Docs")  # ejected meanwhile: a click must not eject again
    center.balloon_clicked()
    assert len(got) == 2 and desktop.closed[-1] == ("safe_to_unplug", "Docs", "")


def test_a_kind_switched_off_is_not_shown_and_a_failed_delivery_is_retried():
    balloon = Balloon(ok=False)
    center = NotificationCenter(balloon, enabled={"failures": False}, clock=Clock())
    center.event("failures", "", "disk full")
    center.event("drive_full", "Photos", total=1)
    center.flush(force=True)
    assert [t for t, _ in balloon.shown] == ["Not enough space on Photos"] and center.sent == []
    center.enabled["new_drive"] = False  # the tray updates the switches from settings
    center.event("new_drive", "KINGSTON", mount="/media/u/KINGSTON")
    balloon.ok = True
    center.event("drive_full", "Photos", total=1)
    center.flush(force=True)
    assert center.sent == [
        ("Not enough space on Photos", "1 file does not fit on Photos; it waits until there is space.")
    ]


def test_every_kind_has_a_title_and_every_action_its_words():
    assert "new_drive" in KINDS and set(KIND_TITLES) == set(KINDS)
    for action in KIND_ACTIONS.values():
        assert action in ACTION_LABELS
        assert set(ACTION_HINTS[action]) == {"buttons", "click", "plain"}


def test_an_eject_is_answered_where_the_other_notifications_are_shown_at_once():
    desktop, balloon = FakeDesktop(), Balloon()
    center = NotificationCenter(balloon, clock=Clock(), desktop=desktop, balloon_clicks=True)
    center.event("safe_to_unplug", "Photos", copied=3)
    center.flush(force=True)
    center.say("safe_to_unplug", "Photos", "Photos ejected", "Photos is safe to unplug.")  # no group window
    assert [n.title for n in desktop.notes] == ["Photos is up to date", "Photos ejected"]
    assert desktop.notes[-1].key == desktop.notes[0].key  # the same key: it replaces the "up to date" note
    assert balloon.shown == []
    desktop.up = False
    center.say("safe_to_unplug", "Docs", "Docs ejected", "Docs is safe to unplug.")
    assert balloon.shown == [("Docs ejected", "Docs is safe to unplug.")]
    center.enabled["safe_to_unplug"] = False
    center.say("safe_to_unplug", "Docs", "Docs ejected", "again")
    assert len(balloon.shown) == 1


def test_a_note_the_daemon_did_not_show_after_all_goes_to_the_balloon():
    desktop, balloon = FakeDesktop(), Balloon()
    center = NotificationCenter(balloon, clock=Clock(), desktop=desktop, balloon_clicks=True)
    got = []
    center.action_invoked.connect(lambda *a: got.append(a))
    center.event("safe_to_unplug", "Photos", copied=2)
    center.flush(force=True)
    assert balloon.shown == []  # sent to the daemon, which has not answered yet
    desktop.unshown.emit(desktop.notes[0])  # it refused the note, or did not answer in time
    assert balloon.shown == [
        ("Photos is up to date", "2 files copied. Click here to eject it, then unplug it.")
    ]
    assert center.sent[-1] == balloon.shown[-1]
    center.balloon_clicked()  # the balloon now stands for the note: its click is the action
    assert got == [("safe_to_unplug", "Photos", "eject", "")]


def _photos_waiting(tmp_path):
    """A state database with 3 files waiting for Photos (away), a way to queue more, and summaries of it."""
    from tests.unit.test_summary import _setup
    from usbsync_gui.core.summary import summarize

    config, db, _ = _setup(tmp_path, n=3, size=1000)

    def queue_more(n: int) -> None:
        with db.transaction():
            for i in range(100, 100 + n):
                fid, _ = db.upsert_file(
                    f"/o/IMG_{i}.jpg", "/o", f"IMG_{i}.jpg", 1000, 1, f"h{i}", "image/jpeg", "images"
                )
                db.enqueue(fid, ["d-photos"], f"h{i}", 1000)

    def copy_all() -> None:
        with db.transaction():
            for job in db.list_jobs(["pending"]):
                db.start_job(job.id, "USBSync/x", None, job.blake3)
                db.finish_job(job.id, "copied", f"USBSync/{job.id}.jpg", job.blake3)

    return db, queue_more, copy_all, lambda live=None: summarize(db, config, live or {})


def test_a_held_plug_in_note_is_dropped_once_the_drive_was_plugged_in_and_filled(tmp_path):
    """The walk: "Plug in Photos: 5 files waiting for Photos (2 new)" came 35 s after Photos had been plugged in
    and all 5 copied: held by the rate limit, then sent as it was when the minute ran out."""
    from usbsync_gui.core.summary import DriveState, LiveVolume

    db, queue_more, copy_all, summary = _photos_waiting(tmp_path)
    balloon, clock = Balloon(), Clock()
    state = {"now": summary()}
    center = NotificationCenter(balloon, clock=clock, current=lambda: state["now"])
    try:
        center.event("drive_wanted", "Photos", count=3, total=3)
        clock.t += GROUP_WINDOW_S
        center.flush()
        assert balloon.shown == [("Plug in Photos", "3 files waiting for Photos.")]
        queue_more(2)
        state["now"] = summary()
        center.event("drive_wanted", "Photos", count=2, total=5)  # held: within the rate limit's minute
        clock.t += 20
        center.flush()
        assert len(balloon.shown) == 1
        copy_all()  # Photos plugged in; everything copied
        state["now"] = summary({"d-photos": LiveVolume("/media/u/PHOTOS", 900_000_000, 1 << 30)})
        assert state["now"].drive("d-photos").state is DriveState.UP_TO_DATE
        clock.t += MIN_INTERVAL_S
        center.flush()
        assert balloon.shown == [("Plug in Photos", "3 files waiting for Photos.")]  # nothing stale
        assert center.next_due() is None
    finally:
        db.close()


def test_a_held_note_is_rewritten_with_the_figures_of_now(tmp_path):
    from dataclasses import replace

    from usbsync_gui.core.state import Notice
    from usbsync_gui.core.summary import WaitGroup
    from usbsync_gui.core.wait_reasons import WaitKind

    db, queue_more, _, summary = _photos_waiting(tmp_path)
    balloon, clock = Balloon(), Clock()
    queue_more(2)
    s = summary()  # 5 waiting for Photos, away
    state = {"now": s}
    center = NotificationCenter(balloon, clock=clock, current=lambda: state["now"])
    try:
        center.event("drive_wanted", "Photos", count=3, total=3)
        center.event("drive_wanted", "Photos", count=2, total=5)
        photos = s.drive("d-photos")
        # Meanwhile the user took a file out of the outbox: 4 wait now.
        state["now"] = replace(s, drives=(replace(photos, waiting_files=4),))
        clock.t += GROUP_WINDOW_S
        center.flush()
        assert balloon.shown == [("Plug in Photos", "4 files waiting for Photos.")]
        # "Full": the figure of now; gone from the summary, the note is dropped.
        full = WaitGroup(WaitKind.NO_SPACE, 2, 2000, 0.0, "not enough space on Photos")
        state["now"] = replace(s, drives=(replace(photos, waits=(full,)),))
        center.event("drive_full", "Photos", total=5)
        clock.t += GROUP_WINDOW_S
        center.flush()
        assert balloon.shown[-1] == (
            "Not enough space on Photos",
            "2 files do not fit on Photos; they wait until there is space.",
        )
        clock.t += GROUP_WINDOW_S
        center.event("drive_full", "Photos", total=3)
        state["now"] = replace(s, drives=(replace(photos, waits=()),))
        clock.t += MIN_INTERVAL_S
        center.flush()
        assert len(balloon.shown) == 2
        # A problem is told while its notice is raised, not after it was lowered.
        locked = Notice("keyring_locked", "keyring locked: unlock your keyring", 0.0)
        center.event("problems", "keyring_locked", locked.message)
        state["now"] = replace(s, notices=())
        clock.t += GROUP_WINDOW_S
        center.flush()
        assert len(balloon.shown) == 2 and not center.waiting()
        center.event("problems", "keyring_locked", locked.message)
        state["now"] = replace(s, notices=(locked,))
        clock.t += GROUP_WINDOW_S
        center.flush()
        assert balloon.shown[-1] == ("usbsync needs your attention", locked.message)
    finally:
        db.close()


def test_up_to_date_replaces_what_is_held_about_the_drive_and_takes_it_off_the_screen():
    """Even when the summary has not caught up yet (it still says Photos is away, 5 waiting): the engine said
    Photos' queue is empty, which is newer."""
    desktop, balloon, clock = FakeDesktop(), Balloon(), Clock()
    center = NotificationCenter(balloon, clock=clock, desktop=desktop, current=lambda: None)
    center.event("drive_wanted", "Photos", count=3, total=3)
    center.event("drive_wanted", "Docs", count=1, total=1)
    clock.t += GROUP_WINDOW_S
    center.flush()
    center.event("drive_wanted", "Photos", count=2, total=5)  # held by the rate limit
    center.event("drive_full", "Photos", total=1)
    center.event("drive_wanted", "Docs", count=1, total=2)
    center.event("safe_to_unplug", "Photos", copied=5)
    clock.t += UP_TO_DATE_SETTLE_S
    center.flush()
    assert [n.title for n in desktop.notes] == ["Plug in Photos", "Plug in Docs", "Photos is up to date"]
    # The "Plug in Photos" still on screen is taken down; Docs' news is another drive's, still held.
    assert ("drive_wanted", "Photos", "") in desktop.closed and ("drive_full", "Photos", "") in desktop.closed
    assert not any(key[1] == "Docs" for key in desktop.closed)
    clock.t += MIN_INTERVAL_S
    center.flush()
    assert [n.title for n in desktop.notes][3:] == ["Plug in Docs"]
