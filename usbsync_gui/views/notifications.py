"""Desktop notifications: grouped and rate-limited, each kind switchable in settings, with the figures of what
happened and the one action there is to take ("Eject", "Set up…"), in words.

Backends: on Linux the freedesktop ``org.freedesktop.Notifications.Notify`` call on the session bus, sent with
jeepney (a keyring dependency; PySide6's QtDBus cannot build Notify's ``susssasa{sv}i`` signature,
PYSIDE-1904); elsewhere, or when no notification daemon answers, the tray icon's own balloon (Windows shows
it as a toast).

Grouping: events of one kind and drive within :data:`GROUP_WINDOW_S` become one notification whose figures are
the sums of what the events reported ("12 files copied, 7 already there"), and a kind is shown at most once per
:data:`MIN_INTERVAL_S` per drive; what arrives meanwhile is held and summed for the next one. A flood of files
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
KINDS = (
    "drive_wanted",
    "safe_to_unplug",
    "drive_full",
    "failures",
    "source_missing",
    "problems",
    "new_drive",
)
KIND_TITLES = {
    "drive_wanted": "Plug in {drive}",
    "safe_to_unplug": "{drive} is up to date",
    "drive_full": "{drive} is full",
    "failures": "Files could not be copied",
    "source_missing": "Source folder missing",
    "problems": "usbsync needs your attention",
    "new_drive": "New drive {drive}: use it with usbsync?",
}

# The one action a kind offers: its key (what ActionInvoked and action_invoked carry) and its button label.
KIND_ACTIONS = {"safe_to_unplug": "eject", "new_drive": "setup"}
ACTION_LABELS = {"eject": "Eject", "setup": "Set up…"}

# How a note tells the user what to do next depends on what the message can offer. "buttons": the action is a
# button on it; "click": a click on the message does it (the tray balloon); "plain": neither (a daemon without
# the actions capability, or a log line), so it names the menu entry instead.
HowShown = str
ACTION_HINTS: dict[str, dict[HowShown, str]] = {
    "eject": {
        "buttons": "Eject it, then unplug it.",
        "click": "Click here to eject it, then unplug it.",
        "plain": "Eject it from the usbsync menu, then unplug it.",
    },
    "setup": {
        "buttons": "Choose “Set up…” to have usbsync copy files to it.",
        "click": "Click here to set it up for usbsync.",
        "plain": "To use it with usbsync, open Drives… in the usbsync menu.",
    },
}


def _files(n: int) -> str:
    return "1 file" if n == 1 else f"{n} files"


@dataclass(frozen=True)
class Note:
    """One notification as composed, before it is shown.

    ``text`` says what happened, with the figures; :meth:`body` adds what to do next, worded for how it is shown.
    ``action`` is the key of its one action ("eject", "setup") or "" for none. ``mount`` is the mount point the
    event named ("" for none)."""

    kind: str
    drive: str
    title: str
    text: str
    action: str = ""
    mount: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.drive, self.mount)

    @property
    def action_label(self) -> str:
        return ACTION_LABELS.get(self.action, "")

    def body(self, how: HowShown = "plain") -> str:
        """The message: ``text`` plus the hint for ``how`` it is shown ("buttons", "click" or "plain")."""
        hint = ACTION_HINTS.get(self.action, {}).get(how, "")
        return f"{self.text} {hint}" if hint else self.text


@dataclass
class _Group:
    kind: str
    drive: str
    mount: str = ""
    count: int = 0
    total: int | None = None  # the latest whole figure given (files waiting, files that do not fit, ...)
    copied: int = 0
    already: int = 0
    lines: list[str] = field(default_factory=list)
    more_lines: int = 0  # distinct lines beyond the ones kept
    first_at: float = 0.0


Sender = Callable[[str, str], bool]  # (title, body) -> delivered


class NotificationCenter:
    """Collects events and sends at most one notification per kind and drive per interval.

    Args:
        send: delivers (title, body); returns False if it could not (the group is tried again at a later
            flush).
        enabled: kind -> shown or not (from settings); :attr:`enabled` can be updated at any time.
        clock: seconds, monotonic (tests pass their own).

    Attributes:
        sent: (title, body) of every notification delivered, oldest first, as shown.
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
        self._groups: dict[tuple[str, str, str], _Group] = {}
        self._last_sent: dict[tuple[str, str, str], float] = {}
        self.sent: list[tuple[str, str]] = []

    def event(
        self,
        kind: str,
        drive: str = "",
        line: str = "",
        count: int = 1,
        *,
        total: int | None = None,
        copied: int = 0,
        already: int = 0,
        mount: str = "",
    ) -> None:
        """Note one event; sent by :meth:`flush`. Within a group (kind, drive, mount) ``count``, ``copied`` and
        ``already`` add up, ``total`` is the latest one given, and the first three distinct ``line`` are kept.

        What each kind reads (all figures are numbers of files):

        - ``drive_wanted``: ``count`` newly waiting for ``drive``; ``total`` all waiting for it now.
        - ``safe_to_unplug``: one drain pass's ``copied`` and ``already`` (DrainResult.copied and .duplicates);
          ``count`` is not used. Pass each pass (or each plug-in's sum) once: the note sums what it is given.
        - ``drive_full``: ``total`` files that do not fit on ``drive`` in the latest pass (else the sum of
          ``count``).
        - ``failures``: ``count`` newly failed, ``line`` why; ``total`` failed in all now; ``drive`` optional.
        - ``new_drive``: ``drive`` the volume's label, ``mount`` its mount point.
        - ``source_missing``, ``problems``: ``line`` is the message.
        """
        if not self.enabled.get(kind, True):
            return
        key = (kind, drive, mount)
        g = self._groups.get(key)
        if g is None:
            g = self._groups[key] = _Group(kind, drive, mount, first_at=self._clock())
        g.count += count
        g.copied += copied
        g.already += already
        if total is not None:
            g.total = total
        if line and line not in g.lines:
            if len(g.lines) < 3:
                g.lines.append(line)
            else:
                g.more_lines += 1

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
            note = self._compose(g)
            shown = note.body("plain")
            if not self._send(note.title, shown):
                # Not shown anywhere: the figures are kept for the next try, not lost.
                self._groups.setdefault(key, g)
                continue
            self._last_sent[key] = now
            self.sent.append((note.title, shown))

    def _compose(self, g: _Group) -> Note:
        """The note for a group of events: title, figures, and the kind's action."""
        drive = g.drive or "a drive"
        title = KIND_TITLES[g.kind].format(drive=drive)
        if g.kind == "drive_wanted":
            waiting = g.total if g.total is not None else g.count
            new = f" ({g.count} new)" if 0 < g.count < waiting else ""
            text = f"{_files(waiting)} waiting for {drive}{new}."
        elif g.kind == "safe_to_unplug":
            there = f"{_files(g.already)} already there"
            if g.copied:
                text = f"{_files(g.copied)} copied" + (f", {g.already} already there." if g.already else ".")
            else:
                text = f"Nothing new: {there}." if g.already else "Nothing to copy."
        elif g.kind == "drive_full":
            n = g.total if g.total is not None else g.count
            verb, wait = ("does", "it waits") if n == 1 else ("do", "they wait")
            text = f"{_files(n)} {verb} not fit on {drive}; {wait} until there is space."
        elif g.kind == "failures":
            if g.count == 1:
                title = "A file could not be copied"
            to = f" to {g.drive}" if g.drive else ""
            why = f": {g.lines[0]}" if g.lines else ""
            others = len(g.lines) - 1 + g.more_lines
            if others:
                why += f" (and {others} other reason{'s' if others > 1 else ''})"
            text = f"{_files(g.count)} could not be copied{to}{why}."
            if g.total is not None and g.total > g.count:
                text += f" {_files(g.total)} failed in all."
            text += " See Status… in the usbsync menu."
        elif g.kind == "new_drive":
            if not g.drive:
                title = "New drive: use it with usbsync?"
            text = f"Mounted at {g.mount}." if g.mount else "It is plugged in."
        else:
            text = "; ".join(g.lines) or ("A source folder is missing." if g.kind == "source_missing" else "")
        return Note(g.kind, g.drive, title, text, KIND_ACTIONS.get(g.kind, ""), g.mount)


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
