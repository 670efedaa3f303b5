"""The status window: what usbsync is doing, and what waits where and why, in plain words.

Every figure comes from the one :class:`~usbsync_gui.core.summary.StateSummary` that the summary feed
(``ctx.summary``) pushes when something changed: this window counts nothing itself and never queries the state
database on the GUI thread. What it reads on its own, the tail of the audit log ("Recent activity") and the
names of the files that could not be copied ("Problems"), it reads on a pool thread through ``ctx.tasks``.

Nothing here runs on a clock except while a copy is in progress: then a one-second timer keeps the speed
current, and it stops once copying stops. "Now copying" goes back to idle as soon as a summary read after the
last progress says nothing is copying, or the engine says the drive being copied to was unplugged or ejected.

The layout is fixed: long file names, paths and reasons are elided (the whole text is the tooltip) instead of
widening the window, and colours come from the window's palette (light or dark), with a warning colour chosen
to be legible on either.
"""

from __future__ import annotations

import csv
import logging
import os
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from pathlib import Path

import shiboken6
from PySide6.QtCore import QEvent, QPointF, QRectF, QSize, Qt, QTimer, Slot
from PySide6.QtGui import (
    QColor,
    QFont,
    QHideEvent,
    QPainter,
    QPainterPath,
    QPalette,
    QPen,
    QResizeEvent,
    QShowEvent,
)
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QMenuBar,
    QProgressBar,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from usbsync_gui.core import space
from usbsync_gui.core.audit import AUDIT_FILE
from usbsync_gui.core.state import Job, StateDB
from usbsync_gui.core.summary import (
    ATTENTION_NOTICES,
    DriveState,
    DriveSummary,
    Overall,
    StateSummary,
    Unrouted,
)
from usbsync_gui.core.units import human_bytes, plural
from usbsync_gui.engine.tasks import TaskResult
from usbsync_gui.views.context import ViewContext
from usbsync_gui.views.resources import app_icon, state_icon
from usbsync_gui.views.window_geometry import fit_to_screen

log = logging.getLogger(__name__)

RECENT = 12  # lines of recent activity
PROBLEMS = 5  # files that could not be copied, by name
SCALE = 1000  # progress bars count in per-mille: QProgressBar's range is a 32-bit int, byte counts are not
DEFAULT_SIZE = QSize(640, 560)  # fits a 1366x768 screen with room for the panel and the title bar
MIN_WIDTH = 420
SPEED_TICK_MS = 1000  # the speed display's clock, running only while a copy is in progress
SPEED_WINDOW_S = 3.0  # the speed is the bytes copied over the last few seconds
IDLE_AFTER_S = 5.0  # no progress for this long and nothing copying in the last summary: the copy is over
DRIVES_MAX_HEIGHT = 240  # px: more drives than fit scroll inside their box instead of growing the window
ATTENTION_LINES = 3  # under the headline; the drives' own rows say the rest
LIST_MIN_LINES = 3  # the activity and problem lists shrink to this before the window grows


# -- colours --------------------------------------------------------------------------------------------------


class Tone(Enum):
    """What a marker or a text means; its colour comes from the palette in use (light or dark)."""

    WARNING = "warning"  # the user must do something
    CAUTION = "caution"  # waiting for the user (plug a drive in)
    BUSY = "busy"  # copying
    OK = "ok"  # done
    MUTED = "muted"  # nothing to say (paused, not plugged in)


# (on a light window, on a dark one): each at least 4.5:1 against the usual window colours of its kind
# (#efefef..#ffffff light, #1e1e1e..#353535 dark), so they serve as text colours too.
_TONES = {
    Tone.WARNING: ("#b42318", "#ff8a80"),
    Tone.CAUTION: ("#8a5a00", "#f2c14e"),
    Tone.OK: ("#16703a", "#6bd98a"),
}


def is_dark(palette: QPalette) -> bool:
    return palette.color(QPalette.ColorRole.Window).lightness() < 128


def tone_color(palette: QPalette, tone: Tone) -> QColor:
    """The colour of ``tone`` on ``palette``'s window: the highlight for copying, the placeholder grey for
    muted, and for the others a fixed hue in a shade legible on that window (light or dark)."""
    if tone is Tone.BUSY:
        return palette.color(QPalette.ColorRole.Highlight)
    if tone is Tone.MUTED:
        return palette.color(QPalette.ColorRole.PlaceholderText)
    light, dark = _TONES[tone]
    return QColor(dark if is_dark(palette) else light)


def text_on(color: QColor) -> QColor:
    """Black or white, whichever reads better on ``color``."""
    r, g, b = (c / 255 for c in (color.red(), color.green(), color.blue()))
    lum = 0.2126 * r**2.2 + 0.7152 * g**2.2 + 0.0722 * b**2.2
    return QColor(Qt.GlobalColor.black) if lum > 0.18 else QColor(Qt.GlobalColor.white)


def _set_text_tone(label: QWidget, tone: Tone | None) -> None:
    """Colour ``label``'s text with ``tone`` (None: the palette's own text colour)."""
    if tone is None:
        label.setPalette(QPalette())  # nothing set: everything inherited from the window again
    else:
        # The window's palette, not the label's: on a light/dark switch the window hears of it first, before
        # its children have the new one.
        pal = QPalette()
        pal.setColor(QPalette.ColorRole.WindowText, tone_color(label.window().palette(), tone))
        label.setPalette(pal)
    label.setProperty("tone", tone.value if tone else "")


