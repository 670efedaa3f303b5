"""A desktop's storage stack for one test module: the system D-Bus, udevd, polkitd and UDisks2, started as root,
with a polkit rule that lets one unprivileged user do what an active desktop session may (mount, unmount, set up
and delete loop devices through UDisks2), and that user's side of it: ``udisksctl`` run as the user.

A daemon that already runs (someone else's) is used, never started twice nor stopped. :meth:`DesktopStack.stop`
stops only what :meth:`DesktopStack.start` started and removes what it made: the rule file, the bus's socket and
pid file, UDisks2's run directory, udev's ``/dev/disk`` links, ``/media/USER``. Other tests behave differently
while a system bus answers (the engine then subscribes to UDisks2's signals), so nothing of it may outlive the
module.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

BUS_SOCKET = Path("/run/dbus/system_bus_socket")
BUS_PID = Path("/run/dbus/pid")
RULES_DIR = Path("/etc/polkit-1/rules.d")
UDEVD = "/lib/systemd/systemd-udevd"
POLKITD = "/usr/lib/polkit-1/polkitd"
UDISKSD = "/usr/libexec/udisks2/udisksd"
TOOLS = ("dbus-daemon", "dbus-send", "udevadm", "udisksctl", "setpriv", "useradd", "mkfs.ext4", "losetup")
DAEMONS = (UDEVD, POLKITD, UDISKSD)
# The Debian packages holding them (the Makefile's APT_PKGS lists them too).
PACKAGES = "udisks2 udev polkitd dbus util-linux passwd e2fsprogs"
START_TIMEOUT_S = 20.0


def missing() -> list[str]:
    """The tools and daemons of the stack that are not installed."""
    return [t for t in TOOLS if shutil.which(t) is None] + [d for d in DAEMONS if not os.access(d, os.X_OK)]


def bus_answers() -> bool:
    """A system bus accepts connections (a socket file alone may be a dead daemon's leftover)."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(2)
        try:
            s.connect(str(BUS_SOCKET))
        except OSError:
            return False
    return True


def running(comm: str) -> list[int]:
    """Pids of live processes whose command name is ``comm`` (zombies excluded)."""
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        name, state = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :][:1]
        if name == comm and state != "Z":
            pids.append(int(entry.name))
    return pids


def _name_owned(name: str) -> bool:
    out = subprocess.run(
        [
            "dbus-send",
            "--system",
            "--print-reply",
            "--dest=org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus.NameHasOwner",
            f"string:{name}",
        ],
        capture_output=True,
        text=True,
        timeout=10,
    )
    return out.returncode == 0 and "boolean true" in out.stdout


def _wait(what: str, ready, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not ready():
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with status {proc.returncode} while starting")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not ready after {START_TIMEOUT_S:.0f} s")
        time.sleep(0.05)


@dataclass
class DesktopStack:
    """The stack for ``user`` (a user name): start(), then stop() (always, also after a failed start)."""

    user: str
    started: dict[str, subprocess.Popen] = field(default_factory=dict)  # daemon -> the process we started
    made: list[Path] = field(default_factory=list)  # files and directories to remove on stop
    logdir: Path | None = None

    @property
    def rule_file(self) -> Path:
        return RULES_DIR / f"49-usbsync-desktop-test-{self.user}.rules"

    def start(self) -> None:
        self.logdir = Path(tempfile.mkdtemp(prefix="usbsync-desktop-stack-"))
        self._made_if_absent(Path("/media") / self.user)  # UDisks2 makes it for the user's first mount
        # The rule first: a polkitd started below reads it at start, one already running notices it (inotify).
        self.rule_file.write_text(
            "polkit.addRule(function(action, subject) {\n"
            f'  if (action.id.indexOf("org.freedesktop.udisks2.") == 0 && subject.user == "{self.user}")\n'
            "    return polkit.Result.YES;\n"
            "});\n"
        )
        self.made.append(self.rule_file)
        if not bus_answers():
            # A socket and pid file no live bus holds are a dead daemon's leftovers: dbus-daemon refuses to start
            # while its pid file exists.
            for leftover in (BUS_PID, BUS_SOCKET):
                leftover.unlink(missing_ok=True)
            self._made_if_absent(BUS_SOCKET.parent)
            BUS_SOCKET.parent.mkdir(parents=True, exist_ok=True)
            proc = self._spawn("dbus-daemon", ["dbus-daemon", "--system", "--nofork", "--nopidfile"])
            _wait("dbus-daemon", bus_answers, proc)
        if not running("systemd-udevd"):
            self._made_if_absent(Path("/dev/disk"))  # its by-uuid, by-label... links
            proc = self._spawn("systemd-udevd", [UDEVD])
            _wait(
                "systemd-udevd",
                lambda: subprocess.run(["udevadm", "control", "--ping"], capture_output=True).returncode == 0,
                proc,
            )
            # Devices that exist already (loop devices) get their udev database entries and /dev/disk links.
            subprocess.run(
                ["udevadm", "trigger", "--action=add"], check=True, capture_output=True, timeout=60
            )
            self.settle()
        if not running("polkitd"):
            proc = self._spawn("polkitd", [POLKITD, "--no-debug"])
            _wait("polkitd", lambda: _name_owned("org.freedesktop.PolicyKit1"), proc)
        if not running("udisksd"):
            self._made_if_absent(Path("/run/udisks2"))
            proc = self._spawn("udisksd", [UDISKSD])
            _wait("udisksd", lambda: _name_owned("org.freedesktop.UDisks2"), proc)

    def _made_if_absent(self, path: Path) -> None:
        if not path.exists():
            self.made.append(path)

    def _spawn(self, name: str, cmd: list[str]) -> subprocess.Popen:
        assert self.logdir is not None
        with open(self.logdir / f"{name}.log", "w") as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.started[name] = proc
        return proc

    def settle(self) -> None:
        if running("systemd-udevd"):
            subprocess.run(["udevadm", "settle", "--timeout=30"], capture_output=True, timeout=60)

    def log(self, name: str) -> str:
        try:
            return (self.logdir / f"{name}.log").read_text(errors="replace") if self.logdir else ""
        except OSError:
            return ""

    def stop(self) -> list[str]:
        """Stop what start() started (the last first), remove what it made; returns what could not be done."""
        problems = []
        self.settle()  # udev's database and links follow the loop devices deleted by now
        for name in ("udisksd", "polkitd", "systemd-udevd", "dbus-daemon"):
            proc = self.started.pop(name, None)
            if proc is None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                problems.append(f"{name} (pid {proc.pid}) ignored SIGTERM for 15 s: killed")
                proc.kill()
                proc.wait()
            if name == "dbus-daemon":  # it leaves its socket behind
                BUS_SOCKET.unlink(missing_ok=True)
        for p in reversed(self.made):
            try:
                if p.parent == Path(
                    "/media"
                ):  # only if empty: never anything on a volume still mounted there
                    os.rmdir(p)
                elif p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p)
                else:
                    p.unlink()
            except FileNotFoundError:
                pass
            except OSError as exc:
                problems.append(f"could not remove {p}: {exc}")
        self.made.clear()
        if self.logdir is not None:
            shutil.rmtree(self.logdir, ignore_errors=True)
            self.logdir = None
        return problems


