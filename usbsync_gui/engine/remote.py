"""An engine in another process (``usbsync run``), followed and driven over its command channel.

Why: in one process with the window, the engine's threads held the GIL so much in a flood of files that the
window waited for it (``docs/performance.md``, "Fourth round"). So the tray app runs the engine as a process
of its own (:mod:`usbsync_gui.engine.engine_process`), and :class:`RemoteEngine` is the app's view of it: the
same signals as :class:`~usbsync_gui.engine.engine.Engine` for what happens (from the channel's events, see
:mod:`usbsync_gui.engine.control`), its volume monitor (:class:`RemoteVolumes`), the one summary as the engine
computed it (:class:`RemoteSummaryFeed`), and its commands, each on a connection of its own, never waited for:
the answer comes by callback.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal, Slot
from PySide6.QtNetwork import QLocalSocket

from usbsync_gui.core.config import Config
from usbsync_gui.core.paths import AppPaths
from usbsync_gui.core.summary import LiveVolume, StateSummary
from usbsync_gui.core.volumes import ConnectedVolume, Volume
from usbsync_gui.engine.control import CLIENT_TIMEOUT_MS, PROTOCOL
from usbsync_gui.engine.summary_feed import LiveState, SummaryFeed
from usbsync_gui.engine.tasks import TaskRunner
from usbsync_gui.platform import VolumeInfo

log = logging.getLogger(__name__)

Answer = Callable[[bool, str], None]


def live_volume(fields: dict[str, Any]) -> LiveVolume:
    """A :class:`LiveVolume` from its event form (see :func:`live_fields`). Raises KeyError/TypeError/ValueError
    on a malformed one."""
    return LiveVolume(
        str(fields["mountpoint"]),
        int(fields["free_bytes"]),
        int(fields["total_bytes"]),
        bool(fields.get("read_only", False)),
        int(fields.get("alloc_unit", 0)),
    )


def live_fields(v: LiveVolume) -> dict[str, Any]:
    """The event form of a :class:`LiveVolume` (JSON: sizes in bytes)."""
    return {
        "mountpoint": v.mountpoint,
        "free_bytes": v.free_bytes,
        "total_bytes": v.total_bytes,
        "read_only": v.read_only,
        "alloc_unit": v.alloc_unit,
    }


def volume_fields(cv: ConnectedVolume) -> dict[str, Any]:
    """The event form of a :class:`ConnectedVolume` (JSON; sizes in bytes): the registered drive by its id,
    which the client looks up in its own configuration."""
    return {
        "volume": asdict(cv.volume),
        "info": asdict(cv.info),
        "drive": cv.drive.id if cv.drive is not None else None,
        "status": cv.status,
        "marker_id": cv.marker_id,
        "message": cv.message,
    }


def connected_volume(fields: dict[str, Any], config: Config) -> ConnectedVolume:
    """A :class:`ConnectedVolume` from its event form under ``config`` (a drive this configuration does not
    know, yet, is left out: ``drive`` None). Raises KeyError/TypeError on a malformed one."""
    drive_id = fields.get("drive")
    return ConnectedVolume(
        Volume(**fields["volume"]),
        VolumeInfo(**fields["info"]),
        config.drive_by_id(str(drive_id)) if drive_id else None,
        str(fields.get("status", "unknown")),
        fields.get("marker_id"),
        str(fields.get("message", "")),
    )


class RemoteVolumes(QObject):
    """The engine's volume monitor as seen over the channel: the same signals and ``connected()`` as
    :class:`~usbsync_gui.engine.drive_monitor.DriveMonitor`, for the views.

    Signals:
        volume_added(ConnectedVolume), volume_removed(str mount point, str drive id or "").
    """

    volume_added = Signal(object)
    volume_removed = Signal(str, str)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._known: dict[str, ConnectedVolume] = {}  # mount point -> volume

    def connected(self) -> list[ConnectedVolume]:
        return list(self._known.values())

    def _reset(self, volumes: list[ConnectedVolume]) -> None:
        self._known = {cv.volume.mountpoint: cv for cv in volumes}

    def _added(self, cv: ConnectedVolume) -> None:
        self._known[cv.volume.mountpoint] = cv
        self.volume_added.emit(cv)

    def _removed(self, mountpoint: str, drive_id: str) -> None:
        self._known.pop(mountpoint, None)
        self.volume_removed.emit(mountpoint, drive_id)


class RemoteEngine(QObject):
    """Follows the engine serving ``endpoint``. Call :meth:`start`; :attr:`up` says whether it is followed now.

    Signals (on this object's thread), as the in-process engine's:
        drive_connected(str, str, str): drive id, name, mount point.
        drive_disconnected(str), drive_ejected(str): drive id.
        copy_progress(str, str, int, int): drive id, file path, bytes done, bytes total.
        drive_up_to_date(str, int, int): drive id, files copied and already there in this plug-in.
        paused_changed(bool), database_rebuilt(str), heartbeat(dict).
        volume_unknown(ConnectedVolume): a removable volume usbsync does not know was plugged in.
        summary_pushed(StateSummary): the one summary, as the engine computed it after a change (also in
            :attr:`latest_summary`).
        state_changed(): the engine's live state changed (drives plugged in or out, pause), or the link did.
        link_changed(bool): following the engine started (True) or stopped (False: it quit, or never ran).

    Args:
        endpoint: the engine's command channel (:attr:`AppPaths.control_endpoint`).
        config: the configuration now (called for each volume event: drives are named by id on the channel).

    ``monitor`` is the engine's volume monitor as seen from here (:class:`RemoteVolumes`).
    """

    drive_connected = Signal(str, str, str)
    drive_disconnected = Signal(str)
    drive_ejected = Signal(str)
    copy_progress = Signal(str, str, int, int)
    drive_up_to_date = Signal(str, int, int)
    paused_changed = Signal(bool)
    database_rebuilt = Signal(str)
    heartbeat = Signal(dict)
    volume_unknown = Signal(object)
    summary_pushed = Signal(object)
    state_changed = Signal()
    link_changed = Signal(bool)

    def __init__(self, endpoint: str, config: Callable[[], Config], parent: QObject | None = None):
        super().__init__(parent)
        self._endpoint = endpoint
        self._config = config
        self.monitor = RemoteVolumes(self)
        self._sock: QLocalSocket | None = None
        self.up = False
        self.paused = False
        self.connected: dict[str, LiveVolume] = {}  # drive id -> its volume, plugged in now
        self.latest_summary: StateSummary | None = None  # the engine's latest, while followed
        self._pending: set[_Call] = set()  # commands awaiting their answer (this set owns them)
        self._following = False

    # -- following --------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Connect and ask for the events (asynchronously: ``link_changed(True)`` once followed, False when no
        engine answers). Again after the link was lost: connects afresh."""
        if self._sock is None:
            # One socket for the object's life (a child: deleted with it). Never deleteLater: an object deleted
            # with its parent while a deferred delete of its own is pending crashes Qt.
            sock = self._sock = QLocalSocket(self)
            sock.connected.connect(lambda: sock.write(b'{"cmd": "watch"}\n'))
            sock.readyRead.connect(self._read)
            sock.disconnected.connect(self._lost)
            sock.errorOccurred.connect(lambda _e: self._lost())
        self._following = True
        if self._sock.state() == QLocalSocket.LocalSocketState.UnconnectedState:
            self._sock.connectToServer(self._endpoint)

    def stop(self) -> None:
        """Stop following (no signal); answers still due are dropped."""
        self._following = False
        if self._sock is not None:
            self._sock.abort()
        for call in list(self._pending):
            call.abort()
        self._pending.clear()
        self.up = False
        self.connected = {}
        self.latest_summary = None
        self.monitor._reset([])

    @Slot()
    def _lost(self) -> None:
        if not self._following:
            return
        self._following = False
        if self._sock is not None:
            self._sock.abort()
        was, self.up = self.up, False
        self.connected = {}
        self.latest_summary = None
        self.monitor._reset([])
        if was:
            log.info("the engine's command channel closed")
        self.link_changed.emit(False)
        if was:
            self.state_changed.emit()

    @Slot()
    def _read(self) -> None:
        sock = self._sock
        while sock is not None and sock.canReadLine():
            line = bytes(sock.readLine().data())
            try:
                event = json.loads(line)
                if isinstance(event, dict):
                    self._on_event(event)
            except (ValueError, KeyError, TypeError) as exc:  # one bad line is skipped, not the link
                log.warning("unreadable event from the engine (%s): %.200r", exc, line)

    def _on_event(self, e: dict[str, Any]) -> None:
        name = e.get("event")
        if name == "hello":
            if e.get("protocol") != PROTOCOL:
                log.error("the running engine speaks protocol %r, this app %d", e.get("protocol"), PROTOCOL)
                self.stop()
                self.link_changed.emit(False)
                return
            self._live(e)
            if "summary" in e:  # the engine's latest, computed before this watcher came
                self.latest_summary = StateSummary.from_wire(e["summary"])
            self.up = True
            self.link_changed.emit(True)
            self.state_changed.emit()
            if self.latest_summary is not None:
                self.summary_pushed.emit(self.latest_summary)
        elif name == "live":
            paused = bool(e.get("paused", False))
            changed = paused != self.paused
            self._live(e)
            if changed:
                self.paused_changed.emit(paused)
            self.state_changed.emit()
        elif name == "summary":
            self.latest_summary = StateSummary.from_wire(e["summary"])
            self.summary_pushed.emit(self.latest_summary)
        elif name == "progress":
            self.copy_progress.emit(str(e["drive"]), str(e["path"]), int(e["done"]), int(e["total"]))
        elif name == "drive_connected":
            self.drive_connected.emit(str(e["drive"]), str(e["name"]), str(e["mount"]))
        elif name == "drive_disconnected":
            self.drive_disconnected.emit(str(e["drive"]))
        elif name == "drive_ejected":
            self.drive_ejected.emit(str(e["drive"]))
        elif name == "up_to_date":
            self.drive_up_to_date.emit(str(e["drive"]), int(e["copied"]), int(e["already"]))
        elif name == "database_rebuilt":
            self.database_rebuilt.emit(str(e["message"]))
        elif name == "heartbeat":
            self.heartbeat.emit(dict(e.get("data") or {}))
        elif name == "volume_added":
            self.monitor._added(connected_volume(e["volume"], self._config()))
        elif name == "volume_removed":
            self.monitor._removed(str(e["mount"]), str(e.get("drive") or ""))
        elif name == "volume_unknown":
            self.volume_unknown.emit(connected_volume(e["volume"], self._config()))

    def _live(self, e: dict[str, Any]) -> None:
        self.paused = bool(e.get("paused", False))
        self.connected = {str(k): live_volume(v) for k, v in dict(e.get("connected") or {}).items()}
        if "volumes" in e:
            config = self._config()
            self.monitor._reset([connected_volume(v, config) for v in e["volumes"]])

    def live_state(self, config: Config) -> LiveState:
        """What the summary needs from the engine (as the in-process engine's ``_live_state``), under
        ``config``."""
        return LiveState(config, dict(self.connected), self.paused)

    # -- commands ---------------------------------------------------------------------------------------------

    def set_paused(self, paused: bool, answer: Answer | None = None) -> None:
        """Pause or resume syncing. The new state arrives as a ``live`` event (``paused_changed``)."""
        self._command({"cmd": "pause" if paused else "resume"}, answer)

    def sync_now(self, answer: Answer | None = None) -> None:
        """Rescan the sources and start every connected drive's queue."""
        self._command({"cmd": "sync"}, answer)

    def eject_drive(self, name: str, answer: Answer) -> None:
        """Eject the drive called ``name``; ``answer(ok, message)`` when it is unmounted (or could not be)."""
        self._command({"cmd": "eject", "drive": name}, answer)

    def _command(self, request: dict[str, Any], answer: Answer | None) -> None:
        call = _Call(self._endpoint, request, answer)
        self._pending.add(call)
        # Dropped (and so deleted, with its socket) from the event loop, never inside the call's own slot.
        call.finished.connect(lambda: QTimer.singleShot(0, self, lambda: self._pending.discard(call)))
        call.start()


class _Call(QObject):
    """One command on a connection of its own: sends ``request``, calls ``answer(ok, message)`` once (the
    reply, or why there is none), then emits ``finished``. Owned by the Python reference its caller keeps (no
    parent, no deleteLater)."""

    finished = Signal()

    def __init__(self, endpoint: str, request: dict[str, Any], answer: Answer | None):
        super().__init__()
        self._endpoint = endpoint
        self._request = request
        self._answer = answer
        self._data = bytearray()
        self._done = False
        self._sock = QLocalSocket(self)
        self._sock.connected.connect(self._send)
        self._sock.readyRead.connect(self._read)
        self._sock.disconnected.connect(self._closed)
        self._sock.errorOccurred.connect(self._failed)

    def start(self) -> None:
        # Only while this command waits: an engine that hangs does not leave the caller waiting for ever.
        QTimer.singleShot(
            CLIENT_TIMEOUT_MS, self, lambda: self._finish(False, "no answer from usbsync in time")
        )
        self._sock.connectToServer(self._endpoint)

    def abort(self) -> None:
        """Drop it: no answer is called."""
        self._answer = None
        self._finish(False, "")

    @Slot()
    def _send(self) -> None:
        self._sock.write((json.dumps(self._request) + "\n").encode())

    @Slot()
    def _read(self) -> None:
        if self._done or not self._sock.isOpen() or not self._sock.bytesAvailable():
            return
        self._data.extend(bytes(self._sock.readAll().data()))
        if not self._data.endswith(b"\n"):
            return
        try:
            reply = json.loads(bytes(self._data))
        except ValueError:
            reply = None
        if not isinstance(reply, dict):
            self._finish(False, "no answer from usbsync")
            return
        ok = bool(reply.get("ok"))
        self._finish(ok, str(reply.get("message", "")) or ("done" if ok else "refused"))

    @Slot()
    def _closed(self) -> None:
        self._read()  # the answer and the close can come together
        self._finish(False, "usbsync stopped before it answered")

    @Slot(QLocalSocket.LocalSocketError)
    def _failed(self, error: QLocalSocket.LocalSocketError) -> None:
        self._read()
        if error == QLocalSocket.LocalSocketError.PeerClosedError:
            self._finish(False, "usbsync stopped before it answered")
        else:
            self._finish(False, f"usbsync is not running ({self._sock.errorString()})")

    def _finish(self, ok: bool, message: str) -> None:
        if self._done:
            return
        self._done = True
        answer, self._answer = self._answer, None
        self._sock.abort()
        self.finished.emit()
        if answer is not None:
            answer(ok, message)


class RemoteSummaryFeed(SummaryFeed):
    """The one summary for the tray app: as the engine computed and sent it (nothing is computed in the window's
    process while the engine is followed); computed here from the state database, with no drive plugged in,
    only while no engine is (it is not running, or not yet).

    Same interface as :class:`SummaryFeed`: ``changed``, ``latest``, :meth:`invalidate`. An ``invalidate`` while
    the engine is followed hands out its latest summary again (from the event loop, as a computation would);
    the engine sends a new one after each change it makes or applies (a saved configuration within its poll).
    """

    def __init__(
        self,
        paths: AppPaths,
        runner: TaskRunner,
        remote: RemoteEngine,
        config: Callable[[], Config],
        parent: QObject | None = None,
    ):
        super().__init__(paths, runner, lambda: LiveState(config(), {}, False), parent)
        self._remote = remote
        remote.summary_pushed.connect(self._pushed)
        remote.link_changed.connect(self._on_link)

    @Slot(bool)
    def _on_link(self, up: bool) -> None:
        if not up:  # no engine to send it: what the database says, computed here
            SummaryFeed.invalidate(self)

    @Slot()
    def invalidate(self) -> None:
        summary = self._remote.latest_summary
        if self._remote.up and summary is not None:
            QTimer.singleShot(0, self, lambda: self._pushed(summary))
            return
        super().invalidate()

    @Slot(object)
    def _pushed(self, summary: StateSummary) -> None:
        self.latest = summary
        self.changed.emit(summary)