# -- widgets ----------------------------------------------------------------------------------------------------


class ElidedLabel(QLabel):
    """A label that never asks for more width than it is given: each line of its text is elided to fit, and
    the whole text is its tooltip when it does not fit. Set the text with :meth:`set_full_text`."""

    def __init__(
        self,
        text: str = "",
        mode: Qt.TextElideMode = Qt.TextElideMode.ElideRight,
        parent: QWidget | None = None,
    ):
        super().__init__(parent)
        self._full = ""
        self._mode = mode
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.set_full_text(text)

    def full_text(self) -> str:
        return self._full

    def set_full_text(self, text: str) -> None:
        if text != self._full:
            self._full = text
            self._elide()

    # No minimumSizeHint override: with the Ignored horizontal policy a layout gives the label no minimum width
    # already, and a Python override would be called, taking the GIL, at every layout pass (dozens a second
    # while files are copied; bench/bench_ui_responsiveness.py --count-entries).

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._elide()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange:
            self._elide()

    def _elide(self) -> None:
        fm = self.fontMetrics()
        width = max(0, self.contentsRect().width())
        shown = "\n".join(fm.elidedText(line, self._mode, width) for line in self._full.split("\n"))
        if shown != self.text():
            self.setText(shown)
        self.setToolTip(self._full if shown != self._full else "")


class Marker(QWidget):
    """A small coloured disc with a symbol in it: the state of one drive at a glance (shape and colour, so it
    reads without colour too)."""

    SYMBOLS = ("check", "arrow", "clock", "alert", "pause", "dash")

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.tone = Tone.MUTED
        self.symbol = "dash"
        side = max(14, self.fontMetrics().height())
        self.setFixedSize(side, side)

    def set(self, tone: Tone, symbol: str) -> None:
        if (tone, symbol) != (self.tone, self.symbol):
            self.tone, self.symbol = tone, symbol
            self.update()

    def paintEvent(self, event: object) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        fill = tone_color(self.palette(), self.tone)
        side = float(min(self.width(), self.height()))
        r = QRectF(1, 1, side - 2, side - 2)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(fill)
        p.drawEllipse(r)
        pen = QPen(text_on(fill), max(1.5, side / 8), Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap)
        pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
        p.setPen(pen)
        p.setBrush(Qt.BrushStyle.NoBrush)

        def at(x: float, y: float) -> QPointF:
            return QPointF(r.x() + x * r.width(), r.y() + y * r.height())

        path = QPainterPath()
        if self.symbol == "check":
            path.moveTo(at(0.28, 0.52))
            path.lineTo(at(0.44, 0.68))
            path.lineTo(at(0.72, 0.36))
        elif self.symbol == "arrow":  # down, into the drive
            path.moveTo(at(0.5, 0.26))
            path.lineTo(at(0.5, 0.72))
            path.moveTo(at(0.32, 0.54))
            path.lineTo(at(0.5, 0.72))
            path.lineTo(at(0.68, 0.54))
        elif self.symbol == "clock":
            path.moveTo(at(0.5, 0.26))
            path.lineTo(at(0.5, 0.52))
            path.lineTo(at(0.68, 0.62))
        elif self.symbol == "alert":
            path.moveTo(at(0.5, 0.25))
            path.lineTo(at(0.5, 0.56))
            path.moveTo(at(0.5, 0.74))
            path.lineTo(at(0.5, 0.75))
        elif self.symbol == "pause":
            for x in (0.4, 0.6):
                path.moveTo(at(x, 0.32))
                path.lineTo(at(x, 0.68))
        else:
            path.moveTo(at(0.32, 0.5))
            path.lineTo(at(0.68, 0.5))
        p.drawPath(path)
        p.end()


