"""Settings and the drives dialog never overwrite each other's changes; everyday options first, the knobs under
Advanced. Real widgets (offscreen), a real config file, real folders as volumes (see
:class:`tests.unit.test_drives_dialog.Sticks`)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from PySide6.QtWidgets import QComboBox, QDialog, QDialogButtonBox, QLabel, QLineEdit, QTableWidget

from tests.unit import test_drives_dialog as dd
from tests.unit.test_drives_dialog import saved
from usbsync_gui.core.config import DriveConfig, Rule, load_config, new_config, save_config
from usbsync_gui.views.drives_dialog import DrivesDialog
from usbsync_gui.views.settings_dialog import SettingsDialog, apply_settings

paths, sticks, make_ctx = dd.paths, dd.sticks, dd.make_ctx  # the fixtures


def register_through_the_drives_dialog(qtbot, ctx, sticks, label: str, uuid: str, name: str) -> DrivesDialog:
    mount = sticks.plug(label, uuid)
    dlg = DrivesDialog(ctx, inspect=sticks.inspector())
    qtbot.addWidget(dlg)
    dlg.show()
    qtbot.waitUntil(lambda: dlg._scanned_once and dlg.volumes.rowCount() == 1)
    dlg.volumes.selectRow(0)
    dlg.register_btn.click()
    ed = dlg.editor
    assert ed is not None
    ed.name.setText(name)
    ed.boxes["images"].setChecked(True)
    ed.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    qtbot.waitUntil(lambda: any(d.name == name for d in load_config(ctx.paths.config_file).drives))
    assert str(mount) in dlg.message.text()
    return dlg


def test_a_drive_registered_while_settings_is_open_survives_save(paths, sticks, make_ctx, qtbot):
    config = saved(paths, new_config([paths.default_outbox]))
    ctx = make_ctx(config)
    settings = SettingsDialog(ctx.config, paths.config_file, ctx=ctx)
    qtbot.addWidget(settings)
    settings.show()
    register_through_the_drives_dialog(qtbot, ctx, sticks, "PHOTOS", "1A2B-3C4D", "Photos")
    qtbot.waitUntil(lambda: settings.drives_list.item(0).text() == "Photos: images")  # the list follows

    settings.stability.setValue(5.0)
    settings.notify["drive_full"].setChecked(False)
    settings.rate.setValue(4.2)  # MB/s, as shown (the app's sizes and speeds are SI units)
    settings.buttons.button(QDialogButtonBox.StandardButton.Save).click()
    qtbot.waitUntil(lambda: settings.result() == QDialog.DialogCode.Accepted)
    now = load_config(paths.config_file)
    assert [d.name for d in now.drives] == ["Photos"]  # not overwritten from Settings' stale copy
    assert now.stability_window_s == 5.0 and now.notifications["drive_full"] is False
    assert now.max_copy_rate_mib_s == pytest.approx(4.2 / 1.048576)  # the copy speed limit, kept in MiB/s
    assert ctx.config == now


def test_without_a_context_settings_saves_at_once_and_keeps_the_drives_too(paths, sticks, make_ctx, qtbot):
    config = saved(paths, new_config([paths.default_outbox]))
    settings = SettingsDialog(config, paths.config_file)  # as a dialog on its own
    qtbot.addWidget(settings)
    assert not settings.drives_btn.isVisibleTo(settings)
    register_through_the_drives_dialog(qtbot, make_ctx(config), sticks, "PHOTOS", "1A2B-3C4D", "Photos")
    settings.include.setText("*.jpg, *.pdf")
    settings.on_save()
    assert settings.result() == QDialog.DialogCode.Accepted
    now = load_config(paths.config_file)
    assert [d.name for d in now.drives] == ["Photos"] and now.include == ("*.jpg", "*.pdf")


def test_settings_writes_only_what_was_changed_in_it(paths, qtbot):
    config = saved(paths, new_config([paths.default_outbox]))
    settings = SettingsDialog(config, paths.config_file)
    qtbot.addWidget(settings)
    # Meanwhile elsewhere: a notification switched off from its own "don't show again", a timing changed.
    elsewhere = replace(
        config,
        notifications={**config.notifications, "new_drive": False},
        heartbeat_interval_s=45.0,  # shown as 0.8 min here: a rounding is no edit
        drives=(DriveConfig("Papers", "d2", ("documents",)),),
    )
    save_config(elsewhere, paths.config_file)
    settings.notify["failures"].setChecked(False)
    settings.on_save()
    now = load_config(paths.config_file)
    assert now.notifications["new_drive"] is False and now.notifications["failures"] is False
    assert now.heartbeat_interval_s == 45.0 and [d.name for d in now.drives] == ["Papers"]
    assert apply_settings(now, config, config) == now  # nothing changed in Settings: nothing written over


def test_a_categories_edit_that_would_orphan_a_drive_registered_meanwhile_is_refused(paths, qtbot):
    config = saved(paths, new_config([paths.default_outbox]))
    settings = SettingsDialog(config, paths.config_file)
    qtbot.addWidget(settings)
    save_config(config.with_drive(DriveConfig("Papers", "d2", ("archives",))), paths.config_file)
    row = next(
        r
        for r in range(settings.categories.rowCount())
        if settings.categories.item(r, 0).text() == "archives"
    )
    settings.categories.removeRow(row)
    before = paths.config_file.read_bytes()
    settings.on_save()
    assert (
        "unknown category 'archives'" in settings.error.text()
        and settings.result() != QDialog.DialogCode.Accepted
    )
    assert paths.config_file.read_bytes() == before


def test_everyday_options_first_and_the_knobs_under_advanced(paths, make_ctx, qtbot):
    config = saved(
        paths, new_config([paths.default_outbox]).with_drive(DriveConfig("Photos", "d1", ("images",)))
    )
    ctx = make_ctx(config)
    settings = SettingsDialog(config, paths.config_file, ctx=ctx)
    qtbot.addWidget(settings)
    tabs = settings.tabs
    assert [tabs.tabText(i) for i in range(tabs.count())] == ["General", "Notifications", "Rules", "Advanced"]
    general, advanced = tabs.widget(0), tabs.widget(3)
    for w in (settings.sources, settings.drives_list, settings.drives_btn, settings.rate, settings.autostart):
        assert general.isAncestorOf(w)
    for w in (settings.include, settings.exclude, settings.stability, settings.rescan, settings.heartbeat):
        assert advanced.isAncestorOf(w)
    assert advanced.isAncestorOf(settings.categories)  # the MIME types live here
    general_text = " ".join(
        [w.text() for w in general.findChildren(QLabel)]
        + [w.text() for w in general.findChildren(QLineEdit)]
        + [settings.drives_list.item(i).text() for i in range(settings.drives_list.count())]
    )
    assert "image/" not in general_text and "Photos: images" in general_text
    assert settings.rate.text() == "no limit"
    assert settings.width() <= 1200 and settings.height() <= 680
    for table in settings.findChildren(QTableWidget):
        assert not table.verticalHeader().isVisibleTo(settings)
    # The Drives… button opens the drives dialog over the same context.
    settings.drives_btn.click()
    assert isinstance(settings.drives_dialog, DrivesDialog) and settings.drives_dialog.isVisible()
    settings.drives_dialog.close()


def test_a_rules_kind_is_picked_from_the_kinds_there_are(paths, qtbot):
    config = saved(paths, new_config([paths.default_outbox]))
    settings = SettingsDialog(config, paths.config_file)
    qtbot.addWidget(settings)
    settings.tabs.setCurrentIndex(2)
    settings.rules.insertRow(0)
    combo = settings.rules.indexWidget(settings.rules.model().index(0, 1))
    assert isinstance(combo, QComboBox)
    assert [combo.itemText(i) for i in range(combo.count())] == [c.name for c in config.categories]
    from PySide6.QtWidgets import QTableWidgetItem

    settings.rules.setItem(0, 0, QTableWidgetItem("*.raw"))
    combo.setCurrentIndex(combo.findText("images"))
    combo.activated.emit(combo.currentIndex())
    settings.on_save()
    assert [(r.pattern, r.category) for r in load_config(paths.config_file).rules] == [("*.raw", "images")]


def test_settings_opens_with_the_rules_there_are_and_shows_their_kind(paths, qtbot):
    config = saved(paths, replace(new_config([paths.default_outbox]), rules=(Rule("scans/*", "documents"),)))
    settings = SettingsDialog(config, paths.config_file)  # (the kinds' drop-downs need the kinds table first)
    qtbot.addWidget(settings)
    combo = settings.rules.indexWidget(settings.rules.model().index(0, 1))
    assert isinstance(combo, QComboBox) and combo.currentText() == "documents"
    settings.on_save()
    assert load_config(paths.config_file).rules == (Rule("scans/*", "documents"),)


def test_the_speed_limit_shows_in_mb_per_s_and_an_untouched_one_is_saved_exactly(paths, qtbot):
    config = saved(paths, replace(new_config([paths.default_outbox]), max_copy_rate_mib_s=10.0))
    settings = SettingsDialog(config, paths.config_file)
    qtbot.addWidget(settings)
    assert settings.rate.text() == "10.5 MB/s"  # 10 MiB/s = 10.49 MB/s, as the status window counts
    settings.stability.setValue(3.0)  # another edit: Save writes, the limit is not converted there and back
    settings.buttons.button(QDialogButtonBox.StandardButton.Save).click()
    now = load_config(paths.config_file)
    assert now.stability_window_s == 3.0 and now.max_copy_rate_mib_s == 10.0
