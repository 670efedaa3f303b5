"""The tray says "unlock your keyring" while the keyring_locked notice is raised."""

from usbsync_gui.views.tray_state import EngineStatus, tray_look


def test_tray_says_unlock_your_keyring_first():
    msg = "keyring locked: unlock your keyring; drives are not written until then"
    look = tray_look(EngineStatus(pending=3, waiting_by_drive={"Photos": 3}, notices=[msg]))
    assert look.state == "attention" and "unlock your keyring" in look.tooltip
    assert tray_look(EngineStatus(pending=3, waiting_by_drive={"Photos": 3})).state == "waiting"
