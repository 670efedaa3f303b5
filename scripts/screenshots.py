#!/usr/bin/env python3
"""Screenshots of the tray app on a 1366x768 virtual screen, light and dark, for docs/screenshots/ and the README.

Runs the real engine and widgets under Xvfb (1366x768x24) with openbox as the window manager (title bars),
trayer as the system tray and dunst as the notification daemon on a private session bus, with real exFAT
sticks (loop images through exfat-fuse). Each scheme runs in a child process in a private mount namespace
(``unshare --mount``): the sticks are mounted under a tmpfs ``/media/anna`` there, the user's home is a tmpfs
``/home/anna``, and volumes other sessions have mounted on this machine are hidden from it, so the windows
show only the sticks made here. Every mount and loop device is removed when a child ends, also on failure
(the parent sweeps what a killed child left).

Light is Qt's own palette; dark is the Fusion style with the dark palette Qt's Fusion uses under a dark scheme,
set by this script (``QStyleHints.setColorScheme`` has no effect without a platform theme that supports it, as
on bare Xvfb; the product code is not told anything).

Every window is centred in the screen's available area and its frame (title bar included) checked against the
1366x768 screen: one ``FITS`` or ``DOES NOT FIT`` line per window. Needs root (loop devices, mounts,
namespaces) and the Debian packages xvfb openbox trayer dunst dbus x11-apps (xwd) x11-utils (xwininfo)
x11-xserver-utils (xsetroot) imagemagick exfatprogs exfat-fuse libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1
libxkbcommon-x11-0.

    sudo .venv/bin/python scripts/screenshots.py [OUTDIR]       # default: docs/screenshots
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QWidget, QWizard

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's usbsync_gui, before any installed one

SCREEN = (1366, 768)
SCHEMES = ("light", "dark")
CHILD_TIMEOUT_S = 600
USER_HOME = Path("/home/anna")
MEDIA = Path("/media/anna")
TOOLS = (
    "Xvfb",
    "openbox",
    "trayer",
    "dunst",
    "dunstctl",
    "dbus-run-session",
    "unshare",
    "xwd",
    "xsetroot",
    "xwininfo",
    "mkfs.exfat",
    "mount.exfat-fuse",
    "losetup",
)
CONVERT = "/usr/bin/convert"  # ImageMagick's (a /usr/local/bin/convert stand-in may shadow it)

# (panel tint, desktop colour, openbox theme, dunst background, dunst text, dunst frame)
LOOK = {
    "light": ("0xe4e7eb", "#7b93a8", "Clearlooks", "#ffffff", "#1f2933", "#9aa5b1"),
    "dark": ("0x1f2933", "#1c2630", "Onyx", "#2b2f36", "#e4e7eb", "#52606d"),
}


def sh(*cmd: str) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()


# -- the parent: the screen, one child per scheme, and the sweep after each ------------------------------------


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        return child(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]))
    out = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else ROOT / "docs" / "screenshots"
    if os.geteuid() != 0:
        print("needs root: it mounts loop images and makes a mount namespace", file=sys.stderr)
        return 2
    missing = [t for t in TOOLS if shutil.which(t) is None] + ([] if os.path.exists(CONVERT) else [CONVERT])
    if missing:
        print(f"missing: {', '.join(missing)} (see the docstring for the packages)", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, lambda sig, _frame: sys.exit(128 + sig))  # cleans up like Ctrl-C
    work = Path(tempfile.mkdtemp(prefix="usbsync-shots-"))
    read_fd, write_fd = os.pipe()
    xvfb = subprocess.Popen(
        [
            "Xvfb",
            "-displayfd",
            str(write_fd),
            "-screen",
            "0",
            f"{SCREEN[0]}x{SCREEN[1]}x24",
            "-nolisten",
            "tcp",
        ],
        pass_fds=(write_fd,),
        stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    with os.fdopen(read_fd) as fh:
        number = fh.readline().strip()
    if not number.isdigit():
        xvfb.kill()
        print("Xvfb did not start", file=sys.stderr)
        return 1
    display = f":{number}"
    host_ns = os.readlink("/proc/self/ns/mnt")
    env = {
        **os.environ,
        "DISPLAY": display,
        "QT_QPA_PLATFORM": "xcb",
        "USBSYNC_SHOTS_HOST_NS": host_ns,
        # keyring's null backend: gnome-keyring would put up its "new login keyring" prompt and wait
        "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
    }
    for var in (
        "DBUS_SESSION_BUS_ADDRESS",
        "QT_QPA_PLATFORMTHEME",
        "QT_STYLE_OVERRIDE",
        "USBSYNC_HOME",
        "XDG_CONFIG_HOME",
        "XDG_STATE_HOME",
        "XDG_DATA_HOME",
        "XDG_CACHE_HOME",
    ):
        env.pop(var, None)
    failed = []
    fits: list[str] = []
    try:
        for scheme in SCHEMES:
            sub = work / scheme
            sub.mkdir()
            cmd = [
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "--",
                "dbus-run-session",
                "--",
                sys.executable,
                str(Path(__file__).resolve()),
                "--child",
                scheme,
                str(out),
                str(sub),
            ]
            # A process group of its own: on a timeout (or Ctrl-C here) the child and its helpers are ended
            # together, by that group's id; the child cleans up on SIGTERM, the sweep after it on SIGKILL.
            proc = subprocess.Popen(cmd, env=env, start_new_session=True)
            try:
                rc = proc.wait(timeout=CHILD_TIMEOUT_S)
            except BaseException:
                rc = stop_group(proc)
                sweep(sub, host_ns)
                raise
            sweep(sub, host_ns)
            fits.append((sub / "fits.txt").read_text() if (sub / "fits.txt").exists() else "")
            if rc != 0:
                failed.append(f"{scheme} (exit {rc})")
    finally:
        xvfb.terminate()
        xvfb.wait()
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n== windows against the {SCREEN[0]}x{SCREEN[1]} screen ==")
    print("".join(fits), end="")
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def stop_group(proc: subprocess.Popen[bytes]) -> int:
    """End the process group ``proc`` leads (SIGTERM, then SIGKILL after 30 s). Returns its exit code."""
    for sig, wait in ((signal.SIGTERM, 30.0), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            return proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
    return -9


def die_with_parent() -> None:
    """In a process about to run (preexec_fn) or running: be sent SIGTERM when the parent dies, so nothing of a
    child whose parent was killed keeps running (Linux prctl PR_SET_PDEATHSIG)."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)


