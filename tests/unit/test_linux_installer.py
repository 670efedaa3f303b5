"""installer/linux/install.sh on a stand-in package (two shell scripts for the frozen app): each step recorded and
reversed by the uninstall and no others, what is in the way refused before anything changes, a failed install
undone, the login entry's choices kept across an upgrade. The real tarball's smoke test is `make dist-test`."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
INSTALLER = REPO / "installer" / "linux"

pytestmark = pytest.mark.skipif(os.name == "nt", reason="the Linux installer is a POSIX shell script")


@pytest.fixture
def package(tmp_path: Path) -> Path:
    """An unpacked package as build_tarball.sh lays it out, with shell scripts standing in for the frozen app."""
    pkg = tmp_path / "usbsync-9.9.9-linux-x86_64"
    app = pkg / "usbsync"
    (app / "_internal" / "usbsync_gui" / "resources").mkdir(parents=True)
    (app / "usbsync").write_text("#!/bin/sh\necho usbsync 9.9.9\n")
    (app / "usbsync-gui").write_text("#!/bin/sh\nexit 0\n")
    for exe in ("usbsync", "usbsync-gui"):
        (app / exe).chmod(0o755)
    shutil.copy(
        REPO / "usbsync_gui" / "resources" / "usbsync.desktop",
        app / "_internal" / "usbsync_gui" / "resources" / "usbsync.desktop",
    )
    for size, name in (("scalable", "usbsync.svg"), ("48x48", "usbsync.png")):
        folder = pkg / "share" / "icons" / "hicolor" / size / "apps"
        folder.mkdir(parents=True)
        (folder / name).write_bytes(b"icon")
    (pkg / "share" / "systemd").mkdir()
    shutil.copy(INSTALLER / "usbsync.service.in", pkg / "share" / "systemd")
    for script in ("install.sh", "uninstall.sh"):
        shutil.copy(INSTALLER / script, pkg / script)
    return pkg


@pytest.fixture
def home(tmp_path: Path) -> Path:
    h = tmp_path / "my home"  # a space: the paths in the entries must be quoted
    (h / ".config" / "other").mkdir(parents=True)  # the user's own: never touched
    (h / ".local" / "bin").mkdir(parents=True)
    (h / ".local" / "bin" / "tool").write_text("#!/bin/sh\n")
    return h


def _run(
    script: Path, home: Path, *args: str, check: bool = True, systemd: bool = False
) -> subprocess.CompletedProcess[str]:
    """``script`` as the user of ``home``, with a stand-in systemctl: never the real user manager. With
    ``systemd``, it answers as a user session's would and logs its arguments to ``systemctl.log``."""
    fake = home.parent / "fakebin"
    fake.mkdir(exist_ok=True)
    log = home.parent / "systemctl.log"
    body = f'echo "$*" >>"{log}"\nexit 0\n' if systemd else "exit 1\n"
    (fake / "systemctl").write_text("#!/bin/sh\n" + body)
    (fake / "systemctl").chmod(0o755)
    env = {"HOME": str(home), "PATH": f"{fake}:/usr/bin:/bin", "LANG": "C.UTF-8"}
    p = subprocess.run(["sh", str(script), *args], env=env, capture_output=True, text=True, timeout=60)
    if check:
        assert p.returncode == 0, p.stdout + p.stderr
    return p


def _tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): ("link" if p.is_symlink() else "dir" if p.is_dir() else p.read_text())
        for p in sorted(root.rglob("*"))
    }


def test_install_then_uninstall_leaves_the_home_as_it_was(package, home):
    before = _tree(home)
    out = _run(package / "install.sh", home).stdout
    lib = home / ".local" / "lib" / "usbsync"
    assert "usbsync 9.9.9 installed in" in out
    assert (home / ".local" / "bin" / "usbsync").resolve() == lib / "usbsync"
    assert (home / ".local" / "bin" / "usbsync-gui").resolve() == lib / "usbsync-gui"
    entry = (home / ".local" / "share" / "applications" / "usbsync.desktop").read_text().splitlines()
    assert f'Exec="{lib}/usbsync-gui"' in entry and f"TryExec={lib}/usbsync-gui" in entry
    assert "Icon=usbsync" in entry
    assert (home / ".local/share/icons/hicolor/scalable/apps/usbsync.svg").is_file()
    assert (home / ".local/share/icons/hicolor/48x48/apps/usbsync.png").is_file()
    unit = (home / ".config" / "systemd" / "user" / "usbsync.service").read_text()
    assert f'ExecStart="{lib}/usbsync" run' in unit
    assert not (home / ".config" / "autostart").exists()  # only with --autostart
    if shutil.which("desktop-file-validate"):
        subprocess.run(
            ["desktop-file-validate", str(home / ".local/share/applications/usbsync.desktop")], check=True
        )

    out = _run(lib / "uninstall.sh", home).stdout
    assert "usbsync removed" in out
    assert _tree(home) == before


