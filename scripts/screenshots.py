#!/usr/bin/env python3
"""Screenshots of the tray app on a real (virtual) screen, for docs/screenshots/ and the README.

Runs under Xvfb with trayer as the system-tray host and dunst as the notification daemon on a private session
bus, a real exFAT stick (loop image through exfat-fuse) and the real engine and widgets. Needs root (to mount)
and the Debian packages: xvfb trayer dunst dbus libxcb-cursor0 (and friends) exfatprogs exfat-fuse.

    sudo .venv/bin/python scripts/screenshots.py [OUTDIR]
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def sh(*cmd: str) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()


def main() -> int:
    if "DBUS_SESSION_BUS_ADDRESS" not in os.environ or os.environ.get("USBSYNC_SHOTS") != "1":
        # Re-run inside a private session bus, with a virtual screen.
        display = ":97"
        xvfb = subprocess.Popen(["Xvfb", display, "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                                stderr=subprocess.DEVNULL)
        time.sleep(1)
        # keyring's null backend: gnome-keyring would put up its "new login keyring" password prompt and wait.
        env = {**os.environ, "DISPLAY": display, "USBSYNC_SHOTS": "1", "QT_QPA_PLATFORM": "xcb",
               "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
        env.pop("DBUS_SESSION_BUS_ADDRESS", None)
        try:
            return subprocess.call(["dbus-run-session", "--", sys.executable, __file__, *sys.argv[1:]], env=env)
        finally:
            xvfb.terminate()
    return shoot(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots")


def shoot(out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="usbsync-shots-"))
    os.environ["USBSYNC_HOME"] = str(work / "home")
    os.environ["XDG_CONFIG_HOME"] = str(work / "xdg")
    procs = [
        subprocess.Popen(["trayer", "--edge", "top", "--align", "right", "--SetDockType", "true", "--widthtype",
                          "request", "--height", "28", "--tint", "0x2b2b2b", "--transparent", "true", "--alpha",
                          "0"]),
        subprocess.Popen(["dunst"], stderr=subprocess.DEVNULL),
    ]
    time.sleep(1)
    img, mnt = work / "stick.img", work / "media" / "PHOTOS"
    mnt.mkdir(parents=True)
    sh("truncate", "-s", "512M", str(img))
    sh("mkfs.exfat", "-L", "PHOTOS", str(img))
    loop = sh("losetup", "-f", "--show", str(img))
    sh("mount.exfat-fuse", loop, str(mnt))

    from PySide6.QtCore import QPoint
    from PySide6.QtWidgets import QApplication, QWizard

    from tests.conftest import png_bytes
    from usbsync_gui.core.config import load_config
    from usbsync_gui.core.paths import app_paths
    from usbsync_gui.core.state import StateDB
    from usbsync_gui.engine.engine import Engine
    from usbsync_gui.views.context import ViewContext
    from usbsync_gui.views.resources import app_icon
    from usbsync_gui.views.tray import TrayController
    from usbsync_gui.views.wizard import FirstRunWizard

    app = QApplication([])
    app.setWindowIcon(app_icon())
    app.setQuitOnLastWindowClosed(False)

    def pump(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            app.processEvents()
            time.sleep(0.02)

    def grab(name: str) -> None:
        pump(0.4)
        app.primaryScreen().grabWindow(0).save(str(out / f"{name}.png"))
        print(f"saved {out / (name + '.png')}")

    paths = app_paths()
    paths.ensure()
    wiz = FirstRunWizard(paths)
    wiz.move(220, 120)
    wiz.show()
    grab("wizard-1-sources")
    wiz.next()
    table = wiz.drives_page.table
    row = next(i for i in range(table.rowCount()) if str(mnt) in table.item(i, 0).toolTip())
    table.item(row, 1).setText("Photos")
    table.item(row, 2).setCheckState(table.item(row, 2).checkState().Checked)  # images
    grab("wizard-2-drives")
    wiz.next()
    grab("wizard-3-categories")
    wiz.next()
    grab("wizard-4-finish")
    wiz.button(QWizard.WizardButton.FinishButton).click()
    pump(0.5)

    config = load_config(paths.config_file)
    engine = Engine(paths, config, app)
    db = StateDB(paths.state_db)
    ctx = ViewContext(paths, config, db, engine)
    tray = TrayController(ctx, app)
    engine.command_hook = tray.on_command
    engine.start()
    tray.show()
    pump(1.5)
    # Unplug the stick, drop a camera import: files wait, the tray says which drive is wanted.
    subprocess.run(["umount", str(mnt)], check=True)
    sh("losetup", "-d", loop)
    outbox = paths.default_outbox
    for i in range(240):
        (outbox / f"IMG_{4000 + i}.jpg").write_bytes(png_bytes(i) + random.Random(i).randbytes(random.Random(i).randint(20_000, 900_000)))
    (outbox / "holiday.mov").write_bytes(png_bytes(999) + random.Random(7).randbytes(64 << 20))
    pump(6)
    tray.notifications.flush(force=True)
    pump(1)
    geo = tray.tray.geometry()
    tray.menu.popup(QPoint(max(0, geo.x() - 200), geo.bottom() + 90))  # below the notification
    grab("tray-menu")
    tray.menu.hide()
    tray.show_queue()
    assert tray.queue is not None
    tray.queue.move(120, 80)
    grab("queue-pending")
    tray.queue.hide()
    drives = tray.show_drives()
    drives.move(200, 120)
    grab("drives-dialog")
    drives.close()
    # Plug it back in, slowly: the status window during a copy.
    cfg = paths.config_file
    cfg.write_text(cfg.read_text().replace("max_copy_rate_mib_s = 0.0", "max_copy_rate_mib_s = 6.0"))
    pump(2.5)
    loop = sh("losetup", "-f", "--show", str(img))
    sh("mount.exfat-fuse", loop, str(mnt))
    pump(4)
    tray.show_status()
    tray.status.move(300, 60)
    pump(3)
    grab("status-copying")
    engine.set_paused(True)
    pump(1)
    tray.close()
    engine.stop()
    db.close()
    for p in procs:
        p.terminate()
    subprocess.run(["umount", "-l", str(mnt)], check=False)
    subprocess.run(["losetup", "-d", loop], check=False)
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
