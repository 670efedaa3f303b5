"""The status window: what is being copied and how fast, each drive's waiting bytes against its free space,
recent operations from the audit log, recent errors, and the heartbeat figures."""

from __future__ import annotations

import csv
import time
from collections import deque

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (
    QFormLayout,
    QGroupBox,
    QLabel,
    QListWidget,
    QProgressBar,
    QVBoxLayout,
    QWidget,
)

from usbsync_gui.core.audit import AUDIT_FILE
from usbsync_gui.core.units import human_bytes, plural
from usbsync_gui.views.context import ViewContext
from usbsync_gui.views.live_widget import LiveWidget
from usbsync_gui.views.resources import app_icon

RECENT = 12
SCALE = 1000  # progress bars count in per-mille: QProgressBar's range is a 32-bit int, byte counts are not


def _scaled(part: int, whole: int) -> int:
    return int(SCALE * part / whole) if whole > 0 else 0


def _tail_csv(path: str, n: int) -> list[list[str]]:
    """The last ``n`` rows of the audit CSV (reads at most the last 64 KiB)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(0, size - 65536))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return []
    lines = text.splitlines()[1:]  # drop the header, or a partial first line
    rows = list(csv.reader(lines))
    return [r for r in rows if len(r) >= 10 and r[0] != "timestamp"][-n:]


class StatusWindow(LiveWidget):  # refreshed every 1000 ms while shown
    def __init__(self, ctx: ViewContext, parent: QWidget | None = None):
        super().__init__(1000, parent)
        self.ctx = ctx
        self.setWindowTitle("usbsync: status")
        self.setWindowIcon(app_icon())
        self.resize(640, 620)
        self._samples: deque[tuple[float, int]] = deque(maxlen=50)
        self._copied_total = 0
        self._last_done: dict[str, int] = {}

        layout = QVBoxLayout(self)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setStyleSheet("font-size: 14px; font-weight: 600;")
        layout.addWidget(self.summary)

        now = QGroupBox("Now copying")
        form = QFormLayout(now)
        self.current = QLabel("nothing")
        self.current.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.progress = QProgressBar()
        self.throughput = QLabel("")
        form.addRow("File:", self.current)
        form.addRow("Progress:", self.progress)
        form.addRow("Speed:", self.throughput)
        layout.addWidget(now)

        self.drives_box = QGroupBox("Drives: waiting against free space")
        self.drives_layout = QFormLayout(self.drives_box)
        layout.addWidget(self.drives_box)

        recent = QGroupBox("Recent operations")
        rl = QVBoxLayout(recent)
        self.recent = QListWidget()
        rl.addWidget(self.recent)
        layout.addWidget(recent, 2)

        errors = QGroupBox("Recent errors")
        el = QVBoxLayout(errors)
        self.errors = QListWidget()
        el.addWidget(self.errors)
        layout.addWidget(errors, 1)

        self.heartbeat = QLabel("")
        self.heartbeat.setStyleSheet("color: palette(mid);")
        layout.addWidget(self.heartbeat)

        if ctx.engine is not None:
            ctx.engine.copy_progress.connect(self.on_progress)
            ctx.engine.heartbeat.connect(self.on_heartbeat)
        self.refresh()

    @Slot(str, str, int, int)
    def on_progress(self, drive_id: str, path: str, done: int, total: int) -> None:
        name = self.ctx.drive_names().get(drive_id, drive_id)
        prev = self._last_done.get(path, 0)
        self._copied_total += max(0, done - prev)
        self._last_done = {path: done} if done < total else {}
        self._samples.append((time.monotonic(), self._copied_total))
        self.current.setText(f"{path}  ->  {name}")
        self.progress.setMaximum(SCALE)
        self.progress.setValue(_scaled(done, total))
        self.progress.setFormat(f"%p%  ({human_bytes(done)} of {human_bytes(total)})")

    @Slot(dict)
    def on_heartbeat(self, data: dict[str, object]) -> None:
        self.heartbeat.setText(
            f"Heartbeat: {data['pending']} waiting, {data['failed']} failed, {data['synced']} synced, "
            f"{data['files_seen']} files seen; up {data['uptime_s']} s"
        )

    def _speed(self) -> float:
        now = time.monotonic()
        recent = [(t, b) for t, b in self._samples if now - t <= 3]
        if len(recent) < 2 or recent[-1][0] == recent[0][0]:
            return 0.0
        return (recent[-1][1] - recent[0][1]) / (recent[-1][0] - recent[0][0])

    @Slot()
    def refresh(self) -> None:
        config = self.ctx.reload_config()
        db = self.ctx.db
        counts = db.counts()
        per = db.per_drive()
        self.summary.setText(
            f"{plural(counts['pending'] + counts['copying'], 'file')} waiting, {counts['failed']} failed, "
            f"{counts['done']} copied and verified"
        )
        speed = self._speed()
        self.throughput.setText(f"{human_bytes(speed)}/s" if speed else "idle")
        if not speed and not counts["copying"]:
            self.current.setText("nothing")
            self.progress.setValue(0)
            self.progress.setFormat("")
        while self.drives_layout.rowCount():
            self.drives_layout.removeRow(0)
        connected = (
            {cv.drive.id for cv in self.ctx.engine.monitor.connected() if cv.drive}
            if self.ctx.engine
            else set()
        )
        for d in config.drives:
            info = db.drive_info(d.id) or {}
            waiting = per.get(d.id, {}).get("pending_bytes", 0)
            free = int(info.get("free_bytes") or 0)  # type: ignore[call-overload]
            bar = QProgressBar()
            bar.setMaximum(SCALE)
            bar.setValue(_scaled(min(waiting, free), free))
            where = "plugged in" if d.id in connected else "not plugged in"
            seen = "" if d.id in connected else " when last seen"
            bar.setFormat(f"{human_bytes(waiting)} waiting of {human_bytes(free)} free{seen}")
            bar.setTextVisible(True)
            self.drives_layout.addRow(f"{d.name} ({where}):", bar)
        if not config.drives:
            self.drives_layout.addRow(QLabel("No drives yet: open Drives… from the tray menu to add one."))
        self.recent.clear()
        for r in reversed(_tail_csv(str(self.ctx.paths.log_dir / AUDIT_FILE), RECENT)):
            when = r[0][11:19]
            name = r[2].rsplit("/", 1)[-1] if r[2] else ""
            self.recent.addItem(
                f"{when}  {r[1]:<9} {name}  {('-> ' + r[4]) if r[4] else ''}  {r[8]} {r[9]}".rstrip()
            )
        self.errors.clear()
        for j in db.list_jobs(["failed"], limit=5):
            self.errors.addItem(f"{j.path}: {j.last_error}")
        for s in config.sources:
            if not s.is_dir():
                self.errors.addItem(f"source folder missing: {s}")
        if not self.errors.count():
            self.errors.addItem("none")