def test_a_file_in_the_way_is_refused_before_anything_changes(package, home):
    pip_script = home / ".local" / "bin" / "usbsync"
    pip_script.write_text("#!/bin/sh\n# pip install --user\n")
    before = _tree(home)
    p = _run(package / "install.sh", home, check=False)
    assert p.returncode == 1 and f"{pip_script} exists" in p.stderr
    assert _tree(home) == before


def test_a_failed_install_is_undone(package, home):
    (home / ".local" / "share").mkdir(parents=True)
    (home / ".local" / "share" / "applications").write_text("not a folder")
    before = _tree(home)
    p = _run(package / "install.sh", home, check=False)
    assert p.returncode != 0 and "undoing" in p.stderr
    assert _tree(home) == before


def test_autostart_is_kept_across_an_upgrade_and_removed_with_the_app(package, home):
    _run(package / "install.sh", home, "--autostart")
    login = home / ".config" / "autostart" / "usbsync.desktop"
    lib = home / ".local" / "lib" / "usbsync"
    assert f"TryExec={lib}/usbsync-gui" in login.read_text().splitlines()
    assert "X-GNOME-Autostart-enabled=true" in login.read_text()
    out = _run(package / "install.sh", home).stdout  # an upgrade, without the flag
    assert "replacing" in out and login.is_file()
    _run(package / "uninstall.sh", home)
    assert not login.exists() and not (home / ".config" / "autostart").exists()


def test_the_apps_own_login_entry_for_this_install_goes_and_another_stays(package, home):
    _run(package / "install.sh", home)
    lib = home / ".local" / "lib" / "usbsync"
    login = home / ".config" / "autostart" / "usbsync.desktop"
    login.parent.mkdir()
    # What Settings > Start at login writes in the frozen app (platform/autostart.py): it starts this install.
    login.write_text(
        f"[Desktop Entry]\nType=Application\nExec={lib}/usbsync-gui\nTryExec={lib}/usbsync-gui\n"
    )
    _run(lib / "uninstall.sh", home)
    assert not login.exists()
    assert login.parent.is_dir()  # the folder was not the installer's

    other = "[Desktop Entry]\nType=Application\nExec=/opt/venv/bin/usbsync-gui\nTryExec=/opt/venv/bin/usbsync-gui\n"
    login.write_text(other)
    out = _run(package / "install.sh", home, "--autostart").stdout
    assert "left as it was" in out and login.read_text() == other
    _run(package / "uninstall.sh", home)
    assert login.read_text() == other


def test_the_service_is_enabled_only_when_asked_and_disabled_by_the_uninstall(package, home):
    log = home.parent / "systemctl.log"
    _run(package / "install.sh", home, systemd=True)
    calls = log.read_text().splitlines()
    assert "--user daemon-reload" in calls and not any("enable" in c for c in calls)
    _run(package / "install.sh", home, "--enable-service", systemd=True)  # an upgrade that asks for it
    assert "--user enable --now usbsync.service" in log.read_text().splitlines()
    log.unlink()
    _run(package / "install.sh", home, systemd=True)  # an upgrade keeps it
    assert log.read_text().splitlines()[-1] == "--user enable --now usbsync.service"
    log.unlink()
    _run(package / "uninstall.sh", home, systemd=True)
    calls = log.read_text().splitlines()
    assert calls.index("--user disable --now usbsync.service") < calls.index("--user daemon-reload")
    assert not (home / ".config" / "systemd").exists()


def test_uninstall_without_an_install_says_so(package, home):
    p = _run(package / "uninstall.sh", home, check=False)
    assert p.returncode == 1 and "no usbsync installed by install.sh" in p.stderr
