from usbsync_gui.platform import autostart
from usbsync_gui.views.notifications import GROUP_WINDOW_S, MIN_INTERVAL_S, NotificationCenter
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


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def test_a_flood_becomes_one_notification_and_the_rate_is_limited():
    sent = []
    clock = Clock()
    center = NotificationCenter(lambda title, body: sent.append((title, body)) or True, clock=clock)
    for _ in range(5000):
        center.event("drive_wanted", "Photos")
    center.flush()
    assert sent == []  # still inside the grouping window
    clock.t += GROUP_WINDOW_S
    center.flush()
    assert sent == [("Plug in Photos", "5000 files waiting for Photos.")]
    center.event("drive_wanted", "Photos", count=7)
    clock.t += GROUP_WINDOW_S
    center.flush()
    assert len(sent) == 1  # within the minimum interval: held back, not dropped
    clock.t += MIN_INTERVAL_S
    center.flush()
    assert sent[-1] == ("Plug in Photos", "7 files waiting for Photos.")
    center.event("safe_to_unplug", "Docs", count=3)
    center.flush(force=True)
    assert sent[-1] == (
        "Docs is up to date",
        "3 files copied and verified on Docs. Eject it from the usbsync menu, then unplug it.",
    )


def test_a_kind_switched_off_is_not_shown_and_a_failed_delivery_is_retried():
    sent = []
    ok = [False]
    center = NotificationCenter(
        lambda t, b: (sent.append(t), ok[0])[1], enabled={"failures": False}, clock=Clock()
    )
    center.event("failures", "", "disk full")
    center.event("drive_full", "Photos")
    center.flush(force=True)
    assert sent == ["Photos is full"] and center.sent == []
    ok[0] = True
    center.event("drive_full", "Photos")
    center.flush(force=True)
    assert center.sent == [
        ("Photos is full", "1 file does not fit on Photos; it waits until there is space.")
    ]


def test_xdg_autostart_entry(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert not autostart.is_enabled()
    autostart.set_enabled(True)
    entry = (tmp_path / "autostart" / "usbsync.desktop").read_text()
    assert autostart.is_enabled()
    assert "Type=Application" in entry and "Exec=" in entry and "-m usbsync_gui.gui" in entry
    autostart.set_enabled(False)
    assert not autostart.is_enabled()
