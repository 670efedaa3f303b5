"""Desktop notifications: grouped and rate-limited, each kind switchable in settings.

Backends: on Linux the freedesktop ``org.freedesktop.Notifications.Notify`` call on the session bus, sent with
jeepney (a keyring dependency; PySide6's QtDBus cannot build Notify's ``susssasa{sv}i`` signature,
PYSIDE-1904); elsewhere, or when no notification daemon answers, the tray icon's own balloon (Windows shows
it as a toast).

Grouping: events of one kind and drive within :data:`GROUP_WINDOW_S` become one notification ("12 files
copied to Photos"), and a kind is shown at most once per :data:`MIN_INTERVAL_S` per drive; a flood of files
never floods the desktop.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

GROUP_WINDOW_S = 3.0
MIN_INTERVAL_S = 60.0
KINDS = ("drive_wanted", "safe_to_unplug", "drive_full", "failures", "source_missing", "problems")
KIND_TITLES = {
    "drive_wanted": "Plug in {drive}",
    "safe_to_unplug": "{drive} is up to date",
    "drive_full": "{drive} is full",
    "failures": "Files could not be copied",
    "source_missing": "Source folder missing",
    "problems": "usbsync needs your attention",
}


@dataclass
class _Group:
    kind: str
    drive: str
    count: int = 0
    lines: list[str] = field(default_factory=list)
    first_at: float = 0.0


Sender = Callable[[str, str], bool]  # (title, body) -> delivered


class NotificationCenter:
    """Collects events and sends at most one notification per kind and drive per interval.

    Args:
        send: delivers (title, body); returns False if it could not (the next backend is tried by the caller).
        enabled: kind -> shown or not (from settings).
        clock: seconds, monotonic (tests pass their own).
    """

    def __init__(
        self,
        send: Sender,
        enabled: dict[str, bool] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._send = send
        self.enabled = {k: True for k in KINDS} | (enabled or {})
        self._clock = clock
        self._groups: dict[tuple[str, str], _Group] = {}
        self._last_sent: dict[tuple[str, str], float] = {}
        self.sent: list[tuple[str, str]] = []

    def event(self, kind: str, drive: str = "", line: str = "", count: int = 1) -> None:
        """Note one event (e.g. ``("drive_wanted", "Photos", count=3)``); sent by :meth:`flush`."""
        if not self.enabled.get(kind, True):
            return
        key = (kind, drive)
        g = self._groups.get(key)
        if g is None:
            g = self._groups[key] = _Group(kind, drive, first_at=self._clock())
        g.count += count
        if line and len(g.lines) < 3:
            g.lines.append(line)

    def flush(self, force: bool = False) -> None:
        """Send the groups whose window has passed (all with ``force``), within the rate limit."""
        now = self._clock()
        for key, g in list(self._groups.items()):
            if not force and now - g.first_at < GROUP_WINDOW_S:
                continue
            last = self._last_sent.get(key)
            if last is not None and now - last < MIN_INTERVAL_S:
                continue  # keep collecting; sent when the interval has passed
            del self._groups[key]
            title, body = self._text(g)
            if self._send(title, body):
                self._last_sent[key] = now
                self.sent.append((title, body))

    def _text(self, g: _Group) -> tuple[str, str]:
        title = KIND_TITLES[g.kind].format(drive=g.drive or "a drive")
        files = "1 file" if g.count == 1 else f"{g.count} files"
        if g.kind == "drive_wanted":
            body = f"{files} waiting for {g.drive}."
        elif g.kind == "safe_to_unplug":
            body = (
                f"{files} copied and verified on {g.drive}. Eject it from the usbsync menu, then unplug it."
            )
        elif g.kind == "drive_full":
            verb, wait = ("does", "it waits") if g.count == 1 else ("do", "they wait")
            body = f"{files} {verb} not fit on {g.drive}; {wait} until there is space."
        elif g.kind == "failures":
            body = f"{files} could not be copied" + (f": {g.lines[0]}" if g.lines else ".")
        else:
            body = "; ".join(g.lines) or ("A source folder is missing." if g.kind == "source_missing" else "")
        return title, body


def freedesktop_sender(app_name: str = "usbsync", icon: str = "usbsync") -> Sender | None:
    """A sender over the session bus's org.freedesktop.Notifications, or None when there is no session bus."""
    try:
        from jeepney import DBusAddress, new_method_call
        from jeepney.io.blocking import open_dbus_connection
    except ImportError:
        return None
    try:
        conn = open_dbus_connection(bus="SESSION")
    except Exception as exc:  # no bus address, no socket: no desktop notifications here
        log.info("no session D-Bus for notifications (%s); using the tray balloon", exc)
        return None
    addr = DBusAddress(
        "/org/freedesktop/Notifications",
        bus_name="org.freedesktop.Notifications",
        interface="org.freedesktop.Notifications",
    )

    def send(title: str, body: str) -> bool:
        msg = new_method_call(addr, "Notify", "susssasa{sv}i", (app_name, 0, icon, title, body, [], {}, 8000))
        try:
            reply = conn.send_and_get_reply(msg, timeout=2)
        except Exception as exc:
            log.info("notification not delivered (%s)", exc)
            return False
        return bool(reply.header.message_type.name == "method_return")

    return send
