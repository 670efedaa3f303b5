"""Real drives for end-to-end tests: ext4 loop images and exFAT images through exfat-fuse, driven by the real
``usbsync`` command in a subprocess. Every mount and loop device a test creates is removed afterwards.

Skips (with the reason) only when not root or a tool is missing; ``make test`` installs the tools.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from usbsync_gui.core.config import load_config, new_config, save_config
from usbsync_gui.core.paths import AppPaths, app_paths
from usbsync_gui.core.registration import register_volume

USBSYNC = str(Path(sys.executable).with_name("usbsync"))
CHECKOUT = Path(__file__).resolve().parents[2]


def _missing_tools(*tools: str) -> list[str]:
    return [t for t in tools if shutil.which(t) is None]


def need_root_and(*tools: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to create and mount loop-device filesystems")
    missing = _missing_tools(*tools)
    if missing:
        pytest.skip(f"missing tools: {', '.join(missing)} (make test installs them as root)")


def system_user(name: str, groups: tuple[str, ...] = ()) -> tuple[int, int]:
    """The uid and gid of the unprivileged system user ``name`` (no home, no login shell), created on first use
    (as root) and made a member of ``groups``. Skips when it does not exist and cannot be made."""
    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        if shutil.which("useradd") is None:
            pytest.skip(f"no useradd to create the unprivileged test user {name}")
        cmd = ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin"]
        subprocess.run(
            [*cmd, *(["-G", ",".join(groups)] if groups else []), name],
            check=True,
            capture_output=True,
            timeout=30,
        )
        pw = pwd.getpwnam(name)
    for group in groups:
        if name not in grp.getgrnam(group).gr_mem:
            subprocess.run(["usermod", "-a", "-G", group, name], check=True, capture_output=True, timeout=30)
    return pw.pw_uid, pw.pw_gid


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


@dataclass
class Drive:
    """A real filesystem image that can be plugged (mounted) and unplugged."""

    image: Path
    mountpoint: Path
    fstype: str
    loop: str | None = None
    fuse_pid: int | None = None
    mounted: bool = False
    _loops: list[str] = field(default_factory=list)

    def plug(self, at: Path | None = None) -> Path:
        if at is not None:
            self.mountpoint = at
        self.mountpoint.mkdir(parents=True, exist_ok=True)
        if self.fstype == "ext4":
            _run(["mount", "-o", "loop", str(self.image), str(self.mountpoint)])
        else:
            self.loop = _run(["losetup", "-f", "--show", str(self.image)]).stdout.strip()
            self._loops.append(self.loop)
            _run(["mount.exfat-fuse", self.loop, str(self.mountpoint)])
            out = _run(["pgrep", "-f", f"mount.exfat-fuse {self.loop} {self.mountpoint}"]).stdout.split()
            self.fuse_pid = int(out[0])
        self.mounted = True
        return self.mountpoint

    def unplug(self) -> None:
        if not self.mounted:
            return
        subprocess.run(["umount", str(self.mountpoint)], check=False, capture_output=True)
        if os.path.ismount(self.mountpoint):
            subprocess.run(["umount", "-l", str(self.mountpoint)], check=False, capture_output=True)
        self._detach()
        self.mounted = False

    def yank(self) -> None:
        """Pull an exFAT stick out: kill its FUSE daemon (the mount answers ENOTCONN until unmounted)."""
        assert self.fuse_pid is not None
        os.kill(self.fuse_pid, signal.SIGKILL)

    def _detach(self) -> None:
        for loop in self._loops:
            subprocess.run(["losetup", "-d", loop], check=False, capture_output=True)
        self._loops.clear()
        self.loop = None

    def files(self, folder: str = "USBSync") -> dict[str, bytes]:
        root = self.mountpoint / folder
        return (
            {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
            if root.exists()
            else {}
        )


@pytest.fixture
def make_drive(tmp_path) -> Iterator:
    drives: list[Drive] = []

    def make(label: str, fstype: str = "ext4", size_mib: int = 64, plug: bool = True) -> Drive:
        if fstype == "ext4":
            need_root_and("mkfs.ext4", "mount", "losetup")
        else:
            need_root_and("mkfs.exfat", "mount.exfat-fuse", "losetup", "pgrep")
        image = tmp_path / f"{label}-{len(drives)}.img"
        _run(["truncate", "-s", f"{size_mib}M", str(image)])
        if fstype == "ext4":
            _run(["mkfs.ext4", "-q", "-L", label, str(image)])
        else:
            _run(["mkfs.exfat", "-L", label, str(image)])
        d = Drive(image, tmp_path / "media" / f"{label}-{len(drives)}", fstype)
        drives.append(d)
        if plug:
            d.plug()
        return d

    yield make
    for d in drives:
        d.unplug()


@dataclass
class Usbsync:
    """The real usbsync command with an isolated USBSYNC_HOME; with a ``prefix`` (``setpriv`` to run it as
    another user) and ``extra_env`` (that user's ``HOME``, ``USER``) when given."""

    home: Path
    source: Path
    prefix: list[str] = field(default_factory=list)
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        # The checkout under test first: the venv's editable install points at one checkout, and a second
        # one (a git worktree) must run its own code in the `usbsync` subprocess, not that one's.
        path = os.pathsep.join(p for p in (str(CHECKOUT), os.environ.get("PYTHONPATH", "")) if p)
        return {
            **os.environ,
            "USBSYNC_HOME": str(self.home),
            "QT_QPA_PLATFORM": "offscreen",
            "PYTHONPATH": path,
            **self.extra_env,
        }

    def __call__(
        self, *args: str, check: int | None = 0, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        p = subprocess.run(
            [*self.prefix, USBSYNC, *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if check is not None:
            assert p.returncode == check, (
                f"usbsync {' '.join(args)} -> {p.returncode}\n{p.stdout}\n{p.stderr}"
            )
        assert "Traceback" not in p.stderr, p.stderr
        return p

    def json(self, *args: str) -> dict:
        return json.loads(self(*args, "--json").stdout)

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [*self.prefix, USBSYNC, "run", *args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def set(self, key: str, value: str) -> None:
        """Set a top-level config key (TOML literal)."""
        cfg = self.home / "config.toml"
        lines = [ln for ln in cfg.read_text().splitlines() if not ln.startswith(f"{key} =")]
        # top-level keys must come before the first table header
        first_table = next(i for i, ln in enumerate(lines) if ln.startswith("["))
        lines.insert(first_table, f"{key} = {value}")
        cfg.write_text("\n".join(lines) + "\n")

    def log(self) -> str:
        try:
            return (self.home / "logs" / "file_watcher.log").read_text()
        except FileNotFoundError:
            return ""


@pytest.fixture
def usbsync(tmp_path) -> Usbsync:
    u = Usbsync(tmp_path / "home", tmp_path / "outbox")
    u("init", "--source", str(u.source))
    u.set("stability_window_seconds", "0.3")
    return u


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.05) -> float:
    """Poll until ``predicate()`` is true; returns the seconds it took. Fails the test on timeout."""
    t0 = time.monotonic()
    while not predicate():
        if time.monotonic() - t0 > timeout:
            pytest.fail(
                f"timed out after {timeout} s waiting for {getattr(predicate, '__name__', predicate)}"
            )
        time.sleep(interval)
    return time.monotonic() - t0


def stop(proc: subprocess.Popen[str], sig: int = signal.SIGTERM, timeout: float = 15) -> tuple[int, str]:
    proc.send_signal(sig)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        pytest.fail(f"usbsync run did not stop within {timeout} s after signal {sig}:\n{out}")
    return proc.returncode, out


@dataclass
class EngineHome:
    """An isolated home for an in-process Engine: an outbox and one registered drive, "Photos" (images)."""

    paths: AppPaths
    src: Path
    photos: Drive


@pytest.fixture
def engine_home(tmp_path, make_drive, monkeypatch) -> EngineHome:
    need_root_and("mkfs.ext4")
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    paths = app_paths({"USBSYNC_HOME": str(tmp_path / "home")})
    paths.ensure()
    src = tmp_path / "outbox"
    src.mkdir()
    save_config(replace(new_config([src]), stability_window_s=0.2), paths.config_file)
    photos = make_drive("PHOTOS", size_mib=64)
    register_volume(paths, load_config(paths.config_file), photos.mountpoint, "Photos", ("images",))
    return EngineHome(paths, src, photos)
