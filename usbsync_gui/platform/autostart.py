"""Start at login: an XDG autostart entry on Linux (``$XDG_CONFIG_HOME/autostart/usbsync.desktop``, per the
freedesktop Desktop Application Autostart Specification), the per-user Run key on Windows
(``HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run``)."""

from __future__ import annotations

import contextlib
import os
import shlex
import sys
from pathlib import Path

RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"
VALUE_NAME = "usbsync"


def _autostart_file() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "autostart" / "usbsync.desktop"


def launch_command() -> list[str]:
    """How to start the tray app: the frozen executable, else this Python running usbsync_gui.gui."""
    if getattr(sys, "frozen", False):
        return [sys.executable]
    return [sys.executable, "-m", "usbsync_gui.gui"]


def is_enabled() -> bool:
    if sys.platform == "win32":
        import winreg

        try:
            with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY) as key:
                winreg.QueryValueEx(key, VALUE_NAME)
            return True
        except OSError:
            return False
    return _autostart_file().exists()


def set_enabled(enabled: bool) -> None:
    """Add or remove the login entry. Raises OSError if the file or registry value cannot be written."""
    cmd = launch_command()
    if sys.platform == "win32":
        import subprocess
        import winreg

        with winreg.CreateKey(winreg.HKEY_CURRENT_USER, RUN_KEY) as key:
            if enabled:
                winreg.SetValueEx(key, VALUE_NAME, 0, winreg.REG_SZ, subprocess.list2cmdline(cmd))
            else:
                with contextlib.suppress(FileNotFoundError):
                    winreg.DeleteValue(key, VALUE_NAME)
        return
    path = _autostart_file()
    if not enabled:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "[Desktop Entry]\nType=Application\nName=usbsync\nComment=Copy files from your outbox to the right USB drive\n"
        f"Exec={shlex.join(cmd)}\nIcon=usbsync\nTerminal=false\nX-GNOME-Autostart-enabled=true\n",
        encoding="utf-8",
    )