class SpaceBar(QWidget):
    """Waiting bytes against free space: a bar with its text on it. Drawn here rather than by the style so
    that a drive the files do not fit on is a full bar in the warning colour on every platform (native styles
    ignore a progress bar's palette)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.fraction = 0.0
        self.text = ""
        self.warning = False
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set(self, fraction: float, text: str, warning: bool, tooltip: str = "") -> None:
        fraction = min(1.0, max(0.0, fraction))
        if (fraction, text, warning) != (self.fraction, self.text, self.warning):
            self.fraction, self.text, self.warning = fraction, text, warning
            self.setAccessibleName(text)
            self.update()
        self.setToolTip(tooltip)

    def fill_color(self) -> QColor:
        pal = self.palette()
        return tone_color(pal, Tone.WARNING) if self.warning else pal.color(QPalette.ColorRole.Highlight)

    def sizeHint(self) -> QSize:
        return QSize(200, self.fontMetrics().height() + 8)

    def minimumSizeHint(self) -> QSize:
        return QSize(60, self.fontMetrics().height() + 8)

    def paintEvent(self, event: object) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        outer = QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5)
        shape = QPainterPath()
        shape.addRoundedRect(outer, 3, 3)
        p.fillPath(shape, pal.color(QPalette.ColorRole.Base))
        fill = self.fill_color()
        filled = QRectF(outer.x(), outer.y(), outer.width() * self.fraction, outer.height())
        p.save()
        p.setClipRect(filled)
        p.fillPath(shape, fill)
        p.restore()
        p.setPen(QPen(pal.color(QPalette.ColorRole.Mid), 1))
        p.drawPath(shape)
        text = self.fontMetrics().elidedText(self.text, Qt.TextElideMode.ElideRight, int(outer.width()) - 8)
        rest = QRectF(filled.right(), outer.y(), outer.right() - filled.right(), outer.height())
        for clip, color in ((filled, text_on(fill)), (rest, pal.color(QPalette.ColorRole.Text))):
            p.save()
            p.setClipRect(clip)
            p.setPen(color)
            p.drawText(outer, Qt.AlignmentFlag.AlignCenter, text)
            p.restore()
        p.end()


class _FitScroll(QScrollArea):
    """A frameless scroll area as tall as its content, up to a limit (then it scrolls). The height is set by
    :meth:`fit` when the content changed, not computed in ``sizeHint``/``eventFilter`` overrides: those are
    called from Qt at every layout pass and event, and each call from Qt into Python waits for the GIL while the
    engine's threads run Python (the flood stalls of docs/performance.md)."""

    def __init__(self, limit: int, parent: QWidget | None = None):
        super().__init__(parent)
        self._limit = limit
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)

    def fit(self) -> None:
        """Take the content's height, up to the limit (the drives are what the window is for: the lists below
        give way first). Call after the content changed."""
        inner = self.widget()
        layout = inner.layout() if inner is not None else None
        if layout is not None:
            layout.activate()
        h = min(inner.sizeHint().height() if inner is not None else 0, self._limit)
        if (self.minimumHeight(), self.maximumHeight()) != (h, h):
            self.setFixedHeight(h)


# -- what the rows say ------------------------------------------------------------------------------------------


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _names(names: list[str]) -> str:
    """``['a']`` -> ``'a'``; ``['a', 'b', 'c']`` -> ``'a, b and c'``."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


_DRIVE_LOOK: dict[DriveState, tuple[Tone, str]] = {
    DriveState.FAILED: (Tone.WARNING, "alert"),
    DriveState.DOES_NOT_FIT: (Tone.WARNING, "alert"),
    DriveState.READ_ONLY: (Tone.WARNING, "alert"),
    DriveState.COPYING: (Tone.BUSY, "arrow"),
    DriveState.RETRYING: (Tone.CAUTION, "clock"),
    DriveState.PAUSED: (Tone.MUTED, "dash"),
    DriveState.WAITING: (Tone.CAUTION, "clock"),
    DriveState.UP_TO_DATE: (Tone.OK, "check"),
    DriveState.ABSENT: (Tone.MUTED, "dash"),
}
_WARNING_STATES = (DriveState.FAILED, DriveState.DOES_NOT_FIT, DriveState.READ_ONLY)


@dataclass(frozen=True)
class BarLook:
    fraction: float
    text: str
    warning: bool
    tooltip: str


def bar_look(d: DriveSummary) -> BarLook:
    """How a drive's bar shows its waiting bytes against its free space."""
    when = "" if d.connected else " (when last plugged in)"
    if d.free_bytes is None:
        waiting = f"{human_bytes(d.waiting_bytes)} waiting; " if d.waiting_files else ""
        return BarLook(0.0, f"{waiting}free space not known yet", False, "Plug the drive in once to see it.")
    free = d.free_bytes
    # the bar says it short; its tooltip says when the free space was measured
    against = f"{human_bytes(d.waiting_bytes)} waiting of {human_bytes(free)} free"
    if d.shortfall_bytes > 0 or d.state is DriveState.DOES_NOT_FIT:
        more = d.shortfall_bytes
        text = f"does not fit: {human_bytes(more)} more needed" if more else "does not fit: free up space"
        # Why "more needed" can exceed waiting minus free: the walk-through asked. The rule is core/space.py's.
        rule = (
            f"Each file takes whole allocation units on the drive, and usbsync keeps "
            f"{human_bytes(space.VOLUME_RESERVE)} free on every drive."
        )
        return BarLook(
            1.0, text, True, f"{against}{when}. {rule} Free up space on {d.name}, or use a bigger drive."
        )
    if not d.waiting_files:
        return BarLook(
            0.0, f"nothing waiting; {human_bytes(free)} free", False, f"{human_bytes(free)} free{when}"
        )
    return BarLook(d.waiting_bytes / free if free > 0 else 1.0, against, False, f"{against}{when}")


