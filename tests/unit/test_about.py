"""The About box: the version as --version says it, and links that open the log and configuration folders; the
tray menu has it. And the Wine-only switch of the tray app (set by the Windows smoke test, never by users)."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QLabel

from usbsync_gui import __version__
from usbsync_gui.core.config import new_config
from usbsync_gui.core.paths import app_paths
from usbsync_gui.core.state import StateDB
from usbsync_gui.gui import NO_DESKTOP_SETTINGS_ENV, desktop_settings_aware
from usbsync_gui.views import about
from usbsync_gui.views.about import AboutDialog
from usbsync_gui.views.context import ViewContext
from usbsync_gui.views.tray import TrayController


def test_about_shows_the_version_and_opens_the_log_and_config_folders(tmp_path, monkeypatch, qtbot):
    paths = app_paths({"USBSYNC_HOME": str(tmp_path / "home")})
    opened: list[str] = []
    monkeypatch.setattr(about, "open_folder", lambda folder, parent, failed: opened.append(folder))
    dlg = AboutDialog(paths)
    qtbot.addWidget(dlg)
    title = dlg.findChild(QLabel, "about_title").text()
    body = dlg.findChild(QLabel, "about_body").text()
    assert f"usbsync {__version__}" in title
    assert str(paths.log_dir) in body and str(paths.config_file) in body
    assert '<a href="logs">' in body and '<a href="config">' in body
    dlg.findChild(QLabel, "about_body").linkActivated.emit("logs")
    dlg.open_link("config")
    assert opened == [str(paths.log_dir), str(paths.config_file.parent)]
    assert paths.log_dir.is_dir()  # made if missing, so the file manager has something to open


@pytest.mark.qt_log_ignore("This plugin does not support raise")  # the offscreen platform's limit, not ours
def test_the_tray_menu_opens_the_about_box(tmp_path, monkeypatch, qtbot, qapp):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    paths = app_paths({"USBSYNC_HOME": str(tmp_path / "home")})
    paths.ensure()
    ctx = ViewContext(paths, new_config([tmp_path / "out"]), StateDB(paths.state_db))
    tray = TrayController(ctx, qapp, sender=lambda t, b: True)
    try:
        [action] = [a for a in tray.menu.actions() if a.text() == "About usbsync…"]
        action.trigger()
        assert isinstance(tray._about, AboutDialog) and tray._about.isVisible()
        tray._about.close()
    finally:
        tray.close()
        ctx.tasks.shutdown()
        ctx.db.close()


def test_desktop_settings_are_read_unless_the_wine_smoke_test_says_not_to():
    assert desktop_settings_aware({})
    assert desktop_settings_aware({NO_DESKTOP_SETTINGS_ENV: "0"})
    assert not desktop_settings_aware({NO_DESKTOP_SETTINGS_ENV: "1"})
