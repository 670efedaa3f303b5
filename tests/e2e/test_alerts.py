"""Alerts from the real `usbsync run` ([alerts] in config.toml): too many files waiting, and a file waiting too
long (raised by the one timer armed for that moment: nothing else happens meanwhile); each is a WARNING line
in the log, an attention line in `usbsync status`, and lowered once the drive takes the files."""

from __future__ import annotations

import pytest

from tests.conftest import png_bytes
from tests.e2e.conftest import stop, wait_for

pytestmark = pytest.mark.e2e


def _attention(usbsync) -> list[str]:
    return usbsync.json("status")["attention"]


@pytest.mark.parametrize("which", ["count", "age"])
def test_waiting_alerts_are_raised_said_and_lowered(usbsync, make_drive, which):
    photos = make_drive("PHOTOS", size_mib=32)
    usbsync("register-drive", str(photos.mountpoint), "--name", "Photos", "--category", "images")
    at = photos.mountpoint
    photos.unplug()
    with (usbsync.home / "config.toml").open("a") as f:
        if which == "count":
            f.write("\n[alerts]\nwaiting_files = 2\n")
        else:
            f.write("\n[alerts]\nwaiting_files = 0\nwaiting_age_hours = 0.001\n")  # 3.6 s
    proc = usbsync.start()
    try:
        wait_for(lambda: f"watching {usbsync.source}" in usbsync.log(), timeout=20)
        for i in range(3 if which == "count" else 1):
            (usbsync.source / f"p{i}.png").write_bytes(png_bytes(i))
        if which == "count":
            said = "3 files are waiting (an alert from 2): plug in the drives they wait for"
        else:
            said = "a file has waited for Photos for over 0.001 h: plug in Photos"
            wait_for(lambda: usbsync.json("status")["pending"] == 1, timeout=20)
            assert not any("waited" in a for a in _attention(usbsync))  # not yet: 3.6 s
        wait_for(lambda: any(said in a for a in _attention(usbsync)), timeout=30)
        assert (
            f"WARNING usbsync_gui.engine.engine: alert: {said}" in usbsync.log()
            or f"alert: {said}" in usbsync.log()
        )
        assert usbsync.json("status")["state"] == "attention"
        photos.plug(at)
        wait_for(lambda: usbsync.json("status")["synced"] == (3 if which == "count" else 1), timeout=20)
        wait_for(lambda: not any(said in a for a in _attention(usbsync)), timeout=20)
        assert "alert over" in usbsync.log()
    finally:
        code, out = stop(proc)
    assert code == 0, out
