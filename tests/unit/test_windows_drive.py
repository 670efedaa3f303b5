"""The real Win32 API on a removable drive letter (make test-windows: Windows CPython under Wine, with the drive
tests/windows/wine_drive.py describes): what the app's probing reads of it, device arrival broadcast by another
process reaching the app's hidden window, and a headless ``usbsync run`` that copies onto the letter, including a
file that waited while the letter was away."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from tests.conftest import pdf_bytes, png_bytes
from tests.windows import wine_drive
from tests.windows.wine_drive import ROOT, needs_test_drive

real_win32 = pytest.mark.skipif(
    sys.platform != "win32", reason="calls the real Win32 API (make test-windows)"
)


def _wait(what: Callable[[], object], timeout: float, why: str) -> object:
    """Poll ``what`` every 0.1 s until it is true; returns its value. Fails the test with ``why`` after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        got = what()
        if got:
            return got
        if time.monotonic() > deadline:
            pytest.fail(f"{why} (waited {timeout:.0f} s)")
        time.sleep(0.1)


@needs_test_drive
def test_the_app_probes_the_removable_letters_serial_label_and_type():
    from usbsync_gui.core.volumes import volume_at
    from usbsync_gui.platform import probe_volume

    vol = volume_at(ROOT)  # psutil's list of drives, as the drive monitor reads it
    assert vol is not None and vol.mountpoint == ROOT and not vol.read_only
    info = probe_volume(vol.device, vol.mountpoint, vol.fstype)
    assert info.uuid == wine_drive.SERIAL  # GetVolumeInformationW's serial, as `vol E:` prints it
    assert info.label == wine_drive.LABEL
    assert info.removable  # GetDriveTypeW: DRIVE_REMOVABLE
    assert info.fs_type


@real_win32
def test_a_device_arrival_broadcast_by_another_process_reaches_the_hidden_window(qapp, qtbot):
    from usbsync_gui.platform.windows_events import WindowsVolumeEvents, _HiddenWindow

    seen: list[tuple[str, list[str]]] = []
    window = _HiddenWindow(seen.append)
    events = WindowsVolumeEvents(qapp)  # the app's listener, as the engine makes it
    try:
        assert window.hwnd
        with qtbot.waitSignal(events.changed, timeout=10_000) as sig:
            wine_drive.finish(wine_drive.broadcast("arrival", "Q"))
        assert sig.args == ["WM_DEVICECHANGE"]
        assert seen == [("arrival", ["Q"])]  # handled while the broadcast was sent: it waits for each window
        wine_drive.finish(wine_drive.broadcast("removal", "Q"))
        assert seen[1:] == [("removal", ["Q"])]
    finally:
        events.stop()
        window.destroy()


def _usbsync() -> str:
    """The installed ``usbsync`` command (pip's console-script launcher for this interpreter)."""
    exe = Path(sysconfig.get_path("scripts")) / "usbsync.exe"
    assert exe.is_file(), exe
    return str(exe)


@pytest.fixture
def cli(tmp_path):
    """Runs the real ``usbsync`` command with its own USBSYNC_HOME; leaves the test drive as it found it."""
    home = tmp_path / "home"
    env = {**os.environ, "USBSYNC_HOME": str(home)}

    def run(*args: str, check: int = 0) -> subprocess.CompletedProcess[str]:
        p = subprocess.run([_usbsync(), *args], env=env, capture_output=True, text=True, timeout=120)
        assert p.returncode == check, f"usbsync {' '.join(args)}: exit {p.returncode}\n{p.stdout}{p.stderr}"
        return p

    run.home = home  # type: ignore[attr-defined]
    run.env = env  # type: ignore[attr-defined]
    yield run
    if not wine_drive.plugged():
        wine_drive.plug()
    import shutil

    for made in (Path(ROOT) / ".usbsync", Path(ROOT) / "USBSync"):
        shutil.rmtree(made, ignore_errors=True)


def _landed(name: str) -> bytes | None:
    found = list((Path(ROOT) / "USBSync").rglob(name)) if wine_drive.plugged() else []
    return found[0].read_bytes() if found else None


@needs_test_drive
def test_usbsync_run_copies_by_content_onto_the_letter_and_a_waiting_file_goes_when_it_arrives(cli, tmp_path):
    from usbsync_gui.core.config import update_config
    from usbsync_gui.core.paths import app_paths

    outbox = tmp_path / "Outbox"
    outbox.mkdir()
    cli("init", "--source", str(outbox))
    # Only WM_DEVICECHANGE can notice the drive come back within the test: the safety-net poll is far away.
    paths = app_paths({"USBSYNC_HOME": str(cli.home)})
    update_config(paths.config_file, lambda c: replace(c, volume_poll_s=600.0))
    cli("register-drive", ROOT, "--name", "Stick", "--category", "images", "--category", "documents")
    # No extensions: only the content (libmagic, python-magic-standalone's DLL) says what these are.
    (outbox / "holiday").write_bytes(png_bytes(1))
    (outbox / "contract").write_bytes(pdf_bytes("signed"))
    log_file = cli.home / "logs" / "file_watcher.log"
    out = open(tmp_path / "run.out", "w+b")  # noqa: SIM115  (read after the process ends)
    proc = subprocess.Popen(
        [_usbsync(), "run", "--with-parent", "-v"], env=cli.env, stdin=subprocess.PIPE, stdout=out, stderr=out
    )

    def log() -> str:
        return log_file.read_text(encoding="utf-8", errors="replace") if log_file.exists() else ""

    try:
        _wait(lambda: _landed("holiday") and _landed("contract"), 60, f"files not copied:\n{log()}")
        assert _landed("holiday") == png_bytes(1) and _landed("contract") == pdf_bytes("signed")
        pending = json.loads(cli("pending", "--json").stdout)["jobs"]
        assert pending == []

        wine_drive.unplug()
        _wait(lambda: "drive Stick removed" in log(), 30, f"the removal was not noticed:\n{log()}")
        (outbox / "later").write_bytes(png_bytes(2))

        def waiting() -> bool:
            jobs = json.loads(cli("pending", "--json").stdout)["jobs"]
            return any(j["file"].endswith("later") and j["state"] == "pending" for j in jobs)

        _wait(waiting, 60, f"the new file is not waiting for the drive:\n{log()}")
        wine_drive.plug()
        _wait(lambda: _landed("later"), 30, f"the waiting file did not go when the drive came:\n{log()}")
        assert _landed("later") == png_bytes(2)
        assert "noticed by WM_DEVICECHANGE" in log()
    finally:
        proc.stdin.close()  # --with-parent: the end of its input stops it, as the tray app's exit does
        try:
            code = proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        out.seek(0)
        output = out.read().decode(errors="replace")
        out.close()
    assert code == 0, output
