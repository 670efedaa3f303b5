"""The drive monitor reads the mount table off the GUI thread: one listing at a time, none lost, nothing after
stop(), and a volume usbsync dropped (ejected, yanked) is not brought back by a listing that read the table
before it was dropped.

The mount table here is the monitor's ``lister``: a stand-in that returns what the test put in it, read at the
start of each call (as psutil reads /proc/self/mounts) and then held until the test lets it go (as statvfs of a
slow mount holds it). tests/e2e/test_device_events.py and test_engine_never_waits.py run the real one on real
mounts."""

from __future__ import annotations

import threading

import pytest

from usbsync_gui.core.config import DriveConfig
from usbsync_gui.core.volumes import ConnectedVolume, Volume
from usbsync_gui.engine.drive_monitor import DriveMonitor
from usbsync_gui.engine.tasks import TaskRunner
from usbsync_gui.platform import VolumeInfo
from usbsync_gui.platform.events import VolumeEvents

PHOTOS = DriveConfig("Photos", "d1", ("images",))


def vol(mount: str, device: str = "/dev/sdb1", read_only: bool = False) -> Volume:
    return Volume(mount, device, "exfat", 8 << 30, 4 << 30, read_only)


def identify(volumes: list[Volume]) -> list[ConnectedVolume]:
    """Every volume is Photos (what a marker whose token verifies would say)."""
    return [
        ConnectedVolume(v, VolumeInfo("7FC7-EC41", "exfat", "PHOTOS", True), PHOTOS, "registered")
        for v in volumes
    ]


class MountTable:
    """What the lister sees. With ``hold`` set, each call reads the table, then waits for :meth:`release`."""

    def __init__(self) -> None:
        self.volumes: list[Volume] = []
        self.hold = False
        self.calls = 0
        self.threads: list[int] = []
        self._go = threading.Semaphore(0)
        self._lock = threading.Lock()

    def __call__(self) -> list[Volume]:
        with self._lock:
            self.calls += 1
            self.threads.append(threading.get_ident())
            seen = list(self.volumes)
            hold = self.hold
        if hold:
            assert self._go.acquire(timeout=30), "never released"
        return seen

    def release(self) -> None:
        self._go.release()


class Heard:
    """What the monitor said, in order: ("added", mount), ("removed", mount), ("changed", listings so far)."""

    def __init__(self, monitor: DriveMonitor, table: MountTable) -> None:
        self.said: list[tuple[str, object]] = []
        monitor.volume_added.connect(lambda cv: self.said.append(("added", cv.volume.mountpoint)))
        monitor.volume_removed.connect(lambda mount, _id: self.said.append(("removed", mount)))
        monitor.mounts_changed.connect(lambda: self.said.append(("changed", table.calls)))

    def of(self, kind: str) -> list[object]:
        return [x for k, x in self.said if k == kind]


@pytest.fixture
def runner():
    r = TaskRunner()
    yield r
    r.shutdown()


@pytest.fixture
def table():
    t = MountTable()
    yield t
    t.hold = False
    for _ in range(8):  # let go of any call still held, so that the runner can end
        t.release()


def test_listing_runs_off_the_gui_thread_one_at_a_time_and_no_event_is_lost(runner, table, qtbot):
    events = VolumeEvents()
    monitor = DriveMonitor(identify, events, 60.0, runner=runner, lister=table)
    heard = Heard(monitor, table)
    table.hold = True
    monitor.poll()  # the safety-net poll: reads an empty table, then is held (a slow mount)
    qtbot.waitUntil(lambda: table.calls == 1, timeout=5000)
    assert runner.pending() == 1 and heard.said == []  # poll() returned without the listing

    table.volumes = [vol("/media/u/PHOTOS")]  # plugged in after the held listing read the table
    events.changed.emit("mountinfo")
    events.changed.emit("mountinfo")
    monitor.poll()
    assert runner.pending() == 1  # no pile-up: remembered, not started

    table.hold = False
    table.release()
    qtbot.waitUntil(lambda: heard.of("added") == ["/media/u/PHOTOS"], timeout=5000)
    # The held listing saw nothing; exactly one more followed it, and that one found the stick. The events'
    # mounts_changed came after the look they caused (the second listing), once.
    assert table.calls == 2 and runner.pending() == 0
    assert heard.of("changed") == [2]
    assert monitor.last_trigger == "mountinfo"
    assert [cv.volume.mountpoint for cv in monitor.connected()] == ["/media/u/PHOTOS"]
    assert threading.get_ident() not in table.threads