class DriveRow:
    """One drive's widgets in the drives grid, three grid rows from ``row``: marker, name and bar; what it
    needs or has (its headline, across); where it is (across)."""

    ROWS = 3

    def __init__(self, grid: QGridLayout, row: int):
        self.marker = Marker()
        self.name = ElidedLabel()
        bold = QFont(self.name.font())
        bold.setBold(True)
        self.name.setFont(bold)
        self.bar = SpaceBar()
        self.headline = ElidedLabel()
        self.where = ElidedLabel(mode=Qt.TextElideMode.ElideMiddle)
        grid.addWidget(self.marker, row, 0, Qt.AlignmentFlag.AlignVCenter)
        grid.addWidget(self.name, row, 1)
        grid.addWidget(self.bar, row, 2)
        grid.addWidget(self.headline, row + 1, 1, 1, 2)
        grid.addWidget(self.where, row + 2, 1, 1, 2)

    def show(self, d: DriveSummary) -> None:
        self.marker.set(*_DRIVE_LOOK[d.state])
        self.name.set_full_text(d.name)
        look = bar_look(d)
        self.bar.set(look.fraction, look.text, look.warning, look.tooltip)
        # the name is right above: the quiet states need not repeat it
        quiet = {DriveState.UP_TO_DATE: "Up to date", DriveState.ABSENT: "Nothing waiting"}
        self.headline.set_full_text(quiet.get(d.state) or _cap(d.headline))
        _set_text_tone(self.headline, Tone.WARNING if d.state in _WARNING_STATES else None)
        self.where.set_full_text(_cap(d.where))
        _set_text_tone(self.where, Tone.MUTED)


class UnroutedRow:
    """Files of a category no drive holds: what waits, and where to add a drive for them. A warning when a
    forgotten drive left them there; otherwise they wait, like files for a drive that is not plugged in."""

    ROWS = 2

    def __init__(self, grid: QGridLayout, row: int):
        self.marker = Marker()
        self.title = ElidedLabel()
        bold = QFont(self.title.font())
        bold.setBold(True)
        self.title.setFont(bold)
        self.hint = ElidedLabel()
        _set_text_tone(self.hint, Tone.MUTED)
        grid.addWidget(self.marker, row, 0, Qt.AlignmentFlag.AlignVCenter)
        grid.addWidget(self.title, row, 1, 1, 2)
        grid.addWidget(self.hint, row + 1, 1, 1, 2)

    def show(self, u: Unrouted) -> None:
        self.marker.set(*((Tone.WARNING, "alert") if u.needs_attention else (Tone.CAUTION, "clock")))
        verb = "waits" if u.files == 1 else "wait"
        self.title.set_full_text(f"No drive holds {u.category}: {plural(u.files, 'file')} {verb}")
        _set_text_tone(self.title, Tone.WARNING if u.needs_attention else None)
        self.hint.set_full_text(
            f"Add a drive for {u.category} in Drives… (in the tray menu) to copy "
            + (f"these {human_bytes(u.bytes)}." if u.files > 1 else f"it ({human_bytes(u.bytes)}).")
        )
        _set_text_tone(self.hint, Tone.MUTED)


def headline(s: StateSummary) -> tuple[str, list[str]]:
    """The window's headline in plain words, and the lines under it."""
    waiting = plural(s.waiting_files, "file")
    if s.state is Overall.ATTENTION:
        lines = [f"• {_cap(line)}" for line in s.attention[:ATTENTION_LINES]]
        if len(s.attention) > ATTENTION_LINES:
            lines.append(f"  and {len(s.attention) - ATTENTION_LINES} more: see below")
        return "Needs your attention", lines
    if s.state is Overall.PAUSED:
        return (
            f"Paused: {waiting} waiting" if s.waiting_files else "Paused",
            ["Nothing is copied until you choose Resume syncing in the tray menu."],
        )
    if s.state is Overall.SYNCING:
        copying = [d for d in s.drives if d.state is DriveState.COPYING]
        if copying:
            n = sum(d.waiting_files for d in copying)
            return f"Copying {plural(n, 'file')} to {_names([d.name for d in copying])}", []
        retrying = [d for d in s.drives if d.state is DriveState.RETRYING]
        return f"Trying again soon: {waiting} for {_names([d.name for d in retrying])}", [
            _cap(d.headline) for d in retrying
        ]
    if s.state is Overall.WAITING:
        drives = s.waiting_for_drives
        unrouted = [_cap(u.headline) for u in s.unrouted]
        if not drives:  # only files no drive holds: they wait for one to be added
            return unrouted[0], unrouted[1:ATTENTION_LINES]
        n = sum(d.waiting_files for d in drives)
        return f"Plug in {_names([d.name for d in drives])}: {plural(n, 'file')} waiting", unrouted[
            :ATTENTION_LINES
        ]
    if not s.drives:
        return "No drives yet", ["Add a USB drive from Drives… in the tray menu."]
    return "Everything is copied", []


def figures(s: StateSummary) -> str:
    """The totals in one line."""
    parts = [
        f"{plural(s.waiting_files, 'file')} ({human_bytes(s.waiting_bytes)}) waiting"
        if s.waiting_files
        else "nothing waiting"
    ]
    if s.failed_files:
        parts.append(f"{plural(s.failed_files, 'file')} could not be copied")
    if s.done_files:
        parts.append(f"{plural(s.done_files, 'file')} copied and checked")
    if s.unclassified:  # recorded, not copied: no category matched, so no drive can hold them
        parts.append(f"{plural(s.unclassified, 'file')} without a category (not copied)")
    return "; ".join(parts)


# -- what is read off the GUI thread -------------------------------------------------------------------------


