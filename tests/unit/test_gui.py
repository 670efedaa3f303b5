"""The tray app's widgets under pytest-qt (offscreen): wizard, settings, drives dialog, tray, status window."""

import sys
from dataclasses import replace

import pytest
from PySide6.QtWidgets import QDialog, QWizard

from tests.conftest import png_bytes
from usbsync_gui.core.config import DriveConfig, load_config, new_config, save_config
from usbsync_gui.core.paths import app_paths
from usbsync_gui.core.state import StateDB
from usbsync_gui.views.context import ViewContext
from usbsync_gui.views.settings_dialog import SettingsDialog
from usbsync_gui.views.tray import TrayController
from usbsync_gui.views.wizard import FirstRunWizard


@pytest.fixture
def paths(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))  # start-at-login entries go here
    p = app_paths({"USBSYNC_HOME": str(tmp_path / "home")})
    p.ensure()
    return p


def test_wizard_cancel_writes_nothing(paths, qtbot):
    wiz = FirstRunWizard(paths, volumes=[])
    qtbot.addWidget(wiz)
    wiz.show()
    wiz.next()
    wiz.reject()
    assert not paths.config_file.exists()
    assert not (paths.config_file.parent.parent / "xdg" / "autostart" / "usbsync.desktop").exists()


def test_wizard_complete_writes_config_rules_and_autostart(paths, qtbot, tmp_path):
    wiz = FirstRunWizard(paths, volumes=[])
    qtbot.addWidget(wiz)
    wiz.show()
    assert wiz.sources_page.editor.folders() == [str(paths.default_outbox)]
    wiz.next()  # -> drives (none plugged in)
    wiz.next()  # -> categories
    from PySide6.QtWidgets import QTableWidgetItem

    wiz.categories_page.rules.setItem(0, 0, QTableWidgetItem("scans/*"))
    wiz.categories_page.rules.setItem(0, 1, QTableWidgetItem("documents"))
    wiz.next()  # -> finish
    wiz.button(QWizard.WizardButton.FinishButton).click()
    qtbot.waitUntil(lambda: wiz.result() == QDialog.DialogCode.Accepted)  # written on the task runner
    config = load_config(paths.config_file)
    assert config.sources == (paths.default_outbox,) and paths.default_outbox.is_dir()
    assert [(r.pattern, r.category) for r in config.rules] == [("scans/*", "documents")]
    if sys.platform == "win32":  # the Run key, in this user's real registry
        from usbsync_gui.platform import autostart

        assert autostart.is_enabled()
        autostart.set_enabled(False)
    else:
        assert (tmp_path / "xdg" / "autostart" / "usbsync.desktop").exists()


def test_wizard_refuses_an_unknown_kind_in_a_rule(paths, qtbot, monkeypatch):
    from PySide6.QtWidgets import QMessageBox, QTableWidgetItem

    warned = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a: warned.append(a[2]))
    wiz = FirstRunWizard(paths, volumes=[])
    qtbot.addWidget(wiz)
    wiz.show()
    wiz.next()
    wiz.next()
    wiz.categories_page.rules.setItem(0, 0, QTableWidgetItem("*.raw"))
    wiz.categories_page.rules.setItem(0, 1, QTableWidgetItem("fotos"))
    wiz.next()
    assert wiz.currentPage() is wiz.categories_page
    assert warned and "Unknown kind 'fotos'" in warned[0]


def _config_with_drive(paths):
    cfg = new_config([paths.default_outbox]).with_drive(DriveConfig("Photos", "d1", ("images",)))
    paths.default_outbox.mkdir(parents=True, exist_ok=True)
    save_config(cfg, paths.config_file)
    return load_config(paths.config_file)


def test_settings_round_trip_and_the_cli_validation_message(paths, qtbot):
    cfg = _config_with_drive(paths)
    dlg = SettingsDialog(cfg, paths.config_file)
    qtbot.addWidget(dlg)
    dlg.stability.setValue(5.0)
    dlg.notify["drive_full"].setChecked(False)
    dlg.rules.insertRow(0)
    from PySide6.QtWidgets import QTableWidgetItem

    dlg.rules.setItem(0, 0, QTableWidgetItem("*.raw"))
    dlg.rules.setItem(0, 1, QTableWidgetItem("fotos"))
    before = paths.config_file.read_text()
    dlg.on_save()
    assert "rules[0].category: unknown category 'fotos'" in dlg.error.text()
    assert str(paths.config_file) in dlg.error.text()
    assert paths.config_file.read_text() == before  # nothing written
    dlg.rules.setItem(0, 1, QTableWidgetItem("images"))
    dlg.on_save()
    saved = load_config(paths.config_file)
    assert saved.stability_window_s == 5.0 and saved.notifications["drive_full"] is False
    assert [(r.pattern, r.category) for r in saved.rules] == [("*.raw", "images")]
    assert saved.drives == cfg.drives  # drives untouched


