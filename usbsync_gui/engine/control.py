"""The running engine's command channel: ``usbsync eject`` asks the engine rather than unmounting under it, and
a client can follow what the engine does as it happens.

A QLocalServer at :attr:`AppPaths.control_endpoint` (a Unix socket in the state folder, or a named pipe on
Windows). One JSON object per line (UTF-8) each way. Only the user's own processes can connect (the socket is
created in the user's state folder with UserAccessOption).

* A command: ``{"cmd": "eject", "drive": "Photos"}`` -> ``{"ok": true, "message": "..."}``, then the server
  closes the connection.
* Events: ``{"cmd": "watch"}`` -> ``{"ok": true, "event": "hello", "protocol": 1, ...}`` (the snapshot the
  server's ``snapshot`` callback gives: the engine's live state and its latest ``summary``), then one
  ``{"event": NAME, ...}`` line for each event the engine publishes (:meth:`ControlServer.publish`), until
  either side closes. Unknown fields and events are ignored by
  clients, so the engine can add some; ``protocol`` changes when a field's meaning does.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QTimer, Slot
from PySide6.QtNetwork import QLocalServer, QLocalSocket

log = logging.getLogger(__name__)

Reply = Callable[[dict[str, Any]], None]
# Called in the server's thread with the request and a function to send the reply with, now or later (an eject
# answers when the drive is flushed and unmounted; nothing waits for it meanwhile).
Handler = Callable[[dict[str, Any], Reply], None]
CLIENT_TIMEOUT_MS = 120_000  # an eject waits for the copy in flight to roll back and the device to flush
PROTOCOL = 1  # the events' shape (module doc); a client checks it in "hello"
# A watcher that does not read (stopped, or a hung GUI) is dropped rather than let the engine buffer for it.
MAX_UNREAD_BYTES = 4 << 20


class ControlServer(QObject):
    """Serves commands with ``handler`` (called in the server's thread with the request and a reply function),
    and events to watchers.

    Args:
        endpoint: the socket path or pipe name.
        handler: answers a command.
        snapshot: what a new watcher is told first (merged into its ``hello``): the state that events only
            change. Called in the server's thread.
    """

    def __init__(
        self,
        endpoint: str,
        handler: Handler,
        parent: QObject | None = None,
        snapshot: Callable[[], dict[str, Any]] | None = None,
    ):
        super().__init__(parent)
        self._handler = handler
        self._snapshot = snapshot
        self._watchers: list[QLocalSocket] = []
        self._socks: list[QLocalSocket] = []  # every connection not yet let go of
        self._server = QLocalServer(self)
        self._server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        QLocalServer.removeServer(endpoint)  # a stale socket from a killed engine (we hold the instance lock)
        if not self._server.listen(endpoint):
            log.warning(
                "command channel unavailable (%s): 'usbsync eject' will unmount directly",
                self._server.errorString(),
            )
        self._server.newConnection.connect(self._on_connection)

    def close(self) -> None:
        """Stop serving and close every connection (watchers see the channel close)."""
        self._watchers.clear()
        socks, self._socks = self._socks, []
        for sock in socks:
            sock.abort()
        self._server.close()

    @property
    def watchers(self) -> int:
        """How many clients follow the events now."""
        return len(self._watchers)

    def publish(self, event: str, **fields: Any) -> None:
        """Send ``{"event": event, **fields}`` to every watcher (none: nothing is done). ``fields`` must be
        JSON-serialisable. Never blocks: the socket buffers; a watcher with more than
        :data:`MAX_UNREAD_BYTES` unread is disconnected."""
        if not self._watchers:
            return
        line = (json.dumps({"event": event, **fields}) + "\n").encode()
        for sock in list(self._watchers):
            if sock.bytesToWrite() > MAX_UNREAD_BYTES:
                log.warning("a client of the command channel stopped reading its events; disconnected")
                self._drop(sock)
                sock.abort()
                continue
            sock.write(line)

    def _drop(self, sock: QLocalSocket) -> None:
        if sock in self._watchers:
            self._watchers.remove(sock)

    @Slot()
    def _on_connection(self) -> None:
        while self._server.hasPendingConnections():
            sock = self._server.nextPendingConnection()
            # Owned here (a Python reference), not by the server and not by deleteLater: a socket deleted with
            # its parent while its own deferred delete was pending crashed Qt ("shared QObject was deleted
            # directly"). Let go of from the event loop once closed, never inside its own signal.
            sock.setParent(None)
            self._socks.append(sock)
            sock.readyRead.connect(lambda s=sock: self._on_ready(s))
            sock.disconnected.connect(lambda s=sock: self._gone(s))

    def _gone(self, sock: QLocalSocket) -> None:
        self._drop(sock)
        QTimer.singleShot(0, self, lambda: self._socks.remove(sock) if sock in self._socks else None)

    def _on_ready(self, sock: QLocalSocket) -> None:
        if not sock.canReadLine():
            return
        line = bytes(sock.readLine().data()).decode("utf-8", "replace")
        try:
            request = json.loads(line)
            if not isinstance(request, dict):
                raise ValueError("not an object")
        except ValueError as exc:
            self._send(sock, {"ok": False, "message": f"bad request: {exc}"})
            return
        if request.get("cmd") == "watch":
            if sock not in self._watchers:
                hello = {"ok": True, "event": "hello", "protocol": PROTOCOL}
                hello.update(self._snapshot() if self._snapshot is not None else {})
                sock.write((json.dumps(hello) + "\n").encode())
                self._watchers.append(sock)
            return
        self._handler(request, lambda reply: self._send(sock, reply))

    @staticmethod
    def _send(sock: QLocalSocket, reply: dict[str, Any]) -> None:
        try:
            if sock.state() != QLocalSocket.LocalSocketState.ConnectedState:
                return  # the client gave up meanwhile
        except RuntimeError:  # ... and its socket was let go of (see _on_connection)
            return
        sock.write((json.dumps(reply) + "\n").encode())
        sock.flush()
        sock.disconnectFromServer()


def send_command(
    endpoint: str, request: dict[str, Any], timeout_ms: int = CLIENT_TIMEOUT_MS
) -> dict[str, Any] | None:
    """Send one command to the running engine. Returns its reply, or None when no engine answers."""
    sock = QLocalSocket()
    sock.connectToServer(endpoint)
    if not sock.waitForConnected(2000):
        return None
    sock.write((json.dumps(request) + "\n").encode())
    sock.flush()
    data = b""
    while not data.endswith(b"\n"):
        if not sock.waitForReadyRead(timeout_ms):
            break
        data += bytes(sock.readAll().data())
    sock.disconnectFromServer()
    if not data:
        return None
    reply = json.loads(data.decode("utf-8", "replace"))
    return reply if isinstance(reply, dict) else None
