"""Desktop notifications: grouped and rate-limited, each kind switchable in settings, with the figures of what
happened and an action where there is one to take ("Eject", "Set up…").

Backends, tried in this order by :class:`NotificationCenter`:

- :class:`DesktopNotifier`: the freedesktop ``org.freedesktop.Notifications`` service on the session bus, spoken
  with jeepney (a keyring dependency; PySide6's QtDBus cannot build Notify's ``susssasa{sv}i`` signature,
  PYSIDE-1904). It sends actions as buttons when the daemon has the ``actions`` capability and hears the
  daemon's replies and its ``ActionInvoked`` and ``NotificationClosed`` signals through a
  :class:`QSocketNotifier` on the bus socket, so the GUI thread never waits for the daemon.
- the caller's ``send(title, body)`` (the tray's balloon; Windows shows it as a toast), used where there is no
  session bus or no notification daemon, and for a note the daemon refused or did not answer within
  :data:`CALL_TIMEOUT_S` (shown late rather than never). A balloon has no buttons: a click on it can stand for
  the note's one action, through :meth:`NotificationCenter.balloon_clicked`.

Grouping: events of one kind and drive within :data:`GROUP_WINDOW_S` become one notification whose figures are
the sums of what the events reported ("12 files copied, 7 already there"), and a kind is shown at most once per
:data:`MIN_INTERVAL_S` per drive; what arrives meanwhile is held and summed for the next one. A flood of files
never floods the desktop.

Notes with an action ("X is up to date" with Eject, "New drive" with Set up…) answer something the user just did
(plugging a drive in) and come at most once per plug-in: no rate limit holds them (:data:`NOT_RATE_LIMITED`),
and a newer one for the same drive replaces the one on screen. "X is up to date" is the signal that the drive
may be ejected and unplugged: it goes out :data:`UP_TO_DATE_SETTLE_S` (1 s) after the engine said the drive's
queue is empty, which is long enough for the drain passes of one plug-in to be summed into one note.

The caller flushes when :meth:`NotificationCenter.next_due` says the next group is due (the tray arms a precise
single-shot timer for exactly then).

A note held a while (grouped, or by the rate limit) may no longer be true when it is due: Photos was plugged in
and filled meanwhile. When it is sent it is checked against the current state summary (``current``, the
:class:`~usbsync_gui.core.summary.StateSummary` the engine pushed last): dropped when what it says is no longer
so, its figures brought up to date when they changed (:func:`still_true`). And a newer note about a drive
replaces what is held about it that it contradicts (:data:`SUPERSEDES`): "Photos is up to date" drops a held
"Plug in Photos" or "Not enough space on Photos", and takes them off the screen when it is shown.
"""

from __future__ import annotations

import html
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from PySide6.QtCore import QObject, QSocketNotifier, QTimer, Signal, Slot

from usbsync_gui.core.config import NOTIFICATION_KINDS
from usbsync_gui.core.summary import StateSummary
from usbsync_gui.core.wait_reasons import WaitKind

log = logging.getLogger(__name__)

GROUP_WINDOW_S = 3.0
# "X is up to date": sent this long after the drive's queue went empty (the engine's drive_up_to_date), not
# GROUP_WINDOW_S, and never held by the rate limit: the user who plugged it in waits for it to unplug it.
UP_TO_DATE_SETTLE_S = 1.0
# Kinds grouped over another window than GROUP_WINDOW_S.
GROUP_WINDOWS = {"safe_to_unplug": UP_TO_DATE_SETTLE_S}
MIN_INTERVAL_S = 60.0  # the rate limit: a kind at most once per drive in this interval (but NOT_RATE_LIMITED)
KINDS = NOTIFICATION_KINDS  # the configuration's switches name them
KIND_TITLES = {
    "drive_wanted": "Plug in {drive}",
    "safe_to_unplug": "{drive} is up to date",
    "drive_full": "Not enough space on {drive}",
    "failures": "Files could not be copied",
    "source_missing": "Source folder missing",
    "problems": "usbsync needs your attention",
    "new_drive": "New drive {drive}: use it with usbsync?",
}