def _queue_for_absent_drive(paths, n=3, failed=0):
    db = StateDB(paths.state_db)
    with db.transaction():
        for i in range(n):
            fid, _ = db.upsert_file(
                f"/out/{i}.png", "/out", f"{i}.png", 69, 1, f"h{i}", "image/png", "images"
            )
            db.enqueue(fid, ["d1"], f"h{i}", 69)
        for j in db.next_jobs("d1", failed):
            db.fail_job(j.id, "verification failed: the drive returned different bytes", j.blake3)
    return db


def test_tray_says_which_drive_is_wanted_and_notifies_once(paths, qtbot, qapp):
    cfg = _config_with_drive(paths)
    db = _queue_for_absent_drive(paths)
    sent = []
    ctx = ViewContext(paths, cfg, db)
    tray = TrayController(ctx, qapp, sender=lambda t, b: sent.append((t, b)) or True)
    try:
        tray.refresh()  # the summary is computed off the GUI thread and pushed back
        qtbot.waitUntil(lambda: tray.look.state == "waiting", timeout=5000)
        assert tray.look.tooltip == "usbsync: plug in Photos: 3 files (207 bytes) waiting"
        tray.notifications.flush(force=True)
        assert sent == [("Plug in Photos", "3 files waiting for Photos.")]
        tray.refresh()
        qtbot.wait(200)
        tray.notifications.flush(force=True)
        assert len(sent) == 1  # nothing new waiting: no second notification
        with db.transaction():
            j = db.next_jobs("d1", 1)[0]
            db.fail_job(j.id, "cannot read the source: Permission denied", j.blake3)
        tray.refresh()
        qtbot.waitUntil(lambda: tray.look.state == "attention", timeout=5000)
        assert "1 file could not be copied" in tray.look.tooltip
    finally:
        tray.close()
        ctx.tasks.shutdown()
        db.close()


def test_png_helper_is_a_png(tmp_path):
    # (keeps the fixture module's helper honest for the GUI screenshots script too)
    assert png_bytes(1)[:8] == b"\x89PNG\r\n\x1a\n"


def test_wizard_run_again_from_settings_keeps_the_drives(paths, qtbot):
    from usbsync_gui.core.config import Rule

    cfg = replace(_config_with_drive(paths), rules=(Rule("scans/*", "documents"),))
    save_config(cfg, paths.config_file)
    wiz = FirstRunWizard(paths, volumes=[], existing=load_config(paths.config_file))
    qtbot.addWidget(wiz)
    wiz.show()
    wiz.next()
    wiz.next()
    assert wiz.categories_page.rules.item(0, 0).text() == "scans/*"  # starts from the rules there are
    wiz.next()
    wiz.button(QWizard.WizardButton.FinishButton).click()
    qtbot.waitUntil(lambda: wiz.result() == QDialog.DialogCode.Accepted)
    again = load_config(paths.config_file)
    assert again.drives == cfg.drives and [r.pattern for r in again.rules] == ["scans/*"]


def test_tray_eject_menu_without_drives(paths, qtbot, qapp):
    cfg = _config_with_drive(paths)
    db = StateDB(paths.state_db)
    tray = TrayController(ViewContext(paths, cfg, db), qapp, sender=lambda t, b: True)
    try:
        tray._fill_eject_menu()
        [only] = tray.eject_menu.actions()
        assert only.text() == "No drive plugged in" and not only.isEnabled()
        tray._fill_verify_menu()
        [only] = tray.verify_menu.actions()
        assert only.text() == "No drive plugged in" and not only.isEnabled()
        labels = [a.text() for a in tray.menu.actions() if a.text()]
        assert labels == [
            "Status…",
            "Pending queue…",
            "Drives…",
            "Eject",
            "Verify drive",
            "Pause syncing",
            "Sync now",
            "Open log folder",
            "Settings…",
            "About usbsync…",
            "Quit usbsync",
        ]
    finally:
        tray.close()
        db.close()


