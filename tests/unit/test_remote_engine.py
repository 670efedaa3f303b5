"""The command channel's events and commands, end to end over a real local socket: a ControlServer in this
process serves them, a RemoteEngine follows and drives it as the tray app's process would an engine in another
process (engine/remote.py)."""

from __future__ import annotations

import json

import pytest
from PySide6.QtNetwork import QLocalSocket

from usbsync_gui.core.config import new_config
from usbsync_gui.core.summary import LiveVolume
from usbsync_gui.engine.control import ControlServer
from usbsync_gui.engine.remote import RemoteEngine, live_fields

MB = 1_000_000


@pytest.fixture
def endpoint(tmp_path):
    return str(tmp_path / "control.sock")


class FakeEngineSide:
    """The engine's half, as Engine wires it: a handler for commands, a snapshot for new watchers."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.paused = False
        self.connected = {"d-photos": LiveVolume("/media/u/PHOTOS", 900 * MB, 1000 * MB, alloc_unit=4096)}

    def snapshot(self) -> dict:
        return {"paused": self.paused, "connected": {k: live_fields(v) for k, v in self.connected.items()}}

    def handle(self, request, reply) -> None:
        self.requests.append(request)
        if request.get("cmd") == "pause":
            self.paused = True
            reply({"ok": True, "message": "syncing paused"})
        elif request.get("cmd") == "eject":
            reply({"ok": False, "message": f"{request['drive']} is busy"})
        else:
            reply({"ok": False, "message": "unknown command"})


@pytest.fixture
def linked(endpoint, qtbot):
    side = FakeEngineSide()
    server = ControlServer(endpoint, side.handle, snapshot=side.snapshot)
    remote = RemoteEngine(endpoint, lambda: new_config([]))
    with qtbot.waitSignal(remote.link_changed, timeout=5000) as up:
        remote.start()
    assert up.args == [True]
    yield side, server, remote
    remote.stop()
    server.close()


def test_a_watcher_gets_the_live_state_first_then_each_event_as_a_signal(linked, qtbot):
    side, server, remote = linked
    assert remote.up and server.watchers == 1
    assert remote.connected == side.connected and remote.paused is False
    live = remote.live_state(new_config([]))
    assert live.connected["d-photos"].alloc_unit == 4096 and not live.paused
    with qtbot.waitSignal(remote.copy_progress, timeout=5000) as got:
        server.publish("progress", drive="d-photos", path="/out/a b.jpg", done=5, total=10)
    assert got.args == ["d-photos", "/out/a b.jpg", 5, 10]
    with qtbot.waitSignal(remote.drive_up_to_date, timeout=5000) as got:
        server.publish("up_to_date", drive="d-photos", copied=12, already=7)
    assert got.args == ["d-photos", 12, 7]
    with qtbot.waitSignals([remote.paused_changed, remote.state_changed], timeout=5000):
        server.publish("live", paused=True, connected={})
    assert remote.paused and remote.connected == {}
    with qtbot.waitSignal(remote.state_changed, timeout=5000):
        server.publish("an event from a newer engine", x=1)  # ignored ...
        server.publish("live", paused=True, connected={})  # ... and the link goes on


def test_commands_are_answered_by_callback_and_never_waited_for(linked, qtbot):
    side, _server, remote = linked
    answers: list[tuple[bool, str]] = []
    remote.set_paused(True, lambda ok, msg: answers.append((ok, msg)))
    assert answers == []  # returned before the engine even read it
    qtbot.waitUntil(lambda: len(answers) == 1, timeout=5000)
    assert answers == [(True, "syncing paused")] and side.requests == [{"cmd": "pause"}]
    remote.eject_drive("Photos", lambda ok, msg: answers.append((ok, msg)))
    qtbot.waitUntil(lambda: len(answers) == 2, timeout=5000)
    assert answers[1] == (False, "Photos is busy")


def test_no_engine_is_an_answer_too(endpoint, qtbot):
    remote = RemoteEngine(endpoint, lambda: new_config([]))
    with qtbot.waitSignal(remote.link_changed, timeout=5000) as got:
        remote.start()
    assert got.args == [False] and not remote.up
    answers: list[tuple[bool, str]] = []
    remote.sync_now(lambda ok, msg: answers.append((ok, msg)))
    qtbot.waitUntil(lambda: bool(answers), timeout=5000)
    assert answers[0][0] is False and answers[0][1].startswith("usbsync is not running")
    remote.stop()


def test_the_engine_going_away_is_seen(linked, qtbot):
    _side, server, remote = linked
    with qtbot.waitSignal(remote.link_changed, timeout=5000) as got:
        server.close()
    assert got.args == [False] and not remote.up and remote.connected == {}


def test_a_client_of_another_protocol_is_not_followed(endpoint, qtbot, monkeypatch):
    from usbsync_gui.engine import control

    side = FakeEngineSide()
    monkeypatch.setattr(control, "PROTOCOL", 99)  # the engine is newer than this app
    server = ControlServer(endpoint, side.handle, snapshot=side.snapshot)
    remote = RemoteEngine(endpoint, lambda: new_config([]))
    with qtbot.waitSignal(remote.link_changed, timeout=5000) as got:
        remote.start()
    assert got.args == [False] and not remote.up
    remote.stop()
    server.close()


def test_a_watcher_that_stops_reading_is_dropped_not_buffered_for(endpoint, qtbot, monkeypatch):
    from usbsync_gui.engine import control

    monkeypatch.setattr(control, "MAX_UNREAD_BYTES", 64 << 10)
    side = FakeEngineSide()
    server = ControlServer(endpoint, side.handle, snapshot=side.snapshot)
    sock = QLocalSocket()  # a client that asks for events and then never reads them
    sock.setReadBufferSize(16 << 10)  # (Qt reads into its own buffer in this process's loop: keep it small)
    sock.connectToServer(endpoint)
    assert sock.waitForConnected(2000)
    sock.write(b'{"cmd": "watch"}\n')
    sock.flush()
    qtbot.waitUntil(lambda: server.watchers == 1, timeout=5000)
    assert sock.canReadLine() or sock.waitForReadyRead(2000)
    hello = json.loads(bytes(sock.readLine().data()))
    assert hello["event"] == "hello" and hello["connected"]["d-photos"]["total_bytes"] == 1000 * MB
    big = "x" * 8192
    for _ in range(200):  # 1.6 MB of events, unread
        server.publish("progress", drive="d-photos", path=big, done=1, total=2)
        if server.watchers == 0:
            break
        qtbot.wait(1)
    assert server.watchers == 0
    sock.abort()
    server.close()


def test_a_volume_crosses_the_channel_whole(tmp_path):
    """What the drives dialog and the tray need of a plugged-in volume survives its JSON form, the drive named
    by id and found in the client's configuration."""
    from usbsync_gui.core.config import DriveConfig
    from usbsync_gui.core.volumes import ConnectedVolume, Volume
    from usbsync_gui.engine.remote import connected_volume, volume_fields
    from usbsync_gui.platform import VolumeInfo

    drive = DriveConfig("Photos", "d-photos", ("images",))
    config = new_config([tmp_path]).with_drive(drive)
    cv = ConnectedVolume(
        Volume("/media/u/PHOTOS", "/dev/sdb1", "vfat", 64 * MB, 19 * MB, False),
        VolumeInfo("7FC7-EC41", "vfat", "PHOTOS", True),
        drive,
        "registered",
    )
    back = connected_volume(json.loads(json.dumps(volume_fields(cv))), config)
    assert back == cv
    unknown = connected_volume(json.loads(json.dumps(volume_fields(cv))), new_config([tmp_path]))
    assert unknown.drive is None and unknown.volume == cv.volume  # a drive this config does not know