# The one action a kind offers: its key (what ActionInvoked and action_invoked carry) and its button label.
KIND_ACTIONS = {"safe_to_unplug": "eject", "new_drive": "setup"}
ACTION_LABELS = {"eject": "Eject", "setup": "Set up…"}
# Kinds the rate limit does not hold back: the ones with an action, which answer the user's plugging a drive in
# and come once per plug-in (the rate limit is there for floods of "waiting" and "full" news).
NOT_RATE_LIMITED = frozenset(KIND_ACTIONS)
# A newer note of the kind (key) makes held notes of these kinds about the same drive untrue: they are dropped,
# and taken off the screen when it is shown. "Up to date" comes from the engine the moment the drive's queue
# went empty; the others from summaries, which may lag behind that, so they never drop an "up to date".
SUPERSEDES = {"safe_to_unplug": ("drive_wanted", "drive_full")}

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

EXPIRE_MS = 8000  # how long the daemon shows a notification
# How long a note waits for the daemon's answer to Notify (never on the GUI thread: the answer is read when it
# comes) before it is taken as not shown and goes to the balloon; the daemon is then taken as hung.
CALL_TIMEOUT_S = 2.0
_REMEMBERED = 64  # shown notifications whose actions are still listened for, newest kept
_MAX_CALLS = (
    256  # calls waiting for their reply (a daemon that answers none must not grow this), oldest dropped
)


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
    not_before: float = 0.0  # no sender could show it: tried again from then


def still_true(g: _Group, s: StateSummary) -> bool:
    """Whether what group ``g`` would say is still so in the summary ``s``; its figures are brought up to date
    from ``s`` (in place). "Plug in Photos" is true while Photos is not plugged in and files wait for it; "Not enough
    space on Photos" while some do not fit on it; "could not be copied" while failed files remain; "source folder
    missing" while it is; a problem while its notice is raised. "Up to date" and "new drive" are kept true by
    the engine's own signals instead (the tray withdraws them when the drive is ejected or unplugged): a summary
    may be older than the drain that emptied the queue."""
    d = s.drive_named(g.drive) if g.drive else None
    if g.kind == "drive_wanted":
        if d is None or d.connected or not d.waiting_files:
            return False
        g.total, g.count = d.waiting_files, min(g.count, d.waiting_files)
    elif g.kind == "drive_full":
        no_space = d.wait(WaitKind.NO_SPACE) if d is not None else None
        if no_space is None or not no_space.files:
            return False
        g.total = no_space.files
    elif g.kind == "failures":
        failed = (d.failed_files if d is not None else 0) if g.drive else s.failed_files
        if not failed:
            return False
        g.total, g.count = failed, min(g.count, failed)
    elif g.kind == "source_missing":
        return g.drive in s.missing_sources
    elif g.kind == "problems":
        return any(n.kind == g.drive for n in s.notices)
    return True


Sender = Callable[[str, str], bool]  # (title, body) -> delivered


class Desktop(Protocol):
    """What :class:`NotificationCenter` needs of a desktop notification service (:class:`DesktopNotifier`, or a
    test's fake). ``action_invoked`` is a Qt signal (Note, action key); ``unshown`` a Qt signal (Note): a note
    :meth:`send_note` sent was not shown after all (refused, or no answer), so the center shows it elsewhere."""

    action_invoked: Any
    unshown: Any

    def send_note(self, note: Note) -> str | None:
        """Send ``note`` to be shown, without waiting; return the body as sent, or None when it cannot be shown
        now. Should it turn out not to be shown, ``unshown`` is emitted later."""
        ...

    def close_note(self, key: tuple[str, str, str]) -> None:
        """Take down the notification shown for ``key`` (kind, drive, mount), if it is still up."""
        ...


class _Relay(QObject):
    action_invoked = Signal(str, str, str, str)


