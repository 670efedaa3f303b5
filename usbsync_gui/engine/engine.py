"""The engine: wires the watcher, drive monitor, ingest and copy workers together on QThreads.

Threads: ``watcher`` (SourceWatcher; watchdog adds its own observer thread), ``ingest`` (IngestWorker), one
``copy:<drive>`` thread per connected registered drive (CopyWorker, the drive's only writer), and the thread
the Engine lives in (drive monitor, timers). Dependencies come in through the constructor; the engine never
looks up a QApplication and never touches widgets.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import shlex
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

import shiboken6
from PySide6.QtCore import (
    QCoreApplication,
    QFileSystemWatcher,
    QMetaObject,
    QObject,
    Qt,
    QThread,
    QTimer,
    Signal,
    Slot,
)

from usbsync_gui.core import replace_file
from usbsync_gui.core.audit import AUDIT_FILE, AuditLog
from usbsync_gui.core.config import Category, Config, ConfigError, MetricsConfig, load_config
from usbsync_gui.core.copier import DrainResult
from usbsync_gui.core.identify import inspect_volumes
from usbsync_gui.core.identity import KeyringLocked, SecretStore, UnlockWaiter
from usbsync_gui.core.paths import AppPaths
from usbsync_gui.core.service import target_for
from usbsync_gui.core.state import StateDB, is_damage, open_checked, rebuild
from usbsync_gui.core.summary import KEYRING_LOCKED, PAUSED, WAITING_LONG, LiveVolume, StateSummary
from usbsync_gui.core.units import human_bytes, plural
from usbsync_gui.core.volumes import ConnectedVolume, Volume
from usbsync_gui.core.wait_reasons import PAUSE_ROLLED_BACK
from usbsync_gui.engine.control import ControlServer
from usbsync_gui.engine.drive_monitor import DriveMonitor
from usbsync_gui.engine.metrics import MetricsServer, MetricsState
from usbsync_gui.engine.remote import live_fields, volume_fields
from usbsync_gui.engine.summary_feed import LiveState, SummaryFeed, compute_summary
from usbsync_gui.engine.tasks import TaskResult, TaskRunner
from usbsync_gui.engine.watcher import SourceWatcher
from usbsync_gui.engine.workers import CopyWorker, IngestWorker
from usbsync_gui.platform import EjectError, eject_volume
from usbsync_gui.platform.events import create_volume_events
from usbsync_gui.platform.thread_priority import lower_this_thread

log = logging.getLogger(__name__)

CONFIG_SETTLE_MS = 200
# notice kind: the file watcher died and was restarted (shown until the next heartbeat)
WATCHER_RESTARTED = "watcher_restarted"
WATCHING_INCOMPLETE = "watching_incomplete"  # notice kind: the inotify watch limit left folders unwatched
STOP_TIMEOUT_MS = 10_000


def _quote(name: str) -> str:
    return shlex.quote(name)


_F = TypeVar("_F", bound=Callable[..., Any])


def _recovers_damage(method: _F) -> _F:
    """For the engine's slots that touch the state database: damage (SQLITE_CORRUPT/NOTADB) starts the
    rebuild (:meth:`Engine.report_damage`) instead of a traceback from inside Qt's event loop. After
    :meth:`Engine.stop` they do nothing."""

    @functools.wraps(method)
    def guarded(self: Engine, *args: Any) -> Any:
        if self._stopped:  # a worker's signal queued before the stop, delivered after: its database is closed
            return None
        try:
            return method(self, *args)
        except sqlite3.DatabaseError as exc:
            if not is_damage(exc):
                raise
            self.report_damage(str(exc))
            return None

    return guarded  # type: ignore[return-value]


class _Slot:
    """A worker and the thread it runs on; ``key`` names it (a copy worker's drive id)."""

    def __init__(self, worker: QObject, thread: QThread, key: str = ""):
        self.worker = worker
        self.thread = thread
        self.key = key


class Engine(QObject):
    """The running usbsync engine.

    Signals (all emitted in the engine's thread):
        drive_connected(str drive id, str drive name, str mountpoint)
        drive_disconnected(str drive id)
        copy_progress(str drive id, str source path, int bytes done, int bytes total)
        drive_drained(str drive id, DrainResult) -- one drain pass finished
        heartbeat(dict) -- counts at the heartbeat interval (and on demand via :meth:`emit_heartbeat`)
    """

    drive_connected = Signal(str, str, str)
    drive_disconnected = Signal(str)
    copy_progress = Signal(str, str, int, int)
    drive_drained = Signal(str, object)
    heartbeat = Signal(dict)
    queue_drained = Signal(
        str
    )  # drive id: everything for it is verified on it ("safe to unplug" once ejected)
    drive_ejected = Signal(str)  # drive id: unmounted by usbsync, safe to unplug
    paused_changed = Signal(bool)
    database_rebuilt = Signal(str)  # the one-line message: the damaged state database was set aside
    # drive id, files copied and files found already there since it was plugged in: all is verified on it
    drive_up_to_date = Signal(str, int, int)
    volume_unknown = Signal(
        object
    )  # ConnectedVolume: a removable volume usbsync does not know was plugged in
    # A notice (keyring locked, watching incomplete, paused, ...) was raised, changed or lowered: see _notice.
    notices_changed = Signal()
    _scan = Signal()
    _ingest = Signal(object)  # list[str] of source paths: see IngestWorker.fresh for why not list
    _track = Signal(object)
    _new_config = Signal(object)
    _reclassify = Signal()

    def __init__(
        self,
        paths: AppPaths,
        config: Config,
        app: QCoreApplication,
        parent: QObject | None = None,
        runner: TaskRunner | None = None,
    ):
        super().__init__(parent)
        self.paths = paths
        # Blocking work (volume probing, eject, the summary's queries) runs here, never on this thread.
        self.runner = runner if runner is not None else TaskRunner(parent=self)
        # Small state writes (:meth:`_write`) on one thread of their own, so they are applied in the order they
        # were asked for: on the runner's pool a pause and the resume right after it could land the other way.
        self._writes = TaskRunner(max_threads=1, parent=self)
        self.summary = SummaryFeed(paths, self.runner, self._live_state, self)
        # What /metrics shows ([metrics] in config.toml); kept whether or not it is served (engine/metrics.py).
        self.metrics = MetricsState()
        self._metrics_server: MetricsServer | None = None
        self.summary.changed.connect(self._metrics_summary)
        self._files_queued = 0  # since start (health)
        self._restart_noticed = False  # the watcher-restarted notice is up (lowered at the next heartbeat)
        self._waiting_alert: str | None = None  # the waiting alert raised now ([alerts])
        self._alert_timer = QTimer(self)
        self._alert_timer.setSingleShot(True)
        self._alert_timer.timeout.connect(self.summary.invalidate)
        self._last_scan: dict[str, float | int] | None = None  # the last scan's figures (health)
        self.config = config
        self.audit = AuditLog(paths.log_dir / AUDIT_FILE)
        # Checked at start: a damaged database is set aside and rebuilt (scan + drives), never a crash loop.
        self.db, self._rebuilt = open_checked(paths.state_db)
        if self._rebuilt:
            log.error("%s", self._rebuilt)
        # The identity secret is loaded on a thread of its own (a keyring can be locked, or slow to activate):
        # everything starts without it, and volumes are not identified as registered drives until it is here.
        self._secret_store = SecretStore(paths.state_dir)
        self._secret: bytes | None = None
        self._secret_where = "not loaded yet (asking the keyring)"
        self._secret_waiter = UnlockWaiter(self._secret_store)
        self._secret_handoff: tuple[bytes | None, str] = (None, "")  # set by the loader thread, then invoked
        self._unverified_seen = (
            False  # volumes were inspected without the secret: inspect again when it comes
        )
        self._secret_thread = threading.Thread(target=self._load_secret, name="usbsync-secret", daemon=True)
        app.aboutToQuit.connect(self.stop_secret_loader)
        self.monitor = DriveMonitor(
            self._make_inspector(), create_volume_events(app, self), config.volume_poll_s, self, self.runner
        )
        self._copy: dict[str, _Slot] = {}
        # Copy workers told to stop that have not ended yet (their copy rolling back): never waited for; what
        # must follow (a new worker for the drive, an eject) runs when the thread has ended.
        self._retiring: list[_Slot] = []
        self._after_retired: dict[str, list[Callable[[], None]]] = {}
        self._ejecting: set[str] = set()
        self._old_watchers: list[_Slot] = []  # replaced watchers still stopping
        self._plugged_work: dict[
            str, tuple[int, int]
        ] = {}  # drive id -> (copied, already there) this plug-in
        self._watch: _Slot | None = None
        self._ingest_slot: _Slot | None = None
        self._config_mtime = self._mtime()
        self._bytes_copied = 0
        self._started_at = time.monotonic()
        self._rescan = QTimer(self)
        self._rescan.timeout.connect(self._scan)
        self._beat = QTimer(self)
        self._beat.timeout.connect(self.emit_heartbeat)
        # config.toml edited by hand or by the tray's Settings: applied when the OS says the file or its folder
        # changed (an editor's save may replace the file by a rename, which only the folder's watch sees).
        # Read once the writes have paused for CONFIG_SETTLE_MS (an editor writing in place gives several events, the
        # first of them on a truncated file), on a single-shot timer that runs only after such an event.
        self._config_watch = QFileSystemWatcher(self)
        self._config_settle = QTimer(self)
        self._config_settle.setSingleShot(True)
        self._config_settle.setInterval(CONFIG_SETTLE_MS)
        self._config_settle.timeout.connect(self._check_config)
        self._config_watch.fileChanged.connect(self._config_changed)
        self._config_watch.directoryChanged.connect(self._config_changed)
        self.monitor.volume_added.connect(self._on_volume_added)
        self.monitor.volume_removed.connect(self._on_volume_removed)
        self.monitor.mounts_changed.connect(self._on_mounts_changed)
        # Every change the engine makes or hears of refreshes the views' summary (computed off this thread).
        for changed in (
            self.drive_connected,
            self.drive_disconnected,
            self.drive_drained,
            self.paused_changed,
            self.database_rebuilt,
            self.drive_ejected,
            self.notices_changed,
        ):
            changed.connect(self.summary.invalidate)
        self._stopped = False
        self._recovering = False
        self._control: ControlServer | None = None
        self.paused = False
        # Extra commands for the channel (the tray app's "show"); returns None for commands it does not know.
        self.command_hook: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None
        self._secret_thread.start()

    # -- life cycle -------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Recover from an earlier crash, start every thread, scan, and begin watching. Call under the lock."""
        with self.db.transaction():
            recovered = self.db.recover()
        if recovered:
            log.info("%s left copying by an earlier stop went back to pending", plural(recovered, "job"))
        self._log_summary()
        self._start_watcher()
        self._start_ingest()
        self._scan.emit()  # startup scan: what arrived while we were stopped
        self._reclassify.emit()  # rules edited while we were stopped re-route what has not gone yet
        self._notice(PAUSED, None)  # a pause lasts until resumed or quit, not across starts
        self.monitor.set_inspector(self._make_inspector(), reidentify=False)  # the secret may be here now
        self.monitor.start()
        self._rescan.start(int(self.config.rescan_interval_s * 1000))
        self._beat.start(int(self.config.heartbeat_interval_s * 1000))
        self._watch_config()
        self._control = ControlServer(
            self.paths.control_endpoint, self._on_command, self, snapshot=self._hello_fields
        )
        self._publish_events(self._control)
        self._serve_metrics(self.config.metrics)

    def _serve_metrics(self, config: MetricsConfig) -> None:
        """Serve /metrics as ``config`` says, or stop serving: with metrics off no socket is open."""
        if self._metrics_server is not None:
            self._metrics_server.stop()
            self._metrics_server = None
        if not config.enabled:
            return
        server = MetricsServer(config, self.metrics)
        try:
            server.start()
        except OSError as exc:
            log.error(
                "metrics: cannot serve on %s port %d (%s); change [metrics] address or port in %s",
                config.address,
                config.port,
                exc.strerror or exc,
                self.paths.config_file,
            )
            return
        self._metrics_server = server

    @Slot(object)
    def _metrics_summary(self, summary: StateSummary) -> None:
        with self.metrics.lock:
            self.metrics.summary = summary
        self._check_waiting(summary)

    def _check_waiting(self, summary: StateSummary) -> None:
        """Raise or lower the waiting alert ([alerts] in config.toml): more files waiting than
        ``waiting_files``, or one waiting longer than ``waiting_age_hours``. The age needs a clock: one
        single-shot timer, armed for the moment the oldest waiting file comes of age, and only while a file
        waits (events, not clocks: with nothing waiting no timer runs)."""
        a = self.config.alerts
        now = time.time()
        waits = [(w.oldest, d.name) for d in summary.drives for w in d.waits if w.oldest != float("inf")]
        oldest, name = min(waits, default=(None, ""))
        too_many = bool(a.waiting_files) and summary.waiting_files > a.waiting_files
        age_s = a.waiting_age_hours * 3600
        too_old = bool(age_s) and oldest is not None and now - oldest >= age_s
        self._alert_timer.stop()
        if age_s and oldest is not None and not too_old:
            self._alert_timer.start(int(min(oldest + age_s - now, 86_400) * 1000) + 1000)
        if too_many:
            message = (
                f"{summary.waiting_files:,} files are waiting (an alert from {a.waiting_files:,}): plug in "
                "the drives they wait for, or see Pending queue…"
            )
        elif too_old:
            message = f"a file has waited for {name} for over {a.waiting_age_hours:g} h: plug in {name}"
        else:
            message = None
        if message != self._waiting_alert:
            if message:
                log.warning("alert: %s", message)
            elif self._waiting_alert:
                log.info("alert over: no longer too many files waiting, nor for too long")
            self._waiting_alert = message
            self._notice(WAITING_LONG, message)

    @Slot(object)
    def _count_events(self, paths: list[str]) -> None:
        self.metrics.add_events(len(paths))

    @Slot(str)
    @_recovers_damage
    def _on_watcher_restarted(self, why: str) -> None:
        """An alert in status and the tray (a notice, notified once), lowered at the next heartbeat: the watch
        healed itself, so it informs rather than asks for anything."""
        self._restart_noticed = True
        self._notice(
            WATCHER_RESTARTED, f"{why} at {time.strftime('%H:%M')}: watching restarted and rescanned"
        )

    @Slot(int, int, int)
    def _on_scan_done(self, seen: int, missed: int, queued: int) -> None:
        self._last_scan = {"at": round(time.time(), 3), "seen": seen, "missed": missed, "queued": queued}

    @Slot(int)
    def _on_queued(self, n: int) -> None:
        self._files_queued += n

    def _start_ingest(self) -> None:
        ingest = IngestWorker(self.paths, self.config, self.audit)
        self._ingest_slot = self._spawn(ingest, "ingest")
        self._scan.connect(ingest.scan)
        self._ingest.connect(ingest.ingest)
        self._new_config.connect(ingest.set_config)
        self._reclassify.connect(ingest.reclassify)
        ingest.jobs_queued.connect(self._on_jobs_queued)
        ingest.scan_done.connect(self._on_scan_done)
        ingest.queued.connect(self._on_queued)
        ingest.fresh.connect(self._track)
        ingest.database_damaged.connect(self.report_damage)

    def _stop_ingest(self) -> bool:
        slot, self._ingest_slot = self._ingest_slot, None
        if slot is None:
            return True
        worker: IngestWorker = slot.worker  # type: ignore[assignment]
        for signal, receiver in (
            (self._scan, worker.scan),
            (self._ingest, worker.ingest),
            (self._new_config, worker.set_config),
            (self._reclassify, worker.reclassify),
        ):
            signal.disconnect(receiver)
        worker.request_stop()  # the scan or batch under way ends at its next file
        return self._reap(slot)

    def _start_watcher(self) -> None:
        watcher = SourceWatcher(list(self.config.sources), self.config.stability_window_s)
        self._watch = self._spawn(watcher, "watcher", start=watcher.start)
        watcher.files_ready.connect(self._ingest)
        watcher.files_ready.connect(self._count_events)
        watcher.rescan_requested.connect(self._scan)
        watcher.watching_incomplete.connect(self._on_watching_incomplete)
        watcher.watching_complete.connect(self._on_watching_complete)
        # "source folder missing" is the summary's (it looks at the folders): recomputed when one goes or comes.
        watcher.source_missing.connect(self.summary.invalidate)
        watcher.source_restored.connect(self.summary.invalidate)
        watcher.watcher_restarted.connect(self._on_watcher_restarted)
        self._track.connect(watcher.track)

    @Slot(str, object)
    @_recovers_damage
    def _on_watching_incomplete(self, message: str, folders: list[str]) -> None:
        # The watcher logs the warning (once per episode) and rescans those folders itself meanwhile.
        self.metrics.watcher_up = False
        self._notice(WATCHING_INCOMPLETE, message)

    @Slot()
    @_recovers_damage
    def _on_watching_complete(self) -> None:
        self.metrics.watcher_up = True
        if self._notice(WATCHING_INCOMPLETE, None):
            log.info("every folder of the sources is watched again")

    def _stop_watcher(self) -> None:
        if self._watch is None:
            return
        QMetaObject.invokeMethod(self._watch.worker, "stop", Qt.ConnectionType.BlockingQueuedConnection)
        self._reap(self._watch)
        self._watch = None

    def _retire_watcher(self) -> None:
        """Stop the watcher without waiting (joining watchdog's observer takes up to its read timeout): it
        stops in its own thread, which then ends; the new watcher starts meanwhile (a file both see is
        ingested once: ingest is idempotent)."""
        slot, self._watch = self._watch, None
        if slot is None:
            return
        self._track.disconnect(slot.worker.track)  # type: ignore[attr-defined]
        self._old_watchers.append(slot)

        def stop_there() -> None:  # runs in the watcher's thread
            slot.worker.stop()  # type: ignore[attr-defined]
            slot.thread.quit()

        slot.thread.finished.connect(lambda: self._old_watchers.remove(slot))
        QTimer.singleShot(0, slot.worker, stop_there)

    def _spawn(self, worker: QObject, name: str, start: object = None) -> _Slot:
        thread = QThread()
        thread.setObjectName(name)
        worker.moveToThread(thread)
        # First thing in the new thread (a direct connection runs there): the engine's threads, and every
        # thread they start, run below the window's priority.
        thread.started.connect(lower_this_thread, Qt.ConnectionType.DirectConnection)
        if start is not None:
            thread.started.connect(start)
        thread.start()
        return _Slot(worker, thread)

    def _retire(self, slot: _Slot, reason: str) -> None:
        """Stop a copy worker without waiting for it: its copy in flight rolls back (within a chunk, or during
        verify) with ``reason`` as the jobs' waiting reason, then its thread ends by itself."""
        slot.worker.cancel.cancel(reason)  # type: ignore[attr-defined]
        self._retiring.append(slot)
        slot.thread.finished.connect(lambda s=slot: self._on_retired(s))
        QMetaObject.invokeMethod(slot.worker, "finish", Qt.ConnectionType.QueuedConnection)

    def _on_retired(self, slot: _Slot) -> None:
        if slot not in self._retiring:
            return
        self._retiring.remove(slot)
        if any(s.key == slot.key for s in self._retiring):
            return
        for then in self._after_retired.pop(slot.key, []):
            then()

    def _when_retired(self, drive_id: str, then: Callable[[], None]) -> None:
        """Run ``then`` once no retiring worker of ``drive_id`` is left (at once when none is)."""
        if any(s.key == drive_id for s in self._retiring):
            self._after_retired.setdefault(drive_id, []).append(then)
        else:
            then()

    def _reap(self, slot: _Slot, timeout_ms: int = STOP_TIMEOUT_MS) -> bool:
        """End ``slot``'s thread: the worker's ``close`` and then the thread's ``quit`` are queued to run in that
        thread, in that order, and the thread is waited for up to ``timeout_ms``. Never a blocking call into the
        thread: one that has already ended (a retired worker whose ``finished`` this thread has not handled
        yet, because it is busy stopping) would never answer it, and ``stop`` hung there in CI."""
        worker, thread = slot.worker, slot.thread

        def close_there() -> None:
            if hasattr(worker, "close"):
                worker.close()
            thread.quit()

        if thread.isRunning():
            QTimer.singleShot(0, worker, close_there)
        ok = thread.wait(timeout_ms)
        if not ok:
            log.error("thread %s did not stop within %d ms", slot.thread.objectName(), timeout_ms)
        return bool(ok)

    def stop(self) -> bool:
        """Stop watching, roll back copies in flight, stop every thread (bounded). Returns True if all stopped.
        Nothing pending is lost: interrupted jobs are back to pending when this returns."""
        if self._stopped:
            return True
        self._stopped = True
        t0 = time.monotonic()
        for t in (self._rescan, self._beat, self._alert_timer, self._config_settle):
            t.stop()
        # Deleted here, on this thread: left to the engine's destruction, which Python's garbage collector may run
        # on any thread, its inotify notifier would be torn down from the wrong one (Qt warns, and polls a closed
        # descriptor).
        shiboken6.delete(self._config_watch)
        self.monitor.stop()
        self.stop_secret_loader()
        self._serve_metrics(MetricsConfig())  # off: the socket closed
        for s in self._copy.values():
            s.worker.cancel.set()  # type: ignore[attr-defined]
        self._stop_watcher()
        ok = True
        for s in [*self._copy.values(), *self._retiring, *self._old_watchers]:  # at quit only: bounded waits
            ok = self._reap(s) and ok
        self._copy.clear()
        self._retiring.clear()
        self._after_retired.clear()
        self.runner.shutdown(STOP_TIMEOUT_MS // 2)
        self._writes.shutdown(STOP_TIMEOUT_MS // 2)
        ok = self._stop_ingest() and ok
        try:
            counts = self.db.counts()
            log.info(
                "stopped in %.1f s: %d waiting, %d failed, %d synced",
                time.monotonic() - t0,
                counts["pending"] + counts["copying"],
                counts["failed"],
                counts["done"],
            )
        except sqlite3.DatabaseError as exc:  # damaged: the next start sets it aside; nothing to add here
            log.info("stopped in %.1f s (state database: %s)", time.monotonic() - t0, exc)
        if self._control is not None:
            self._control.close()
        self.db.close()
        self.audit.close()
        return ok

    def _make_inspector(self) -> Callable[[list[Volume]], list[ConnectedVolume]]:
        """How to identify volumes under the current configuration and secret, as a function that touches
        nothing of this thread (the monitor runs it on a pool thread: probing runs blkid/lsblk)."""
        config, secret = self.config, self._adopt_secret()
        if secret is None:  # no token can be checked yet: no volume is a registered drive
            self._unverified_seen = True
            return lambda volumes: inspect_volumes(config, None, volumes)
        labels = self.db.registered_labels()
        return lambda volumes: inspect_volumes(config, secret, volumes, labels)

    def _write(
        self, change: Callable[[StateDB], object], name: str, done: Callable[[], None] | None = None
    ) -> None:
        """Make a small change to the state database on the runner, in a transaction of its own connection:
        a worker holding the write lock (a big batch being recorded) must never hold this thread. Once written
        (or failed), ``done`` is called on this thread; by default the summary is recomputed."""
        state_db = self.paths.state_db

        def write() -> None:
            with StateDB(state_db) as db, db.transaction():
                change(db)

        def written(result: TaskResult[None]) -> None:
            if result.error is not None:
                if isinstance(result.error, sqlite3.DatabaseError) and is_damage(result.error):
                    self.report_damage(str(result.error))
                else:
                    log.warning("cannot %s: %s", name, result.error)
            (done or self.summary.invalidate)()

        self._writes.run(write, written, name=name)

    def _notice(self, kind: str, message: str | None, *, off_thread: bool = False) -> bool:
        """Raise the notice ``kind`` with ``message``, or lower it (``message`` None). Every notice the engine
        raises or lowers goes through here, and :attr:`notices_changed` is emitted once the change is written,
        which recomputes the views' summary: the tray's colour and tooltip show the raised notices (a tray left
        at "keyring locked" after the unlock was a change written without it). ``off_thread``: written on the
        runner (:meth:`_write`), for a user's action that must not wait for a worker's write lock.

        Returns True when a notice was raised anew or lowered (always False ``off_thread``: not known yet)."""

        def change(db: StateDB) -> bool:
            return db.set_notice(kind, message) if message is not None else db.clear_notice(kind)

        if off_thread:
            self._write(change, f"record the notice {kind}", done=self.notices_changed.emit)
            return False
        with self.db.transaction():
            changed = change(self.db)
        self.notices_changed.emit()
        return changed

    def _record_free_space(self, drive_id: str) -> None:
        """Record the drive's free space now (after copies), so "when last seen" is right after it is unplugged."""
        cv = next(
            (c for c in self.monitor.connected() if c.drive is not None and c.drive.id == drive_id), None
        )
        if cv is None or cv.drive is None:
            return
        drive, v, fs_type = cv.drive, cv.volume, cv.fs_type

        def seen(db: StateDB) -> None:
            usage = shutil.disk_usage(v.mountpoint)
            db.drive_seen(drive.id, drive.name, v.mountpoint, fs_type, usage.total, usage.free)

        self._write(seen, f"record {drive.name}'s free space")

    def _live_state(self) -> LiveState:
        """What the summary needs from the running engine (see :class:`SummaryFeed`)."""
        connected = {
            cv.drive.id: LiveVolume(
                cv.volume.mountpoint, cv.volume.free_bytes, cv.volume.total_bytes, cv.volume.read_only
            )
            for cv in self.monitor.connected()
            if cv.drive is not None
        }
        return LiveState(self.config, connected, self.paused)

    # -- drives -----------------------------------------------------------------------------------------------

    @Slot(object)
    @_recovers_damage
    def _on_volume_added(self, cv: ConnectedVolume) -> None:
        v = cv.volume
        if cv.drive is None:
            if cv.status == "look-alike":
                log.warning("%s", cv.message)
            elif cv.marker_id is not None:
                log.info(
                    "volume at %s carries a usbsync marker that is not registered here; not used",
                    v.mountpoint,
                )
            elif cv.status == "unknown" and cv.info.removable and not v.read_only:
                self.volume_unknown.emit(cv)
            return
        self._plugged_work[cv.drive.id] = (0, 0)
        drive = cv.drive
        fs_type = cv.fs_type
        self._write(
            lambda db: db.drive_seen(
                drive.id, drive.name, v.mountpoint, fs_type, v.total_bytes, v.free_bytes
            ),
            f"record where {drive.name} is",
        )
        waiting = self.db.count_for(drive.id)
        log.info(
            "drive %s plugged in at %s (noticed by %s; %s%s, %s free); %s waiting",
            drive.name,
            v.mountpoint,
            self.monitor.last_trigger or "poll",
            cv.fs_type,
            ", read-only" if v.read_only else "",
            human_bytes(v.free_bytes),
            plural(waiting, "file"),
        )
        self.drive_connected.emit(drive.id, drive.name, v.mountpoint)
        if drive.id in self._copy or self.paused:
            return
        self._start_worker(cv)

    def _start_worker(self, cv: ConnectedVolume) -> None:
        """A copy worker for ``cv``'s drive, once its previous one (if retiring) has ended: one writer a drive."""
        assert cv.drive is not None
        drive_id = cv.drive.id
        if drive_id in self._ejecting:
            return  # being ejected: nothing more is written to it
        if any(s.key == drive_id for s in self._retiring):

            def later() -> None:
                still = any(c.volume.mountpoint == cv.volume.mountpoint for c in self.monitor.connected())
                if still and drive_id not in self._copy and not self.paused and not self._stopped:
                    self._start_worker(cv)

            self._when_retired(drive_id, later)
            return
        drive = cv.drive
        worker = CopyWorker(self.paths, self.config, self.audit, target_for(cv))
        slot = self._spawn(worker, f"copy:{drive.name}")
        slot.key = drive.id
        worker.progress.connect(self.copy_progress)
        worker.drained.connect(self._on_drained)
        worker.drive_gone.connect(self.monitor.drive_lost)
        worker.database_damaged.connect(self.report_damage)
        self._copy[drive.id] = slot
        self._request_drain(drive.id)

    @Slot(str, str)
    def _on_volume_removed(self, mountpoint: str, drive_id: str) -> None:
        if drive_id:  # "last seen" is when it went, not when it came
            self._write(lambda db: db.drive_left(drive_id), "record when the drive left")
        slot = self._copy.pop(drive_id, None) if drive_id else None
        if slot is None:
            return
        drive = self.config.drive_by_id(drive_id)
        log.info("drive %s removed from %s", drive.name if drive else drive_id, mountpoint)
        self._retire(slot, "drive removed")
        self.drive_disconnected.emit(drive_id)

    @Slot()
    def _on_mounts_changed(self) -> None:
        if self._watch is not None:  # a volume mounted over a source folder, or unmounted from it
            QMetaObject.invokeMethod(self._watch.worker, "check_mounts", Qt.ConnectionType.QueuedConnection)
        # Each drive re-checks its own volume (marker, device) at its next drain: cheap when nothing waits.
        for drive_id, slot in list(self._copy.items()):
            slot.worker.reconsider()  # type: ignore[attr-defined]
            self._request_drain(drive_id)

    def _request_drain(self, drive_id: str) -> None:
        slot = self._copy.get(drive_id)
        if slot is None or self.paused:
            return
        worker: CopyWorker = slot.worker  # type: ignore[assignment]
        worker.request()
        QMetaObject.invokeMethod(worker, "drain", Qt.ConnectionType.QueuedConnection)

    @Slot(list)
    def _on_jobs_queued(self, drive_ids: list[str]) -> None:
        self.summary.invalidate()
        for d in drive_ids:
            self._request_drain(d)

    @Slot(str, object)
    @_recovers_damage
    def _on_drained(self, drive_id: str, result: DrainResult) -> None:
        self._bytes_copied += result.bytes_copied
        self.drive_drained.emit(drive_id, result)
        drive = self.config.drive_by_id(drive_id)
        name = drive.name if drive is not None else drive_id
        self.metrics.add_drain(
            name, result.copied, result.bytes_copied, result.failures, len(result.verify_s)
        )
        if self._metrics_server is not None:
            for seconds in result.verify_s:
                self._metrics_server.verify_seconds.observe(seconds)
        if drive is None or result.drive_gone or result.cancelled or result.damaged:
            return
        if result.copied:
            self._record_free_space(drive_id)
        left = self.db.count_for(drive_id)
        copied, already = self._plugged_work.get(drive_id, (0, 0))
        copied, already = copied + result.copied, already + result.duplicates
        self._plugged_work[drive_id] = (copied, already)
        if (result.copied or result.duplicates) and left == 0:
            done = self.db.count_for(drive_id, ("done",))
            self._plugged_work[drive_id] = (0, 0)  # told once; more work this plug-in is counted afresh
            self.queue_drained.emit(drive_id)
            self.drive_up_to_date.emit(drive_id, copied, already)
            if drive.auto_eject:
                self.eject_drive(
                    drive.name,
                    lambda ok, msg: log.log(logging.INFO if ok else logging.WARNING, "auto-eject: %s", msg),
                )
            else:
                log.info(
                    "%s: all %s verified on the drive, nothing waiting; eject it before unplugging "
                    "(usbsync eject %s)",
                    drive.name,
                    plural(done, "file"),
                    _quote(drive.name),
                )
        elif left and (result.copied or result.duplicates or result.failed):
            log.info(
                "%s: %s still waiting (%s)",
                drive.name,
                plural(left, "file"),
                ", ".join(f"{n}× {r}" for r, n in result.reasons.items()) or "see 'usbsync pending'",
            )

    # -- eject and the command channel ------------------------------------------------------------------------

    def eject_drive(self, name: str, done: Callable[[bool, str], None] | None = None) -> None:
        """Stop writing to the drive (its copy in flight rolls back), flush, unmount and, where the OS allows,
        power it off; ``done(success, message for the user)`` is called on this thread when that is over. Never
        waits here: the worker stops by itself and the OS calls (``sync``, ``udisksctl``: up to a minute on a
        slow stick) run on the task runner. The message's count of files left waiting for the drive is the one
        summary's (what ``usbsync status`` says), computed on the runner after the eject."""
        reply = done if done is not None else (lambda ok, msg: None)
        drive = self.config.drive_by_name(name)
        if drive is None:
            reply(False, f"no drive named {name!r} is registered")
            return
        cv = next(
            (c for c in self.monitor.connected() if c.drive is not None and c.drive.id == drive.id), None
        )
        if cv is None:
            reply(False, f"{drive.name} is not plugged in")
            return
        if drive.id in self._ejecting:
            reply(False, f"{drive.name} is being ejected already")
            return
        self._ejecting.add(drive.id)
        slot = self._copy.pop(drive.id, None)
        if slot is not None:
            self._retire(slot, "ejected before the copy finished")
        device, mount = cv.volume.device, cv.volume.mountpoint
        state_db = self.paths.state_db

        def eject_and_count(live: LiveState) -> tuple[str, int | None]:
            """On the runner: eject (raises when it cannot), then count what waits for the drive."""
            how = eject_volume(device, mount)
            try:
                found = compute_summary(state_db, live).drive(drive.id)
            except sqlite3.Error as exc:  # ejected all the same; only the count is not known
                log.warning("cannot count the files waiting for %s: %s", drive.name, exc)
                return how, None
            return how, found.waiting_files if found else 0

        def start() -> None:
            # What the summary needs of this thread, now that the worker has stopped: the drive no longer
            # counts as connected (it is being unplugged).
            live = self._live_state()
            live = replace(live, connected={d: v for d, v in live.connected.items() if d != drive.id})
            self.runner.run(lambda: eject_and_count(live), ejected, name=f"eject {drive.name}")

        def ejected(result: TaskResult[tuple[str, int | None]]) -> None:
            self._ejecting.discard(drive.id)
            if result.error is not None:
                still = any(c.volume.mountpoint == mount for c in self.monitor.connected())
                if slot is not None and still and not self.paused:
                    self._start_worker(cv)  # still mounted: go on writing
                why = result.error if isinstance(result.error, EjectError) else f"error: {result.error}"
                reply(False, f"could not eject {drive.name}: {why}")
                return
            self.monitor.forget(mount)
            self._write(lambda db: db.drive_left(drive.id), f"record when {drive.name} left")
            how, waiting = result.unwrap()
            msg = f"{drive.name} ejected ({how}): safe to unplug"
            if waiting:
                msg += f"; {plural(waiting, 'file')} will wait for it"
            log.info("%s", msg)
            self.drive_ejected.emit(drive.id)
            self.drive_disconnected.emit(drive.id)
            reply(True, msg)

        self._when_retired(drive.id, start)

    def _live_fields(self) -> dict[str, Any]:
        """The live state as the channel carries it (``hello`` and ``live`` events): what the summary needs
        from the running engine, for a client that computes it (see :mod:`usbsync_gui.engine.remote`)."""
        live = self._live_state()
        return {
            "paused": live.paused,
            "connected": {k: live_fields(v) for k, v in live.connected.items()},
            "volumes": [volume_fields(cv) for cv in self.monitor.connected()],
        }

    def _hello_fields(self) -> dict[str, Any]:
        """What a new watcher is told first: the live state, and the summary as last computed here. Summaries
        are sent on change only; one computed before the watcher came (the drives identified before the tray
        app connected) was never sent to it, and the app showed its own, with no drive plugged in, until the
        next change (``tests/e2e/test_remote_engine.py``)."""
        fields = self._live_fields()
        if self.summary.latest is not None:
            fields["summary"] = self.summary.latest.to_wire()
        return fields

    def _publish_events(self, control: ControlServer) -> None:
        """What happens, as the channel's events (protocol in :mod:`usbsync_gui.engine.control`)."""
        pub = control.publish
        self.drive_connected.connect(lambda d, n, m: pub("drive_connected", drive=d, name=n, mount=m))
        self.drive_disconnected.connect(lambda d: pub("drive_disconnected", drive=d))
        self.drive_ejected.connect(lambda d: pub("drive_ejected", drive=d))
        self.copy_progress.connect(lambda d, p, n, t: pub("progress", drive=d, path=p, done=n, total=t))
        self.drive_up_to_date.connect(lambda d, c, a: pub("up_to_date", drive=d, copied=c, already=a))
        self.database_rebuilt.connect(lambda m: pub("database_rebuilt", message=m))
        self.heartbeat.connect(lambda data: pub("heartbeat", data=data))
        self.volume_unknown.connect(lambda cv: pub("volume_unknown", volume=volume_fields(cv)))
        self.monitor.volume_added.connect(lambda cv: pub("volume_added", volume=volume_fields(cv)))
        self.monitor.volume_removed.connect(lambda m, d: pub("volume_removed", mount=m, drive=d))
        # The live state changes with these.
        for changed in (self.drive_connected, self.drive_disconnected, self.paused_changed):
            changed.connect(lambda *_: pub("live", **self._live_fields()))
        # The summary itself: the tray app shows it as computed here, with nothing to compute itself.
        # Encoded only for a watcher: headless, with no one following, a flood recomputes it many times a second.
        self.summary.changed.connect(
            lambda s: pub("summary", summary=s.to_wire()) if control.watchers else None
        )

    def _on_command(self, request: dict[str, Any], reply: Callable[[dict[str, Any]], None]) -> None:
        cmd = request.get("cmd")
        if cmd == "eject" and isinstance(request.get("drive"), str):
            self.eject_drive(request["drive"], lambda ok, msg: reply({"ok": ok, "message": msg}))
            return
        if cmd in ("pause", "resume"):
            self.set_paused(cmd == "pause")
            reply({"ok": True, "message": "syncing paused" if self.paused else "syncing resumed"})
            return
        if cmd == "sync":
            self.sync_now()
            reply({"ok": True, "message": "syncing now"})
            return
        if cmd == "health":
            reply({"ok": True, "health": self.health()})
            return
        if self.command_hook is not None:
            answer = self.command_hook(request)
            if answer is not None:
                reply(answer)
                return
        reply({"ok": False, "message": f"unknown command {request.get('cmd')!r}"})

    # -- pause, sync now ------------------------------------------------------------------------------------

    def set_paused(self, paused: bool) -> None:
        """Pause: copies in flight roll back (reason "paused") and nothing new starts; watching goes on."""
        if paused == self.paused:
            return
        self.paused = paused
        # Recorded, so `usbsync status` can say so too (the summary reads it as a state, not a problem).
        self._notice(PAUSED, "syncing is paused" if paused else None, off_thread=True)
        if paused:
            for drive_id, slot in list(self._copy.items()):
                self._retire(slot, PAUSE_ROLLED_BACK)  # rolled back within a second; never waited for
                del self._copy[drive_id]
            log.info("syncing paused")
        else:
            log.info("syncing resumed")
            self.sync_now()
        self.paused_changed.emit(paused)

    def sync_now(self) -> None:
        """Rescan the sources and start every connected drive's queue."""
        self._scan.emit()
        for cv in self.monitor.connected():
            if cv.drive is not None and cv.drive.id not in self._copy and not self.paused:
                self._start_worker(cv)
        for drive_id in list(self._copy):
            self._request_drain(drive_id)

    # -- config and heartbeat ---------------------------------------------------------------------------------

    def _mtime(self) -> float:
        try:
            return os.stat(self.paths.config_file).st_mtime
        except OSError:
            return 0.0

    @Slot(str)
    def _config_changed(self, _path: str) -> None:
        self._config_settle.start()

    def _watch_config(self) -> None:
        """Watch config.toml and its folder (again: a file replaced by a rename drops out of the watch)."""
        if not shiboken6.isValid(self._config_watch):
            return  # stopped
        folder, file = str(self.paths.config_file.parent), str(self.paths.config_file)
        if folder not in self._config_watch.directories() and os.path.isdir(folder):
            self._config_watch.addPath(folder)
        if file not in self._config_watch.files() and os.path.exists(file):
            self._config_watch.addPath(file)

    @Slot()
    def _check_config(self) -> None:
        if self._stopped:
            return
        self._watch_config()
        m = self._mtime()
        if m == self._config_mtime:
            return
        self._config_mtime = m
        try:
            config = load_config(self.paths.config_file)
        except ConfigError as exc:
            log.error("config change ignored, keeping the previous one: %s", exc)
            return
        if config == self.config:
            return
        log.info("configuration changed; applying it")
        self.apply_config(config)

    def apply_config(self, config: Config) -> None:
        """Use ``config`` from now on, restarting only what it changed: the watcher for other sources or
        timings; the copy worker of a drive that was edited or forgotten; drive identification when the
        registrations changed. A notification switch or another drive's edit leaves every copy in flight be."""
        old, self.config = self.config, config
        self._new_config.emit(config)
        if (old.sources, old.stability_window_s) != (config.sources, config.stability_window_s):
            self._retire_watcher()
            self._start_watcher()
            self._scan.emit()
        elif (old.include, old.exclude) != (config.include, config.exclude):
            self._scan.emit()  # files now included are picked up; the ingest applies the patterns
        if (old.categories, old.rules) != (config.categories, config.rules):
            self._reclassify.emit()
        for drive_id, slot in list(self._copy.items()):
            if config.drive_by_id(drive_id) != old.drive_by_id(drive_id):
                del self._copy[drive_id]
                self._retire(slot, "the drive's settings changed")
            else:
                worker = slot.worker  # in its own thread: it owns its database connection
                QTimer.singleShot(0, worker, lambda w=worker: w.set_config(config))
        if old.drives != config.drives:
            self._scan.emit()  # queue known files for new drives and categories
            # Announces only the volumes whose registration changed (an edited drive that stayed plugged in
            # is announced again with its new settings, and gets its new worker then).
            self.monitor.set_inspector(self._make_inspector())
        if old.rescan_interval_s != config.rescan_interval_s:
            self._rescan.start(int(config.rescan_interval_s * 1000))
        if old.heartbeat_interval_s != config.heartbeat_interval_s:
            self._beat.start(int(config.heartbeat_interval_s * 1000))
        if old.metrics != config.metrics:
            self._serve_metrics(config.metrics)
        self.summary.invalidate()

    def _log_summary(self) -> None:
        c = self.config
        log.info("usbsync starting: config %s", self.paths.config_file)
        self._adopt_secret()
        log.info("drive identity secret: %s", self._secret_where)
        log.info("sources: %s", ", ".join(str(s) for s in c.sources))

        def kinds(k: Category) -> str:
            shown = ", ".join(k.mime[:2])
            return f"{k.name} ({shown}{f' +{len(k.mime) - 2} more' if len(k.mime) > 2 else ''})"

        log.info("categories: %s", "; ".join(kinds(k) for k in c.categories))
        for k in c.categories:
            log.debug(
                "category %s: MIME %s; extensions %s", k.name, ", ".join(k.mime), ", ".join(k.extensions)
            )
        for d in c.drives:
            log.info("drive %s holds %s in %s/", d.name, ", ".join(d.categories), d.folder)
        if not c.drives:
            log.info("no drives registered yet: usbsync register-drive MOUNTPOINT --name NAME --category C")
        log.info(
            "stability window %.1f s, rescan every %.0f s, heartbeat every %.0f s; logs in %s",
            c.stability_window_s,
            c.rescan_interval_s,
            c.heartbeat_interval_s,
            self.paths.log_dir,
        )

    def health(self) -> dict[str, Any]:
        """The engine's figures now: the heartbeat's log line, ``usbsync status --json``'s ``health`` (asked
        over the command channel while the engine runs, else the last heartbeat's ``health.json``).

        Keys: ``at`` (Unix seconds), ``uptime_s``; since start: ``events_seen`` (paths the watcher reported),
        ``files_queued``, ``files_copied``, ``files_verified`` (read back from the device), ``bytes_copied``;
        now: ``files_seen``, ``pending`` (pending and copying), ``copying``, ``failed``, ``synced``,
        ``waiting`` (per drive name: ``files``, ``bytes``, ``oldest``: the oldest's queue time, Unix seconds or
        None), ``drives_connected`` (names), ``rss_bytes`` (this process's resident memory, psutil),
        ``watcher`` ("watching" or "incomplete"), ``last_scan`` (``at``, files ``seen``, ``missed``: new or
        changed files the scan found that watching had not brought in, ``queued``; None before the first)."""
        import psutil

        counts = self.db.counts()
        m = self.metrics
        with m.lock:
            events, verified, copied, summary = m.events, m.verified, sum(m.copied.values()), m.summary
            up = m.watcher_up
        waiting: dict[str, dict[str, Any]] = {}
        for d in summary.drives if summary is not None else ():
            oldest = min((w.oldest for w in d.waits), default=None)
            waiting[d.name] = {
                "files": d.waiting_files,
                "bytes": d.waiting_bytes,
                "oldest": round(oldest, 3) if oldest not in (None, float("inf")) else None,
            }
        return {
            "at": round(time.time(), 3),
            "uptime_s": round(time.monotonic() - self._started_at),
            "events_seen": events,
            "files_queued": self._files_queued,
            "files_copied": copied,
            "files_verified": verified,
            "bytes_copied": self._bytes_copied,
            "files_seen": counts["files"],
            "pending": counts["pending"] + counts["copying"],
            "copying": counts["copying"],
            "failed": counts["failed"],
            "synced": counts["done"],
            "waiting": waiting,
            "drives_connected": [d.name for d in (self.config.drive_by_id(i) for i in self._copy) if d],
            "rss_bytes": psutil.Process().memory_info().rss,
            "watcher": "watching" if up else "incomplete",
            "last_scan": dict(self._last_scan) if self._last_scan else None,
        }

    @Slot()
    @_recovers_damage
    def emit_heartbeat(self) -> dict[str, object]:
        """One log line with :meth:`health`'s figures, the same written to ``health.json`` in the state folder
        (read by ``usbsync status`` when no engine runs), and the :attr:`heartbeat` signal."""
        data = self.health()
        if self._restart_noticed:  # a restart is news until the next heartbeat
            self._restart_noticed = False
            self._notice(WATCHER_RESTARTED, None)
        scan = data["last_scan"]
        log.info(
            "heartbeat: %d waiting (%d copying), %d failed, %d synced, %d files seen; since start: %d events, "
            "%d queued, %d copied (%s), %d read back from the device; watcher %s; last scan %s; drives connected: "
            "%s; memory %s",
            data["pending"],
            data["copying"],
            data["failed"],
            data["synced"],
            data["files_seen"],
            data["events_seen"],
            data["files_queued"],
            data["files_copied"],
            human_bytes(data["bytes_copied"]),
            data["files_verified"],
            data["watcher"],
            (
                f"{time.strftime('%H:%M:%S', time.localtime(scan['at']))}, {scan['missed']} missed by watching"
                if scan
                else "none yet"
            ),
            ", ".join(data["drives_connected"]) or "none",
            human_bytes(data["rss_bytes"]),
        )
        path = self.paths.state_dir / "health.json"
        try:
            tmp = path.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(data, sort_keys=True))
            replace_file.replace(tmp, path)  # `usbsync status` may be reading it (Windows)
        except OSError as exc:
            log.warning("cannot write %s: %s", path, exc.strerror or exc)
        self.heartbeat.emit(data)
        return data

    # -- the identity secret, loaded off the engine's thread ----------------------------------------------------

    def _load_secret(self) -> None:
        """Loader thread: the secret now, or (keyring locked) once it is unlocked; handed back by queued calls.
        Never prompts and never creates a secret while a system keyring exists (see :mod:`..core.identity`)."""
        try:
            try:
                secret: bytes | None = self._secret_store.secret()
            except KeyringLocked as exc:
                self._secret_handoff = (None, str(exc))
                QMetaObject.invokeMethod(self, "_on_keyring_locked", Qt.ConnectionType.QueuedConnection)
                secret = self._secret_waiter.wait()
        except OSError as exc:
            log.error("cannot load the drive identity secret: %s; no drive is written to", exc)
            return
        if secret is None:  # stopped while waiting
            return
        self._secret_handoff = (secret, self._secret_store.where)
        QMetaObject.invokeMethod(self, "_on_secret_loaded", Qt.ConnectionType.QueuedConnection)

    @Slot()
    @_recovers_damage
    def _on_keyring_locked(self) -> None:
        if self._stopped or self._secret is not None:
            return
        why = self._secret_handoff[1]
        self._secret_where = f"keyring locked ({why})"
        log.warning("keyring locked: unlock your keyring; drives are not written until then (%s)", why)
        self._notice(KEYRING_LOCKED, "keyring locked: unlock your keyring; drives are not written until then")

    def _adopt_secret(self) -> bytes | None:
        """The secret, taking it from the loader's hand-off as soon as it is there (usually before the first
        inspection: the queued :meth:`_on_secret_loaded` may still be on its way)."""
        if self._secret is None and self._secret_handoff[0] is not None:
            self._secret, self._secret_where = self._secret_handoff
        return self._secret

    @Slot()
    @_recovers_damage
    def _on_secret_loaded(self) -> None:
        if self._stopped:
            return
        was_locked = self._secret_where.startswith("keyring locked")
        self._adopt_secret()
        if was_locked:
            log.info("keyring unlocked: drive identity secret: %s", self._secret_where)
        self._notice(KEYRING_LOCKED, None)  # the tray stops saying "unlock your keyring" now
        if self._unverified_seen:
            # Volumes seen without the secret were not identified: read them again, so waiting files go.
            self._unverified_seen = False
            self.monitor.set_inspector(self._make_inspector())

    def stop_secret_loader(self) -> None:
        """End a wait for the keyring (at quit; :meth:`stop` should call it too). Returns at once."""
        self._secret_waiter.cancel()

    # -- a state database damaged while running ---------------------------------------------------------------

    @Slot(str)
    def report_damage(self, detail: str) -> None:
        """Someone (a worker, a view, this engine) met a damaged state database (SQLITE_CORRUPT/NOTADB): stop
        the workers that write it, set it aside, start a fresh one and rebuild it by a scan of the sources and
        the drives (copies already on them are adopted by content). Runs once per damage; never a crash loop.
        """
        if self._stopped or self._recovering:
            return
        try:  # reports can arrive late (a worker's, after another already started the rebuild): check first
            healthy = [r[0] for r in self.db.conn.execute("PRAGMA quick_check(1)")] == ["ok"]
        except sqlite3.Error:
            healthy = False
        if healthy:
            log.info("the state database checks out after a report of damage (%s); carrying on", detail)
            return
        self._recovering = True
        try:
            log.error("the state database is damaged (%s): setting it aside and rebuilding it", detail)
            for drive_id, slot in list(self._copy.items()):
                slot.worker.cancel.cancel("the state database is being rebuilt")  # type: ignore[attr-defined]
                self._reap(slot)
                del self._copy[drive_id]
            self._stop_ingest()
            self.db.close()
            try:
                self.db, message = rebuild(self.paths.state_db, detail)
            except OSError as exc:
                # Cannot rename it (Windows: another process has it open): keep going read-only is not
                # possible, so stop rather than loop on the same error.
                log.error("cannot set the damaged state database aside: %s; stopping", exc)
                self.db = StateDB(self.paths.state_db)
                QCoreApplication.exit(1)
                return
            log.error("%s", message)
            self.database_rebuilt.emit(message)
            self._start_ingest()
            self.sync_now()  # scan (the rebuild) and start the connected drives again
        finally:
            self._recovering = False
