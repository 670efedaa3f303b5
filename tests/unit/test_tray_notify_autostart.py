from usbsync_gui.platform import autostart
from usbsync_gui.views.tray_state import EngineStatus, tray_look


def test_tray_states_most_urgent_first():
    assert tray_look(EngineStatus()).state == "idle"
    waiting = EngineStatus(pending=12, waiting_by_drive={"Photos": 12})
    assert tray_look(waiting) == tray_look(waiting)  # deterministic
    assert tray_look(waiting).tooltip == "usbsync: plug in Photos: 12 files waiting"
    copying = EngineStatus(
        pending=3,
        waiting_by_drive={"Photos": 3},
        connected={"Photos"},
        copying_file="IMG_1.jpg",
        copy_done=50,
        copy_total=200,
    )
    look = tray_look(copying)
    assert (look.state, look.percent) == ("syncing", 25) and "2 files to go" not in look.tooltip
    assert "3 files to go" in look.tooltip
    broken = EngineStatus(pending=3, failed=2, missing_sources=["/home/u/Outbox"], copying_file="x")
    look = tray_look(broken)
    assert look.state == "attention"
    assert (
        "2 files could not be copied" in look.tooltip
        and "source folder missing: /home/u/Outbox" in look.tooltip
    )
    assert tray_look(EngineStatus(pending=2, paused=True)).state == "paused"


def test_xdg_autostart_entry(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert not autostart.is_enabled()
    autostart.set_enabled(True)
    entry = (tmp_path / "autostart" / "usbsync.desktop").read_text()
    assert autostart.is_enabled()
    assert "Type=Application" in entry and "Exec=" in entry and "-m usbsync_gui.gui" in entry
    autostart.set_enabled(False)
    assert not autostart.is_enabled()
