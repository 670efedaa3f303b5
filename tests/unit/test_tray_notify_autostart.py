from tests.unit.test_summary import _setup
from usbsync_gui.core.summary import LiveVolume, summarize
from usbsync_gui.platform import autostart
from usbsync_gui.views.tray_state import CopyProgress, tray_look


def test_tray_states_most_urgent_first(tmp_path):
    config, db, ids = _setup(tmp_path, n=3, size=1000)
    waiting = summarize(db, config, {})
    assert tray_look(waiting) == tray_look(waiting)  # deterministic
    assert tray_look(waiting).tooltip == "usbsync: plug in Photos: 3 files (3.0 kB) waiting"
    copying = summarize(db, config, {"d-photos": LiveVolume("/m", 1 << 30, 1 << 31)})
    look = tray_look(copying, CopyProgress("IMG_1.jpg", 50, 200))
    assert (look.state, look.percent) == ("syncing", 25) and "3 files to go" in look.tooltip
    assert tray_look(summarize(db, config, {}, paused=True)).state == "paused"
    with db.transaction():
        db.start_job(ids[0], "USBSync/a", None, db.job(ids[0]).blake3)
        db.fail_job(ids[0], "Input/output error", db.job(ids[0]).blake3)
    broken = summarize(db, config, {})
    look = tray_look(broken, CopyProgress("x", 1, 2))
    assert look.state == "attention" and "1 file could not be copied to Photos" in look.tooltip
    assert tray_look(summarize(db, config, {}, paused=True)).state == "attention"  # attention outranks paused


def test_xdg_autostart_entry(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert not autostart.is_enabled()
    autostart.set_enabled(True)
    entry = (tmp_path / "autostart" / "usbsync.desktop").read_text()
    assert autostart.is_enabled()
    assert "Type=Application" in entry and "Exec=" in entry and "-m usbsync_gui.gui" in entry
    autostart.set_enabled(False)
    assert not autostart.is_enabled()
