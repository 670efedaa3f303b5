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
        ("Photos is full", "1 file does not fit on Photos; it waits until there is space.")
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
        ("Photos is full", "3 files do not fit on Photos; they wait until there is space.")
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
    assert [t for t, _ in balloon.shown] == ["Photos is full"] and center.sent == []
    center.enabled["new_drive"] = False  # the tray updates the switches from settings
    center.event("new_drive", "KINGSTON", mount="/media/u/KINGSTON")
    balloon.ok = True
    center.event("drive_full", "Photos", total=1)
    center.flush(force=True)
    assert center.sent == [
        ("Photos is full", "1 file does not fit on Photos; it waits until there is space.")
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