class NotificationCenter:
    """Collects events and sends at most one notification per kind and drive per interval (:data:`MIN_INTERVAL_S`;
    the kinds in :data:`NOT_RATE_LIMITED` whenever they are due).

    Args:
        send: delivers (title, body) where no desktop notification can be shown (the tray balloon, or a log
            line); returns False if it could not (the group is tried again at a later flush).
        enabled: kind -> shown or not (from settings); :attr:`enabled` can be updated at any time.
        clock: seconds, monotonic (tests pass their own).
        desktop: the desktop notification service tried first (:meth:`DesktopNotifier.open`); None: ``send`` only.
        balloon_clicks: True (or a function answering it at each note) when a click on what ``send`` shows is
            routed to :meth:`balloon_clicked`; then the body says "Click here to …", else it names the menu entry.
        current: the current state summary (None while there is none yet): each note is checked against it when
            it is sent (:func:`still_true`). None: notes are sent as they were composed.

    Signals:
        action_invoked(kind, drive, action, mount): the user chose a note's action, e.g. ``("safe_to_unplug",
            "Photos", "eject", "")`` or ``("new_drive", "KINGSTON", "setup", "/media/u/KINGSTON")``.

    Attributes:
        sent: (title, body) of every notification delivered, oldest first, as shown.
    """

    def __init__(
        self,
        send: Sender,
        enabled: dict[str, bool] | None = None,
        clock: Callable[[], float] = time.monotonic,
        desktop: Desktop | None = None,
        balloon_clicks: bool | Callable[[], bool] = False,
        current: Callable[[], StateSummary | None] | None = None,
    ):
        # Not a QObject itself: its event() would shadow QObject.event(QEvent), which Qt calls.
        self._relay = _Relay()
        self.action_invoked = self._relay.action_invoked
        self._send = send
        self.enabled = {k: True for k in KINDS} | (enabled or {})
        self._clock = clock
        self._desktop = desktop
        self._balloon_clicks = balloon_clicks if callable(balloon_clicks) else lambda: balloon_clicks
        self._current = current
        self._groups: dict[tuple[str, str, str], _Group] = {}
        self._last_sent: dict[tuple[str, str, str], float] = {}
        self._balloon: Note | None = None  # the last note shown through ``send``: what a click on it means
        self.sent: list[tuple[str, str]] = []
        if desktop is not None:
            desktop.action_invoked.connect(self._on_desktop_action)
            desktop.unshown.connect(self._on_desktop_unshown)

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
        for stale in SUPERSEDES.get(kind, ()):
            self._groups.pop((stale, drive, mount), None)
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

    def _due(self, key: tuple[str, str, str], g: _Group, force: bool = False) -> float:
        """When group ``g`` may be sent: its grouping window passed (not with ``force``), and the rate limit's
        interval since the last note of its key, for a kind the rate limit holds."""
        due = 0.0 if force else max(g.first_at + GROUP_WINDOWS.get(g.kind, GROUP_WINDOW_S), g.not_before)
        last = self._last_sent.get(key)
        if last is not None and g.kind not in NOT_RATE_LIMITED:
            due = max(due, last + MIN_INTERVAL_S)
        return due

    def next_due(self) -> float | None:
        """Seconds until :meth:`flush` has something to send (0: now); None while nothing is held. The caller
        calls :meth:`flush` then, not earlier (a flush before a group is due leaves it held)."""
        if not self._groups:
            return None
        now = self._clock()
        return max(0.0, min(self._due(key, g) for key, g in self._groups.items()) - now)

    def flush(self, force: bool = False) -> None:
        """Send the groups that are due (:meth:`next_due`); with ``force`` also those whose grouping window has
        not passed yet. The rate limit holds either way."""
        now = self._clock()
        state = self._current() if self._current is not None else None
        for key, g in list(self._groups.items()):
            if now < self._due(key, g, force):
                continue  # keep collecting; sent when due
            del self._groups[key]
            if state is not None and not still_true(g, state):
                log.debug("notification %s for %r dropped: no longer so", g.kind, g.drive)
                continue
            note = self._compose(g)
            shown = self._desktop.send_note(note) if self._desktop is not None else None
            if shown is None:
                shown = note.body("click" if self._balloon_clicks() else "plain")
                if not self._send(note.title, shown):
                    # Not shown anywhere: the figures are kept for the next try, not lost.
                    g.not_before = now + GROUP_WINDOW_S
                    self._groups.setdefault(key, g)
                    continue
                self._balloon = note if note.action else None
            if self._desktop is not None:
                for stale in SUPERSEDES.get(g.kind, ()):
                    self._desktop.close_note((stale, g.drive, g.mount))
            self._last_sent[key] = now
            self.sent.append((note.title, shown))

    def say(self, kind: str, drive: str, title: str, text: str) -> None:
        """Show one message now, not grouped and not rate-limited (the answer to something the user just did,
        such as an eject), where the other notifications are shown: the desktop's service, else ``send``. It
        replaces a note of the same ``kind`` and ``drive`` still on screen. Nothing when ``kind`` is switched off.
        """
        if not self.enabled.get(kind, True):
            return
        note = Note(kind, drive, title, text)
        shown = self._desktop.send_note(note) if self._desktop is not None else None
        if shown is None:
            shown = note.body("plain")
            if not self._send(note.title, shown):
                return
        self.sent.append((note.title, shown))

    def waiting(self) -> bool:
        """True while some events wait to be sent (their group window or the rate limit has not passed); see
        :meth:`next_due` for when."""
        return bool(self._groups)

    def withdraw(self, kind: str, drive: str = "", mount: str = "") -> None:
        """The event's news is stale (the drive was unplugged or ejected): drop what is held for (kind, drive,
        mount) and take down its desktop notification, so that no "Eject" is offered for a drive that is gone."""
        key = (kind, drive, mount)
        self._groups.pop(key, None)
        if self._balloon is not None and self._balloon.key == key:
            self._balloon = None
        if self._desktop is not None:
            self._desktop.close_note(key)

    def balloon_clicked(self) -> None:
        """The user clicked the last message shown through ``send`` (QSystemTrayIcon.messageClicked): emit
        :attr:`action_invoked` with that note's action, if it had one. Once per message."""
        note, self._balloon = self._balloon, None
        if note is not None:
            self.action_invoked.emit(note.kind, note.drive, note.action, note.mount)

    def _on_desktop_action(self, note: Note, action: str) -> None:
        self.action_invoked.emit(note.kind, note.drive, action, note.mount)

    def _on_desktop_unshown(self, note: Note) -> None:
        """The desktop's service did not show a note after all (the daemon refused it, or did not answer in
        :data:`CALL_TIMEOUT_S`): show it through ``send`` now, late rather than never. A note withdrawn
        meanwhile is not reported here (the notifier knows)."""
        shown = note.body("click" if self._balloon_clicks() else "plain")
        if self._send(note.title, shown):
            self._balloon = note if note.action else None
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


