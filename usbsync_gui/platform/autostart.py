"""Start at login: an XDG autostart entry on Linux (``$XDG_CONFIG_HOME/autostart/usbsync.desktop``, per the
freedesktop Desktop Application Autostart Specification), the per-user Run key on Windows
(``HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run``).

The entry starts the installation that wrote it (:func:`launch_command`): the frozen executable; else the
``usbsync-gui`` launcher pip installed with this package for this interpreter (on Windows a windowed .exe);
else this interpreter running ``usbsync_gui.gui`` (``pythonw.exe`` on Windows, so no console opens). A set
``USBSYNC_HOME`` goes along as ``--home``, which works where no environment can be set (a Run key). The Linux
entry's icon is the app icon's absolute path, which exists wherever the app's own icons do.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import sys
import sysconfig
from pathlib import Path

from usbsync_gui.core.paths import HOME_ENV

RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"
VALUE_NAME = "usbsync"
GUI_SCRIPT = "usbsync-gui"  # the gui-scripts entry point in pyproject.toml
COMMENT = "Copy files from your outbox to the right USB drive"

# Characters that make an Exec argument need double quotes (Desktop Entry Specification, "The Exec key"), and
# those that need a backslash inside them.
_EXEC_RESERVED = frozenset(" \t\n\"'\\><~|&;$*?#()`")
_EXEC_ESCAPED = frozenset('"`$\\')


def _autostart_file() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "autostart" / "usbsync.desktop"


def _installed_launcher() -> Path | None:
    """The ``usbsync-gui`` launcher installed with this package's distribution into one of this interpreter's
    script folders (a venv's ``bin``, ``Scripts``, ``~/.local/bin``), from the distribution's file list."""
    names = {f"{GUI_SCRIPT}.exe"} if sys.platform == "win32" else {GUI_SCRIPT}
    folders = {sysconfig.get_path("scripts")}
    with contextlib.suppress(KeyError):
        folders.add(sysconfig.get_path("scripts", sysconfig.get_preferred_scheme("user")))
    ours = {os.path.normcase(os.path.normpath(f)) for f in folders}
    for ep in importlib.metadata.entry_points(group="gui_scripts", name=GUI_SCRIPT):
        files = ep.dist.files if ep.dist is not None else None
        for f in files or ():
            if f.name not in names or ep.dist is None:
                continue
            path = Path(os.path.normpath(str(ep.dist.locate_file(f))))
            if path.is_file() and os.path.normcase(str(path.parent)) in ours:
                return path
    return None


def _interpreter() -> str:
    """This Python; on Windows its windowed twin, which opens no console window."""
    exe = Path(sys.executable)
    if sys.platform == "win32":
        windowed = exe.with_name("pythonw" + exe.suffix)
        if windowed.is_file():
            return str(windowed)
    return str(exe)


def _source_folder() -> Path | None:
    """For a copy of the package that was never installed (run from a source checkout): the folder to start
    ``python -m usbsync_gui.gui`` in so it imports this copy. None when it is installed."""
    if getattr(sys, "frozen", False) or importlib.metadata.entry_points(group="gui_scripts", name=GUI_SCRIPT):
        return None
    return Path(__file__).resolve().parents[2]


def launch_command() -> list[str]:
    """How to start this installation's tray app at login, with ``--home`` when USBSYNC_HOME is set."""
    if getattr(sys, "frozen", False):
        exe = Path(sys.executable)
        gui = exe.with_name(GUI_SCRIPT + exe.suffix)  # the tray app's executable, beside the command line's
        cmd = [str(gui if gui.is_file() else exe)]
    else:
        launcher = _installed_launcher()
        cmd = [str(launcher)] if launcher else [_interpreter(), "-m", "usbsync_gui.gui"]
    home = os.environ.get(HOME_ENV, "").strip()
    if home:
        cmd += ["--home", str(Path(home).expanduser().resolve())]  # as app_paths() resolves it
    return cmd


def _string_value(value: str) -> str:
    """A Desktop Entry string value: backslash, newline, tab and carriage return escaped, a leading space too."""
    out = value.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")
    return "\\s" + out[1:] if out.startswith(" ") else out


def exec_value(cmd: list[str]) -> str:
    """``cmd`` as the value of an Exec key: each argument with a reserved character in double quotes, with
    ``"`$\\`` backslashed inside them, ``%`` doubled (no field codes), then escaped as a string value."""

    def quote(arg: str) -> str:
        arg = arg.replace("%", "%%")
        if arg and not _EXEC_RESERVED.intersection(arg):
            return arg
        return '"' + "".join("\\" + c if c in _EXEC_ESCAPED else c for c in arg) + '"'

    return _string_value(" ".join(quote(a) for a in cmd))


def _icon_value() -> str | None:
    """Icon=: the app icon's absolute path; else the name ``usbsync`` if an icon theme or the pixmaps folder
    has it; else nothing (the entry works without one)."""
    from usbsync_gui.views.resources import app_icon_file

    icon = app_icon_file()
    if icon.is_file():
        return _string_value(str(icon))
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    data_dirs = (os.environ.get("XDG_DATA_DIRS") or "/usr/local/share:/usr/share").split(":")
    for base in (Path(d) for d in [data_home, *data_dirs] if d):
        if any(base.glob("icons/hicolor/*/apps/usbsync.*")) or any(base.glob("pixmaps/usbsync.*")):
            return "usbsync"
    return None


def desktop_entry() -> str:
    """The text of the XDG autostart entry that starts this installation."""
    cmd = launch_command()
    lines = [
        "[Desktop Entry]",
        "Type=Application",
        "Name=usbsync",
        f"Comment={COMMENT}",
        f"Exec={exec_value(cmd)}",
        f"TryExec={_string_value(cmd[0])}",  # the session skips the entry once this installation is gone
    ]
    source = _source_folder()
    if source is not None:
        lines.append(f"Path={_string_value(str(source))}")
    icon = _icon_value()
    if icon is not None:
        lines.append(f"Icon={icon}")
    lines += ["Terminal=false", "X-GNOME-Autostart-enabled=true"]
    return "\n".join(lines) + "\n"


def run_value() -> str:
    """The Windows Run key's value: the command line that starts this installation."""
    import subprocess

    return subprocess.list2cmdline(launch_command())


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
    """Add or remove the login entry. Raises OSError if the file or registry value cannot be written (or a
    path in it is not valid UTF-8, which a desktop entry cannot hold)."""
    if sys.platform == "win32":
        import winreg

        with winreg.CreateKey(winreg.HKEY_CURRENT_USER, RUN_KEY) as key:
            if enabled:
                winreg.SetValueEx(key, VALUE_NAME, 0, winreg.REG_SZ, run_value())
            else:
                with contextlib.suppress(FileNotFoundError):
                    winreg.DeleteValue(key, VALUE_NAME)
        return
    path = _autostart_file()
    if not enabled:
        path.unlink(missing_ok=True)
        return
    try:
        data = desktop_entry().encode("utf-8")
    except UnicodeEncodeError as exc:
        raise OSError(
            f"cannot write the login entry: a path in it is not valid UTF-8 ({exc.reason})"
        ) from exc
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")  # not *.desktop: the session never reads it half-written
    tmp.write_bytes(data)
    os.replace(tmp, path)
