"""The tray icon: its state at a glance, its menu, and the notifications. Refreshes from the state database
once a second and listens to the engine's signals."""

from __future__ import annotations

import functools
import logging
import sqlite3
import time
from typing import Any

from PySide6.QtCore import QObject, QTimer, QUrl, Signal, Slot
from PySide6.QtGui import QAction, QDesktopServices
from PySide6.QtWidgets import QApplication, QDialog, QMenu, QMessageBox, QSystemTrayIcon, QWidget

from usbsync_gui.core.copier import DrainResult
from usbsync_gui.core.state import is_damage
from usbsync_gui.views.context import ViewContext
from usbsync_gui.views.drives_dialog import DrivesDialog
from usbsync_gui.views.notifications import NotificationCenter, Sender, freedesktop_sender
from usbsync_gui.views.queue_window import QueueWindow
from usbsync_gui.views.resources import state_icon
from usbsync_gui.views.settings_dialog import SettingsDialog
from usbsync_gui.views.status_window import StatusWindow
from usbsync_gui.views.tray_state import EngineStatus, TrayLook, tray_look

# Notices that keep the icon at "attention" while raised; others (a rebuilt database) are announced once.
ATTENTION_NOTICES = ("keyring_locked", "watching_incomplete")
NOTICE_GRACE_S = 300.0

log = logging.getLogger(__name__)