def test_volume_events_keep_the_monitor_view(linked, qtbot, tmp_path):
    from usbsync_gui.core.volumes import ConnectedVolume, Volume
    from usbsync_gui.engine.remote import volume_fields
    from usbsync_gui.platform import VolumeInfo

    _side, server, remote = linked
    cv = ConnectedVolume(
        Volume("/media/u/STICK", "/dev/sdc1", "exfat", 32 * MB, 30 * MB, False),
        VolumeInfo("", "exfat", "STICK", True),
        None,
        "unknown",
    )
    with qtbot.waitSignal(remote.volume_unknown, timeout=5000) as got:
        server.publish("volume_unknown", volume=volume_fields(cv))
    assert got.args == [cv]
    with qtbot.waitSignal(remote.monitor.volume_added, timeout=5000):
        server.publish("volume_added", volume=volume_fields(cv))
    assert remote.monitor.connected() == [cv]
    with qtbot.waitSignal(remote.monitor.volume_removed, timeout=5000) as gone:
        server.publish("volume_removed", mount="/media/u/STICK", drive="")
    assert gone.args == ["/media/u/STICK", ""] and remote.monitor.connected() == []


def _a_summary(tmp_path):
    from usbsync_gui.core.config import DriveConfig
    from usbsync_gui.core.paths import app_paths
    from usbsync_gui.core.state import StateDB
    from usbsync_gui.core.summary import summarize

    paths = app_paths({"USBSYNC_HOME": str(tmp_path / "home")})
    paths.ensure()
    config = new_config([tmp_path]).with_drive(DriveConfig("Photos", "d-photos", ("images",)))
    with StateDB(paths.state_db) as db:
        fid, _ = db.upsert_file(
            str(tmp_path / "a.jpg"), str(tmp_path), "a.jpg", 10, 1, "h", "image/jpeg", "images"
        )
        db.enqueue(fid, ["d-photos"], "h", 10)
        return paths, config, summarize(db, config, {"d-photos": LiveVolume("/m", 100 * MB, 200 * MB)})


