"""The tray icon: its state at a glance, its menu, and the notifications. Everything it shows comes from the one
state summary (:mod:`usbsync_gui.core.summary`), pushed by the engine's :class:`SummaryFeed` when something
changed; it keeps no clock of its own."""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import shiboken6
from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QApplication, QDialog, QMenu, QMessageBox, QSystemTrayIcon, QWidget

from usbsync_gui.core.summary import DriveState, StateSummary
from usbsync_gui.core.volumes import ConnectedVolume
from usbsync_gui.core.wait_reasons import WaitKind
from usbsync_gui.views.context import ViewContext
from usbsync_gui.views.notifications import DesktopNotifier, NotificationCenter, Sender
from usbsync_gui.views.open_folder import open_folder
from usbsync_gui.views.resources import state_icon
from usbsync_gui.views.status_window import StatusWindow
from usbsync_gui.views.tray_state import CopyProgress, TrayLook, tray_look

if TYPE_CHECKING:
    # Imported where first opened: a tray app that sits in the tray all day does not hold the code (nor, for
    # Verify, BLAKE3 and the manifest reader) of windows it never shows.
    from usbsync_gui.views.queue_window import QueueWindow
    from usbsync_gui.views.verify_window import VerifyWindow

NOTICE_GRACE_S = 300.0

log = logging.getLogger(__name__)