def sweep(work: Path, host_ns: str) -> None:
    """After a child: end the exFAT daemons it left on its loop devices (a killed child cannot unmount; its
    mount namespace goes with them), then detach the loop devices of its images. Only what this run made: the
    loop devices backed by its images, and the daemons serving those devices in a namespace not the host's."""
    images = list(work.glob("*.img"))
    loops = {line.split(":", 1)[0] for img in images for line in sh("losetup", "-j", str(img)).splitlines()}
    if not loops:
        return
    for pid_dir in Path("/proc").iterdir():
        if not pid_dir.name.isdigit():
            continue
        try:
            args = [a.decode(errors="replace") for a in (pid_dir / "cmdline").read_bytes().split(b"\0") if a]
            ns = os.readlink(pid_dir / "ns" / "mnt")
        except OSError:
            continue
        if ns != host_ns and args and "exfat" in args[0] and loops & set(args):
            with contextlib.suppress(OSError):
                os.kill(int(pid_dir.name), signal.SIGTERM)
                print(f"sweep: ended exFAT daemon {pid_dir.name} ({' '.join(args)})")
    time.sleep(1)
    for loop in sorted(loops):
        if subprocess.run(["losetup", "-d", loop], capture_output=True).returncode == 0:
            print(f"sweep: detached {loop}")  # (not when the child detached it meanwhile)


# -- the child: one scheme, in its own mount namespace and session bus ------------------------------------------


