import configparser
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest

from tests.conftest import byte_names
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
    # All written: flushed and read back from the drive before it counts, said so (not "100 %").
    look = tray_look(copying, CopyProgress("big.jpg", 8_000_000, 8_000_000))
    assert look.tooltip.startswith("usbsync: verifying big.jpg (8.0 MB)") and "100%" not in look.tooltip
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
    # The entry starts this interpreter's installation, with its USBSYNC_HOME and an icon that exists.
    from usbsync_gui.views.resources import app_icon_file

    if sys.platform == "win32":
        pytest.skip("the XDG autostart entry is Linux's; Windows writes the Run key")
    xdg = tmp_path / "autostart" / "usbsync.desktop"
    home = tmp_path / "usb sync home"
    monkeypatch.setenv("USBSYNC_HOME", str(home))
    assert not autostart.is_enabled()
    autostart.set_enabled(True)
    assert autostart.is_enabled()
    entry = _read_entry(xdg)
    assert (entry["Type"], entry["Name"], entry["Terminal"]) == ("Application", "usbsync", "false")
    argv = _exec_argv(entry["Exec"])
    _assert_starts_this_installation(argv)
    assert argv[-2:] == ["--home", str(home.resolve())]
    assert _unescape_string(entry["TryExec"]) == argv[0]
    icon = Path(_unescape_string(entry["Icon"]))
    assert icon.is_absolute() and icon.is_file() and icon == app_icon_file()
    assert "Path" not in entry  # an installed package: started where the session starts it
    autostart.set_enabled(False)
    assert not autostart.is_enabled() and not xdg.exists()
    autostart.set_enabled(False)  # already off: nothing to do


def _unescape_string(value: str) -> str:
    """A Desktop Entry string value's escapes (\\s \\n \\t \\r \\\\), undone."""
    out, chars = [], iter(value)
    for c in chars:
        out.append({"s": " ", "n": "\n", "t": "\t", "r": "\r", "\\": "\\"}[next(chars)] if c == "\\" else c)
    return "".join(out)


def _exec_argv(value: str) -> list[str]:
    """An Exec value as the program and its arguments, read by the Desktop Entry Specification's rules: string
    escapes first; then an argument is either free of reserved characters or wholly in double quotes, inside
    which a backslash escapes " ` $ and itself; %% is a literal %."""
    text, args, current, i = _unescape_string(value), [], None, 0
    while i < len(text):
        c = text[i]
        if c == " ":
            if current is not None:
                args.append(current)
            current = None
        elif c == '"':
            assert current is None, f"a quote inside an argument: {text!r}"
            current, i = "", i + 1
            while text[i] != '"':
                if text[i] == "\\":
                    assert text[i + 1] in '"`$\\', f"a stray backslash: {text!r}"
                    i += 1
                current += text[i]
                i += 1
            assert i + 1 == len(text) or text[i + 1] == " ", (
                f"a quoted argument is a whole argument: {text!r}"
            )
        else:
            assert c not in " \t\n\"'\\><~|&;$*?#()`", f"a reserved character outside quotes: {text!r}"
            current = (current or "") + c
        i += 1
    if current is not None:
        args.append(current)
    return [a.replace("%%", "%") for a in args]


def _read_entry(path: Path) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string(path.read_text(encoding="utf-8"))
    assert parser.sections() == ["Desktop Entry"]
    return dict(parser["Desktop Entry"])


@pytest.fixture
def xdg(tmp_path, monkeypatch) -> Path:
    """Where the login entry goes, in a temporary XDG_CONFIG_HOME. (On Windows the entry is a Run key.)"""
    if sys.platform == "win32":
        pytest.skip("the XDG autostart entry is Linux's; Windows writes the Run key")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return tmp_path / "config" / "autostart" / "usbsync.desktop"


