"""Desktop notifications against real D-Bus: a private session bus (dbus-daemon) and a real notification daemon
(dunst, on an Xvfb display: dunst 1.9 has no headless mode). The user's part is played by dunst's own tool:
``dunstctl action 0`` performs the action of the newest notification when it has only one, and ``dunstctl
context`` opens dunst's context menu, whose program (dunst's ``dmenu`` setting) is a script here that picks
"Set up…". Both make dunst itself emit ActionInvoked; a forged ActionInvoked from another connection is shown
to be ignored.

Nothing waits for the daemon: a note is sent and its notification id is read when the answer comes, through
the event loop (so the tests wait with qtbot, which runs it). A note withdrawn before its id came is taken down
once it comes.

A second test has the bus without any daemon (the balloon takes over, and a click on it is the action), then a
stand-in daemon that never answers (notes go to the balloon at once), then one that answers its capabilities
but holds its answers to Notify (the note goes to the balloon after CALL_TIMEOUT_S, the next ones at once, and
the late answer is still taken), then one without the ``actions`` capability (a script on the same private bus
that prints what it was sent).

The bus has a configuration of its own without service activation, so that no daemon installed on the machine
is started behind the test's back. Every process started here is stopped and waited for.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from usbsync_gui.views.notifications import (
    CALL_TIMEOUT_S,
    EXPIRE_MS,
    MIN_INTERVAL_S,
    DesktopNotifier,
    NotificationCenter,
)

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:tmpdir=/tmp</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


def _need(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip(
            f"missing tools: {', '.join(missing)} (Debian packages: dbus for dbus-daemon, dunst for dunst "
            "and dunstctl, xvfb for Xvfb)"
        )


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


def _wait(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


@dataclass
class Session:
    address: str
    env: dict[str, str]
    procs: list[subprocess.Popen]

    def start(self, cmd: list[str], **kw) -> subprocess.Popen:
        proc = subprocess.Popen(cmd, env=self.env, **kw)
        self.procs.append(proc)
        return proc

    def run(self, *cmd: str) -> str:
        return subprocess.run(
            cmd, env=self.env, check=True, capture_output=True, text=True, timeout=10
        ).stdout

    def owner(self) -> bool:
        """Whether some connection owns org.freedesktop.Notifications on this bus."""
        p = subprocess.run(
            [
                "dbus-send",
                "--print-reply=literal",
                "--dest=org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus.NameHasOwner",
                "string:org.freedesktop.Notifications",
            ],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=10,
        )
        return "true" in p.stdout


@pytest.fixture
def session(tmp_path) -> Iterator[Session]:
    """A private session bus (no service activation); the test adds daemons with :meth:`Session.start`."""
    _need("dbus-daemon", "dbus-send")
    conf = tmp_path / "bus.conf"
    conf.write_text(BUS_CONFIG)
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    bus = subprocess.Popen(
        ["dbus-daemon", f"--config-file={conf}", "--nofork", "--print-address=1"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    procs = [bus]
    try:
        assert bus.stdout is not None
        address = bus.stdout.readline().strip()
        assert address.startswith("unix:"), address
        env["DBUS_SESSION_BUS_ADDRESS"] = address
        yield Session(address, env, procs)
    finally:
        for proc in reversed(procs):  # daemons first, the bus last
            _stop(proc)


@pytest.fixture
def dunst(session, tmp_path) -> Session:
    """dunst on an Xvfb display of its own, owning org.freedesktop.Notifications on the private bus."""
    _need("Xvfb", "dunst", "dunstctl")
    read_fd, write_fd = os.pipe()
    try:
        session.start(
            ["Xvfb", "-displayfd", str(write_fd), "-nolisten", "tcp", "-screen", "0", "640x480x24"],
            pass_fds=(write_fd,),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(write_fd)
        write_fd = -1
        with os.fdopen(read_fd, "r") as pipe:
            read_fd = -1
            display = pipe.readline().strip()  # Xvfb picks a free display and writes its number when ready
    finally:
        for fd in (read_fd, write_fd):
            if fd >= 0:
                os.close(fd)
    assert display.isdigit(), "Xvfb did not start"
    session.env["DISPLAY"] = f":{display}"
    # dunst's context menu runs its "dmenu" program with the menu on stdin and acts on the line it prints:
    # this one chooses "Set up…", as a user would.
    menu = tmp_path / "menu.sh"
    menu.write_text(f"#!/bin/sh\ntee -a {tmp_path / 'menu.txt'} | grep -m1 'Set up'\n")
    menu.chmod(0o755)
    rc = tmp_path / "dunstrc"
    rc.write_text(f"[global]\n    dmenu = {menu}\n")
    log = (tmp_path / "dunst.log").open("w")
    session.start(["dunst", "-config", str(rc)], stdout=log, stderr=subprocess.STDOUT)
    log.close()
    _wait(session.owner)
    return session


def _history(session: Session) -> list[dict[str, str]]:
    """(summary, body, appname) of the notifications dunst has closed, newest first (``dunstctl history``)."""
    data = json.loads(session.run("dunstctl", "history"))
    return [{k: n[k]["data"] for k in ("summary", "body", "appname")} for n in data["data"][0]]


class Balloon:
    def __init__(self):
        self.shown: list[tuple[str, str]] = []

    def __call__(self, title: str, body: str) -> bool:
        self.shown.append((title, body))
        return True


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def test_real_daemon_eject_and_set_up_actions_reach_the_qt_signal(dunst, qtbot, tmp_path):
    from jeepney import DBusAddress, new_signal
    from jeepney.io.blocking import open_dbus_connection

    notifier = DesktopNotifier.open(bus=dunst.address)
    assert notifier is not None
    balloon, clock = Balloon(), Clock()
    center = NotificationCenter(balloon, clock=clock, desktop=notifier, balloon_clicks=True)
    forger = open_dbus_connection(bus=dunst.address)

    def displayed() -> int:
        return int(dunst.run("dunstctl", "count", "displayed"))

    try:
        # Asked when the notifier opens, answered while the app starts (its first note comes seconds later).
        qtbot.waitUntil(lambda: notifier.capabilities is not None, timeout=5000)
        center.event("safe_to_unplug", "Photos", copied=12, already=7)
        center.flush(force=True)
        assert balloon.shown == []
        assert "actions" in (notifier.capabilities or ())
        assert center.sent == [
            ("Photos is up to date", "12 files copied, 7 already there. Eject it, then unplug it.")
        ]
        assert notifier.waiting() == 1  # sent; its id is read when the answer comes, not waited for here
        qtbot.waitUntil(lambda: displayed() == 1 and notifier.waiting() == 0, timeout=10_000)

        # Another client claiming the user chose "eject" on our notification is not believed.
        emitter = DBusAddress("/org/freedesktop/Notifications", interface="org.freedesktop.Notifications")
        with qtbot.assertNotEmitted(center.action_invoked, wait=300):
            for nid in range(1, 10):
                forger.send(new_signal(emitter, "ActionInvoked", "us", (nid, "eject")))

        with qtbot.waitSignal(center.action_invoked, timeout=5000) as blocker:
            dunst.run("dunstctl", "action", "0")  # dunst performs the notification's only action
        assert blocker.args == ["safe_to_unplug", "Photos", "eject", ""]

        # A second note for the same drive replaces the first instead of stacking up.
        clock.t += MIN_INTERVAL_S
        center.event("safe_to_unplug", "Photos", copied=0, already=19)
        center.flush(force=True)
        assert center.sent[-1] == (
            "Photos is up to date",
            "Nothing new: 19 files already there. Eject it, then unplug it.",
        )
        qtbot.waitUntil(lambda: notifier.waiting() == 0, timeout=10_000)
        assert displayed() == 1
        # Ejected: the note is taken down, so no "Eject" is left on screen for a drive that is gone.
        center.withdraw("safe_to_unplug", "Photos")
        qtbot.waitUntil(lambda: displayed() == 0, timeout=10_000)
        assert _history(dunst)[0] == {
            "summary": "Photos is up to date",
            "body": "Nothing new: 19 files already there. Eject it, then unplug it.",
            "appname": "usbsync",
        }

        # Withdrawn before its id came (ejected the moment it was shown): taken down once the id comes.
        center.event("safe_to_unplug", "Docs", copied=1)
        center.flush(force=True)
        center.withdraw("safe_to_unplug", "Docs")
        assert notifier.waiting() == 1  # no answer read yet: the id is not known here
        qtbot.waitUntil(lambda: notifier.waiting() == 0, timeout=10_000)
        qtbot.waitUntil(lambda: displayed() == 0, timeout=10_000)
        assert _history(dunst)[0]["summary"] == "Docs is up to date"

        center.event("new_drive", "KINGSTON", mount="/media/u/KINGSTON")
        center.flush(force=True)
        qtbot.waitUntil(lambda: displayed() == 1, timeout=10_000)
        with qtbot.waitSignal(center.action_invoked, timeout=5000) as blocker:
            dunst.run("dunstctl", "context")  # dunst's context menu; the menu program picks "Set up…"
        assert blocker.args == ["new_drive", "KINGSTON", "setup", "/media/u/KINGSTON"]
        # The menu dunst offered: the action's label as sent, on the note's title.
        menu = (tmp_path / "menu.txt").read_text()
        assert "#Set up… (New drive KINGSTON: use it with usbsync?)" in menu, menu
        assert balloon.shown == []
    finally:
        forger.close()
        notifier.close()


def test_a_note_sent_as_the_app_starts_reaches_the_daemon_not_the_balloon(dunst, qtbot):
    """The welcome after the set-up wizard goes out the moment the tray shows, before the event loop has read
    the daemon's capabilities; a walk-through saw it as Qt's balloon at the top left with dunst running."""
    notifier = DesktopNotifier.open(bus=dunst.address)
    assert notifier is not None
    balloon = Balloon()
    center = NotificationCenter(balloon, clock=Clock(), desktop=notifier)
    try:
        assert notifier.capabilities is None  # nothing read yet, as at the app's start
        center.say("welcome", "", "usbsync is running", "Its icon is in the system tray.")
        qtbot.waitUntil(lambda: int(dunst.run("dunstctl", "count", "displayed")) == 1, timeout=10_000)
        assert balloon.shown == []
        qtbot.wait(CALL_TIMEOUT_S * 1000 + 200)  # and it does not go to the balloon later either
        assert balloon.shown == []
        center.withdraw("welcome")
        qtbot.waitUntil(lambda: int(dunst.run("dunstctl", "count", "displayed")) == 0, timeout=10_000)
        assert _history(dunst)[0] == {
            "summary": "usbsync is running",
            "body": "Its icon is in the system tray.",
            "appname": "usbsync",
        }
    finally:
        notifier.close()


FAKE_DAEMON = textwrap.dedent(
    """
    # A notification daemon without the "actions" capability: prints each Notify call as a JSON line.
    # With "mute" it owns the name and answers nothing: a hung daemon. With "hold" it answers GetCapabilities
    # but holds its answers to Notify until a line comes on stdin, then gives them all.
    import json, select, sys
    from jeepney import HeaderFields, MessageType, new_method_return
    from jeepney.bus_messages import message_bus
    from jeepney.io.blocking import open_dbus_connection

    mode = sys.argv[2] if len(sys.argv) > 2 else ""
    conn = open_dbus_connection(bus=sys.argv[1])
    conn.send_and_get_reply(message_bus.RequestName("org.freedesktop.Notifications"))
    print("ready", flush=True)
    n = 0
    held = []

    def handle(msg):
        global n
        if msg.header.message_type != MessageType.method_call or mode == "mute":
            return
        member = msg.header.fields.get(HeaderFields.member)
        if member == "GetCapabilities":
            conn.send(new_method_return(msg, "as", (["body", "body-markup"],)))
        elif member == "Notify":
            n += 1
            print(json.dumps(list(msg.body)), flush=True)
            if mode == "hold":
                held.append((msg, n))
            else:
                conn.send(new_method_return(msg, "u", (n,)))

    while True:
        ready, _, _ = select.select([conn.sock, sys.stdin], [], [])
        if sys.stdin in ready:
            if not sys.stdin.readline():
                break
            for msg, nid in held:
                conn.send(new_method_return(msg, "u", (nid,)))
            held.clear()
        while True:
            try:
                msg = conn.receive(timeout=0)
            except TimeoutError:
                break
            handle(msg)
    """
)


def test_no_daemon_a_hung_one_a_slow_one_and_one_without_actions(session, tmp_path, qtbot):
    script = tmp_path / "fake_daemon.py"
    script.write_text(FAKE_DAEMON)

    def start_daemon(*mode: str) -> subprocess.Popen:
        proc = session.start(
            [sys.executable, str(script), session.address, *mode],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        return proc

    notifier = DesktopNotifier.open(bus=session.address)
    assert notifier is not None
    try:
        # No daemon on the bus at all: nothing is shown there, so the balloon shows it, clickable. Sent the
        # moment the notifier opened, it waits for the bus's answer that there is no daemon (not for long).
        balloon = Balloon()
        clock = Clock()
        center = NotificationCenter(balloon, clock=clock, desktop=notifier, balloon_clicks=True)
        center.event("safe_to_unplug", "Photos", copied=1)
        center.flush(force=True)
        qtbot.waitUntil(lambda: len(balloon.shown) == 1, timeout=CALL_TIMEOUT_S * 1000)
        assert notifier.capabilities is None
        assert balloon.shown == [
            ("Photos is up to date", "1 file copied. Click here to eject it, then unplug it.")
        ]
        with qtbot.waitSignal(center.action_invoked, timeout=1000) as blocker:
            center.balloon_clicked()
        assert blocker.args == ["safe_to_unplug", "Photos", "eject", ""]

        # A hung daemon answers nothing, not even its capabilities: notes go to the balloon at once, and no
        # call to it is left waiting.
        mute = start_daemon("mute")
        qtbot.waitUntil(lambda: notifier.daemon != "", timeout=5000)  # the bus said it is there
        center.event("drive_wanted", "Photos", count=2, total=2)
        center.flush(force=True)
        assert [t for t, _ in balloon.shown[1:]] == ["Plug in Photos"] and notifier.waiting() == 0
        _stop(mute)

        # One that answers its capabilities but holds its answer to Notify: the note is sent, and the flush
        # returns without its answer. After CALL_TIMEOUT_S unanswered it goes to the balloon (late, not
        # never); the next notes go there at once, without being sent.
        slow = start_daemon("hold")
        assert slow.stdin is not None and slow.stdout is not None
        qtbot.waitUntil(lambda: notifier.capabilities == {"body", "body-markup"}, timeout=5000)
        center.event("drive_wanted", "Docs", count=1, total=1)
        center.flush(force=True)
        assert json.loads(slow.stdout.readline())[3] == "Plug in Docs"  # it has the note
        assert [t for t, _ in balloon.shown[2:]] == [] and notifier.waiting() == 1
        qtbot.waitUntil(lambda: len(balloon.shown) == 3, timeout=CALL_TIMEOUT_S * 1000 + 5000)
        assert balloon.shown[2][0] == "Plug in Docs"
        clock.t += MIN_INTERVAL_S
        for drive in ("Docs", "Music"):
            center.event("drive_wanted", drive, count=1, total=2)
        center.flush(force=True)
        assert [t for t, _ in balloon.shown[3:]] == ["Plug in Docs", "Plug in Music"]
        assert notifier.waiting() == 1  # the unanswered one only: nothing more was sent to it
        # Its answer comes at last: taken (the id kept, nothing pending), and the daemon is believed again.
        slow.stdin.write("go\n")
        slow.stdin.flush()
        qtbot.waitUntil(lambda: notifier.waiting() == 0, timeout=5000)
        center.event("failures", "Music", "disk full")
        center.flush(force=True)
        assert json.loads(slow.stdout.readline())[3] == "A file could not be copied"
        assert len(balloon.shown) == 5
        slow.stdin.write("go\n")
        slow.stdin.flush()
        qtbot.waitUntil(lambda: notifier.waiting() == 0, timeout=5000)
        _stop(slow)

        # Another daemon takes its place, without actions but with markup: no buttons, the menu is named, &
        # is escaped. Its capabilities are asked as soon as the bus says it is there.
        fake = start_daemon()
        qtbot.waitUntil(lambda: notifier.capabilities == {"body", "body-markup"}, timeout=5000)
        center.event("new_drive", "R&D", mount="/media/u/R&D")
        center.flush(force=True)
        assert fake.stdout is not None
        app, replaces, _icon, title, body, actions, _hints, expire = json.loads(fake.stdout.readline())
        assert (app, replaces, title, actions, expire) == (
            "usbsync",
            0,
            "New drive R&D: use it with usbsync?",
            [],
            EXPIRE_MS,
        )
        assert (
            body == "Mounted at /media/u/R&amp;D. To use it with usbsync, open Drives… in the usbsync menu."
        )
        assert center.sent[-1] == (
            "New drive R&D: use it with usbsync?",
            "Mounted at /media/u/R&D. To use it with usbsync, open Drives… in the usbsync menu.",
        )
        qtbot.waitUntil(lambda: notifier.waiting() == 0, timeout=5000)
        assert len(balloon.shown) == 5
    finally:
        notifier.close()
