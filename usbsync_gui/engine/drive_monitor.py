"""Notice volumes being plugged in (mounted) and removed, and identify them.

The OS's signals (:mod:`usbsync_gui.platform.events`) trigger a re-read of the mounted volumes from psutil,
which stays the source of truth; once at once, again after 0.25 s and 1 s (a FUSE volume can be in the mount
table a moment before it answers). A slow poll remains as the safety net for anything the signals miss. A
drive can also vanish without any signal: a yanked stick under FUSE leaves a stale mount that answers ENOTCONN
until it is unmounted; the copy worker reports that through :meth:`DriveMonitor.drive_lost`.

With a task runner, reading the mount table (``statvfs`` of every mount: a slow or hung mount answers late) runs
on the runner, never on the monitor's thread, as identification does. At most one listing is in flight: a poll
or an event arriving meanwhile is remembered, and exactly one more listing follows the one under way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from usbsync_gui.core.volumes import ConnectedVolume, Volume, list_volumes
from usbsync_gui.engine.tasks import TaskResult, TaskRunner
from usbsync_gui.platform.events import VolumeEvents

log = logging.getLogger(__name__)

Inspector = Callable[[list[Volume]], list[ConnectedVolume]]
Lister = Callable[[], list[Volume]]
RECHECK_MS = (250, 1000)
# A listing or identification that failed (a volume busy being mounted, a probe that timed out) is tried again
# after this many ms, doubling up to the safety-net poll: with that poll at 60 s, a drive plugged in at a bad
# moment must not wait a minute for no reason. A single-shot timer, armed only while a failure waits.
RETRY_FIRST_MS = 1000


def _remounted(known: Volume, now: Volume | None) -> bool:
    """True when the volume known at a mount point is gone or is no longer the same mounting."""
    return now is None or (now.device, now.read_only) != (known.device, known.read_only)


class DriveMonitor(QObject):
    """Emits ``volume_added(ConnectedVolume)`` for each newly mounted volume (registered drive or not),
    ``volume_removed(str mountpoint, str drive_id)`` (drive id empty for unregistered volumes), and
    ``mounts_changed()`` after each look an OS signal caused.

    Args:
        inspect: identifies volumes (reads markers, probes UUIDs with blkid/lsblk, verifies tokens); with a
            ``runner`` it is called on a pool thread, so it must not touch this thread's objects.
        events: the OS signal source, or None to rely on polling.
        poll_s: the safety-net poll interval in seconds (used as given when signals are available, capped at
            1 s when they are not).
        runner: where listing the mounted volumes and identification run (never on this thread: statvfs can
            hang on a dead mount, probing runs subprocesses); None runs them inline (tests, and tools with no
            event loop to wait in).
        lister: reads the mounted volumes (:func:`list_volumes`; a test may wrap it); on the runner's pool
            thread when there is a runner.
    """

    volume_added = Signal(object)
    volume_removed = Signal(str, str)
    mounts_changed = Signal()  # after each look an OS signal caused (not the safety-net poll)

    def __init__(
        self,
        inspect: Inspector,
        events: VolumeEvents | None = None,
        poll_s: float = 5.0,
        parent: QObject | None = None,
        runner: TaskRunner | None = None,
        lister: Lister = list_volumes,
    ):
        super().__init__(parent)
        self._inspect = inspect
        self._runner = runner
        self._list = lister
        self._listing = False  # a listing is on the runner
        # Asked for while a listing was on the runner: (trigger, caused by an event), done once it is delivered.
        self._again: tuple[str, bool] | None = None
        self._listings = 0  # listings started so far (the sequence number of the latest)
        # Mount points dropped by forget()/drive_lost() -> the number of listings started by then: a listing
        # started before the drop read the mount table before it and must not bring the volume back.
        self._dropped: dict[str, int] = {}
        self._stopped = False
        self._known: dict[str, ConnectedVolume] = {}
        self._identifying: set[str] = set()  # mount points being identified on the runner
        self._generation = 0  # of the inspector: bumped by set_inspector
        self._events = events
        self._poll_ms = int(1000 * (poll_s if events is not None and events.available else min(poll_s, 1.0)))
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.poll)
        self._retry = QTimer(self)
        self._retry.setSingleShot(True)
        self._retry.timeout.connect(lambda: self._poll("retry", event=False))
        self._retry_ms = RETRY_FIRST_MS
        self.last_trigger = ""  # what noticed the latest new volume: "poll" or the signal's source
        if events is not None:
            events.changed.connect(self._on_event)

    def start(self) -> None:
        sources = ", ".join(self._events.sources) if self._events and self._events.available else "none"
        log.info(
            "watching for drives: OS signals %s; safety-net poll every %.1f s", sources, self._poll_ms / 1000
        )
        self._stopped = False
        self.poll()
        self._timer.start(self._poll_ms)

    def stop(self) -> None:
        """Stop polling and listening; nothing found by a listing or identification still in flight is delivered
        (the engine may have closed what its receivers use)."""
        self._stopped = True
        self._again = None
        self._timer.stop()
        self._retry.stop()
        if self._events is not None:
            self._events.stop()

    def connected(self) -> list[ConnectedVolume]:
        return list(self._known.values())

    def set_inspector(self, inspect: Inspector, reidentify: bool = True) -> None:
        """Identify volumes with ``inspect`` from now on (registrations changed, the identity secret arrived);
        with ``reidentify`` the known volumes are identified again, and only those whose identity changed are
        announced (removed, then added): a drive that stays what it was is not re-announced."""
        self._inspect = inspect
        self._generation += 1  # identifications in flight with the old inspector are done again on delivery
        if reidentify and self._known:
            self._identify([cv.volume for cv in self._known.values()])

    @Slot(str)
    def _on_event(self, source: str) -> None:
        self._poll_for_event(source)
        for ms in RECHECK_MS:
            QTimer.singleShot(ms, self, lambda s=source: self._recheck(s))

    def _recheck(self, source: str) -> None:
        if self._timer.isActive():  # not after stop(): the engine may have closed what the look would use
            self._poll_for_event(source)

    @Slot()
    def poll(self) -> None:
        """Look at the mounted volumes (on the runner, if any: the outcome arrives later)."""
        self._poll("poll", event=False)

    def _poll_for_event(self, trigger: str) -> None:
        # The mount table changed. A stick pulled and put back at the same place between two looks is the
        # same mount point, device and options, and Linux reuses mount IDs: only the drive's own checks
        # (marker, device number) can tell. So every event asks each connected drive to look again, once the
        # look it caused is done (mounts_changed).
        self._poll(trigger, event=True)

    def _poll(self, trigger: str, event: bool) -> None:
        if self._runner is None:
            self._listings += 1
            try:
                volumes: list[Volume] | None = self._list()
            except OSError as exc:
                log.warning("cannot list mounted volumes: %s", exc)
                volumes = None
            self._listed(volumes, trigger, event, self._listings)
            return
        if self._listing:  # one listing at a time: this one follows it, merged with any other asked meanwhile
            if self._again is not None:
                before, was_event = self._again
                trigger, event = (before, True) if was_event and not event else (trigger, event or was_event)
            self._again = (trigger, event)
            return
        self._listing = True
        self._listings += 1
        seq = self._listings
        lister = self._list

        def done(result: TaskResult[list[Volume]]) -> None:
            self._listing = False
            if self._stopped:
                return
            if result.error is not None:
                if not isinstance(result.error, OSError):
                    log.debug("details", exc_info=result.error)
                log.warning("cannot list mounted volumes: %s", result.error)
            self._listed(result.value if result.error is None else None, trigger, event, seq)
            if self._again is not None and not self._stopped:
                again, self._again = self._again, None
                self._poll(*again)

        self._runner.run(lister, done, name="list mounted volumes")

    def _listed(self, volumes: list[Volume] | None, trigger: str, event: bool, seq: int) -> None:
        """On this thread: act on a listing (None: it failed), the ``seq``-th started."""
        if volumes is not None:
            self._compare(volumes, trigger, seq)
        else:
            self._try_again()
        if event:
            self.mounts_changed.emit()

    def _compare(self, volumes: list[Volume], trigger: str, seq: int) -> None:
        current: dict[str, Volume] = {v.mountpoint: v for v in volumes}
        # A mount point dropped after this listing started was read before the drop (an eject's unmount, a
        # yank): not new. A listing started after the drop says what is there now.
        for mount, dropped_at in list(self._dropped.items()):
            if seq > dropped_at:
                del self._dropped[mount]
            else:
                current.pop(mount, None)
        # Gone, or mounted anew in place: another device, or remounted read-only / writable (``mount -o
        # remount,rw`` after a lock switch): announced as removed, then added again with what it is now.
        for mount in [m for m in self._known if _remounted(self._known[m].volume, current.get(m))]:
            cv = self._known.pop(mount)
            self.volume_removed.emit(mount, cv.drive.id if cv.drive else "")
        self._identifying &= current.keys()  # one unmounted while being identified is dropped on delivery
        new = [v for m, v in current.items() if m not in self._known and m not in self._identifying]
        if not new:
            return
        self.last_trigger = trigger
        self._identify(new)

    def _identify(self, volumes: list[Volume]) -> None:
        inspect = self._inspect
        if self._runner is None:
            self._accept(inspect(volumes), {v.mountpoint for v in volumes})
            return
        mounts = {v.mountpoint for v in volumes}
        self._identifying |= mounts
        generation = self._generation

        def done(result: TaskResult[list[ConnectedVolume]]) -> None:
            if self._stopped:
                return
            still = mounts & self._identifying  # not unmounted meanwhile
            self._identifying -= mounts
            if generation != self._generation:  # identified under an inspector since replaced: again
                again = [v for v in volumes if v.mountpoint in still]
                if again:
                    self._identify(again)
                return
            if result.error is not None:  # not known: looked at again soon (and at the next event or poll)
                log.warning("cannot identify the volumes at %s: %s", ", ".join(sorted(mounts)), result.error)
                self._try_again()
                return
            self._retry_ms = RETRY_FIRST_MS
            self._accept(result.value or [], still)

        self._runner.run(lambda: inspect(volumes), done, name="identify volumes")

    def _try_again(self) -> None:
        """Arm the retry timer (if not armed): a listing or identification failed."""
        if self._stopped or self._retry.isActive():
            return
        self._retry.start(self._retry_ms)
        self._retry_ms = min(self._retry_ms * 2, max(self._poll_ms, RETRY_FIRST_MS))

    def _accept(self, found: list[ConnectedVolume], mounts: set[str]) -> None:
        """Record identified volumes; announce the new ones, and the known ones whose identity changed."""
        for cv in found:
            mount = cv.volume.mountpoint
            if mount not in mounts:
                continue
            old = self._known.get(mount)
            if old is not None:
                if (old.drive, old.status, old.marker_id) == (cv.drive, cv.status, cv.marker_id):
                    self._known[mount] = cv  # the same drive as before: fresh figures, no announcement
                    continue
                del self._known[mount]
                self.volume_removed.emit(mount, old.drive.id if old.drive else "")
            self._known[mount] = cv
            self.volume_added.emit(cv)

    def forget(self, mountpoint: str) -> None:
        """The volume at ``mountpoint`` was ejected by us: drop it without announcing a removal."""
        self._known.pop(mountpoint, None)
        self._drop(mountpoint)

    def _drop(self, mountpoint: str) -> None:
        # A listing or an identification in flight looked before now: it must not announce this volume again.
        self._dropped[mountpoint] = self._listings
        self._identifying.discard(mountpoint)

    @Slot(str)
    def drive_lost(self, drive_id: str) -> None:
        """A copy worker hit an I/O error meaning the drive vanished without a mount-table change (a yanked
        FUSE stick): treat it as removed now; it is added again when it is mounted again."""
        for mount, cv in list(self._known.items()):
            if cv.drive is not None and cv.drive.id == drive_id:
                del self._known[mount]
                self._drop(mount)
                self.volume_removed.emit(mount, drive_id)