def _assert_starts_this_installation(argv: list[str]) -> None:
    """argv[0] is this interpreter's installed usbsync-gui launcher, or this interpreter running the module."""
    if argv[:3] == [sys.executable, "-m", "usbsync_gui.gui"]:
        return
    launcher = Path(argv[0])
    assert launcher.name == "usbsync-gui" and launcher.is_file()
    assert launcher.parent in {
        Path(sysconfig.get_path("scripts")),
        Path(sysconfig.get_path("scripts", sysconfig.get_preferred_scheme("user"))),
    }
    text = launcher.read_text()
    assert "from usbsync_gui.gui import main" in text
    shebang = text.splitlines()[0]
    if shebang.startswith("#!/") and not shebang.startswith("#!/bin/sh"):
        assert Path(shebang[2:].strip()).parent == Path(sys.executable).parent  # this interpreter's folder


def test_without_usbsync_home_the_entry_uses_the_default_folders(xdg, monkeypatch):
    monkeypatch.delenv("USBSYNC_HOME", raising=False)
    autostart.set_enabled(True)
    argv = _exec_argv(_read_entry(xdg)["Exec"])
    _assert_starts_this_installation(argv)
    assert "--home" not in argv


HOSTILE = 'it\'s "my" $HOME `x` 100% \\back\\ ~(a|b);&<>*?#\tend'


def test_a_home_path_with_reserved_characters_survives_the_exec_quoting(xdg, tmp_path, monkeypatch):
    home = tmp_path / HOSTILE
    monkeypatch.setenv("USBSYNC_HOME", str(home))
    autostart.set_enabled(True)
    assert _exec_argv(_read_entry(xdg)["Exec"])[-2:] == ["--home", str(home.resolve())]


def test_the_entry_passes_desktop_file_validate(xdg, tmp_path, monkeypatch):
    tool = shutil.which("desktop-file-validate")
    if tool is None:
        pytest.skip("desktop-file-validate is not installed (Debian package desktop-file-utils)")
    monkeypatch.setenv("USBSYNC_HOME", str(tmp_path / HOSTILE))
    autostart.set_enabled(True)
    r = subprocess.run([tool, str(xdg)], capture_output=True, text=True, timeout=30)
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")


def test_glib_reads_the_exec_line_back_as_the_same_arguments(tmp_path):
    """What the session actually runs: GLib's launcher (gio launch) starts a probe from an Exec line built the
    same way and the probe records the arguments it got."""
    if not sys.platform.startswith("linux"):
        pytest.skip("the XDG autostart entry and GLib's launcher are Linux's; Windows writes the Run key")
    gio = shutil.which("gio")
    if gio is None:
        pytest.skip("gio is not installed (Debian package libglib2.0-bin)")
    probe, out = tmp_path / "probe.py", tmp_path / "argv.json"
    probe.write_text(f"import json, sys\nopen({str(out)!r}, 'w').write(json.dumps(sys.argv[1:]))\n")
    args = ["--home", str(tmp_path / HOSTILE), " leading space", "a=b", "%u"]
    desktop = tmp_path / "probe.desktop"
    desktop.write_text(
        "[Desktop Entry]\nType=Application\nName=probe\n"
        f"Exec={autostart.exec_value([sys.executable, str(probe), *args])}\n",
        encoding="utf-8",
    )
    r = subprocess.run([gio, "launch", str(desktop)], capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        pytest.skip(f"gio launch cannot start programs here: {r.stderr.strip()}")
    deadline = time.monotonic() + 20
    while not out.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert json.loads(out.read_text()) == args


def test_without_an_installed_launcher_this_python_runs_the_module(xdg, monkeypatch):
    monkeypatch.setattr(autostart, "_installed_launcher", lambda: None)
    monkeypatch.delenv("USBSYNC_HOME", raising=False)
    autostart.set_enabled(True)
    assert _exec_argv(_read_entry(xdg)["Exec"]) == [sys.executable, "-m", "usbsync_gui.gui"]


def test_a_source_checkout_that_was_never_installed_is_started_in_its_folder(xdg, monkeypatch):
    monkeypatch.setattr(autostart.importlib.metadata, "entry_points", lambda **_: ())
    monkeypatch.delenv("USBSYNC_HOME", raising=False)
    autostart.set_enabled(True)
    entry = _read_entry(xdg)
    assert _exec_argv(entry["Exec"]) == [sys.executable, "-m", "usbsync_gui.gui"]
    folder = Path(_unescape_string(entry["Path"]))
    assert (folder / "usbsync_gui" / "gui.py").samefile(Path(autostart.__file__).parents[1] / "gui.py")


def test_a_frozen_build_starts_its_tray_executable(xdg, tmp_path, monkeypatch):
    (tmp_path / "dist").mkdir()
    cli, gui = tmp_path / "dist" / "usbsync", tmp_path / "dist" / "usbsync-gui"
    for exe in (cli, gui):
        exe.write_text("")
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(cli))
    monkeypatch.setenv("USBSYNC_HOME", str(tmp_path / "home"))
    autostart.set_enabled(True)
    entry = _read_entry(xdg)
    assert _exec_argv(entry["Exec"]) == [str(gui), "--home", str((tmp_path / "home").resolve())]
    assert "Path" not in entry