class TrayController(QObject):
    """Owns the tray icon and the windows. ``app`` is passed in (for quit); the engine through ``ctx``.

    Args:
        sender: shows a notification where no desktop notification service is (the tray balloon by default;
            tests pass their own, and then no desktop service is used).
        desktop: the desktop notification service (default: the session bus's, when there is one and no
            ``sender`` was given).
        clock: the notifications' clock, monotonic seconds (tests pass their own).
        tray_available: whether the desktop has a system tray (Qt's ``isSystemTrayAvailable``; tests pass their
            own). Without one the status window stands in for the icon, with the tray's menu as its menu bar.
    """

    look_changed = Signal(str, str)  # state, tooltip

    def __init__(
        self,
        ctx: ViewContext,
        app: QApplication,
        sender: Sender | None = None,
        desktop: DesktopNotifier | None = None,
        clock: Callable[[], float] = time.monotonic,
        tray_available: Callable[[], bool] = QSystemTrayIcon.isSystemTrayAvailable,
    ):
        super().__init__()
        self.ctx = ctx
        self._tray_available = tray_available
        self.in_tray = False  # shown as a tray icon (show() tells): else the status window is the app's face
        self.app = app
        self.status = StatusWindow(ctx)
        self.queue: QueueWindow | None = None
        self._verify_windows: list[VerifyWindow] = []  # open ones (each deletes itself when closed)
        self.tray = QSystemTrayIcon(state_icon("idle"))
        self.menu = self._build_menu()
        self.tray.setContextMenu(self.menu)
        self.tray.activated.connect(self._on_activated)
        self.look = TrayLook("idle", "usbsync")
        self.summary: StateSummary | None = None
        self._progress: CopyProgress | None = None
        self._prev: StateSummary | None = None
        self._notices_seen_until: float | None = (
            None  # first summary: notices older than the grace are old news
        )
        if desktop is None and sender is None:
            desktop = DesktopNotifier.open(parent=self)
        self.notifications = NotificationCenter(
            sender or self._balloon,
            ctx.config.notifications,
            clock=clock,
            desktop=desktop,
            # A click on the balloon does the note's action, but only a shown icon has a balloon; without one
            # the note is a log line and names the menu entry.
            balloon_clicks=(lambda: self.in_tray) if sender is None else False,
            current=lambda: ctx.summary.latest,  # a note held a while is checked against the state then
        )
        self.notifications.action_invoked.connect(self._on_note_action)
        self.tray.messageClicked.connect(self.notifications.balloon_clicked)
        # Notifications are held a moment to be grouped (or by the rate limit): a single-shot timer, armed only
        # while some wait, for when the next one is due. Precise: a coarse timer may fire up to 5% early, and a
        # flush before a note is due holds it for another round.
        self._flush = QTimer(self)
        self._flush.setSingleShot(True)
        self._flush.setTimerType(Qt.TimerType.PreciseTimer)
        self._flush.timeout.connect(self._flush_notifications)
        ctx.summary.changed.connect(self.show_summary)
        engine = ctx.engine
        if engine is not None:
            engine.copy_progress.connect(self._on_progress)
            engine.drive_up_to_date.connect(self._on_up_to_date)
            engine.paused_changed.connect(self._on_paused)
            engine.drive_ejected.connect(self._on_ejected)
            engine.drive_disconnected.connect(self._on_ejected)
            engine.volume_unknown.connect(self._on_unknown_volume)
            engine.monitor.volume_removed.connect(self._on_volume_removed)

    # -- set-up -----------------------------------------------------------------------------------------------

    def _build_menu(self) -> QMenu:
        m = QMenu()
        m.addAction("Status…", self.show_status)
        m.addAction("Pending queue…", self.show_queue)
        m.addAction("Drives…", self.show_drives)
        self.eject_menu = m.addMenu("Eject")
        self.eject_menu.aboutToShow.connect(self._fill_eject_menu)
        self.verify_menu = m.addMenu("Verify drive")
        self.verify_menu.aboutToShow.connect(self._fill_verify_menu)
        m.addSeparator()
        self.act_pause = QAction("Pause syncing", m)
        self.act_pause.triggered.connect(self.toggle_pause)
        m.addAction(self.act_pause)
        m.addAction("Sync now", self.sync_now)
        m.addAction("Open log folder", self.open_logs)
        m.addAction("Settings…", self.show_settings)
        m.addAction("About usbsync…", self.show_about)
        m.addSeparator()
        m.addAction("Quit usbsync", self.app.quit)
        return m

    def show(self) -> None:
        """Show the tray icon, or, where the desktop has no tray, say so once and open the status window."""
        self.in_tray = self._tray_available()
        if self.in_tray:
            self.tray.show()
        else:
            log.warning("no system tray on this desktop: showing the status window instead")
            # The tray's menu (Drives…, Settings…, Eject, Quit) as the window's menu bar: what the notes and the
            # docs call "the usbsync menu" is there too.
            self.status.set_app_menu(self.menu)
            self.show_status()
            # Not modal: a nested event loop here would swallow a quit request (SIGTERM) before exec().
            box = QMessageBox(
                QMessageBox.Icon.Information,
                "usbsync",
                "This desktop has no system tray (on GNOME, the AppIndicator extension adds one). usbsync keeps "
                "running; this window shows what it does, and its usbsync menu has what the tray icon's would "
                "(Drives…, Eject, Settings…, Quit). Closing the window keeps usbsync running in the background; "
                "starting usbsync again brings the window back.",
                QMessageBox.StandardButton.Ok,
                self.status,
            )
            box.setModal(False)
            box.open()
            self._no_tray_box = box
        self.refresh()

    def _balloon(self, title: str, body: str) -> bool:
        """Where no desktop notification service answers: the tray's own balloon (a toast on Windows)."""
        if self.tray.isVisible():
            self.tray.showMessage(title, body, state_icon(self.look.state), 8000)
            return True
        log.info("notification: %s: %s", title, body)
        return True

    # -- the summary --------------------------------------------------------------------------------------------

    @Slot()
    def refresh(self) -> None:
        """Ask for a fresh summary (it arrives through :meth:`show_summary`)."""
        self.ctx.summary.invalidate()

    @Slot(object)
    def show_summary(self, s: StateSummary) -> None:
        """Show ``s``: the icon, the tooltip, and the notifications for what changed since the last one."""
        self.summary = s
        config = self.ctx.reload_config()
        self.notifications.enabled.update(config.notifications)
        if (
            s.copying_files == 0
            and self._progress is not None
            and self._progress.done >= self._progress.total
        ):
            self._progress = None
        self._notify_changes(s)
        self._apply_look()
        self._arm_flush()

    def _apply_look(self) -> None:
        if self.summary is None:
            return
        look = tray_look(self.summary, self._progress)
        if look != self.look:
            state_changed = look.state != self.look.state
            self.look = look
            if state_changed:
                self.tray.setIcon(state_icon(look.state))
            self.tray.setToolTip(look.tooltip)
            self.look_changed.emit(look.state, look.tooltip)

    def _notify_changes(self, s: StateSummary) -> None:
        prev = self._prev
        self._prev = s
        if self._notices_seen_until is None:
            # Notices raised before this start (older than a few minutes) were announced by an earlier run.
            self._notices_seen_until = s.at - NOTICE_GRACE_S
        for n in s.notices:  # each raised condition is announced once (a rebuilt database only this way)
            if n.since > self._notices_seen_until:
                self.notifications.event("problems", n.kind, n.message)
        self._notices_seen_until = max([self._notices_seen_until, *(n.since for n in s.notices)])
        for d in s.drives:
            before = prev.drive(d.id) if prev is not None else None
            was = before.waiting_files if before is not None else 0
            if d.state is DriveState.WAITING and d.waiting_files > was:
                self.notifications.event(
                    "drive_wanted", d.name, count=d.waiting_files - was, total=d.waiting_files
                )
            no_space = d.wait(WaitKind.NO_SPACE)
            was_full = (before.wait(WaitKind.NO_SPACE) if before is not None else None) or None
            if no_space is not None and no_space.files > (was_full.files if was_full else 0):
                self.notifications.event("drive_full", d.name, total=no_space.files)
            was_failed = before.failed_files if before is not None else 0
            if d.failed_files > was_failed:
                reason = next((w.reason for w in d.waits if w.kind.value == "failed"), "")
                self.notifications.event(
                    "failures", d.name, reason, count=d.failed_files - was_failed, total=d.failed_files
                )
        missing_before = set(prev.missing_sources) if prev is not None else set()
        for src in s.missing_sources:
            if src not in missing_before:  # once when it goes missing, not at every change
                self.notifications.event("source_missing", src, f"{src} does not exist")

    def _arm_flush(self) -> None:
        """Have the flush timer fire when the next held note is due, as that is now (sooner than before when a
        new note is due sooner: "X is up to date" after a second, while a "waiting" note is held for a minute)."""
        due = self.notifications.next_due()
        if due is None:
            self._flush.stop()
        else:
            self._flush.start(math.ceil(due * 1000))

    @Slot()
    def _flush_notifications(self) -> None:
        self.notifications.flush()
        self._arm_flush()  # some still held (the rate limit): when the next is due (only while some wait)

    @Slot(str, str, int, int)
    def _on_progress(self, drive_id: str, path: str, done: int, total: int) -> None:
        self._progress = CopyProgress(path.rsplit("/", 1)[-1], done, total)
        self._apply_look()

    @Slot(str, int, int)
    def _on_up_to_date(self, drive_id: str, copied: int, already: int) -> None:
        name = self.ctx.drive_names().get(drive_id, drive_id)
        self.notifications.event("safe_to_unplug", name, copied=copied, already=already)
        self._arm_flush()

    @Slot(object)
    def _on_unknown_volume(self, cv: ConnectedVolume) -> None:
        label = cv.info.label or cv.volume.mountpoint.rstrip("/").rsplit("/", 1)[-1] or cv.volume.mountpoint
        self.notifications.event("new_drive", label, mount=cv.volume.mountpoint)
        self._arm_flush()

    @Slot(str, str)
    def _on_volume_removed(self, mountpoint: str, drive_id: str) -> None:
        if not drive_id:
            for label in {mountpoint.rstrip("/").rsplit("/", 1)[-1]}:
                self.notifications.withdraw("new_drive", label, mountpoint)

    @Slot(str, str, str, str)
    def _on_note_action(self, kind: str, drive: str, action: str, mount: str) -> None:
        if action == "eject":
            self.eject(drive)
        elif action == "setup":
            self.show_drives()  # lists the new volume with its path, ID and a Register… button

    @Slot()
    def _plugged(self) -> list[tuple[str, str]]:
        """(name, mount point) of each registered drive plugged in now, by name: the Eject and Verify menus."""
        engine = self.ctx.engine
        cvs = engine.monitor.connected() if engine else []
        return sorted((cv.drive.name, cv.volume.mountpoint) for cv in cvs if cv.drive)

    def _fill_eject_menu(self) -> None:
        self.eject_menu.clear()
        plugged = self._plugged()
        if not plugged:
            self.eject_menu.addAction("No drive plugged in").setEnabled(False)
        for name, _mount in plugged:
            self.eject_menu.addAction(name, functools.partial(self.eject, name))

    def _fill_verify_menu(self) -> None:
        self.verify_menu.clear()
        plugged = self._plugged()
        if not plugged:
            self.verify_menu.addAction("No drive plugged in").setEnabled(False)
        for name, mount in plugged:
            self.verify_menu.addAction(f"{name}…", functools.partial(self.verify, name, mount))

    def verify(self, name: str, mountpoint: str) -> None:
        """Open a Verify window for the drive ``name`` plugged in at ``mountpoint`` and start reading."""
        drive = self.ctx.config.drive_by_name(name)
        if drive is None:
            return
        from usbsync_gui.views.verify_window import VerifyWindow

        win = VerifyWindow(self.ctx, drive, mountpoint)
        win.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self._verify_windows = [w for w in getattr(self, "_verify_windows", []) if shiboken6.isValid(w)] + [
            win
        ]
        win.show()
        win.start()

    def eject(self, name: str) -> None:
        """Eject a drive through the engine, without waiting for it; the result is a notification, or an
        error message."""
        if self.ctx.engine is None:
            return

        def done(ok: bool, msg: str) -> None:
            if ok:
                # Where the other notifications are shown (the desktop's service), replacing "up to date".
                self.notifications.say(
                    "safe_to_unplug", name, f"{name} ejected", f"{name} is safe to unplug."
                )
            else:
                self._warn(msg)

        self.ctx.engine.eject_drive(name, done)

    @Slot(str)
    def _on_ejected(self, drive_id: str) -> None:
        name = self.ctx.drive_names().get(drive_id, drive_id)
        self.notifications.withdraw("safe_to_unplug", name)  # no "Eject" offered for a drive that is gone

    @Slot(bool)
    def _on_paused(self, paused: bool) -> None:
        self.act_pause.setText("Resume syncing" if paused else "Pause syncing")

    # -- actions ----------------------------------------------------------------------------------------------

    def _front(self, w: QWidget) -> None:
        if w.isMinimized():  # show() leaves a minimised window minimised: restore it first
            w.setWindowState(
                (w.windowState() & ~Qt.WindowState.WindowMinimized) | Qt.WindowState.WindowActive
            )
        w.show()
        w.raise_()
        w.activateWindow()

    @Slot()
    def show_status(self) -> None:
        self._front(self.status)

    @Slot()
    def show_queue(self) -> None:
        if self.queue is None:
            from usbsync_gui.views.queue_window import QueueWindow

            self.queue = QueueWindow(self.ctx)
        self._front(self.queue)

    @Slot()
    def show_drives(self) -> QDialog:
        from usbsync_gui.views.drives_dialog import DrivesDialog

        dlg = DrivesDialog(self.ctx)
        dlg.setModal(False)
        self._front(dlg)
        self._drives = dlg  # keep it alive while open
        return dlg

    @Slot()
    def show_settings(self) -> QDialog:
        from usbsync_gui.views.settings_dialog import SettingsDialog

        dlg = SettingsDialog(self.ctx.config, self.ctx.paths.config_file, ctx=self.ctx)
        self._front(dlg)
        self._settings = dlg
        return dlg

    @Slot()
    def show_about(self) -> QDialog:
        from usbsync_gui.views.about import AboutDialog

        dlg = AboutDialog(self.ctx.paths)
        self._front(dlg)
        self._about = dlg  # kept alive while open, as the other dialogs
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
        """Open the log folder in the file manager; where none opens it, say where the folder is."""
        folder = str(self.ctx.paths.log_dir)

        def failed(why: str) -> None:
            log.warning("could not open the log folder %s: %s", folder, why)
            self._warn(f"No file manager opened the log folder ({why}). It is:\n{folder}")

        open_folder(folder, self, failed)

    def _warn(self, msg: str) -> None:
        """A warning box that does not block: no nested event loop, so the engine and the window go on."""
        box = QMessageBox(QMessageBox.Icon.Warning, "usbsync", msg, QMessageBox.StandardButton.Ok)
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        box.setModal(False)
        box.open()
        self._warn_box = box  # kept: a parentless box with no reference would be collected at once

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
        self._flush.stop()
        self.tray.hide()
        for w in (self.status, self.queue):
            if w is not None:
                w.close()
