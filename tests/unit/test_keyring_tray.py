"""The tray says "unlock your keyring" while the keyring_locked notice is raised."""

from tests.unit.test_summary import _setup
from usbsync_gui.core.summary import summarize
from usbsync_gui.views.tray_state import tray_look


def test_tray_says_unlock_your_keyring_first(tmp_path):
    config, db, _ = _setup(tmp_path)
    assert tray_look(summarize(db, config, {})).state == "waiting"
    msg = "keyring locked: unlock your keyring; drives are not written until then"
    with db.transaction():
        db.set_notice("keyring_locked", msg)
    look = tray_look(summarize(db, config, {}))
    assert look.state == "attention" and "unlock your keyring" in look.tooltip
