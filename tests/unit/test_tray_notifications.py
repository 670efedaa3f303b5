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
        # Files wait for Photos, which is away: told, then more news about it is held by the rate limit.
        tray.notifications.event("drive_wanted", "Photos", count=1, total=1)
        tray.notifications.flush(force=True)
        tray.notifications.event("drive_wanted", "Photos", count=1, total=2)
        tray._arm_flush()
        assert tray._flush.isActive()  # armed for when the held note is due, a minute on
        clock.t += 10
        # Docs was unplugged, plugged back in, and a file copied: its "up to date" is not held, neither by the
        # rate limit of its own first one nor behind the held "waiting" note.
        tray._on_up_to_date("d2", 1, 0)
        clock.t += UP_TO_DATE_SETTLE_S
        qtbot.waitUntil(lambda: len(sent) == 3, timeout=5000)
        assert sent[2] == (
            "Docs is up to date",
            "1 file copied. Eject it from the usbsync menu, then unplug it.",
        )
        assert tray.notifications.waiting()  # "Plug in Photos" is still held
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


def test_a_held_plug_in_note_is_not_sent_after_the_drive_was_plugged_in_and_filled(
    tmp_path, monkeypatch, qtbot, qapp
):
    """The walk, through the tray and the summary feed: "Plug in Photos: 3 files waiting", then 2 more queued
    (held by the rate limit), then Photos plugged in and all 5 copied; when the minute ran out the held note
    "5 files waiting for Photos (2 new)" was sent all the same."""
    from usbsync_gui.core.summary import DriveState, LiveVolume
    from usbsync_gui.engine.summary_feed import LiveState, SummaryFeed
    from usbsync_gui.engine.tasks import TaskRunner

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    paths = app_paths({"USBSYNC_HOME": str(tmp_path / "home")})
    paths.ensure()
    (tmp_path / "out").mkdir()
    cfg = new_config([tmp_path / "out"]).with_drive(DriveConfig("Photos", "d1", ("images",)))
    connected: dict[str, LiveVolume] = {}
    runner = TaskRunner()
    feed = SummaryFeed(paths, runner, lambda: LiveState(cfg, dict(connected), False))
    ctx = ViewContext(paths, cfg, StateDB(paths.state_db), runner=runner, feed=feed)
    sent: list[tuple[str, str]] = []
    clock = Clock()
    tray = TrayController(ctx, qapp, sender=lambda t, b: sent.append((t, b)) or True, clock=clock)

    def queue(first: int, n: int) -> None:
        with ctx.db.transaction():
            for i in range(first, first + n):
                fid, _ = ctx.db.upsert_file(
                    f"/o/p{i}.jpg", "/o", f"p{i}.jpg", 1000, 1, f"h{i}", "image/jpeg", "images"
                )
                ctx.db.enqueue(fid, ["d1"], f"h{i}", 1000)

    def settled(check) -> None:
        seen = tray.summary
        tray.refresh()  # what the engine does on every change (jobs queued, a drive plugged in, a drain)
        qtbot.waitUntil(lambda: tray.summary is not seen and check(tray.summary.drive("d1")), timeout=5000)

    try:
        queue(1, 3)
        settled(lambda d: d.state is DriveState.WAITING and d.waiting_files == 3)
        clock.t += GROUP_WINDOW_S
        tray._flush_notifications()
        assert sent == [("Plug in Photos", "3 files waiting for Photos.")]
        queue(4, 2)
        settled(lambda d: d.waiting_files == 5)
        clock.t += GROUP_WINDOW_S
        tray._flush_notifications()
        assert len(sent) == 1 and tray.notifications.waiting()  # held by the rate limit
        # Photos is plugged in and its 5 files are copied.
        connected["d1"] = LiveVolume(str(tmp_path), 900_000_000, 1 << 30)
        with ctx.db.transaction():
            for job in ctx.db.list_jobs(["pending"]):
                ctx.db.start_job(job.id, "USBSync/x", None, job.blake3)
                ctx.db.finish_job(job.id, "copied", f"USBSync/{job.id}.jpg", job.blake3)
        settled(lambda d: d.state is DriveState.UP_TO_DATE)
        clock.t += MIN_INTERVAL_S  # the rate limit's minute runs out
        tray._flush_notifications()
        assert sent == [("Plug in Photos", "3 files waiting for Photos.")]
        assert not tray.notifications.waiting() and not tray._flush.isActive()
    finally:
        tray.close()
        runner.shutdown()
        ctx.db.close()


