"""The real usbsync-gui process: one instance per user, a second start brings the first forward; SIGTERM
stops it cleanly."""

import signal
import subprocess
import sys
from pathlib import Path

from tests.conftest import png_bytes
from tests.e2e.conftest import stop, wait_for

GUI = str(Path(sys.executable).with_name("usbsync-gui"))


def test_second_start_brings_the_first_forward_and_sigterm_stops_it(usbsync):
    env = {**usbsync.env, "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
    first = subprocess.Popen([GUI], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(lambda: "watching for drives" in usbsync.log(), timeout=30)
        second = subprocess.run([GUI], env=env, capture_output=True, text=True, timeout=30)
        assert second.returncode == 0, second.stderr
        assert "usbsync is already running: its window was brought forward" in second.stdout
    finally:
        code, out = stop(first, signal.SIGTERM)
    assert code == 0, out
    assert "SIGTERM received: stopping" in out and "Fatal Python error" not in out


def _engine_pids(home) -> list[int]:
    """`usbsync run` processes serving ``home`` (their USBSYNC_HOME), from /proc.

    A child the engine forks (``lsblk``, ``udisksctl``) has the engine's command line and environment until it
    calls exec; on a loaded machine a listing can catch it there, so a match whose parent matches is left out.
    """
    import os

    out: dict[int, int] = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                argv = fh.read().split(b"\0")
            with open(f"/proc/{pid}/environ", "rb") as fh:
                env = fh.read().split(b"\0")
            with open(f"/proc/{pid}/stat", "rb") as fh:
                ppid = int(fh.read().rsplit(b")", 1)[1].split()[1])  # field 4; the name in () may hold spaces
        except (OSError, ValueError, IndexError):
            continue
        if b"run" in argv and f"USBSYNC_HOME={home}".encode() in env:
            out[int(pid)] = ppid
    return [pid for pid, ppid in out.items() if ppid not in out]


def test_the_app_runs_its_engine_in_a_process_of_its_own_and_stops_it(usbsync, make_drive):
    """The tray app starts `usbsync run --with-parent` as its child: files go to the drive, `usbsync status`
    sees the engine running; quitting the app stops the engine cleanly, and killing the app stops it too
    (its standard input ends)."""
    photos = make_drive("PHOTOS", size_mib=64)
    usbsync("register-drive", str(photos.mountpoint), "--name", "Photos", "--category", "images")
    env = {**usbsync.env, "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
    app = subprocess.Popen([GUI], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(lambda: "watching for drives" in usbsync.log(), timeout=30)
        [engine] = _engine_pids(usbsync.home)
        assert engine != app.pid and usbsync.json("status")["running"] is True
        (usbsync.source / "a.png").write_bytes(png_bytes(4))
        wait_for(lambda: (photos.mountpoint / "USBSync" / "a.png").exists(), timeout=30)
    finally:
        code, out = stop(app, signal.SIGTERM)
    assert code == 0, out
    wait_for(lambda: not _engine_pids(usbsync.home), timeout=30)
    assert "the tray app closed the engine's standard input: stopping" in usbsync.log()
    assert usbsync.json("status")["running"] is False

    app = subprocess.Popen([GUI], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: len(_engine_pids(usbsync.home)) == 1, timeout=30)
    app.kill()  # no chance to stop anything: the engine sees its input end
    app.wait()
    wait_for(lambda: not _engine_pids(usbsync.home), timeout=30)