def test_windows_run_key_starts_the_windowed_python_with_its_home(tmp_path, monkeypatch):
    folder = tmp_path / "Python 3"
    folder.mkdir()
    for name in ("python.exe", "pythonw.exe"):
        (folder / name).write_text("")
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setattr(sys, "executable", str(folder / "python.exe"))
    monkeypatch.setenv("USBSYNC_HOME", str(tmp_path / "my home"))
    # No usbsync-gui.exe in this installation's file list: the module, under pythonw (no console window).
    monkeypatch.setattr(autostart, "_installed_launcher", lambda: None)
    assert autostart.launch_command() == [
        str(folder / "pythonw.exe"),
        "-m",
        "usbsync_gui.gui",
        "--home",
        str((tmp_path / "my home").resolve()),
    ]
    assert autostart.run_value() == subprocess.list2cmdline(autostart.launch_command())
    assert autostart.run_value().startswith(f'"{folder / "pythonw.exe"}" -m usbsync_gui.gui --home "')


@byte_names
def test_a_path_a_desktop_entry_cannot_hold_is_an_oserror_and_no_entry(xdg, tmp_path, monkeypatch):
    monkeypatch.setenv("USBSYNC_HOME", os.fsdecode(bytes(tmp_path) + b"/\xff"))  # not UTF-8
    with pytest.raises(OSError, match="not valid UTF-8"):
        autostart.set_enabled(True)
    assert not autostart.is_enabled() and not xdg.parent.exists()


@pytest.mark.skipif(sys.platform != "win32", reason="the Run key is Windows' (make test-windows)")
def test_the_real_run_key_starts_the_windowed_launcher_never_python_exe(monkeypatch):
    import winreg

    monkeypatch.delenv("USBSYNC_HOME", raising=False)
    was = autostart.is_enabled()
    autostart.set_enabled(True)
    try:
        with winreg.OpenKey(winreg.HKEY_CURRENT_USER, autostart.RUN_KEY) as key:
            value, kind = winreg.QueryValueEx(key, autostart.VALUE_NAME)
        assert kind == winreg.REG_SZ and autostart.is_enabled()
        exe = value.split('"')[1] if value.startswith('"') else value.split(" ")[0]
        # The gui-scripts launcher pip made (a windowed .exe), or pythonw: no console window at login.
        assert os.path.basename(exe).lower() in ("usbsync-gui.exe", "pythonw.exe"), value
        assert os.path.isfile(exe)
        autostart.set_enabled(False)  # removed: the value is gone, not emptied
        with (
            winreg.OpenKey(winreg.HKEY_CURRENT_USER, autostart.RUN_KEY) as key,
            pytest.raises(FileNotFoundError),
        ):
            winreg.QueryValueEx(key, autostart.VALUE_NAME)
        assert not autostart.is_enabled()
        autostart.set_enabled(False)  # removing what is not there is no error
    finally:
        autostart.set_enabled(was)  # a developer's own Windows keeps its login entry