class TrayController(QObject):
    """Owns the tray icon and the windows. ``app`` is passed in (for quit); the engine through ``ctx``."""

    look_changed = Signal(str, str)  # state, tooltip

    def __init__(self, ctx: ViewContext, app: QApplication, sender: Sender | None = None):
        super().__init__()
        self.ctx = ctx
        self.app = app
        self.status = StatusWindow(ctx)
        self.queue: QueueWindow | None = None
        self.tray = QSystemTrayIcon(state_icon("idle"))
        self.menu = self._build_menu()
        self.tray.setContextMenu(self.menu)
        self.tray.activated.connect(self._on_activated)
        self.look = TrayLook("idle", "usbsync")
        self._status = EngineStatus()
        self._prev_waiting: dict[str, int] = {}
        self._prev_failed = 0
        # Notices raised before this start (older than a few minutes) were announced by an earlier run.
        self._notices_seen_until = time.time() - NOTICE_GRACE_S
        self._last_progress = 0.0
        freedesktop = sender or freedesktop_sender()
        self._send = self._send_via(freedesktop)
        self.notifications = NotificationCenter(self._send, ctx.config.notifications)
        engine = ctx.engine
        if engine is not None:
            engine.copy_progress.connect(self._on_progress)
            engine.queue_drained.connect(self._on_drained_all)
            engine.drive_drained.connect(self._on_drain)
            engine.paused_changed.connect(self._on_paused)
            engine.drive_ejected.connect(self._on_ejected)
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.refresh)
        self._timer.start(1000)

    # -- set-up -----------------------------------------------------------------------------------------------

    def _build_menu(self) -> QMenu:
        m = QMenu()
        m.addAction("Status…", self.show_status)
        m.addAction("Pending queue…", self.show_queue)
        m.addAction("Drives…", self.show_drives)
        self.eject_menu = m.addMenu("Eject")
        self.eject_menu.aboutToShow.connect(self._fill_eject_menu)
        m.addSeparator()
        self.act_pause = QAction("Pause syncing", m)
        self.act_pause.triggered.connect(self.toggle_pause)
        m.addAction(self.act_pause)
        m.addAction("Sync now", self.sync_now)
        m.addAction("Open log folder", self.open_logs)
        m.addAction("Settings…", self.show_settings)
        m.addSeparator()
        m.addAction("Quit usbsync", self.app.quit)
        return m

    def show(self) -> None:
        """Show the tray icon, or, where the desktop has no tray, say so once and open the status window."""
        if QSystemTrayIcon.isSystemTrayAvailable():
            self.tray.show()
        else:
            log.warning("no system tray on this desktop: showing the status window instead")
            self.show_status()
            # Not modal: a nested event loop here would swallow a quit request (SIGTERM) before exec().
            box = QMessageBox(
                QMessageBox.Icon.Information,
                "usbsync",
                "This desktop has no system tray (on GNOME, the AppIndicator extension adds one). usbsync keeps "
                "running; this window shows what it does, and closing it keeps usbsync running in the background.",
                QMessageBox.StandardButton.Ok,
                self.status,
            )
            box.setModal(False)
            box.open()
            self._no_tray_box = box
        self.refresh()

    def _send_via(self, freedesktop: Sender | None) -> Sender:
        def send(title: str, body: str) -> bool:
            if freedesktop is not None and freedesktop(title, body):
                return True
            if self.tray.isVisible():
                self.tray.showMessage(title, body, state_icon(self.look.state), 8000)
                return True
            log.info("notification: %s: %s", title, body)
            return True

        return send

    # -- refresh ----------------------------------------------------------------------------------------------

    @Slot()
    def refresh(self) -> None:
        try:
            self._refresh()
        except sqlite3.DatabaseError as exc:
            if not is_damage(exc):
                raise
            if self.ctx.engine is not None:  # the engine sets it aside and rebuilds it; we read the new one
                self.ctx.engine.report_damage(str(exc))

    def _refresh(self) -> None:
        config = self.ctx.reload_config()
        self.notifications.enabled.update(config.notifications)
        db = self.ctx.db
        counts = db.counts()
        names = self.ctx.drive_names()
        per = db.per_drive()
        engine = self.ctx.engine
        connected = {cv.drive.name for cv in engine.monitor.connected() if cv.drive} if engine else set()
        s = self._status
        s.pending = counts["pending"] + counts["copying"]
        s.failed = counts["failed"]
        s.waiting_by_drive = {names.get(d, d): v.get("pending", 0) for d, v in per.items() if d in names}
        s.connected = connected
        s.missing_sources = [str(p) for p in config.sources if not p.is_dir()]
        s.paused = bool(engine and engine.paused)
        notices = db.notices()
        s.notices = [n.message for n in notices if n.kind in ATTENTION_NOTICES]
        for n in notices:  # each raised condition is announced once (a rebuilt database only this way)
            if n.since > self._notices_seen_until:
                self.notifications.event("problems", n.kind, n.message)  # grouped per notice kind
        self._notices_seen_until = max([self._notices_seen_until, *(n.since for n in notices)])
        # Between two files of a batch no job may be "copying" for an instant: progress within the last
        # 2 s still means syncing, so the icon does not flicker to idle.
        if not counts["copying"] and time.monotonic() - self._last_progress > 2.0:
            s.copying_file = ""
        self._notify_changes(s)
        look = tray_look(s)
        if look != self.look:
            self.look = look
            self.tray.setIcon(state_icon(look.state))
            self.tray.setToolTip(look.tooltip)
            self.look_changed.emit(look.state, look.tooltip)
        self.notifications.flush()

    def _notify_changes(self, s: EngineStatus) -> None:
        for drive, n in s.waiting_by_drive.items():
            before = self._prev_waiting.get(drive, 0)
            if n > before and drive not in s.connected:
                self.notifications.event("drive_wanted", drive, count=n - before)
        self._prev_waiting = dict(s.waiting_by_drive)
        if s.failed > self._prev_failed:
            self.notifications.event("failures", count=s.failed - self._prev_failed)
        self._prev_failed = s.failed
        for src in s.missing_sources:
            self.notifications.event("source_missing", src, f"{src} does not exist")

    @Slot(str, str, int, int)
    def _on_progress(self, drive_id: str, path: str, done: int, total: int) -> None:
        self._status.copying_file = path.rsplit("/", 1)[-1]
        self._status.copy_done, self._status.copy_total = done, total
        self._last_progress = time.monotonic()

    @Slot(str)
    def _on_drained_all(self, drive_id: str) -> None:
        name = self.ctx.drive_names().get(drive_id, drive_id)
        synced = self.ctx.db.per_drive().get(drive_id, {}).get("done", 0)
        self.notifications.event("safe_to_unplug", name, count=max(1, synced))

    @Slot(str, object)
    def _on_drain(self, drive_id: str, result: DrainResult) -> None:
        name = self.ctx.drive_names().get(drive_id, drive_id)
        full = sum(n for r, n in result.reasons.items() if r.startswith("not enough space"))
        if full:
            self.notifications.event("drive_full", name, count=full)

    @Slot()
    def _fill_eject_menu(self) -> None:
        self.eject_menu.clear()
        engine = self.ctx.engine
        drives = [cv.drive.name for cv in engine.monitor.connected() if cv.drive] if engine else []
        if not drives:
            self.eject_menu.addAction("No drive plugged in").setEnabled(False)
        for name in sorted(drives):
            self.eject_menu.addAction(name, functools.partial(self.eject, name))

    def eject(self, name: str) -> None:
        """Eject a drive through the engine; the result is a notification (or an error message)."""
        if self.ctx.engine is None:
            return
        ok, msg = self.ctx.engine.eject_drive(name)
        if not ok:
            QMessageBox.warning(None, "usbsync", msg)

    @Slot(str)
    def _on_ejected(self, drive_id: str) -> None:
        name = self.ctx.drive_names().get(drive_id, drive_id)
        self._send(f"{name} ejected", f"{name} is safe to unplug.")

    @Slot(bool)
    def _on_paused(self, paused: bool) -> None:
        self.act_pause.setText("Resume syncing" if paused else "Pause syncing")
        self.refresh()

    # -- actions ----------------------------------------------------------------------------------------------

    def _front(self, w: QWidget) -> None:
        w.show()
        w.raise_()
        w.activateWindow()

    @Slot()
    def show_status(self) -> None:
        self._front(self.status)

    @Slot()
    def show_queue(self) -> None:
        if self.queue is None:
            self.queue = QueueWindow(self.ctx)
        self._front(self.queue)

    @Slot()
    def show_drives(self) -> QDialog:
        dlg = DrivesDialog(self.ctx)
        dlg.setModal(False)
        self._front(dlg)
        self._drives = dlg  # keep it alive while open
        return dlg

    @Slot()
    def show_settings(self) -> QDialog:
        dlg = SettingsDialog(self.ctx.config, self.ctx.paths.config_file)
        self._front(dlg)
        self._settings = dlg
        return dlg

    @Slot()
    def toggle_pause(self) -> None:
        if self.ctx.engine is not None:
            self.ctx.engine.set_paused(not self.ctx.engine.paused)

    @Slot()
    def sync_now(self) -> None:
        if self.ctx.engine is not None:
            self.ctx.engine.sync_now()

    @Slot()
    def open_logs(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.ctx.paths.log_dir)))

    @Slot(QSystemTrayIcon.ActivationReason)
    def _on_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason == QSystemTrayIcon.ActivationReason.Trigger:
            self.show_status()

    def on_command(self, request: dict[str, Any]) -> dict[str, Any] | None:
        """Commands from a second ``usbsync-gui``: bring our window forward."""
        if request.get("cmd") == "show":
            self.show_status()
            return {"ok": True, "message": "usbsync is already running: its window was brought forward"}
        return None

    def close(self) -> None:
        self._timer.stop()
        self.tray.hide()
        for w in (self.status, self.queue):
            if w is not None:
                w.close()