def test_the_tray_stops_saying_keyring_locked_as_soon_as_it_is_unlocked(tmp_path, monkeypatch, qtbot, qapp):
    """The walk: after "keyring unlocked" in the log, the tray stayed red ("keyring locked: unlock your keyring")
    for two minutes, until the status window was opened: the engine lowered the notice without the summary
    being recomputed. A real engine here, its keyring locked until the test unlocks it."""
    import threading

    from usbsync_gui.core import identity
    from usbsync_gui.engine.engine import Engine

    unlocked = threading.Event()

    def secret(self: identity.SecretStore) -> bytes:
        if not unlocked.is_set():
            raise identity.KeyringLocked("the default collection is locked")
        self.where = "keyring (test)"
        return b"s" * 32

    def wait(self: identity.UnlockWaiter) -> bytes | None:
        while not self._cancelled.is_set():
            if unlocked.wait(0.05):
                return self.store.secret()
        return None

    monkeypatch.setattr(identity.SecretStore, "secret", secret)
    monkeypatch.setattr(identity.UnlockWaiter, "wait", wait)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    paths = app_paths({"USBSYNC_HOME": str(tmp_path / "home")})
    paths.ensure()
    (tmp_path / "out").mkdir()
    cfg = new_config([tmp_path / "out"]).with_drive(DriveConfig("Photos", "d1", ("images",)))
    engine = Engine(paths, cfg, qapp)
    ctx = ViewContext(paths, cfg, StateDB(paths.state_db), engine=engine)
    tray = TrayController(ctx, qapp, sender=lambda t, b: True, clock=Clock())
    try:
        # Raised: the tray turns red by itself (the engine's notice change recomputes the summary).
        qtbot.waitUntil(lambda: tray.look.state == "attention", timeout=10_000)
        assert "unlock your keyring" in tray.look.tooltip
        unlocked.set()  # the user unlocks the keyring; nothing else happens
        qtbot.waitUntil(lambda: tray.look.state != "attention", timeout=10_000)
        assert "keyring" not in tray.look.tooltip
        assert engine._secret_where == "keyring (test)"
    finally:
        tray.close()
        assert engine.stop()
        ctx.db.close()


def test_every_notice_the_engine_raises_or_lowers_is_shown_without_waiting_for_other_news(
    tmp_path, monkeypatch, qtbot, qapp
):
    """Each notice change is written, then announced by notices_changed, which recomputes the summary."""
    from usbsync_gui.core.summary import PAUSED, WATCHING_INCOMPLETE
    from usbsync_gui.engine.engine import Engine

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    paths = app_paths({"USBSYNC_HOME": str(tmp_path / "home")})
    paths.ensure()
    (tmp_path / "out").mkdir()
    engine = Engine(paths, new_config([tmp_path / "out"]), qapp)
    db = StateDB(paths.state_db)

    def watching_notice_shown() -> bool:
        latest = engine.summary.latest
        return latest is not None and any(n.kind == WATCHING_INCOMPLETE for n in latest.notices)

    try:
        with qtbot.waitSignal(engine.summary.changed, timeout=10_000):
            engine._on_watching_incomplete("watching incomplete: raise fs.inotify.max_user_watches", [])
        qtbot.waitUntil(watching_notice_shown, timeout=10_000)
        with qtbot.waitSignal(engine.summary.changed, timeout=10_000):
            engine._on_watching_complete()
        qtbot.waitUntil(lambda: not watching_notice_shown(), timeout=10_000)
        # The pause is written on the runner (a user's action does not wait for the write lock): announced
        # once it is written.
        for paused in (True, False):
            with qtbot.waitSignal(engine.notices_changed, timeout=10_000):
                engine.set_paused(paused)
            assert any(n.kind == PAUSED for n in db.notices()) == paused
    finally:
        assert engine.stop()
        db.close()
