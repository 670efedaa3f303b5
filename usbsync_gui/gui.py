"""``usbsync-gui``: the tray application on the same engine as ``usbsync run``.

One instance per user: starting it again brings the running one's status window forward (through the
engine's command channel) and exits. With no configuration yet, the first-run wizard comes first; cancelling
it leaves nothing behind.
"""

from __future__ import annotations

import logging
import sys

from PySide6.QtWidgets import QApplication, QDialog, QMessageBox

from usbsync_gui.core.audit import setup_logging
from usbsync_gui.core.config import ConfigError, load_config
from usbsync_gui.core.instance_lock import AlreadyRunning, InstanceLock
from usbsync_gui.core.paths import app_paths
from usbsync_gui.core.state import StateDB

log = logging.getLogger("usbsync_gui.gui")


def _has_display() -> bool:
    import os

    if sys.platform in ("win32", "darwin") or os.environ.get("QT_QPA_PLATFORM"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def main(argv: list[str] | None = None) -> int:
    if not _has_display():
        from usbsync_gui.cli import main as cli_main

        print(
            "usbsync-gui: no display here: running the engine in this terminal instead (usbsync run)",
            file=sys.stderr,
        )
        return cli_main(["run"])
    paths = app_paths()
    paths.ensure()
    app = QApplication(argv if argv is not None else sys.argv)
    app.setApplicationName("usbsync")
    app.setQuitOnLastWindowClosed(False)
    from usbsync_gui.views.resources import app_icon

    app.setWindowIcon(app_icon())
    lock = InstanceLock(paths.lock_file, paths.pid_file)
    try:
        lock.acquire()
    except AlreadyRunning as exc:
        from usbsync_gui.engine.control import send_command

        reply = send_command(paths.control_endpoint, {"cmd": "show"})
        if reply and reply.get("ok"):
            print(reply["message"])
            return 0
        print(f"usbsync-gui: {exc}", file=sys.stderr)
        return 3
    try:
        setup_logging(paths.log_dir, console=True)
        if not paths.config_file.exists():
            from usbsync_gui.views.wizard import FirstRunWizard

            wizard = FirstRunWizard(paths)
            if wizard.exec() != QDialog.DialogCode.Accepted:
                log.info("set-up cancelled: no configuration written")
                return 0
        try:
            config = load_config(paths.config_file)
        except ConfigError as exc:
            QMessageBox.critical(None, "usbsync", str(exc))
            print(f"usbsync-gui: {exc}", file=sys.stderr)
            return 2
        return run_app(app, paths, config)
    finally:
        lock.release()


def run_app(app: QApplication, paths: object, config: object) -> int:
    from usbsync_gui.core.config import Config
    from usbsync_gui.core.paths import AppPaths
    from usbsync_gui.engine.engine import Engine
    from usbsync_gui.engine.quit_signals import install_quit_signals
    from usbsync_gui.views.context import ViewContext
    from usbsync_gui.views.tray import TrayController

    assert isinstance(paths, AppPaths) and isinstance(config, Config)
    engine = Engine(paths, config, app)
    db = StateDB(paths.state_db)
    ctx = ViewContext(paths, config, db, engine)
    tray = TrayController(ctx, app)
    engine.command_hook = tray.on_command
    engine.database_rebuilt.connect(lambda _message: ctx.reopen_db())
    restore = install_quit_signals(app)
    engine.start()
    tray.show()
    try:
        app.exec()
    finally:
        tray.close()
        ok = engine.stop()
        ctx.db.close()
        restore()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
