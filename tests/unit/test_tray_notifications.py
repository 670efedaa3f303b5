"""The tray's notifications against what a new user saw (walk-notes, dunst on a virtual desktop): "X is up to
date" held back by the rate limit of "waiting" notes, a held "Plug in Photos" sent after Photos had been plugged
in and filled, and a tray left at "keyring locked" after the keyring was unlocked.

The notifications' clock is the test's (explicit time); the tray's flush timer and the summary feed run on the
event loop, waited for with qtbot."""

from __future__ import annotations

from usbsync_gui.core.config import DriveConfig, new_config
from usbsync_gui.core.paths import app_paths
from usbsync_gui.core.state import StateDB
from usbsync_gui.views.context import ViewContext
from usbsync_gui.views.notifications import GROUP_WINDOW_S, MIN_INTERVAL_S, UP_TO_DATE_SETTLE_S
from usbsync_gui.views.tray import TrayController


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _ctx(tmp_path, monkeypatch) -> ViewContext:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    paths = app_paths({"USBSYNC_HOME": str(tmp_path / "home")})
    paths.ensure()
    cfg = new_config([tmp_path / "out"])
    for name, drive_id, category in (("Photos", "d1", "images"), ("Docs", "d2", "documents")):
        cfg = cfg.with_drive(DriveConfig(name, drive_id, (category,)))
    return ViewContext(paths, cfg, StateDB(paths.state_db))


def test_up_to_date_comes_a_second_after_the_copy_while_a_waiting_note_is_held(
    tmp_path, monkeypatch, qtbot, qapp
):
    """The walk: Docs was told up to date 33 s after its file was copied (the 60 s rate limit of its previous
    note), and the first "up to date" 6 s after the copy (the flush timer, armed for another note, came before
    this one's window had passed and looked again a full window later)."""
    ctx = _ctx(tmp_path, monkeypatch)
    sent: list[tuple[str, str]] = []
    clock = Clock()
    tray = TrayController(ctx, qapp, sender=lambda t, b: sent.append((t, b)) or True, clock=clock)
    try:
        tray._on_up_to_date("d2", 2, 0)
        clock.t += UP_TO_DATE_SETTLE_S
        qtbot.waitUntil(lambda: len(sent) == 1, timeout=5000)  # by the tray's own timer
        assert sent[0][0] == "Docs is up to date"
        # Docs is unplugged, and a file waits for it: told, then more news is held by the rate limit.
        tray.notifications.event("drive_wanted", "Docs", count=1, total=1)
        tray.notifications.flush(force=True)
        tray.notifications.event("drive_wanted", "Docs", count=1, total=2)
        tray._arm_flush()
        assert tray._flush.isActive()  # armed for when the held note is due, a minute on
        clock.t += 10
        # Docs is plugged back in and its files are copied: "up to date" is not held behind the "waiting" note.
        tray._on_up_to_date("d2", 2, 0)
        clock.t += UP_TO_DATE_SETTLE_S
        qtbot.waitUntil(lambda: len(sent) == 3, timeout=5000)
        assert sent[2] == (
            "Docs is up to date",
            "2 files copied. Eject it from the usbsync menu, then unplug it.",
        )
        assert tray.notifications.waiting()  # the held "Plug in Docs" is still held
    finally:
        tray.close()
        ctx.tasks.shutdown()
        ctx.db.close()


def test_the_flush_timer_is_armed_for_the_next_note_due(tmp_path, monkeypatch, qtbot, qapp):
    ctx = _ctx(tmp_path, monkeypatch)
    clock = Clock()
    tray = TrayController(ctx, qapp, sender=lambda t, b: True, clock=clock)
    try:
        tray.notifications.event("drive_wanted", "Photos", count=1, total=1)
        tray._arm_flush()
        assert 0 < tray._flush.remainingTime() <= GROUP_WINDOW_S * 1000
        tray.notifications.flush(force=True)
        tray.notifications.event("drive_wanted", "Photos", count=1, total=2)
        tray._arm_flush()
        assert tray._flush.remainingTime() > (MIN_INTERVAL_S - GROUP_WINDOW_S) * 1000  # no round every 3 s
        tray._on_up_to_date("d2", 1, 0)
        assert 0 < tray._flush.remainingTime() <= UP_TO_DATE_SETTLE_S * 1000  # sooner: armed again
        tray.notifications.withdraw("drive_wanted", "Photos")
        tray.notifications.withdraw("safe_to_unplug", "Docs")
        tray._arm_flush()
        assert not tray._flush.isActive()  # nothing held: no timer
    finally:
        tray.close()
        ctx.tasks.shutdown()
        ctx.db.close()