def test_the_summary_crosses_the_channel_equal(tmp_path):
    from usbsync_gui.core.summary import StateSummary

    _paths, _config, s = _a_summary(tmp_path)
    assert s.drives and s.drives[0].waits  # enums, tuples and nested records all in it
    assert StateSummary.from_wire(json.loads(json.dumps(s.to_wire()))) == s


def test_the_app_shows_the_engines_summary_and_its_own_only_without_an_engine(endpoint, qtbot, tmp_path):
    """RemoteSummaryFeed: the summary the engine sent, handed on as it is (an invalidate gives it again, from the
    event loop); with no engine followed, the state database's, computed here with no drive plugged in."""
    from usbsync_gui.engine.remote import RemoteSummaryFeed
    from usbsync_gui.engine.tasks import TaskRunner

    paths, config, pushed = _a_summary(tmp_path)
    side = FakeEngineSide()
    server = ControlServer(endpoint, side.handle, snapshot=side.snapshot)
    remote = RemoteEngine(endpoint, lambda: config)
    runner = TaskRunner()
    feed = RemoteSummaryFeed(paths, runner, remote, lambda: config)
    with qtbot.waitSignal(remote.link_changed, timeout=5000):
        remote.start()
    with qtbot.waitSignal(feed.changed, timeout=5000) as got:
        server.publish("summary", summary=pushed.to_wire())
    assert got.args == [pushed] and feed.latest == pushed
    shown: list = []
    feed.changed.connect(shown.append)
    feed.invalidate()
    assert shown == []  # not inside the caller's slot
    qtbot.waitUntil(lambda: shown == [pushed], timeout=5000)
    with qtbot.waitSignal(feed.changed, timeout=5000) as own:
        server.close()  # the engine gone: computed here
    mine = own.args[0]
    assert mine is not pushed and mine.waiting_files == 1 and not mine.drives[0].connected
    remote.stop()
    runner.shutdown()
