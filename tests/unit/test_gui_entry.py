"""``usbsync-gui``'s command line: --help and --version print and exit without starting anything, a mistake is
one line and status 2, Qt's own options still reach Qt, --home is USBSYNC_HOME."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from usbsync_gui import __version__
from usbsync_gui.core.paths import HOME_ENV, app_paths
from usbsync_gui.gui import main, parse_args

REPO = Path(__file__).resolve().parents[2]


def _env(home: Path, platform: str | None) -> dict[str, str]:
    """The environment of a child process: this checkout first on the path, an isolated USBSYNC_HOME, and either
    no display at all (the case that used to start the engine) or the offscreen platform."""
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY")}
    env.update(PYTHONPATH=str(REPO), **{HOME_ENV: str(home)})
    if platform is not None:
        env["QT_QPA_PLATFORM"] = platform
    return env


def _run(args: list[str], home: Path, platform: str | None, module: str = "usbsync_gui.gui"):
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        env=_env(home, platform),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("platform", [None, "offscreen"], ids=["no-display", "offscreen"])
def test_help_prints_usage_and_exits_without_touching_state(tmp_path, platform):
    home = tmp_path / "home"
    r = _run(["--help"], home, platform)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("usage: usbsync-gui ")
    assert "--version" in r.stdout and "--home DIR" in r.stdout and "-platform" in r.stdout
    assert r.stderr == ""
    assert not home.exists()  # no lock, no state database, no log, no configuration


@pytest.mark.parametrize("platform", [None, "offscreen"], ids=["no-display", "offscreen"])
def test_version_is_the_packages_and_matches_the_command_line(tmp_path, platform):
    home = tmp_path / "home"
    r = _run(["--version"], home, platform)
    assert (r.returncode, r.stdout, r.stderr) == (0, f"usbsync-gui {__version__}\n", "")
    cli = _run(["--version"], home, platform, module="usbsync_gui")
    assert cli.returncode == 0 and cli.stdout.split()[-1] == r.stdout.split()[-1] == __version__
    assert not home.exists()


@pytest.mark.parametrize(
    "args, complaint",
    [
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["-platform", "offscreen", "--bogus"], "unrecognized arguments: --bogus"),
        (["-platform"], "Qt's option -platform needs a value"),
        (["--home", " "], "--home needs a folder"),
        (["stray"], "unrecognized arguments: stray"),
    ],
)
def test_a_mistake_is_one_line_and_status_2_and_nothing_starts(tmp_path, args, complaint):
    home = tmp_path / "home"
    r = _run(args, home, None)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.splitlines() == [f"usbsync-gui: {complaint} (see 'usbsync-gui --help')"]
    assert not home.exists()


def test_qt_options_are_set_aside_for_qapplication():
    ns, qt = parse_args(
        [
            "usbsync-gui",
            "-platform",
            "offscreen",
            "--home",
            "/x",
            "-style=Fusion",
            "--reverse",
            "-session",
            "s1",
        ]
    )
    assert ns.home == "/x"
    assert qt == ["usbsync-gui", "-platform", "offscreen", "-style=Fusion", "--reverse", "-session", "s1"]
    assert parse_args(["usbsync-gui"])[1] == ["usbsync-gui"]


def test_qt_options_reach_qt(tmp_path):
    """The list parse_args hands to QApplication is one Qt understands: the platform and layout direction set
    on the command line take effect, with no display and no QT_QPA_PLATFORM."""
    code = (
        "import sys\n"
        "from PySide6.QtWidgets import QApplication\n"
        "from usbsync_gui.gui import parse_args\n"
        "_, qt = parse_args(['usbsync-gui', '-platform', 'offscreen', '-reverse'])\n"
        "app = QApplication(qt)\n"
        "print(app.platformName(), app.layoutDirection().name, app.arguments()[1:])\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code],
        env=_env(tmp_path / "home", None),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "offscreen RightToLeft []"  # Qt took both options out of the argument list


@pytest.mark.skipif(
    sys.platform == "win32", reason="Windows always has a display: no terminal fallback to take"
)
def test_home_option_is_usbsync_home_for_the_whole_app(tmp_path, monkeypatch):
    """--home DIR puts everything under DIR, here on the path without a display where the engine runs in the
    terminal (its entry point replaced by a probe of where it would keep its files)."""
    import usbsync_gui.cli

    for var in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "elsewhere"))  # restored after the test; --home wins
    seen = []
    monkeypatch.setattr(usbsync_gui.cli, "main", lambda argv: seen.append((argv, app_paths())) or 0)
    assert main(["usbsync-gui", "--home", str(tmp_path / "h")]) == 0
    [(argv, paths)] = seen
    assert argv == ["run"]
    assert paths.config_file == (tmp_path / "h" / "config.toml").resolve()
    assert paths.state_dir == (tmp_path / "h" / "state").resolve()


def test_the_tray_icon_is_redrawn_for_a_new_colour_scheme(tmp_path, monkeypatch, qapp):
    from PySide6.QtCore import QSize, Qt
    from PySide6.QtGui import QGuiApplication

    from usbsync_gui.core.config import new_config
    from usbsync_gui.core.state import StateDB
    from usbsync_gui.gui import follow_color_scheme
    from usbsync_gui.views import resources
    from usbsync_gui.views.context import ViewContext
    from usbsync_gui.views.tray import TrayController

    paths = app_paths({HOME_ENV: str(tmp_path / "home")})
    paths.ensure()
    db = StateDB(paths.state_db)
    tray = TrayController(ViewContext(paths, new_config([tmp_path]), db), qapp, sender=lambda t, b: True)
    stop = follow_color_scheme(tray)
    try:

        def shown():
            return tray.tray.icon().pixmap(QSize(32, 32), 1.0).toImage()

        monkeypatch.setattr(resources, "is_dark", lambda: False)
        QGuiApplication.styleHints().colorSchemeChanged.emit(Qt.ColorScheme.Light)
        light = shown()
        assert light == resources.state_icon("idle").pixmap(QSize(32, 32), 1.0).toImage()
        monkeypatch.setattr(resources, "is_dark", lambda: True)
        QGuiApplication.styleHints().colorSchemeChanged.emit(Qt.ColorScheme.Dark)
        assert shown() != light
        assert shown() == resources.state_icon("idle").pixmap(QSize(32, 32), 1.0).toImage()
    finally:
        stop()
        tray.close()
        db.close()
