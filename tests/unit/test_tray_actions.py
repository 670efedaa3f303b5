"""The tray's notifications that offer something: a new removable volume offers "Set up…", which opens the
drives dialog; an action on "Photos is up to date" ejects Photos through the engine."""

from __future__ import annotations

import pytest

from usbsync_gui.core.config import DriveConfig, new_config
from usbsync_gui.core.paths import app_paths
from usbsync_gui.core.state import StateDB
from usbsync_gui.core.volumes import ConnectedVolume, Volume
from usbsync_gui.platform import VolumeInfo
from usbsync_gui.views.context import ViewContext
from usbsync_gui.views.tray import TrayController


def _ctx(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    paths = app_paths({"USBSYNC_HOME": str(tmp_path / "home")})
    paths.ensure()
    cfg = new_config([tmp_path / "out"]).with_drive(DriveConfig("Photos", "d1", ("images",)))
    return ViewContext(paths, cfg, StateDB(paths.state_db))


def test_a_new_removable_volume_is_offered_and_set_up_opens_the_drives_dialog(
    tmp_path, monkeypatch, qtbot, qapp
):
    ctx = _ctx(tmp_path, monkeypatch)
    sent: list[tuple[str, str]] = []
    tray = TrayController(ctx, qapp, sender=lambda t, b: sent.append((t, b)) or True)
    opened = []
    monkeypatch.setattr(tray, "show_drives", lambda: opened.append(True))
    try:
        v = Volume("/media/anna/KINGSTON", "/dev/sdc1", "vfat", 8 << 30, 7 << 30, False)
        tray._on_unknown_volume(
            ConnectedVolume(v, VolumeInfo("7FC7-EC41", "vfat", "KINGSTON", True), None, "unknown")
        )
        tray.notifications.flush(force=True)
        [(title, body)] = sent
        assert title == "New drive KINGSTON: use it with usbsync?" and "/media/anna/KINGSTON" in body
        tray.notifications.balloon_clicked()  # the balloon's click is the note's action: Set up…
        assert opened == [True]
        tray._on_volume_removed("/media/anna/KINGSTON", "")  # unplugged: the offer is withdrawn
        tray.notifications.balloon_clicked()
        assert opened == [True]
    finally:
        tray.close()
        ctx.tasks.shutdown()
        ctx.db.close()


def test_eject_from_a_notification_goes_to_the_engine(tmp_path, monkeypatch, qtbot, qapp):
    ctx = _ctx(tmp_path, monkeypatch)
    tray = TrayController(ctx, qapp, sender=lambda t, b: True)
    asked = []
    monkeypatch.setattr(tray, "eject", asked.append)
    try:
        tray._on_up_to_date("d1", 12, 7)
        tray.notifications.flush(force=True)
        title, body = tray.notifications.sent[-1]
        assert title == "Photos is up to date" and body.startswith("12 files copied, 7 already there.")
        tray.notifications.balloon_clicked()
        assert asked == ["Photos"]
    finally:
        tray.close()
        ctx.tasks.shutdown()
        ctx.db.close()


@pytest.mark.qt_log_ignore("This plugin does not support raise")  # the offscreen platform's limit, not ours
def test_showing_a_minimised_window_restores_it(tmp_path, monkeypatch, qtbot, qapp):
    """The tray's "Status…", its click and a second start all bring the status window forward; a minimised one
    stayed minimised (a walk-through saw it: "brought forward", and nothing on screen)."""
    ctx = _ctx(tmp_path, monkeypatch)
    tray = TrayController(ctx, qapp, sender=lambda t, b: True)
    try:
        tray.show_status()
        qtbot.waitExposed(tray.status)
        tray.status.showMinimized()
        qtbot.waitUntil(tray.status.isMinimized)
        reply = tray.on_command({"cmd": "show"})
        assert reply is not None and reply["ok"]
        qtbot.waitUntil(lambda: not tray.status.isMinimized() and tray.status.isVisible())
    finally:
        tray.close()
        ctx.tasks.shutdown()
        ctx.db.close()