class Sticks:
    """The loop-image exFAT sticks of one child: made, mounted, and removed again (also on failure)."""

    def __init__(self, work: Path):
        self.work = work
        self.loops: list[str] = []
        self.mounts: list[Path] = []

    def make(self, label: str, mountpoint: Path, size_mib: int) -> Path:
        img = self.work / f"{mountpoint.name}.img"
        sh("truncate", "-s", f"{size_mib}M", str(img))
        sh("mkfs.exfat", "-L", label, str(img))
        loop = sh("losetup", "-f", "--show", str(img))
        self.loops.append(loop)
        mountpoint.mkdir(parents=True, exist_ok=True)
        sh("mount.exfat-fuse", loop, str(mountpoint))
        self.mounts.append(mountpoint)
        return mountpoint

    def remove(self) -> None:
        for m in reversed(self.mounts):
            if subprocess.run(["umount", str(m)], capture_output=True).returncode != 0:
                subprocess.run(["umount", "-l", str(m)], check=False)
        self.mounts.clear()
        time.sleep(0.5)  # the FUSE daemons close their devices
        for loop in reversed(self.loops):
            subprocess.run(["losetup", "-d", loop], check=False, capture_output=True)
        self.loops.clear()


def private_media(host_ns: str) -> None:
    """In this (private) mount namespace: hide the volumes other sessions mounted, and give the user a home and
    a /media of their own (tmpfs: gone with the namespace)."""
    if not host_ns or os.readlink("/proc/self/ns/mnt") == host_ns:
        raise SystemExit("not in a private mount namespace: refusing to unmount anything")
    from usbsync_gui.core.volumes import list_volumes

    for v in list_volumes():
        if v.mountpoint != "/":
            subprocess.run(["umount", "-l", v.mountpoint], check=False)  # this namespace only
    for d in ("/media", "/home"):
        sh("mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", d)
    USER_HOME.mkdir(parents=True)
    MEDIA.mkdir(parents=True)


def child(scheme: str, out: Path, work: Path) -> int:
    die_with_parent()  # dbus-run-session: killed, it would leave this running with its mounts
    private_media(os.environ.get("USBSYNC_SHOTS_HOST_NS", ""))
    os.environ["HOME"] = str(USER_HOME)
    tint, desktop, ob_theme, note_bg, note_fg, note_frame = LOOK[scheme]
    rc_xml = work / "openbox.xml"
    rc_xml.write_text(
        '<?xml version="1.0"?><openbox_config xmlns="http://openbox.org/3.4/rc">'
        f"<theme><name>{ob_theme}</name><titleLayout>NLIMC</titleLayout></theme>"
        "<desktops><number>1</number></desktops></openbox_config>\n"
    )
    dunstrc = work / "dunstrc"
    dunstrc.write_text(
        "[global]\n  monitor = 0\n  follow = none\n  width = 380\n  origin = top-right\n  offset = 12x40\n"
        "  font = DejaVu Sans 10\n  frame_width = 1\n  corner_radius = 6\n  padding = 10\n"
        '  horizontal_padding = 12\n  show_indicators = yes\n  format = "<b>%s</b>\\n%b"\n'
        f'  frame_color = "{note_frame}"\n'
        + "".join(
            f'[urgency_{u}]\n  background = "{note_bg}"\n  foreground = "{note_fg}"\n'
            for u in ("low", "normal", "critical")
        )
    )
    procs: list[subprocess.Popen[bytes]] = []
    sticks = Sticks(work)

    def stop(_sig: int, _frame: object) -> None:
        raise SystemExit(f"stopped by signal {_sig}")

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        procs.append(
            subprocess.Popen(
                ["openbox", "--config-file", str(rc_xml)],
                stderr=subprocess.DEVNULL,
                preexec_fn=die_with_parent,
            )
        )
        time.sleep(0.5)
        sh("xsetroot", "-solid", desktop)  # once a client stays: the server resets when its last one leaves
        procs.append(
            subprocess.Popen(
                [
                    "trayer",
                    "--edge",
                    "top",
                    "--align",
                    "right",
                    "--SetDockType",
                    "true",
                    "--SetPartialStrut",
                    "true",
                    "--widthtype",
                    "request",
                    "--height",
                    "28",
                    "--tint",
                    tint,
                    "--transparent",
                    "true",
                    "--alpha",
                    "0",
                ],
                stderr=subprocess.DEVNULL,
                preexec_fn=die_with_parent,
            )
        )
        procs.append(
            subprocess.Popen(
                ["dunst", "-config", str(dunstrc)], stderr=subprocess.DEVNULL, preexec_fn=die_with_parent
            )
        )
        time.sleep(1)
        photos = sticks.make("PHOTOS", MEDIA / "PHOTOS", 1024)
        sticks.make("PHOTOS", MEDIA / "PHOTOS1", 256)  # a second stick with the same label: new here
        videos = sticks.make("VIDEOS", MEDIA / "VIDEOS", 64)  # too full for the holiday video
        family = sticks.make("FAMILY", MEDIA / "FAMILY", 128)
        register_elsewhere(family, work)
        return Shooter(scheme, out, work, photos, videos).run()
    finally:
        sticks.remove()
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()