def _tail_csv(path: Path, n: int) -> list[list[str]]:
    """The last ``n`` rows of the audit CSV (reads at most the last 64 KiB)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 65536))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return []
    lines = text.splitlines()[1:]  # drop the header, or a partial first line
    rows = list(csv.reader(lines))
    return [r for r in rows if len(r) >= 10 and r[0] != "timestamp"][-n:]


def _when(stamp: str, now: float) -> str:
    """The audit's UTC timestamp as local time: ``'14:02'`` today, ``'21 Nov 14:02'`` before."""
    try:
        t = datetime.fromisoformat(stamp).astimezone()
    except ValueError:
        return ""
    today = datetime.fromtimestamp(now).astimezone().date()
    return t.strftime("%H:%M") if t.date() == today else t.strftime("%d %b %H:%M")


def describe(row: list[str]) -> str:
    """One audit row in plain words (without its time)."""
    _ts, op, source, _dest, drive, _size, _b3, _ms, status, error = row[:10]
    name = source.rsplit("/", 1)[-1].rsplit("\\", 1)[-1] or "a file"
    drives = _names(drive.split(",")) if drive else ""
    to = f" to {drives}" if drives else ""
    why = f": {error}" if error else ""
    if op in ("copy", "replace") and status == "ok":
        return f"Copied the new version of {name}{to}" if op == "replace" else f"Copied {name}{to}"
    if op == "adopt":
        return f"{name} was already on {drives or 'the drive'}"
    if op == "duplicate":
        return f"{name}: the same content is already on {drives or 'the drive'}"
    if op == "queued":
        return f"New file {name}" + (f", to copy to {drives}" if drives else "")
    if op == "refused" or op.startswith("manifest-"):
        return f"{name} is not copied{why}"
    if status == "deferred":
        return f"{name} waits{(' for ' + drives) if drives else ''}{why}"
    if status == "pending":
        return f"{name} will be tried again{why}"
    if status == "failed":
        return f"{name} could not be copied{to}{why}"
    if status == "skipped":
        return f"{name} was not copied{why}"
    return f"{name}{why}"


@dataclass(frozen=True)
class Details:
    """What the window reads itself, off the GUI thread."""

    activity: tuple[tuple[str, str], ...]  # (line, tooltip), newest first
    failed: tuple[Job, ...]


def read_details(state_db: Path, audit_csv: Path, read_failed: bool) -> Details:
    """On a pool thread: the audit log's tail, and (``read_failed``) the first files that could not be copied,
    in a database connection of its own."""
    now = time.time()
    activity = tuple(
        (f"{_when(r[0], now)}  {describe(r)}", r[2]) for r in reversed(_tail_csv(audit_csv, RECENT))
    )
    failed: tuple[Job, ...] = ()
    if read_failed:
        with StateDB(state_db) as db:
            failed = tuple(db.list_jobs(["failed"], limit=PROBLEMS))
    return Details(activity, failed)


def _duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 1:
        return "less than a minute"
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days} d {hours} h"
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


# -- the window -------------------------------------------------------------------------------------------------