_BUS_NAME = "org.freedesktop.Notifications"
_PATH = "/org/freedesktop/Notifications"
_DBUS = "org.freedesktop.DBus"


@dataclass
class _Call:
    """A Notify call waiting for the daemon's answer (the notification id)."""

    note: Note
    daemon_epoch: int  # which daemon it went to (see DesktopNotifier._new_daemon)
    given_up: bool = False  # not answered in CALL_TIMEOUT_S: taken as not shown (a late id is still kept)


class DesktopNotifier(QObject):
    """The freedesktop notification service on a D-Bus session bus, spoken with jeepney.

    Make one with :meth:`open` (None where there is no session bus). Nothing here waits for the daemon: the bus
    socket is watched by a :class:`QSocketNotifier`, and replies and signals are read when it is readable.
    :meth:`send_note` sends the Notify call and returns; the notification id in the daemon's answer (needed to
    replace or take down the note and to know which note an action is for) is recorded when the answer comes. A
    note withdrawn (:meth:`close_note`) or replaced before its id is known is taken down once it is known. A note
    the daemon refuses, or does not answer within :data:`CALL_TIMEOUT_S`, is announced by :attr:`unshown`
    (the center then shows it in the balloon); after such a silence the daemon is taken as hung, and notes go
    straight to the balloon until it answers again or another daemon takes its place.

    Signals:
        action_invoked(Note, action): the user chose ``action`` (a key such as "eject") on a note shown here.
        unshown(Note): a note :meth:`send_note` sent was not shown after all.
    """

    action_invoked = Signal(object, str)
    unshown = Signal(object)

    @classmethod
    def open(
        cls,
        bus: str = "SESSION",
        app_name: str = "usbsync",
        icon: str = "usbsync",
        parent: QObject | None = None,
    ) -> DesktopNotifier | None:
        """Connect to ``bus`` ("SESSION" or a D-Bus address); None when there is no such bus (Windows, a
        session without D-Bus) or jeepney is missing. A bus without a notification daemon still gives a
        notifier: :meth:`send_note` then returns None, and sees a daemon started later."""
        try:
            from jeepney.io.blocking import open_dbus_connection
        except ImportError:
            return None
        try:
            conn = open_dbus_connection(bus=bus)
        except Exception as exc:  # no address, no socket, refused: no desktop notifications here
            log.info("no session D-Bus for notifications (%s); using the tray balloon", exc)
            return None
        return cls(conn, app_name, icon, parent)

    def __init__(
        self, conn: Any, app_name: str = "usbsync", icon: str = "usbsync", parent: QObject | None = None
    ):
        from jeepney import DBusAddress, MatchRule, message_bus

        super().__init__(parent)
        self._conn: Any = conn
        self._app_name = app_name
        self._icon = icon
        self._addr = DBusAddress(_PATH, bus_name=_BUS_NAME, interface=_BUS_NAME)
        self._pending: dict[int, Callable[[Any], None]] = {}  # call serial -> what to do with its reply
        self._calls: dict[int, _Call] = {}  # Notify serial -> its note, until the daemon answers
        self._latest: dict[tuple[str, str, str], int] = {}  # note key -> serial of the newest Notify for it
        self._caps: frozenset[str] | None = None  # the daemon's capabilities; None: not known (yet)
        self._caps_serial: int | None = None
        self._daemon = ""  # the daemon's unique bus name: only its signals are believed
        self._epoch = 0  # bumped when the daemon changes: answers from the one before are not its ids
        # The daemon let a Notify go unanswered for CALL_TIMEOUT_S: until it answers (late) or is replaced,
        # notes go to the balloon at once instead of waiting for it each.
        self._stuck = False
        self._shown: dict[int, Note] = {}  # notification id -> note, while it may still be acted on
        self._id_of: dict[tuple[str, str, str], int] = {}
        self._notifier = QSocketNotifier(conn.sock.fileno(), QSocketNotifier.Type.Read, self)
        self._notifier.activated.connect(self._read_ready)
        # dunst sends its signals to the notification's sender; other daemons (GNOME Shell) broadcast them,
        # and a broadcast reaches only connections that asked for it.
        rule = MatchRule(type="signal", interface=_BUS_NAME, path=_PATH)
        self._call_later(message_bus.AddMatch(rule), lambda _reply: None)
        # A daemon that starts, stops or is replaced: its capabilities and notification ids are its own.
        owner = MatchRule(
            type="signal",
            sender=_DBUS,
            interface=_DBUS,
            member="NameOwnerChanged",
            path="/org/freedesktop/DBus",
        )
        owner.add_arg_condition(0, _BUS_NAME)
        self._call_later(message_bus.AddMatch(owner), lambda _reply: None)
        # Notes sent before the first answer about the daemon (the welcome after the set-up wizard goes out the
        # moment the tray shows, before the event loop has read anything) wait for it, at most CALL_TIMEOUT_S,
        # instead of going to the balloon: a walk-through saw the welcome as Qt's balloon with dunst running.
        self._held: list[Note] = []
        self._opening = True
        self._ask_caps()  # answered while the app starts, usually before its first note
        QTimer.singleShot(int(CALL_TIMEOUT_S * 1000), self, self._opened)

    # -- sending ----------------------------------------------------------------------------------------------

    def send_note(self, note: Note) -> str | None:
        """Send ``note`` (replacing the one shown for the same kind, drive and mount); the body as sent, or None
        when it cannot be shown here now (no bus, no daemon, a daemon that did not answer). With the actions
        capability the note's action is a button and the body says "Eject it, …"; without it, the body names
        the menu entry instead. Returns at once: should the daemon refuse it or not answer, :attr:`unshown` says
        so later. A note sent before the first answer about the daemon (at most :data:`CALL_TIMEOUT_S` after
        :meth:`open`) is held until it comes, and the plain body is returned; after that, a note sent while the
        capabilities are not known (no daemon when last asked) returns None."""
        from jeepney import new_method_call

        if self._conn is None or self._stuck:
            return None
        if self._caps is None:
            self._ask_caps()  # known for the next note
            if not self._opening:
                return None  # this one is not held back for it
            if note.kind:
                self._held = [n for n in self._held if n.key != note.key]
            self._held.append(note)
            return note.body("plain")  # sent as the daemon's capabilities allow, once they are known
        caps = self._caps
        buttons = bool(note.action) and "actions" in caps
        body = note.body("buttons" if buttons else "plain")
        shown = html.escape(body, quote=False) if "body-markup" in caps else body  # a path may hold & or <
        actions = [note.action, note.action_label] if buttons else []
        replaces = self._id_of.get(note.key, 0) if note.kind else 0
        msg = new_method_call(
            self._addr,
            "Notify",
            "susssasa{sv}i",
            (self._app_name, replaces, self._icon, note.title, shown, actions, {}, EXPIRE_MS),
        )
        serial = self._call_later(msg, self._notified)
        if self._conn is None:
            return None  # the connection broke while sending: not shown
        self._calls[serial] = _Call(note, self._epoch)
        if note.kind:
            self._latest[note.key] = serial  # one sent before for the key, still without its id, is now old
        QTimer.singleShot(int(CALL_TIMEOUT_S * 1000), self, lambda: self._no_answer(serial))
        return body

    def _opened(self) -> None:
        """The first answer about the daemon came, or CALL_TIMEOUT_S passed without one: the notes held until
        then are sent, or (no daemon, no answer) announced as :attr:`unshown` for the balloon."""
        if not self._opening:
            return
        self._opening = False
        held, self._held = self._held, []
        for note in held:
            if self._caps is None or self.send_note(note) is None:
                self.unshown.emit(note)

    def _current(self, serial: int, call: _Call) -> bool:
        """Whether the note of Notify ``serial`` is still the one to show for its key (not withdrawn, not
        replaced by a newer one)."""
        return not call.note.kind or self._latest.get(call.note.key) == serial

    def _notified(self, reply: Any) -> None:
        """The daemon's answer to a Notify: the notification id, or an error."""
        from jeepney import HeaderFields, MessageType

        serial = reply.header.fields.get(HeaderFields.reply_serial, -1)
        call = self._calls.pop(serial, None)
        if call is None:
            return
        current = self._current(serial, call)
        if call.note.kind and current:
            del self._latest[call.note.key]
        self._stuck = False
        if reply.header.message_type != MessageType.method_return:
            log.info("notification not shown: %s", reply.body[0] if reply.body else "error")
            if current and not call.given_up:
                self.unshown.emit(call.note)
            return
        nid = int(reply.body[0])
        if call.daemon_epoch != self._epoch:
            return  # shown by a daemon that has gone since: its id means nothing to the one there now
        if current:
            self._remember(nid, call.note, str(reply.header.fields.get(HeaderFields.sender, "")))
        else:  # withdrawn, or replaced by a newer note, before its id was known: take it down now
            self._close(nid)

    def _no_answer(self, serial: int) -> None:
        call = self._calls.get(serial)
        if call is None or call.given_up:
            return  # answered in time
        call.given_up = True  # a late answer still records the id (the user may see the news twice)
        if not self._stuck:
            log.info("the notification daemon did not answer in %g s; using the tray balloon", CALL_TIMEOUT_S)
        self._stuck = True
        if self._current(serial, call):
            self.unshown.emit(call.note)

    def close_note(self, key: tuple[str, str, str]) -> None:
        """Take down the notification shown for ``key`` (kind, drive, mount), without waiting for the daemon;
        one whose id has not come yet is taken down when it comes."""
        self._latest.pop(key, None)
        self._held = [n for n in self._held if n.key != key]
        nid = self._id_of.pop(key, None)
        if nid is not None:
            self._shown.pop(nid, None)
            self._close(nid)

    def _close(self, nid: int) -> None:
        from jeepney import new_method_call

        if self._conn is not None:
            self._call_later(
                new_method_call(self._addr, "CloseNotification", "u", (nid,)), lambda _reply: None
            )

    def close(self) -> None:
        """Stop listening and close the bus connection (notes still without an answer are let go)."""
        self._notifier.setEnabled(False)
        self._calls.clear()
        self._latest.clear()
        self._held.clear()
        self._opening = False
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @property
    def capabilities(self) -> frozenset[str] | None:
        """The daemon's capabilities (GetCapabilities), or None while not known."""
        return self._caps

    @property
    def daemon(self) -> str:
        """The notification daemon's unique bus name, as the bus or its answers said ("" while none is known)."""
        return self._daemon

    def waiting(self) -> int:
        """Notes sent whose notification id has not come yet."""
        return len(self._calls)

    def _remember(self, nid: int, note: Note, daemon: str) -> None:
        self._daemon = daemon
        if not note.kind:
            return  # a bare (title, body) message: nothing to act on, and it replaces no other
        old = self._id_of.get(note.key)
        if old is not None and old != nid:
            self._shown.pop(old, None)
        self._shown[nid] = note
        self._id_of[note.key] = nid
        while len(self._shown) > _REMEMBERED:  # a daemon that never reports closing must not grow this
            gone = next(iter(self._shown))
            self._forget(gone)

    def _forget(self, nid: int) -> None:
        note = self._shown.pop(nid, None)
        if note is not None and self._id_of.get(note.key) == nid:
            del self._id_of[note.key]

    def _ask_caps(self) -> None:
        from jeepney import MessageType, new_method_call

        def on_caps(reply: Any) -> None:
            if serial != self._caps_serial:
                return  # asked of a daemon that has gone since
            self._caps_serial = None
            self._stuck = False
            if reply.header.message_type == MessageType.method_return:
                self._caps = frozenset(reply.body[0])
            else:  # no daemon now (org.freedesktop.DBus.Error.ServiceUnknown): asked again at the next note
                log.info("no notification daemon: %s", reply.body[0] if reply.body else "error")
            self._opened()

        if self._caps_serial is None and self._conn is not None:
            serial = self._call_later(new_method_call(self._addr, "GetCapabilities"), on_caps)
            self._caps_serial = serial

    # -- the bus connection -----------------------------------------------------------------------------------

    def _call_later(self, msg: Any, on_reply: Callable[[Any], None]) -> int:
        """Send a method call; ``on_reply`` gets its reply (or error) when it is read. Returns its serial (-1:
        no connection, nothing sent)."""
        if self._conn is None:
            return -1
        serial = int(next(self._conn.outgoing_serial))
        self._pending[serial] = on_reply
        while len(self._pending) > _MAX_CALLS:  # never answered: dropped, oldest first
            oldest = next(iter(self._pending))
            del self._pending[oldest]
            self._calls.pop(oldest, None)
        try:
            self._conn.send(msg, serial=serial)
        except OSError as exc:
            self._lost(exc)
        return serial

    @Slot()
    def _read_ready(self) -> None:
        """The socket is readable: handle all there is, no waiting."""
        while self._conn is not None:
            try:
                msg = self._conn.receive(timeout=0)
            except TimeoutError:
                return
            except OSError as exc:
                self._lost(exc)
                return
            self._handle(msg)

    def _handle(self, msg: Any) -> None:
        from jeepney import HeaderFields, MessageType

        fields = msg.header.fields
        kind = msg.header.message_type
        if kind in (MessageType.method_return, MessageType.error):
            on_reply = self._pending.pop(fields.get(HeaderFields.reply_serial, -1), None)
            if on_reply is not None:
                on_reply(msg)
            return
        if kind != MessageType.signal:
            return
        if fields.get(HeaderFields.sender) == _DBUS and fields.get(HeaderFields.member) == "NameOwnerChanged":
            if msg.body[0] == _BUS_NAME:
                self._new_daemon(msg.body[2])
            return
        if fields.get(HeaderFields.interface) != _BUS_NAME:
            return
        if fields.get(HeaderFields.sender) != self._daemon:
            return  # only the daemon that showed our notes speaks for them
        member = fields.get(HeaderFields.member)
        if member == "ActionInvoked":
            nid, action = msg.body
            note = self._shown.get(nid)
            if note is not None:
                self.action_invoked.emit(note, action)
        elif member == "NotificationClosed":
            self._forget(msg.body[0])

    def _new_daemon(self, owner: str) -> None:
        log.info("notification daemon %s", f"now {owner}" if owner else "gone")
        self._daemon = owner
        self._epoch += 1
        self._caps = None
        self._caps_serial = None
        self._stuck = False
        self._shown.clear()
        self._id_of.clear()
        if owner:
            self._ask_caps()  # known before the next note

    def _lost(self, exc: BaseException) -> None:
        log.info("session D-Bus connection lost (%s); notifications use the tray balloon", exc)
        self._notifier.setEnabled(False)
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._pending.clear()
        calls, self._calls = self._calls, {}
        unshown = [c.note for serial, c in calls.items() if not c.given_up and self._current(serial, c)]
        self._latest.clear()
        unshown += self._held
        self._held = []
        self._opening = False
        for note in unshown:  # sent (or held to be sent), and now never to be answered
            self.unshown.emit(note)


def freedesktop_sender(app_name: str = "usbsync", icon: str = "usbsync") -> Sender | None:
    """A (title, body) sender over the session bus's notification service, or None without a session bus.

    Superseded by :class:`DesktopNotifier` passed as ``NotificationCenter(..., desktop=...)`` (actions, their
    signals, exact hints, a note the daemon refuses shown elsewhere); kept so that callers of the old API keep
    working. Its ``send`` returns True when the message was sent: a daemon's refusal comes later, unreported."""
    notifier = DesktopNotifier.open(app_name=app_name, icon=icon)
    if notifier is None:
        return None

    def send(title: str, body: str) -> bool:
        return notifier.send_note(Note("", "", title, body)) is not None

    return send