def register_elsewhere(mountpoint: Path, work: Path) -> None:
    """Register the stick at ``mountpoint`` in another usbsync installation (its own home and secret)."""
    from usbsync_gui.core.config import new_config
    from usbsync_gui.core.paths import app_paths
    from usbsync_gui.core.registration import register_volume

    other = app_paths({"USBSYNC_HOME": str(work / "other-installation")})
    other.ensure()
    register_volume(other, new_config([other.default_outbox]), mountpoint, "Family album", ["images"])


def jpeg(seed: int, size: int) -> bytes:
    """A file libmagic calls image/jpeg, ``size`` bytes."""
    head = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    return head + random.Random(seed).randbytes(size - len(head))


def quicktime(size: int) -> bytes:
    """A file libmagic calls video/quicktime, ``size`` bytes."""
    head = b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  \x00\x00\x00\x08wide"
    return head + random.Random(7).randbytes(size - len(head))


def dark_palette() -> QPalette:
    """The palette Qt's Fusion style itself uses under a dark colour scheme (the recipe of ``qt_fusionPalette`` in
    qtbase's qplatformtheme.cpp), for a platform theme that cannot switch the scheme."""
    R, G = QPalette.ColorRole, QPalette.ColorGroup
    text = QColor(240, 240, 240)
    window = QColor(50, 50, 50)
    dark = window.darker(150)
    shadow = dark.darker(135)
    highlight = QColor(48, 140, 198)
    p = QPalette(text, window, window.lighter(150), dark, window.darker(130), text, window.darker(140))
    p.setColor(R.Midlight, window.darker(130).lighter(110))
    p.setColor(R.Button, window)
    p.setColor(R.Shadow, shadow)
    p.setColor(R.HighlightedText, text)
    for role in (R.Text, R.WindowText, R.ButtonText):
        p.setColor(G.Disabled, role, QColor(130, 130, 130))
    p.setColor(G.Disabled, R.Base, window)
    p.setColor(G.Disabled, R.Dark, QColor(209, 209, 209).darker(110))
    p.setColor(G.Disabled, R.Shadow, shadow.lighter(150))
    for group in (G.Active, G.Inactive):
        p.setColor(group, R.Highlight, highlight)
    p.setColor(G.Disabled, R.Highlight, QColor(145, 145, 145))
    placeholder = QColor(text)
    placeholder.setAlpha(128)
    p.setColor(R.PlaceholderText, placeholder)
    p.setColor(R.Link, highlight)
    return p