def test_nothing_is_delivered_after_stop(runner, table, qtbot):
    events = VolumeEvents()
    monitor = DriveMonitor(identify, events, 60.0, runner=runner, lister=table)
    heard = Heard(monitor, table)
    table.volumes = [vol("/media/u/PHOTOS")]
    table.hold = True
    monitor.poll()
    qtbot.waitUntil(lambda: table.calls == 1, timeout=5000)
    events.changed.emit("mountinfo")  # remembered for after the held one
    monitor.stop()  # the engine stops and closes what the receivers use
    table.hold = False
    table.release()
    qtbot.waitUntil(lambda: runner.pending() == 0, timeout=5000)
    assert heard.said == [] and monitor.connected() == []
    assert table.calls == 1  # the remembered listing is not started either


def test_a_volume_dropped_while_a_listing_is_held_is_not_brought_back_by_it(runner, table, qtbot):
    monitor = DriveMonitor(identify, None, 60.0, runner=runner, lister=table)
    heard = Heard(monitor, table)
    table.volumes = [vol("/media/u/PHOTOS")]
    monitor.poll()
    qtbot.waitUntil(lambda: heard.of("added") == ["/media/u/PHOTOS"], timeout=5000)

    table.hold = True
    monitor.poll()  # reads the table with the stick still mounted, then is held
    qtbot.waitUntil(lambda: table.calls == 2, timeout=5000)
    monitor.forget("/media/u/PHOTOS")  # ejected by usbsync meanwhile (unmounted a moment later)
    table.hold = False
    table.release()
    qtbot.waitUntil(lambda: runner.pending() == 0, timeout=5000)
    assert heard.of("added") == ["/media/u/PHOTOS"] and monitor.connected() == []  # not announced again

    # A listing started after the drop says what is there now: still mounted, so it is a drive plugged in.
    monitor.poll()
    qtbot.waitUntil(lambda: len(heard.of("added")) == 2, timeout=5000)

    # The same for a drive the copy worker lost (a yanked FUSE stick) while a listing was held.
    table.hold = True
    monitor.poll()
    qtbot.waitUntil(lambda: table.calls == 4, timeout=5000)
    monitor.drive_lost("d1")
    table.hold = False
    table.release()
    qtbot.waitUntil(lambda: runner.pending() == 0, timeout=5000)
    assert heard.of("removed") == ["/media/u/PHOTOS"] and len(heard.of("added")) == 2


@pytest.mark.parametrize("with_runner", [True, False], ids=["runner", "inline"])
def test_a_stick_remounted_in_place_is_removed_then_added_and_one_gone_is_removed(
    with_runner, runner, table, qtbot
):
    monitor = DriveMonitor(identify, None, 60.0, runner=runner if with_runner else None, lister=table)
    heard = Heard(monitor, table)

    def look() -> None:
        calls = table.calls
        monitor.poll()
        qtbot.waitUntil(lambda: table.calls == calls + 1 and runner.pending() == 0, timeout=5000)

    table.volumes = [vol("/media/u/PHOTOS", read_only=True)]
    look()
    assert heard.said == [("added", "/media/u/PHOTOS")]
    table.volumes = [vol("/media/u/PHOTOS")]  # mount -o remount,rw after the lock switch
    look()
    assert heard.said[1:] == [("removed", "/media/u/PHOTOS"), ("added", "/media/u/PHOTOS")]
    assert not monitor.connected()[0].volume.read_only
    look()  # nothing changed: nothing said
    assert len(heard.said) == 3
    table.volumes = []
    look()
    assert heard.said[3:] == [("removed", "/media/u/PHOTOS")] and monitor.connected() == []
    assert heard.of("changed") == []  # polls, not OS signals: no mounts_changed


def test_a_failed_identification_is_tried_again_soon_not_at_the_next_poll(runner, table, qtbot):
    """With the safety-net poll a minute long, a drive whose identification failed once (a probe that timed out)
    is looked at again after a second, by a single-shot timer armed for that failure alone."""
    failures = [OSError("the probe timed out")]

    def flaky(volumes: list[Volume]) -> list[ConnectedVolume]:
        if failures:
            raise failures.pop()
        return identify(volumes)

    table.volumes = [vol("/media/PHOTOS")]
    monitor = DriveMonitor(flaky, None, poll_s=60.0, runner=runner, lister=table)
    monitor._poll_ms = 60_000  # as where OS signals report mounts (no events object here: it would be 1 s)
    heard = Heard(monitor, table)
    monitor.start()
    try:
        # The failure is raised on a pool thread and handled on this one: wait for the retry it arms, not for
        # the pop (under Wine the delivery came after the pop was seen).
        qtbot.waitUntil(lambda: not failures and monitor._retry.isActive(), timeout=5000)
        # (a coarse timer, as QTimer's are by default, may fire up to 5% late)
        assert monitor._retry.remainingTime() <= 1050
        qtbot.waitUntil(lambda: heard.of("added") == ["/media/PHOTOS"], timeout=5000)
        assert table.calls == 2 and not monitor._retry.isActive()
    finally:
        monitor.stop()