def mounted_at(device: str) -> list[str]:
    """Where ``device`` is mounted now (the mount table)."""
    return [ln.split()[1] for ln in Path("/proc/mounts").read_text().splitlines() if ln.split()[0] == device]


def holders(mounts: list[str]) -> list[str]:
    """``pid command`` of the processes with a file, directory or working directory under ``mounts``."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            links = [os.readlink(f"{entry.path}/cwd")]
            links += [os.readlink(f"{entry.path}/fd/{fd}") for fd in os.listdir(f"{entry.path}/fd")]
            cmd = Path(entry.path, "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(link == m or link.startswith(m + "/") for link in links for m in mounts):
            found.append(f"{entry.name} {cmd.strip()[:120]}")
    return found


@dataclass
class DesktopUser:
    """An unprivileged user's side of the stack: ``udisksctl`` as that user, as a file manager calls UDisks2."""

    name: str
    uid: int
    gid: int
    loops: list[str] = field(default_factory=list)  # loop devices this user set up and has not deleted
    busy: list[str] = field(default_factory=list)  # unmounts refused as busy, and who had files open there

    @property
    def prefix(self) -> list[str]:
        return ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--init-groups"]

    def udisksctl(self, *args: str) -> str:
        p = subprocess.run(
            [*self.prefix, "udisksctl", *args],
            capture_output=True,
            text=True,
            timeout=60,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"},
        )
        if p.returncode != 0:
            raise AssertionError(
                f"udisksctl {' '.join(args)} as {self.name} -> {p.returncode}: {p.stderr.strip()}"
            )
        return p.stdout.strip()

    def loop_setup(self, image: Path) -> str:
        """The image (the user's file) as a loop device, as plugging in a stick makes a block device appear."""
        out = self.udisksctl("loop-setup", "--no-user-interaction", "-f", str(image))
        m = re.search(r" as (/dev/loop\d+)", out)
        assert m, out
        self.loops.append(m[1])
        return m[1]

    def mount(self, device: str) -> Path:
        """``/media/USER/LABEL``: where UDisks2 mounted it."""
        out = self.udisksctl("mount", "--no-user-interaction", "-b", device)
        m = re.search(r" at (/\S.*?)\.?$", out)
        assert m, out
        return Path(m[1])

    def unmount(self, device: str, busy_for_s: float = 10.0) -> None:
        """Unmount as the user, trying again (as a user does) while UDisks2 says the volume is busy: another
        program on this machine may be looking at the new volume (an indexer; another usbsync, a benchmark's,
        reads its marker). Who held it is kept in :attr:`busy`."""
        deadline = time.monotonic() + busy_for_s
        while True:
            try:
                self.udisksctl("unmount", "--no-user-interaction", "-b", device)
                return
            except AssertionError as exc:
                if "DeviceBusy" not in str(exc) or time.monotonic() > deadline:
                    raise
                self.busy.append(f"{device}: {holders(mounted_at(device))}")
                time.sleep(0.2)

    def loop_delete(self, device: str) -> None:
        self.udisksctl("loop-delete", "--no-user-interaction", "-b", device)
        self.loops.remove(device)

    def cleanup(self) -> list[str]:
        """Unmount and delete every loop device still set up, through UDisks2 as the user and, where that fails,
        as root; returns what had to be forced."""
        forced = []
        for dev in list(self.loops):
            for mnt in mounted_at(dev):
                try:
                    self.unmount(dev)
                except AssertionError as exc:
                    forced.append(f"umount -l {mnt} ({exc})")
                    subprocess.run(["umount", "-l", mnt], capture_output=True)
            try:
                self.loop_delete(dev)
            except AssertionError as exc:
                forced.append(f"losetup -d {dev} ({exc})")
                subprocess.run(["losetup", "-d", dev], capture_output=True)
                self.loops.remove(dev)
        return forced