class Shooter:
    """The app's windows, one screenshot each."""

    def __init__(self, scheme: str, out: Path, work: Path, photos: Path, videos: Path):
        self.scheme = scheme
        self.out = out
        self.work = work
        self.photos, self.videos = photos, videos
        self.fits: list[str] = []
        self.app = QApplication(["usbsync"])
        if scheme == "dark":
            self.app.setStyle("Fusion")
            self.app.setPalette(dark_palette())
        from usbsync_gui.views.app_style import apply_app_style
        from usbsync_gui.views.resources import app_icon

        apply_app_style(self.app)  # as the app does (gui.py)

        self.app.setWindowIcon(app_icon())
        self.app.setQuitOnLastWindowClosed(False)

    # -- helpers --------------------------------------------------------------------------------------------

    def pump(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.app.processEvents()
            time.sleep(0.02)

    def wait_for(self, what: str, cond: Callable[[], bool], timeout: float = 30.0) -> None:
        end = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > end:
                raise RuntimeError(f"timed out waiting for {what}")
            self.pump(0.1)

    @staticmethod
    def notes(what: str) -> int:
        """How many notifications dunst has ``displayed`` or ``waiting``."""
        out = subprocess.run(["dunstctl", "count", what], capture_output=True, text=True).stdout.strip()
        return int(out) if out.isdigit() else 0

    def quiet(self) -> None:
        """No notification in the way of a window's screenshot: dunst is paused (it holds what comes) and the
        ones on screen are closed."""
        subprocess.run(["dunstctl", "set-paused", "true"], check=False)
        subprocess.run(["dunstctl", "close-all"], check=False)
        self.wait_for("no notification on screen", lambda: self.notes("displayed") == 0, timeout=10)
        self.pump(0.3)  # repainted where one was

    def unquiet(self) -> None:
        """Let dunst show notifications again, after closing the ones it held meanwhile."""
        subprocess.run(["dunstctl", "set-paused", "false"], check=False)

        def none_left() -> bool:
            subprocess.run(["dunstctl", "close-all"], check=False)
            self.pump(0.3)
            return self.notes("displayed") == 0 and self.notes("waiting") == 0

        self.wait_for("the held notifications closed", none_left, timeout=20)

    def place(self, w: QWidget) -> QRect:
        """Show ``w``, then move it centred (frame and all) in the screen's available area. Returns the frame
        where it first opened (Qt's and the window manager's own placement), checked as well."""
        w.show()
        w.raise_()
        w.activateWindow()
        self.pump(1.0)  # mapped, framed and placed by the window manager
        opened = w.frameGeometry()
        avail = w.screen().availableGeometry()
        for _ in range(20):  # the window manager may still be placing it: until it stays where it was put
            frame = w.frameGeometry()
            x = avail.x() + max(0, (avail.width() - frame.width()) // 2)
            y = avail.y() + max(0, (avail.height() - frame.height()) // 2)
            if (frame.x(), frame.y()) == (x, y):
                self.pump(0.4)
                if (w.frameGeometry().x(), w.frameGeometry().y()) == (x, y):
                    break
            w.move(x, y)
            self.pump(0.3)
        return opened

    def check(
        self,
        name: str,
        frame: QRect,
        titled: bool = True,
        inner: QRect | None = None,
        opened: QRect | None = None,
    ) -> None:
        """One FITS / DOES NOT FIT line: ``frame`` (a QRect, the title bar included) against the screen; and
        where the window first opened (``opened``), if that was not on the screen."""
        screen = QRect(0, 0, *SCREEN)
        avail = self.app.primaryScreen().availableGeometry()
        ok = screen.contains(frame)
        verdict = "FITS" if ok else "DOES NOT FIT"
        notes = []
        if titled and inner is not None:
            bar = inner.y() - frame.y()
            notes.append(f"title bar {bar} px" if bar > 0 else "NO TITLE BAR (no window manager frame)")
            if bar <= 0 and ok:
                verdict = "NOT CHECKED"  # the size with a title bar is not known
        if ok and not avail.contains(frame):
            notes.append("overlaps the panel")
        if opened is not None and not screen.contains(opened):
            notes.append(
                f"but it OPENED PARTLY OFF-SCREEN at ({opened.x()},{opened.y()}) before it was centred"
            )
        line = (
            f"{verdict}  {name}-{self.scheme}: frame {frame.width()}x{frame.height()}"
            f" at ({frame.x()},{frame.y()}), screen {SCREEN[0]}x{SCREEN[1]}, available "
            f"{avail.width()}x{avail.height()} at ({avail.x()},{avail.y()})"
            + (f"; {', '.join(notes)}" if notes else "")
        )
        print(line, flush=True)
        self.fits.append(line)

    def grab(self, name: str) -> None:
        self.pump(0.5)
        path = self.out / f"{name}-{self.scheme}.png"
        xwd = subprocess.run(["xwd", "-root", "-silent"], check=True, capture_output=True).stdout
        subprocess.run([CONVERT, "xwd:-", str(path)], input=xwd, check=True)
        print(f"saved {path}", flush=True)

    def window(self, name: str, w: QWidget) -> None:
        self.quiet()
        opened = self.place(w)
        self.check(name, w.frameGeometry(), inner=w.geometry(), opened=opened)
        self.grab(name)

    def x_window(self, title: str) -> QRect | None:
        """The geometry of the X window called ``title`` (dunst's), from xwininfo."""
        for line in sh("xwininfo", "-root", "-tree").splitlines():
            if f'"{title}"' in line and "x" in line:
                for tok in line.split():
                    if tok.count("+") == 2 and "x" in tok.split("+")[0]:
                        size, x, y = tok.split("+")
                        w, h = size.split("x")
                        if int(w) > 1 and int(h) > 1:
                            return QRect(int(x), int(y), int(w), int(h))
        return None

    # -- the tour -------------------------------------------------------------------------------------------

    def run(self) -> int:
        from usbsync_gui.core.config import load_config, update_config
        from usbsync_gui.core.paths import app_paths
        from usbsync_gui.core.state import StateDB
        from usbsync_gui.core.summary import DriveState
        from usbsync_gui.engine.engine import Engine
        from usbsync_gui.views.context import ViewContext
        from usbsync_gui.views.drives_dialog import DrivesDialog
        from usbsync_gui.views.settings_dialog import SettingsDialog
        from usbsync_gui.views.tray import TrayController
        from usbsync_gui.views.wizard import FirstRunWizard

        app = self.app
        paths = app_paths()
        paths.ensure()
        print(f"usbsync_gui from {sys.modules['usbsync_gui.views.wizard'].__file__}", flush=True)

        # The first-run wizard, every page; on the drives page the sticks get a name and a kind of file.
        wiz = FirstRunWizard(paths)
        self.window("wizard-1-sources", wiz)
        wiz.next()
        page = wiz.drives_page
        self.wait_for(
            "the wizard's look at the volumes",
            lambda: len(page.rows) == 4 and all(r.pv is not None for r in page.rows),
        )
        cats = page.categories
        for i, r in enumerate(page.rows):
            tick = {str(self.photos): "images", str(self.videos): "videos"}.get(r.mountpoint)
            if tick:
                box = page.table.item(i, 2 + cats.index(tick))
                assert box is not None
                box.setCheckState(Qt.CheckState.Checked)
        self.pump(0.5)
        self.window("wizard-2-drives", wiz)
        wiz.next()
        self.window("wizard-3-categories", wiz)
        wiz.next()
        self.window("wizard-4-finish", wiz)
        wiz.button(QWizard.WizardButton.FinishButton).click()
        self.pump(0.5)
        assert not wiz.problems, wiz.problems

        # Copy slowly at first, so that the windows catch Photos while it is being filled.
        update_config(paths.config_file, lambda c: replace(c, max_copy_rate_mib_s=1.0))
        config = load_config(paths.config_file)
        engine = Engine(paths, config, app)
        db = StateDB(paths.state_db)
        ctx = ViewContext(paths, config, db, engine)
        tray = TrayController(ctx, app)
        engine.command_hook = tray.on_command
        engine.start()
        tray.show()
        self.pump(2)
        # A camera import into the outbox, in folders; a holiday video too big for the Videos stick.
        outbox = paths.default_outbox
        (outbox / "Holiday 2024").mkdir(parents=True, exist_ok=True)
        # Fits the empty stick (64 MiB) but not what is left beside the films already on it: "does not fit".
        (self.videos / "Family films.mov").write_bytes(quicktime(36 << 20))
        (outbox / "Holiday 2024" / "Boat trip.mov").write_bytes(quicktime(40 << 20))
        self.pump(1)
        rnd = random.Random(1)
        n = 0
        for folder, count in (
            ("Holiday 2024/Day 1 - Beach", 18),
            ("Holiday 2024/Day 2 - Old town", 22),
            ("Birthday Anna", 14),
        ):
            (outbox / folder).mkdir(parents=True, exist_ok=True)
            for _ in range(count):
                n += 1
                (outbox / folder / f"IMG_{2040 + n}.jpg").write_bytes(
                    jpeg(n, rnd.randint(600_000, 2_000_000))
                )

        def state(name: str) -> DriveState | None:
            s = tray.summary
            d = next((d for d in s.drives if d.name == name), None) if s else None
            return d.state if d else None

        self.wait_for(
            "Photos copying and Videos full",
            lambda: state("Photos") is DriveState.COPYING and state("Videos") is DriveState.DOES_NOT_FIT,
            timeout=60,
        )
        self.pump(4)  # the notifications about it: held by dunst while the windows are taken

        # The tray icon with its menu open, under the icon as a right-click opens it.
        self.quiet()
        icon = tray.tray.geometry()
        tray.menu.popup(QPoint(icon.left(), icon.bottom() + 1))
        self.pump(0.6)
        self.check("tray-menu", tray.menu.frameGeometry(), titled=False)
        self.grab("tray-menu")
        tray.menu.hide()

        tray.show_status()
        self.window("status", tray.status)
        tray.status.hide()

        tray.show_queue()
        assert tray.queue is not None
        self.window("queue", tray.queue)
        tray.queue.hide()

        drives = tray.show_drives()
        assert isinstance(drives, DrivesDialog)
        self.wait_for(
            "the drives dialog's look at the volumes",
            lambda: drives._scanned_once and not drives._scanning and len(drives.plugged) == 4,
        )
        self.window("drives", drives)
        drives.close()

        settings = tray.show_settings()
        assert isinstance(settings, SettingsDialog)
        settings.tabs.setCurrentIndex(0)
        self.window("settings-general", settings)
        settings.tabs.setCurrentIndex(settings.tabs.count() - 1)
        self.window("settings-advanced", settings)
        settings.reject()

        # Full speed: Photos gets everything, and dunst says it is up to date.
        self.unquiet()
        update_config(paths.config_file, lambda c: replace(c, max_copy_rate_mib_s=0.0))
        self.wait_for("Photos up to date", lambda: state("Photos") is DriveState.UP_TO_DATE, timeout=120)

        self.wait_for("the notification", lambda: self.notes("displayed") > 0, timeout=20)
        self.pump(0.8)
        note = self.x_window("Dunst")
        if note is not None:
            self.check("notification", note, titled=False)
        else:
            print("notification: dunst's window not found", flush=True)
        self.grab("notification")
        history = subprocess.run(["dunstctl", "history"], capture_output=True, text=True).stdout
        with contextlib.suppress(ValueError, KeyError, IndexError):
            earlier = [n["summary"]["data"] for n in json.loads(history)["data"][0]]
            print(f"notifications held and closed during the window shots: {earlier}", flush=True)

        engine.set_paused(True)
        self.pump(0.5)
        tray.close()
        engine.stop()
        db.close()
        (self.work / "fits.txt").write_text("".join(f"{line}\n" for line in self.fits))
        return 0


if __name__ == "__main__":
    sys.exit(main())
