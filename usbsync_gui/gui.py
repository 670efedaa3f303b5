"""``usbsync-gui``: the tray application. Its engine is ``usbsync run`` in a process of its own, started by the
app (or one already running, followed), so the window never waits for the engine's Python
(:mod:`usbsync_gui.engine.engine_process`).

One instance per user: starting it again brings the running one's status window forward (through the app's
own channel, :attr:`AppPaths.gui_endpoint`) and exits. With no configuration yet, the first-run wizard comes first; cancelling
it leaves nothing behind.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QApplication, QDialog, QMessageBox

from usbsync_gui import __version__, restore_builtin_import

# PySide6 is in: its import hook goes before the app's own modules load (6 MiB; see restore_builtin_import).
restore_builtin_import()

from usbsync_gui.core.audit import setup_logging  # noqa: E402
from usbsync_gui.core.config import Config, ConfigError, load_config  # noqa: E402
from usbsync_gui.core.instance_lock import AlreadyRunning, InstanceLock  # noqa: E402
from usbsync_gui.core.paths import HOME_ENV, app_paths  # noqa: E402
from usbsync_gui.core.state import StateDB  # noqa: E402

if TYPE_CHECKING:
    from usbsync_gui.core.paths import AppPaths
    from usbsync_gui.engine.engine_process import EngineProcess
    from usbsync_gui.views.context import ViewContext
    from usbsync_gui.views.notifications import Sender
    from usbsync_gui.views.tray import TrayController

log = logging.getLogger("usbsync_gui.gui")

EXIT_USAGE = 2  # as the usbsync command line

# Set only by the Windows installer's smoke test (installer/windows/smoke_test.sh), which runs the installed app
# under Wine: Wine 8 lacks the WinRT UISettings class that Qt's Windows platform reads the desktop's colours
# from, and QApplication() aborts unless Qt is told not to read the desktop's settings. Real Windows has it.
NO_DESKTOP_SETTINGS_ENV = "USBSYNC_QT_NO_DESKTOP_SETTINGS"

# Qt's own command-line options (QGuiApplication, QApplication and the X11 plugin; see qt6options(7)), which go
# to QApplication untouched. Qt takes them with one dash or two. The ones that take a value take it as the next
# argument or after "=".
QT_OPTIONS_WITH_VALUE = frozenset(
    {
        "-platform",
        "-platformpluginpath",
        "-platformtheme",
        "-plugin",
        "-qwindowgeometry",
        "-qwindowicon",
        "-qwindowtitle",
        "-session",
        "-style",
        "-stylesheet",
        "-qmljsdebugger",
        "-display",
        "-geometry",
        "-title",
        "-name",
        "-visual",
        "-dialogs",
        "-fontengine",
    }
)
QT_FLAGS = frozenset({"-reverse", "-widgetcount", "-nograb", "-dograb", "-sync"})


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"usbsync-gui: {message} (see 'usbsync-gui --help')\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="usbsync-gui",
        description="The usbsync tray app: watches the outbox folders and copies each file to the USB drive "
        "of its category, on the same engine as 'usbsync run'. Where there is no display it runs the engine "
        "in the terminal instead.",
        epilog="Qt's own options (-platform NAME, -style NAME, -reverse, ...) are passed on to Qt.",
        allow_abbrev=False,
    )
    p.add_argument("--version", action="version", version=f"usbsync-gui {__version__}")
    p.add_argument(
        "--home",
        metavar="DIR",
        help=f"keep the configuration, state and logs under DIR (the same as setting {HOME_ENV}=DIR)",
    )
    return p


def parse_args(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    """Split ``argv`` (program name first) into this program's options and the argument list for QApplication
    (the program name and Qt's own options). Exits with status 2 and one line on stderr on anything else, and
    with status 0 after printing ``--help`` or ``--version``."""
    qt_argv = list(argv[:1]) or ["usbsync-gui"]
    ours: list[str] = []
    args = iter(argv[1:])
    for arg in args:
        name, eq, _value = arg.partition("=")
        if name.startswith("--") and name[1:] in QT_OPTIONS_WITH_VALUE | QT_FLAGS:
            name = name[1:]
        if name in QT_FLAGS and not eq:
            qt_argv.append(arg)
        elif name in QT_OPTIONS_WITH_VALUE:
            qt_argv.append(arg)
            if not eq:
                value = next(args, None)
                if value is None:
                    build_parser().error(f"Qt's option {arg} needs a value")
                else:
                    qt_argv.append(value)
        else:
            ours.append(arg)
    ns = build_parser().parse_args(ours)
    if ns.home is not None and not ns.home.strip():
        build_parser().error("--home needs a folder")
    return ns, qt_argv


def desktop_settings_aware(environ: Mapping[str, str]) -> bool:
    """Whether Qt reads the desktop's colours and fonts (Qt's default): not where :data:`NO_DESKTOP_SETTINGS_ENV`
    is "1" (the Windows smoke test under Wine)."""
    return environ.get(NO_DESKTOP_SETTINGS_ENV) != "1"


def _has_display(qt_argv: Sequence[str]) -> bool:
    if sys.platform in ("win32", "darwin") or os.environ.get("QT_QPA_PLATFORM"):
        return True
    if "-platform" in qt_argv[1:] or "--platform" in qt_argv[1:]:
        return True  # a platform chosen on the command line (-platform offscreen, -platform xcb:...)
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def main(argv: list[str] | None = None) -> int:
    """Run the tray app. ``argv`` is the whole command line, program name first (default ``sys.argv``)."""
    args, qt_argv = parse_args(sys.argv if argv is None else argv)
    if args.home is not None:
        os.environ[HOME_ENV] = args.home  # for every part of the app, as USBSYNC_HOME would be
    if not _has_display(qt_argv):
        from usbsync_gui.cli import main as cli_main

        print(
            "usbsync-gui: no display here: running the engine in this terminal instead (usbsync run)",
            file=sys.stderr,
        )
        return cli_main(["run"])
    paths = app_paths()
    paths.ensure()
    QApplication.setDesktopSettingsAware(desktop_settings_aware(os.environ))  # before QApplication exists
    # High-DPI scaling is always on in Qt 6 (the Qt 5 attributes AA_EnableHighDpiScaling and
    # AA_UseHighDpiPixmaps are gone or no-ops); the icons carry 2x pixmaps (views/resources.py).
    app = QApplication(qt_argv)
    app.setApplicationName("usbsync")
    app.setQuitOnLastWindowClosed(False)
    from usbsync_gui.views.app_style import apply_app_style
    from usbsync_gui.views.resources import app_icon

    apply_app_style(app)

    app.setWindowIcon(app_icon())
    # One tray app per user and home. The engine is another process (engine/engine_process.py) with a lock of
    # its own: a `usbsync run` already running is followed, not an obstacle.
    lock = InstanceLock(paths.gui_lock_file, paths.gui_pid_file)
    try:
        lock.acquire()
    except AlreadyRunning as exc:
        from usbsync_gui.engine.control import send_command

        reply = send_command(paths.gui_endpoint, {"cmd": "show"})
        if reply and reply.get("ok"):
            print(reply["message"])
            return 0
        print(f"usbsync-gui: {exc}", file=sys.stderr)
        return 3
    first_run = False
    try:
        setup_logging(paths.log_dir, console=True)
        if not paths.config_file.exists():
            from usbsync_gui.views.wizard import FirstRunWizard

            wizard = FirstRunWizard(paths)
            if wizard.exec() != QDialog.DialogCode.Accepted:
                log.info("set-up cancelled: no configuration written")
                return 0
            first_run = True
        try:
            config = load_config(paths.config_file)
        except ConfigError as exc:
            QMessageBox.critical(None, "usbsync", str(exc))
            print(f"usbsync-gui: {exc}", file=sys.stderr)
            return 2
        return run_app(app, paths, config, first_run)
    finally:
        lock.release()


def run_app(app: QApplication, paths: object, config: object, first_run: bool = False) -> int:
    """The tray app on its engine: ``usbsync run`` in a process of its own (started here, or one already running),
    followed over its command channel; the one summary computed here from the state database and the engine's
    live state. Returns the exit status: 0 after a clean stop of an engine started here."""
    from usbsync_gui.core.paths import AppPaths
    from usbsync_gui.engine.control import ControlServer
    from usbsync_gui.engine.quit_signals import install_quit_signals

    assert isinstance(paths, AppPaths) and isinstance(config, Config)
    ctx, tray, engine = build_tray_app(app, paths, config)
    channel = ControlServer(paths.gui_endpoint, _show_handler(tray), app)
    restore = install_quit_signals(app)
    stop_following = follow_color_scheme(tray)
    engine.start()
    tray.show()
    if first_run:  # the wizard just closed: say where the app went
        welcome(tray, config)
    freeze_startup_objects()
    try:
        app.exec()
    finally:
        stop_following()
        tray.close()
        channel.close()
        ok = engine.stop()
        ctx.tasks.shutdown()
        ctx.db.close()
        restore()
    return 0 if ok else 1


def build_tray_app(
    app: QApplication, paths: AppPaths, config: Config, sender: Sender | None = None
) -> tuple[ViewContext, TrayController, EngineProcess]:
    """The tray app's parts, wired and not yet started: the views' context (with the one summary as the engine
    computed and sent it: :class:`~usbsync_gui.engine.remote.RemoteSummaryFeed`), the tray, and
    the engine process (call ``start()``). ``sender``: the tray's fallback notification sender (tests, the UI
    bench). Used by :func:`run_app` and by ``bench/bench_ui_responsiveness.py --engine-process``."""
    from usbsync_gui.engine.engine_process import EngineProcess
    from usbsync_gui.engine.remote import RemoteEngine, RemoteSummaryFeed
    from usbsync_gui.engine.tasks import TaskRunner
    from usbsync_gui.views.context import ViewContext
    from usbsync_gui.views.tray import TrayController

    db = StateDB(paths.state_db)
    views: list[ViewContext] = []  # the context, once made: the remote and the feed read its config
    remote = RemoteEngine(paths.control_endpoint, lambda: views[0].reload_config(), app)
    runner = TaskRunner(parent=app)
    feed = RemoteSummaryFeed(paths, runner, remote, lambda: views[0].reload_config(), app)
    ctx = ViewContext(paths, config, db, remote, runner, feed)
    views.append(ctx)
    tray = TrayController(ctx, app, sender=sender)
    remote.database_rebuilt.connect(lambda _message: ctx.reopen_db())
    engine = EngineProcess(paths, remote, app)
    engine.failed.connect(
        lambda why: tray.notifications.say("problems", "", "usbsync stopped copying", f"{why}. See the log.")
    )
    return ctx, tray, engine


def _show_handler(tray: TrayController) -> Callable[[dict[str, Any], Callable[[dict[str, Any]], None]], None]:
    """The app's own channel: a second start's "show"."""

    def handle(request: dict[str, Any], reply: Callable[[dict[str, Any]], None]) -> None:
        reply(tray.on_command(request) or {"ok": False, "message": f"unknown command {request.get('cmd')!r}"})

    return handle


def welcome(tray: TrayController, config: Config) -> None:
    """After the set-up wizard: one notification saying where usbsync now lives (its tray icon, or its status
    window on a desktop with no tray: ``tray.in_tray``, after ``tray.show()``) and what to do with it (the
    wizard's window closes and nothing else would show that the app is running)."""
    folders = ", ".join(str(s) for s in config.sources)
    if tray.in_tray:
        where = "Its icon is in the system tray."
        what = "click the icon to see what is waiting, eject a drive or change settings."
    else:
        where = "This desktop has no system tray, so its status window stands in for the icon."
        what = "the window shows what is waiting, and its usbsync menu ejects a drive or changes settings."
    text = f"{where} Files you put in {folders} go to your drives by themselves; {what}"
    tray.notifications.say("welcome", "", "usbsync is running", text)


def freeze_startup_objects() -> None:
    """Collect once, then move every object alive now (modules, classes, Qt wrappers: about 40,000 once the
    tray is up) out of the garbage collector's scans for the rest of the run (``gc.freeze``, Python 3.7+, meant
    for long-lived objects made at start-up). A full collection holds the GIL for as long as it scans, in
    whichever thread triggers it, and the GUI thread needs the GIL for each Python slot: the UI bench measured
    full collections of 26-42 ms during a flood of files, four fifths of the objects scanned from start-up."""
    gc.collect()
    gc.freeze()


def follow_color_scheme(tray: TrayController) -> Callable[[], None]:
    """Redraw the tray icon in the variant for the new scheme when the system switches between light and dark
    (the icon is otherwise set only when the state changes). Returns a function that stops it."""
    from usbsync_gui.views.resources import on_scheme_changed, state_icon

    return on_scheme_changed(lambda _dark: tray.tray.setIcon(state_icon(tray.look.state)))


if __name__ == "__main__":
    sys.exit(main())
