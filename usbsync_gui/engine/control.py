"""The running engine's command channel: ``usbsync eject`` asks the engine rather than unmounting under it.

A QLocalServer at :attr:`AppPaths.control_endpoint` (a Unix socket in the state folder, or a named pipe on
Windows). One JSON object per line each way: ``{"cmd": "eject", "drive": "Photos"}`` ->
``{"ok": true, "message": "..."}``. Only the user's own processes can connect (the socket is created in the
user's state folder with UserAccessOption).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Slot
from PySide6.QtNetwork import QLocalServer, QLocalSocket

log = logging.getLogger(__name__)

Reply = Callable[[dict[str, Any]], None]
# Called in the server's thread with the request and a function to send the reply with, now or later (an eject
# answers when the drive is flushed and unmounted; nothing waits for it meanwhile).
Handler = Callable[[dict[str, Any], Reply], None]
CLIENT_TIMEOUT_MS = 120_000  # an eject waits for the copy in flight to roll back and the device to flush


class ControlServer(QObject):
    """Serves commands with ``handler`` (called in the server's thread with the request and a reply function)."""

    def __init__(self, endpoint: str, handler: Handler, parent: QObject | None = None):
        super().__init__(parent)
        self._handler = handler
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
        self._server.close()

    @Slot()
    def _on_connection(self) -> None:
        while self._server.hasPendingConnections():
            sock = self._server.nextPendingConnection()
            sock.readyRead.connect(lambda s=sock: self._on_ready(s))
            sock.disconnected.connect(sock.deleteLater)

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
        self._handler(request, lambda reply: self._send(sock, reply))

    @staticmethod
    def _send(sock: QLocalSocket, reply: dict[str, Any]) -> None:
        try:
            if sock.state() != QLocalSocket.LocalSocketState.ConnectedState:
                return  # the client gave up meanwhile
        except RuntimeError:  # ... and its socket was deleted (deleteLater at disconnect)
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