class StatusWindow(QWidget):
    """The status window.

    Args:
        ctx: the shared view context: the summary feed (``ctx.summary``), the task runner (``ctx.tasks``), the
            paths, and the engine (whose copy progress and heartbeat it shows) when there is one.
        parent: the usual widget parent (None: a top-level window).
    """

    def __init__(self, ctx: ViewContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.setWindowTitle("usbsync: status")
        self.setWindowIcon(app_icon())
        self.setMinimumWidth(MIN_WIDTH)
        self.resize(fit_to_screen(self, DEFAULT_SIZE))
        self.latest: StateSummary | None = None
        self.details: Details | None = None
        self._samples: deque[tuple[float, int]] = deque(maxlen=64)
        self._copied_total = 0
        self._last_done: dict[str, int] = {}
        self._shown: dict[str, object] = {}  # what _show_copy last put on screen
        self._last_progress = 0.0  # monotonic
        self._last_progress_at = 0.0  # unix time, as a summary's ``at``
        self._progress_drive = ""  # the drive whose copy "Now copying" shows
        self._gone: set[str] = set()  # drives unplugged or ejected, and not plugged in again since
        self._reading = False
        self._read_again = False
        # ("drive", id) or ("unrouted", category) -> its widgets
        self.rows: dict[tuple[str, str], DriveRow | UnroutedRow] = {}
        self._row_keys: tuple[tuple[str, str], ...] | None = None

        layout = QVBoxLayout(self)

        top = QHBoxLayout()
        self.icon = QLabel()
        self.icon.setFixedSize(40, 40)
        self.icon.setAlignment(Qt.AlignmentFlag.AlignCenter)
        top.addWidget(self.icon, 0, Qt.AlignmentFlag.AlignTop)
        heads = QVBoxLayout()
        heads.setSpacing(2)
        self.headline = ElidedLabel("Reading the state…")
        big = QFont(self.headline.font())
        big.setBold(True)
        big.setPointSizeF(big.pointSizeF() * 1.3)
        self.headline.setFont(big)
        self.lines = ElidedLabel()
        self.figures = ElidedLabel()
        _set_text_tone(self.figures, Tone.MUTED)
        heads.addWidget(self.headline)
        heads.addWidget(self.lines)
        heads.addWidget(self.figures)
        top.addLayout(heads, 1)
        layout.addLayout(top)

        now = QGroupBox("Now copying")
        grid = QGridLayout(now)
        self.current = ElidedLabel("Nothing is being copied right now", Qt.TextElideMode.ElideMiddle)
        self.current.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.progress = QProgressBar()
        self.progress.setMaximum(SCALE)
        self.progress.setValue(0)
        self.progress.setTextVisible(False)
        self.progress.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        policy = self.progress.sizePolicy()
        policy.setRetainSizeWhenHidden(True)  # hidden while idle, its place kept: nothing below moves
        self.progress.setSizePolicy(policy)
        self.progress.hide()
        self.throughput = QLabel("")
        self.throughput.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.throughput.setMinimumWidth(self.fontMetrics().horizontalAdvance("999.9 MB/s  "))
        grid.addWidget(self.current, 0, 0, 1, 2)
        grid.addWidget(self.progress, 1, 0)
        grid.addWidget(self.throughput, 1, 1)
        grid.setColumnStretch(0, 1)
        layout.addWidget(now)

        self.drives_box = QGroupBox("Drives")
        box = QVBoxLayout(self.drives_box)
        self.drives_scroll = _FitScroll(DRIVES_MAX_HEIGHT)
        box.addWidget(self.drives_scroll)
        self.no_drives = QLabel("No drives yet: open Drives… from the tray menu to add one.")
        self.no_drives.setWordWrap(True)
        box.addWidget(self.no_drives)
        self.no_drives.hide()
        self.drives_layout = self._new_grid()
        self.drives_scroll.setWidget(self._grid_widget)
        layout.addWidget(self.drives_box)

        recent = QGroupBox("Recent activity")
        rl = QVBoxLayout(recent)
        self.recent = self._list()
        rl.addWidget(self.recent)
        layout.addWidget(recent, 2)

        self.problems_box = QGroupBox("Problems")  # shown only when there are some
        el = QVBoxLayout(self.problems_box)
        self.errors = self._list(Qt.TextElideMode.ElideRight)  # sentences: their reason is at the end
        el.addWidget(self.errors)
        layout.addWidget(self.problems_box, 1)
        self.problems_box.hide()

        self.heartbeat = ElidedLabel("")
        _set_text_tone(self.heartbeat, Tone.MUTED)
        layout.addWidget(self.heartbeat)

        self._speed_timer = QTimer(self)
        self._speed_timer.setInterval(SPEED_TICK_MS)
        self._speed_timer.timeout.connect(self._tick)

        ctx.summary.changed.connect(self.on_summary)
        if ctx.engine is not None:
            ctx.engine.copy_progress.connect(self.on_progress)
            ctx.engine.heartbeat.connect(self.on_heartbeat)
            ctx.engine.drive_connected.connect(self.on_drive_connected)
            ctx.engine.drive_disconnected.connect(self.on_drive_gone)
            ctx.engine.drive_ejected.connect(self.on_drive_gone)
        if ctx.summary.latest is not None:
            self.on_summary(ctx.summary.latest)

    @staticmethod
    def _list(elide: Qt.TextElideMode = Qt.TextElideMode.ElideMiddle) -> QListWidget:
        w = QListWidget()
        w.setMinimumHeight(w.fontMetrics().lineSpacing() * LIST_MIN_LINES + 2 * w.frameWidth() + 4)
        w.setTextElideMode(elide)
        w.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        w.setUniformItemSizes(True)
        w.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Expanding)
        w.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        return w

    def _new_grid(self) -> QGridLayout:
        """A fresh grid for the drives box, on a widget of its own (see :meth:`_show_drives`)."""
        self._grid_widget = QWidget()  # held here until the scroll area takes it
        grid = QGridLayout(self._grid_widget)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(2)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(2, 1)
        return grid

    def set_app_menu(self, menu: QMenu) -> None:
        """Put ``menu`` (the tray icon's) in a menu bar titled "usbsync" at the top of this window: on a desktop
        with no system tray this window is all there is of the app, and Drives…, Settings… and Quit must be
        somewhere. Once; a second call replaces the first."""
        menu.setTitle("&usbsync")
        bar = QMenuBar(self)
        bar.addMenu(menu)
        layout = self.layout()
        assert layout is not None
        layout.setMenuBar(bar)

    # -- the summary ------------------------------------------------------------------------------------------

    @Slot(object)
    def on_summary(self, s: StateSummary) -> None:
        """Show ``s`` (from the summary feed); re-read the activity and problems if the window is shown."""
        self.latest = s
        self._show_headline(s)
        self._show_drives(s)
        self._show_problems()
        if s.copying_files == 0 and (
            s.at >= self._last_progress_at  # read after the last progress: the copy is over
            or time.monotonic() - self._last_progress > IDLE_AFTER_S  # read before it, but nothing since
        ):
            self._copy_over()
        if self.isVisible():
            self._read_details()

    def _show_headline(self, s: StateSummary) -> None:
        head, lines = headline(s)
        self.icon.setPixmap(state_icon(s.state.value).pixmap(QSize(32, 32), self.devicePixelRatioF()))
        self.headline.set_full_text(head)
        _set_text_tone(self.headline, Tone.WARNING if s.state is Overall.ATTENTION else None)
        self.lines.set_full_text("\n".join(lines))
        self.lines.setVisible(bool(lines))
        self.figures.set_full_text(_cap(figures(s)))

    def _show_drives(self, s: StateSummary) -> None:
        keys = tuple(("drive", d.id) for d in s.drives) + tuple(("unrouted", u.category) for u in s.unrouted)
        rebuilt = keys != self._row_keys
        if rebuilt:  # drives added or removed: lay the grid out again; else update in place
            self._row_keys = keys
            self.drives_layout = self._new_grid()
            self.rows = {}
            at = 0
            for key in keys:
                row = DriveRow if key[0] == "drive" else UnroutedRow
                self.rows[key] = row(self.drives_layout, at)
                at += row.ROWS
                self.drives_layout.setRowMinimumHeight(at, 6)  # a gap between drives
                at += 1
            # In place of the old grid only now that it is filled: shown with all its rows at once (rows added
            # to a shown widget would be shown, and laid out, by later events).
            old = self.drives_scroll.takeWidget()
            self.drives_scroll.setWidget(self._grid_widget)
            if old is not None:
                old.deleteLater()
        for d in s.drives:
            self.drive_row(d.id).show(d)
        for u in s.unrouted:
            self.unrouted_row(u.category).show(u)
        self.no_drives.setVisible(not keys)
        self.drives_scroll.setVisible(bool(keys))
        self.drives_scroll.fit()  # a line shown or hidden in a row changes the content's height
        if rebuilt:  # lay the new rows out now, not some events later (no squashed frame in between)
            self._relayout()

    def _relayout(self) -> None:
        """Lay the drives box and the window out again at once, inside out (each level only learns of its
        children's new size from a posted event otherwise)."""
        self.drives_layout.activate()
        self.drives_scroll.updateGeometry()
        for layout in (self.drives_box.layout(), self.layout()):
            if layout is not None:
                layout.invalidate()
                layout.activate()
        self.drives_box.updateGeometry()
        top = self.layout()
        if top is not None:
            top.activate()

    def drive_row(self, drive_id: str) -> DriveRow:
        row = self.rows[("drive", drive_id)]
        assert isinstance(row, DriveRow)
        return row

    def unrouted_row(self, category: str) -> UnroutedRow:
        row = self.rows[("unrouted", category)]
        assert isinstance(row, UnroutedRow)
        return row

    # -- the activity and the problems, read off the GUI thread -------------------------------------------------

    @Slot()
    def refresh(self) -> None:
        """Ask for a fresh summary (shown when it arrives) and re-read the activity."""
        self.ctx.summary.invalidate()
        self._read_details()

    def _read_details(self) -> None:
        if self._reading:
            self._read_again = True
            return
        self._reading, self._read_again = True, False
        paths = self.ctx.paths
        state_db, audit = paths.state_db, paths.log_dir / AUDIT_FILE
        read_failed = bool(self.latest and self.latest.failed_files)
        self.ctx.tasks.run(
            lambda: read_details(state_db, audit, read_failed), self._details_read, name="status details"
        )

    def _details_read(self, result: TaskResult[Details]) -> None:
        if not shiboken6.isValid(self):
            return
        self._reading = False
        if result.error is not None:
            log.debug("cannot read the recent activity: %s", result.error)
        elif result.value is not None:
            self.details = result.value
            self.recent.clear()
            for line, tip in self.details.activity:
                item = QListWidgetItem(line)
                item.setToolTip(tip)
                self.recent.addItem(item)
            if not self.details.activity:
                self.recent.addItem("Nothing yet")
            self._show_problems()
        if self._read_again and self.isVisible():
            self._read_details()

    def _show_problems(self) -> None:
        """The files that could not be copied, by name and why (the attention lines are in the headline), and
        the notices that need no action but are worth knowing while they hold."""
        s = self.latest
        lines: list[tuple[str, str]] = []
        if s is not None:
            lines += [(_cap(n.message), "") for n in s.notices if n.kind not in ATTENTION_NOTICES]
            failed = self.details.failed if self.details and s.failed_files else ()
            names = {d.id: d.name for d in s.drives}
            for j in failed:
                name = j.path.rsplit("/", 1)[-1]
                to = names.get(j.drive_id, "its drive")
                lines.append(
                    (f"{name} could not be copied to {to}: {j.last_error or 'no reason given'}", j.path)
                )
            if s.failed_files > len(failed):
                more = plural(s.failed_files - len(failed), "more file" if failed else "file")
                lines.append((f"{more} could not be copied: see Pending queue… in the tray menu", ""))
        self.errors.clear()
        for line, tip in lines:
            item = QListWidgetItem(line)
            item.setToolTip(
                f"{line}\n{tip}" if tip else line
            )  # the whole sentence, however narrow the window
            self.errors.addItem(item)
        self.problems_box.setVisible(bool(lines))

    # -- live copy progress, from the engine --------------------------------------------------------------------

    @Slot(str, str, int, int)
    def on_progress(self, drive_id: str, path: str, done: int, total: int) -> None:
        """A file being copied: ``done`` of ``total`` bytes of ``path`` to the drive ``drive_id``."""
        if drive_id in self._gone:
            return  # sent by its copy before it was stopped, delivered after the drive went: it is over
        d = self.latest.drive(drive_id) if self.latest else None
        name = d.name if d else self.ctx.drive_names().get(drive_id, drive_id)
        prev = self._last_done.get(path, 0)
        self._copied_total += max(0, done - prev)
        self._last_done = {path: done} if done < total else {}
        now = time.monotonic()
        self._last_progress = now
        self._last_progress_at = time.time()
        self._progress_drive = drive_id
        self._samples.append((now, self._copied_total))
        file_name = path.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
        if total > 0 and done >= total:  # written; flushed and read back from the drive before it counts
            fmt = f"verifying on the drive  ({human_bytes(total)})"
        else:
            fmt = f"%p%  ({human_bytes(done)} of {human_bytes(total)})"
        self._show_copy(
            f"{file_name}  →  {name}",
            f"{path}\nto {name}",
            int(SCALE * done / total) if total > 0 else SCALE,
            fmt,
        )
        self._show_speed()
        if self.isVisible() and not self._speed_timer.isActive():
            self._speed_timer.start()

    def _show_copy(self, text: str, tip: str, value: int, fmt: str) -> None:
        """Put a copy's progress on screen, touching only what changed since the last call.

        Why so careful: progress comes ten times a second, and ``QProgressBar.setValue`` repaints at once,
        synchronously, inside this slot, whenever the percentage moves (Qt's
        ``QProgressBarPrivate::repaintRequired``): sampled at a drive's re-plug, those repaints were most of
        the GUI thread's stack. With the bar's updates held, the change is an ordinary ``update()`` instead,
        painted with everything else in the next paint pass. (PySide keeps the GIL across these calls, so
        skipping unchanged ones saves their own time, not GIL waits.)"""
        shown = self._shown
        if shown.get("file") != (text, tip):
            self.current.set_full_text(text)
            self.current.setToolTip(tip)
        if not shown.get("visible"):
            self.progress.setTextVisible(True)
            self.progress.show()
        if shown.get("format") != fmt:
            self.progress.setFormat(fmt)
        if shown.get("value") != value:
            self.progress.setUpdatesEnabled(False)
            self.progress.setValue(value)
            self.progress.setUpdatesEnabled(True)  # schedules one update()
        self._shown.update(file=(text, tip), visible=True, format=fmt, value=value)

    def speed(self) -> float:
        """Bytes a second over the last few seconds of progress (0 when nothing moved)."""
        now = time.monotonic()
        recent = [(t, b) for t, b in self._samples if now - t <= SPEED_WINDOW_S]
        if len(recent) < 2 or recent[-1][0] == recent[0][0]:
            return 0.0
        return (recent[-1][1] - recent[0][1]) / (recent[-1][0] - recent[0][0])

    def _show_speed(self) -> None:
        speed = self.speed()
        text = f"{human_bytes(speed)}/s" if speed else ""
        if self._shown.get("speed") != text:  # see _show_copy
            self.throughput.setText(text)
            self._shown["speed"] = text

    @Slot()
    def _tick(self) -> None:
        self._show_speed()
        quiet = time.monotonic() - self._last_progress > IDLE_AFTER_S
        if quiet and (self.latest is None or self.latest.copying_files == 0):
            self._copy_over()

    @Slot(str, str, str)
    def on_drive_connected(self, drive_id: str, name: str = "", mountpoint: str = "") -> None:
        self._gone.discard(drive_id)  # its new copies are shown again

    @Slot(str)
    def on_drive_gone(self, drive_id: str) -> None:
        """The engine says ``drive_id`` was unplugged or ejected: its copy stopped (and rolled back)."""
        self._gone.add(drive_id)
        if drive_id == self._progress_drive:
            self._copy_over()

    def _copy_over(self) -> None:
        """Nothing is being copied: clear the progress and stop the speed clock."""
        self._progress_drive = ""
        self._shown = {}
        self._speed_timer.stop()
        self._samples.clear()
        self.current.set_full_text("Nothing is being copied right now")
        self.current.setToolTip("")
        self.progress.setValue(0)
        self.progress.setTextVisible(False)
        self.progress.hide()
        self.throughput.setText("")

    @Slot(dict)
    def on_heartbeat(self, data: dict[str, object]) -> None:
        """The engine's periodic sign of life: how long it has run, what it copied since."""
        up = data.get("uptime_s")
        copied = data.get("bytes_copied")
        text = f"usbsync has been running for {_duration(float(up))}" if isinstance(up, int | float) else ""
        if isinstance(copied, int) and copied:
            text += f"; {human_bytes(copied)} copied since it started"
        self.heartbeat.set_full_text(text)

    # -- shown and hidden ---------------------------------------------------------------------------------------

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.ctx.summary.invalidate()
        self._read_details()
        if time.monotonic() - self._last_progress <= IDLE_AFTER_S:
            self._speed_timer.start()

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        self._speed_timer.stop()  # nobody sees the speed

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:  # light <-> dark: the tones follow
            for label in self.findChildren(QLabel):
                tone = label.property("tone")
                if tone:
                    _set_text_tone(label, Tone(tone))
