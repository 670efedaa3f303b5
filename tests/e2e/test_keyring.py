"""The identity secret in a real OS keyring: gnome-keyring's Secret Service on a private session bus."""

import json
import shutil
import subprocess

import pytest

from tests.conftest import png_bytes
from tests.e2e.conftest import USBSYNC


def test_secret_lives_in_the_keyring_not_in_a_file(usbsync, make_drive, tmp_path):
    missing = [t for t in ("dbus-run-session", "gnome-keyring-daemon") if shutil.which(t) is None]
    if missing:
        pytest.skip(
            f"missing tools: {', '.join(missing)} (make test installs dbus and gnome-keyring as root)"
        )
    stick = make_drive("STICK", fstype="exfat")
    script = (
        "echo -n pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1; "
        f"{USBSYNC} register-drive {stick.mountpoint} --name Stick --category images >/dev/null && "
        f"{USBSYNC} list-connected --json"
    )
    # A keyring of the test's own: gnome-keyring keeps keyrings under $XDG_DATA_HOME/keyrings.
    env = {
        **usbsync.env,
        "HOME": str(tmp_path),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_RUNTIME_DIR": str(tmp_path / "run"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }
    (tmp_path / "run").mkdir(mode=0o700)
    p = subprocess.run(
        ["dbus-run-session", "--", "bash", "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 0, p.stderr
    vol = next(v for v in json.loads(p.stdout)["volumes"] if v["mountpoint"] == str(stick.mountpoint))
    assert vol["status"] == "registered"
    assert not (usbsync.home / "state" / "identity.key").exists()
    assert "no OS keyring" not in p.stderr
    # From a session that cannot reach that keyring (ssh, cron: no session bus) the secret cannot be read, and
    # no new one may be made: a fresh secret would turn every registered drive into a look-alike (and a drive
    # registered from there into one in the desktop session). The stick is "keyring locked", nothing written.
    p2 = usbsync("list-connected", "--json")
    v2 = next(v for v in json.loads(p2.stdout)["volumes"] if v["mountpoint"] == str(stick.mountpoint))
    assert v2["status"] == "keyring locked", v2
    assert "keyring" in p2.stderr, p2.stderr
    assert not (usbsync.home / "state" / "identity.key").exists()
    usbsync.source.mkdir(parents=True, exist_ok=True)
    (usbsync.source / "a.png").write_bytes(png_bytes(1))
    p3 = usbsync("sync-once", check=2)
    assert "keyring" in p3.stderr and stick.files() == {}
