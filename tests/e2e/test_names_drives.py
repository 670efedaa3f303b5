"""Drive names with spaces, parentheses and any letters work everywhere, on real volumes."""

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QWizard

from tests.conftest import png_bytes
from usbsync_gui.core.config import load_config
from usbsync_gui.core.paths import app_paths
from usbsync_gui.core.volumes import volume_at


def test_register_a_name_with_spaces_and_parentheses_then_status_and_sync(usbsync, make_drive):
    stick = make_drive("STICK")
    usbsync("register-drive", str(stick.mountpoint), "--name", "Fotos (Oma)", "--category", "images")
    (usbsync.source / "a.png").write_bytes(png_bytes(1))
    status = usbsync("status", "--json")  # exit 0 (checked by the fixture)
    assert "Fotos (Oma)" in status.stdout
    usbsync("sync-once")
    assert stick.files() == {"a.png": png_bytes(1)}
    assert [d["name"] for d in usbsync.json("list-drives")["drives"]] == ["Fotos (Oma)"]


def test_register_refuses_a_bad_name_and_writes_nothing(usbsync, make_drive):
    stick = make_drive("STICK")
    before = (usbsync.home / "config.toml").read_bytes()
    p = usbsync(
        "register-drive", str(stick.mountpoint), "--name", " Fotos\t", "--category", "images", check=2
    )
    assert p.stderr.count("\n") == 1 and "drive name" in p.stderr
    assert (usbsync.home / "config.toml").read_bytes() == before
    assert not (stick.mountpoint / ".usbsync").exists()
    usbsync("status")


def test_wizard_default_name_from_a_non_ascii_label(usbsync, make_drive, qtbot, monkeypatch, tmp_path):
    from usbsync_gui.views.wizard import FirstRunWizard

    stick = make_drive("ÄRZTE BRIEFE")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    paths = app_paths({"USBSYNC_HOME": str(usbsync.home)})
    volume = volume_at(stick.mountpoint)
    assert volume is not None
    wiz = FirstRunWizard(paths, volumes=[volume], existing=load_config(paths.config_file))
    qtbot.addWidget(wiz)
    wiz.show()
    wiz.next()  # -> drives
    table = wiz.drives_page.table
    # The label as the OS reports it: blkid's export format escapes non-ASCII (M-Cm-^D for Ä) and spaces;
    # whatever it is, the suggested name must be one that saves and loads.
    name = table.item(0, 1).text()
    assert name.strip()
    table.item(0, 2).setCheckState(Qt.CheckState.Checked)  # the first kind: images
    wiz.next()
    wiz.next()
    wiz.finish_page.autostart.setChecked(False)
    wiz.button(QWizard.WizardButton.FinishButton).click()
    qtbot.waitUntil(lambda: wiz.result() == QDialog.DialogCode.Accepted)  # registered on the task runner
    assert wiz.problems == []
    assert [d.name for d in load_config(paths.config_file).drives] == [name]
    (usbsync.source / "b.png").write_bytes(png_bytes(2))
    usbsync("status")
    usbsync("sync-once")
    assert stick.files() == {"b.png": png_bytes(2)}


def test_a_label_with_spaces_and_umlauts_is_read_as_written(usbsync, make_drive):
    """blkid's export format escapes spaces with a backslash: the label must come back as written."""
    stick = make_drive("ÄRZTE Briefe")
    vols = usbsync.json("list-connected")["volumes"]
    (vol,) = [v for v in vols if v["mountpoint"] == str(stick.mountpoint)]
    assert vol["label"] == "ÄRZTE Briefe"