def test_tray_shows_raised_notices_and_announces_each_once(paths, qtbot, qapp):
    cfg = _config_with_drive(paths)
    db = StateDB(paths.state_db)
    sent = []
    ctx = ViewContext(paths, cfg, db)
    tray = TrayController(ctx, qapp, sender=lambda t, b: sent.append((t, b)) or True)

    def settled(state: str) -> None:
        seen = tray.summary
        tray.refresh()
        qtbot.waitUntil(lambda: tray.summary is not seen and tray.look.state == state, timeout=5000)
        tray.notifications.flush(force=True)

    try:
        settled("idle")
        with db.transaction():
            db.set_notice("database_rebuilt", "the state database was damaged; set aside; rebuilt")
        settled("idle")  # a rebuilt database is announced, not a lasting alarm
        assert sent == [
            ("usbsync needs your attention", "the state database was damaged; set aside; rebuilt")
        ]
        with db.transaction():
            db.set_notice("watching_incomplete", "watching incomplete: raise fs.inotify.max_user_watches")
        settled("attention")
        assert "fs.inotify.max_user_watches" in tray.look.tooltip
        settled("attention")
        assert len(sent) == 2  # each once
        with db.transaction():
            db.clear_notice("watching_incomplete")
        settled("idle")
    finally:
        tray.close()
        ctx.tasks.shutdown()
        db.close()


def _tray_on_a_desktop(paths, qapp, has_tray: bool):
    """A tray app whose desktop has a system tray or not; its notes land in ``shown`` (title, body)."""
    cfg = _config_with_drive(paths)
    db = StateDB(paths.state_db)
    shown: list[tuple[str, str]] = []
    tray = TrayController(
        ViewContext(paths, cfg, db),
        qapp,
        sender=lambda t, b: shown.append((t, b)) or True,
        tray_available=lambda: has_tray,
    )
    return cfg, db, shown, tray


@pytest.mark.qt_log_ignore("systemTrayWindowChanged")  # the offscreen platform has no tray to show an icon in
def test_after_the_wizard_a_notification_says_the_app_lives_in_the_tray(paths, qtbot, qapp):
    from usbsync_gui.gui import welcome

    cfg, db, shown, tray = _tray_on_a_desktop(paths, qapp, has_tray=True)
    try:
        tray.show()
        welcome(tray, cfg)
        assert [t for t, _b in shown] == ["usbsync is running"]
        assert "Its icon is in the system tray" in shown[0][1] and str(cfg.sources[0]) in shown[0][1]
        assert tray.status.layout().menuBar() is None and not tray.status.isVisible()
    finally:
        tray.close()
        db.close()


@pytest.mark.qt_log_ignore("This plugin does not support raise")  # the offscreen platform's limit, not ours
def test_without_a_system_tray_the_status_window_has_the_menu_and_notes_name_it(paths, qtbot, qapp):
    """A desktop with no tray (GNOME without the AppIndicator extension): the status window opens, its menu
    bar holds the tray's menu (Drives…, Settings…, Quit), the welcome says so and does not point at an icon
    that is not there, and a note shown as the (invisible) balloon names the menu instead of "Click here"."""
    from usbsync_gui.gui import welcome
    from usbsync_gui.views.notifications import ACTION_HINTS, Note

    cfg, db, shown, tray = _tray_on_a_desktop(paths, qapp, has_tray=False)
    try:
        tray.show()
        assert tray.in_tray is False and tray.status.isVisible()
        bar = tray.status.layout().menuBar()
        [menu] = [a.menu() for a in bar.actions()]
        assert menu is tray.menu and menu.title() == "&usbsync"
        entries = [a.text() for a in menu.actions()]
        assert {"Drives…", "Settings…", "Quit usbsync", "Eject"} <= set(entries), entries
        welcome(tray, cfg)
        [(title, body)] = shown
        assert title == "usbsync is running"
        assert "no system tray" in body and "usbsync menu" in body and "Its icon" not in body
        assert tray.notifications._balloon_clicks() is False
        note = Note("safe_to_unplug", "Photos", "Photos is up to date", "All copied.", action="eject")
        assert note.body("click" if tray.notifications._balloon_clicks() else "plain").endswith(
            ACTION_HINTS["eject"]["plain"]
        )
    finally:
        tray._no_tray_box.close()
        tray.close()
        db.close()
