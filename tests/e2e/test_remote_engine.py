"""The real `usbsync run` followed and driven from another process's point of view over its command channel
(engine/remote.py), as the tray app will: a copy onto a real volume is seen as it happens, pause and eject are
commands answered by callback, and what the channel says agrees with `usbsync status`."""

from __future__ import annotations

import pytest

from tests.conftest import png_bytes
from tests.e2e.conftest import stop, wait_for
from usbsync_gui.core.config import load_config
from usbsync_gui.core.paths import app_paths
from usbsync_gui.engine.remote import RemoteEngine

pytestmark = pytest.mark.e2e


def test_a_running_engine_is_followed_and_driven_over_its_channel(usbsync, make_drive, qtbot):
    photos = make_drive("PHOTOS", size_mib=64)
    usbsync("register-drive", str(photos.mountpoint), "--name", "Photos", "--category", "images")
    proc = usbsync.start()
    paths = app_paths({"USBSYNC_HOME": str(usbsync.home)})
    remote = RemoteEngine(paths.control_endpoint, lambda: load_config(paths.config_file))
    try:
        wait_for(lambda: "watching" in usbsync.log(), timeout=30)
        with qtbot.waitSignal(remote.link_changed, timeout=10_000) as link:
            remote.start()
        assert link.args == [True]
        qtbot.waitUntil(lambda: bool(remote.connected), timeout=10_000)  # hello, or the live event after it
        [(drive_id, live)] = remote.connected.items()
        assert live.mountpoint == str(photos.mountpoint) and live.total_bytes > 0 and not remote.paused
        # The engine's volume monitor, as the drives dialog reads it (every mounted volume it looked at).
        [cv] = [c for c in remote.monitor.connected() if c.drive is not None]
        assert cv.drive is not None and cv.drive.name == "Photos" and cv.volume.mountpoint == live.mountpoint

        done: list[tuple[str, int, int]] = []
        remote.drive_up_to_date.connect(lambda d, copied, already: done.append((d, copied, already)))
        summaries: list = []
        remote.summary_pushed.connect(summaries.append)
        (usbsync.source / "a.png").write_bytes(png_bytes(1))
        qtbot.waitUntil(lambda: bool(done), timeout=30_000)
        assert done == [(drive_id, 1, 0)]  # the copy, as it happened
        # ... and the engine's summary, sent after it, says so as `usbsync status` does.
        qtbot.waitUntil(lambda: bool(summaries) and summaries[-1].done_files == 1, timeout=10_000)
        assert usbsync.json("status")["synced"] == summaries[-1].done_files
        assert (photos.mountpoint / "USBSync" / "a.png").read_bytes() == png_bytes(1)

        answers: list[tuple[bool, str]] = []
        with qtbot.waitSignal(remote.paused_changed, timeout=10_000) as paused:
            remote.set_paused(True, lambda ok, msg: answers.append((ok, msg)))
        assert paused.args == [True] and remote.paused
        qtbot.waitUntil(lambda: bool(answers), timeout=10_000)
        assert answers == [(True, "syncing paused")]
        assert usbsync.json("status")["paused"] is True  # the channel and the one summary agree

        ejected: list[str] = []
        remote.drive_ejected.connect(ejected.append)
        remote.eject_drive("Photos", lambda ok, msg: answers.append((ok, msg)))
        qtbot.waitUntil(lambda: len(answers) == 2, timeout=60_000)
        assert answers[1][0] and "safe to unplug" in answers[1][1], answers
        qtbot.waitUntil(lambda: ejected == [drive_id] and not remote.connected, timeout=10_000)
        assert not [c for c in remote.monitor.connected() if c.drive is not None]
        photos.mounted = False
    finally:
        remote.stop()
        code, out = stop(proc)
    assert code == 0, out
    # The engine gone: a command says so, by callback, without waiting.
    late: list[tuple[bool, str]] = []
    remote.sync_now(lambda ok, msg: late.append((ok, msg)))
    qtbot.waitUntil(lambda: bool(late), timeout=10_000)
    assert late[0][0] is False and "not running" in late[0][1]


def test_the_tray_app_takes_over_when_the_engine_it_followed_stops(usbsync, qtbot, monkeypatch):
    """The tray app follows a `usbsync run` it did not start (a service, a terminal's). When that engine stops,
    the app starts its own at once, and files go on being taken in. (It went on showing the stopped engine's
    last state, "Everything is copied", while nothing synced any more: found in a new user's walk-through.)"""
    from usbsync_gui.engine.engine_process import EngineProcess

    monkeypatch.setenv("USBSYNC_HOME", str(usbsync.home))  # the app's own engine serves the same home
    outside = usbsync.start()
    paths = app_paths({"USBSYNC_HOME": str(usbsync.home)})
    remote = RemoteEngine(paths.control_endpoint, lambda: load_config(paths.config_file))
    app_engine = EngineProcess(paths, remote)
    failures: list[str] = []
    app_engine.failed.connect(failures.append)
    try:
        wait_for(lambda: "watching" in usbsync.log(), timeout=30)
        with qtbot.waitSignal(remote.link_changed, timeout=10_000) as link:
            app_engine.start()
        assert link.args == [True] and app_engine._child is None  # followed, not started
        code, out = stop(outside)
        assert code == 0, out
        qtbot.waitUntil(lambda: remote.up and app_engine._child is not None, timeout=30_000)
        (usbsync.source / "after.png").write_bytes(png_bytes(2))
        wait_for(lambda: usbsync.json("status")["files_seen"] == 1, timeout=30)
        assert failures == []
    finally:
        if outside.poll() is None:
            stop(outside)
        clean = app_engine.stop()
    assert clean  # the app's own engine ended cleanly when the app stopped it


def test_a_watcher_that_comes_late_is_told_the_engines_latest_summary(usbsync, make_drive, qtbot):
    """Summaries are sent on change. One the engine computed before the tray app connected (its drive already
    identified) reaches the app in the first event, so the app does not show a summary of its own with no drive
    plugged in until the next change (under Wine: both drives "Not plugged in" while the engine had them)."""
    photos = make_drive("PHOTOS", size_mib=64)
    usbsync("register-drive", str(photos.mountpoint), "--name", "Photos", "--category", "images")
    (usbsync.source / "a.png").write_bytes(png_bytes(1))
    proc = usbsync.start()
    paths = app_paths({"USBSYNC_HOME": str(usbsync.home)})
    remote = RemoteEngine(paths.control_endpoint, lambda: load_config(paths.config_file))
    try:
        wait_for(lambda: (photos.mountpoint / "USBSync" / "a.png").exists(), timeout=30)
        wait_for(lambda: usbsync.json("status")["synced"] == 1, timeout=30)
        pushed: list = []
        remote.summary_pushed.connect(pushed.append)
        with qtbot.waitSignal(remote.link_changed, timeout=10_000) as link:
            remote.start()
        assert link.args == [True]
        qtbot.waitUntil(lambda: bool(pushed), timeout=5_000)  # with nothing changing in the engine since
        [drive] = pushed[0].drives
        assert drive.name == "Photos" and drive.connected and pushed[0].done_files == 1
    finally:
        remote.stop()
        code, out = stop(proc)
    assert code == 0, out
