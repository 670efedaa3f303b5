"""The drives dialog: the registered drives (where they are, free space, what waits for them, from the one state
summary) and the volumes plugged in now (mount point, volume ID, label, size, and what each is to this
installation); registering a volume, editing and forgetting a drive.

Nothing here blocks the GUI thread: the volumes are looked at (``blkid``, the keyring, marker reads) and the
configuration is written on ``ctx.tasks``; questions are asked with ``open()``, never a nested event loop. The
dialog follows drives coming and going (the engine's volume monitor) and the summary as it changes. A volume
another usbsync installation uses is registered only after the user said yes to a question naming it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import shiboken6
from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QBrush, QColor, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from usbsync_gui.core.config import (
    DEFAULT_DRIVE_FOLDER,
    Config,
    ConfigError,
    DriveConfig,
    default_drive_name,
    drive_name_key,
    drive_name_problem,
    load_config,
    unique_drive_name,
    update_config,
)
from usbsync_gui.core.registration import (
    Inspect,
    PluggedVolume,
    Registration,
    RegistrationError,
    VolumeKind,
    register_volume,
    survey_volumes,
    take_over_question,
)
from usbsync_gui.core.summary import StateSummary
from usbsync_gui.core.units import human_bytes, plural
from usbsync_gui.engine.tasks import TaskResult
from usbsync_gui.views.context import ViewContext
from usbsync_gui.views.resources import app_icon, error_color, warn_color

#: One configuration write at a time from this process (the dialogs' tasks run on a pool): each reads the file,
#: applies its own change and writes it back, so two of them at once could lose one change.
CONFIG_WRITE_LOCK = threading.Lock()

WARN_COLOR = QColor("#a04000")  # light windows only: use warn_color(), which follows the scheme


def error_style() -> str:
    return f"color: {error_color()};"  # legible on light and dark windows


def edit_config(path: Path, edit: Callable[[Config], Config]) -> Config:
    """:func:`update_config` under :data:`CONFIG_WRITE_LOCK`: the saved configuration with ``edit`` applied."""
    with CONFIG_WRITE_LOCK:
        return update_config(path, edit)


def uncovered_categories(config: Config) -> list[str]:
    """Categories no drive holds: their files are recorded but go nowhere (pointed out, not an error)."""
    return [c.name for c in config.categories if not config.drives_for(c.name)]


def setup_table(table: QTableWidget, stretch_last: bool = True) -> None:
    """The look every table here shares: whole rows selected, read-only cells, no spreadsheet row numbers,
    columns sized to their content and the last one taking the room left."""
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.verticalHeader().setVisible(False)
    table.setWordWrap(False)
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    header.setStretchLastSection(stretch_last)
    header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)


def _item(text: str, tip: str = "", warn: bool = False) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
    if tip:
        item.setToolTip(tip)
    if warn:
        item.setForeground(QBrush(QColor(warn_color())))
    return item


def forget_question(drive: DriveConfig, config: Config, summary: StateSummary | None) -> str:
    """The question asked before forgetting ``drive``: what waits for it and where those files go then."""
    lines = [
        f"Forget the drive {drive.name}?",
        "",
        "Its files on the drive stay there; nothing more is copied to it.",
    ]
    s = summary.drive(drive.id) if summary is not None else None
    if s is not None and s.waiting_files:
        alone = [c for c in drive.categories if not any(d.id != drive.id for d in config.drives_for(c))]
        shared = [c for c in drive.categories if c not in alone]
        waits = (
            f"{plural(s.waiting_files, 'file')} ({human_bytes(s.waiting_bytes)}) "
            f"{'is' if s.waiting_files == 1 else 'are'} waiting for it."
        )
        if alone:
            holds = " and ".join(alone)
            waits += f" They will keep waiting, shown as “no drive holds {holds}”, until another drive holds {holds}."
        else:
            waits += " They will not be copied anywhere for it."
        for c in shared:
            others = ", ".join(d.name for d in config.drives_for(c) if d.id != drive.id)
            waits += f" {others} also holds {c} and keeps receiving its own copies."
        lines += ["", waits]
    elif s is not None:
        lines += ["", "Nothing is waiting for it."]
    return "\n".join(lines)


def ask(parent: QWidget, title: str, text: str, yes: str, no: str) -> QMessageBox:
    """A question opened with ``open()`` (no nested event loop), "no" the default and the Escape answer. The
    caller connects ``finished`` and reads :func:`said_yes`."""
    box = QMessageBox(QMessageBox.Icon.Question, title, text, parent=parent)
    box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
    box.button(QMessageBox.StandardButton.Yes).setText(yes)
    box.button(QMessageBox.StandardButton.No).setText(no)
    box.setDefaultButton(QMessageBox.StandardButton.No)
    box.setEscapeButton(QMessageBox.StandardButton.No)
    box.open()
    return box


def said_yes(box: QMessageBox) -> bool:
    """Whether the question :func:`ask` opened was answered yes (then it is deleted)."""
    yes = box.clickedButton() is box.button(QMessageBox.StandardButton.Yes)
    box.deleteLater()
    return yes


def take_over_box(parent: QWidget, pv: PluggedVolume) -> QMessageBox:
    """Ask before using a volume another usbsync installation uses (default: no)."""
    return ask(parent, "Take over this drive?", take_over_question(pv), "Use it here", "Leave it alone")


class DriveEditor(QDialog):
    """Name, categories and destination folder of one drive (new or existing).

    Args:
        taken: names of other drives (compared as drive names are): refused, so a new stick that happens to
            carry another drive's label does not quietly become that drive.
        about: a line above the form (which volume this is).
    """

    def __init__(
        self,
        config: Config,
        title: str,
        name: str = "",
        categories: tuple[str, ...] = (),
        folder: str = DEFAULT_DRIVE_FOLDER,
        parent: QWidget | None = None,
        *,
        taken: Iterable[str] = (),
        about: str = "",
    ):
        super().__init__(parent)
        self.setWindowTitle(title)
        self._taken = {drive_name_key(n) for n in taken}
        form = QFormLayout(self)
        if about:
            head = QLabel(about)
            head.setWordWrap(True)
            form.addRow(head)
        self.name = QLineEdit(name)
        self.folder = QLineEdit(folder)
        form.addRow("Name:", self.name)
        self.boxes: dict[str, QCheckBox] = {}
        cats = QWidget()
        cl = QHBoxLayout(cats)
        cl.setContentsMargins(0, 0, 0, 0)
        for c in config.categories:
            box = QCheckBox(c.name)
            box.setChecked(c.name in categories)
            self.boxes[c.name] = box
            cl.addWidget(box)
        cl.addStretch(1)
        form.addRow("Holds:", cats)
        form.addRow("Folder on the drive:", self.folder)
        self.error = QLabel()
        self.error.setStyleSheet(error_style())
        self.error.setWordWrap(True)
        form.addRow(self.error)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self._check)
        self.buttons.rejected.connect(self.reject)
        form.addRow(self.buttons)

    def categories(self) -> tuple[str, ...]:
        return tuple(n for n, b in self.boxes.items() if b.isChecked())

    def drive_name(self) -> str:
        return self.name.text().strip()

    def drive_folder(self) -> str:
        return self.folder.text().strip().strip("/\\")

    @Slot()
    def _check(self) -> None:
        name = self.drive_name()
        problem = drive_name_problem(name)
        if not name:
            self.error.setText("Give the drive a name.")
        elif problem is not None:
            self.error.setText(f"The name {problem}.")
        elif drive_name_key(name) in self._taken:
            self.error.setText(f"A drive named {name} is already registered here. Pick another name.")
        elif not self.categories():
            self.error.setText("Choose at least one kind of file for it.")
        elif not self.drive_folder() or ".." in Path(self.drive_folder()).parts:
            self.error.setText("The folder is a name relative to the drive's root, like USBSync.")
        else:
            self.accept()


class DrivesDialog(QDialog):
    """Registered drives and plugged-in volumes.

    Args:
        ctx: the views' context (config, summary feed, task runner, engine).
        inspect: identifies volumes under a config (tests pass their own instead of running ``blkid``).
    """

    DRIVE_COLUMNS = ("Drive", "Holds", "Where", "Free", "Waiting", "Folder on the drive")
    VOLUME_COLUMNS = ("Volume", "Mount point", "Volume ID", "Size", "What it is")

    def __init__(self, ctx: ViewContext, parent: QWidget | None = None, inspect: Inspect | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self._inspect = inspect
        self.plugged: list[PluggedVolume] = []
        self._drives: list[DriveConfig] = []
        self._scanning = False
        self._scan_again = False
        self._scanned_once = False
        self._stale = False
        self.question: QMessageBox | None = None  # the question open now (take over, forget)
        self.editor: DriveEditor | None = None  # the drive editor open now
        self.setWindowTitle("usbsync: drives")
        self.setWindowIcon(app_icon())
        self.resize(960, 560)
        layout = QVBoxLayout(self)

        layout.addWidget(self._heading("Your drives"))
        self.table = QTableWidget(0, len(self.DRIVE_COLUMNS))
        self.table.setHorizontalHeaderLabels(self.DRIVE_COLUMNS)
        setup_table(self.table)
        layout.addWidget(self.table, 1)
        self.note = QLabel()
        self.note.setWordWrap(True)
        layout.addWidget(self.note)
        row = QHBoxLayout()
        self.edit_btn = QPushButton("Edit…")
        self.forget_btn = QPushButton("Forget…")
        row.addWidget(self.edit_btn)
        row.addWidget(self.forget_btn)
        row.addStretch(1)
        layout.addLayout(row)

        layout.addWidget(self._heading("Plugged in now"))
        self.volumes = QTableWidget(0, len(self.VOLUME_COLUMNS))
        self.volumes.setHorizontalHeaderLabels(self.VOLUME_COLUMNS)
        setup_table(self.volumes)
        layout.addWidget(self.volumes, 1)
        self.volumes_note = QLabel("Looking at the plugged-in volumes…")
        self.volumes_note.setWordWrap(True)
        layout.addWidget(self.volumes_note)
        row = QHBoxLayout()
        self.register_btn = QPushButton("Register as a drive…")
        self.rescan_btn = QPushButton("Look again")
        row.addWidget(self.register_btn)
        row.addWidget(self.rescan_btn)
        row.addStretch(1)
        layout.addLayout(row)

        self.message = QLabel()  # what the last action did, or why it did not
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.message)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        layout.addWidget(close)
        close.button(QDialogButtonBox.StandardButton.Close).setFocus()  # not a table: no cell looks picked

        self.edit_btn.clicked.connect(self.on_edit)
        self.forget_btn.clicked.connect(self.on_forget)
        self.register_btn.clicked.connect(self.on_register)
        self.rescan_btn.clicked.connect(self.rescan)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.volumes.itemSelectionChanged.connect(self._update_buttons)
        self.table.doubleClicked.connect(self.on_edit)
        self.volumes.doubleClicked.connect(self.on_register)
        ctx.summary.changed.connect(self._on_summary)
        if ctx.engine is not None:
            ctx.engine.monitor.volume_added.connect(self._on_volume_added)
            ctx.engine.monitor.volume_removed.connect(self._on_volume_removed)
        self.show_drives()
        self.show_volumes()
        ctx.summary.invalidate()
        self.rescan()

    @staticmethod
    def _heading(text: str) -> QLabel:
        label = QLabel(text)
        font = label.font()
        font.setBold(True)
        label.setFont(font)
        return label

    def _alive(self) -> bool:
        return shiboken6.isValid(self)

    # -- what is shown --------------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Show the saved configuration and the latest summary now, and look at the volumes again."""
        self.show_drives()
        self.ctx.summary.invalidate()
        self.rescan()

    def show_drives(self) -> None:
        """The registered drives from the configuration, with what the summary says about each (no I/O but a
        stat of the config file)."""
        config = self.ctx.reload_config()
        summary = self.ctx.summary.latest
        here = {pv.cv.drive.id: pv for pv in self.plugged if pv.kind is VolumeKind.REGISTERED and pv.cv.drive}
        selected = self.selected_drive()
        self._drives = list(config.drives)
        self.table.setRowCount(len(self._drives))
        for i, d in enumerate(self._drives):
            s = summary.drive(d.id) if summary is not None else None
            pv = here.get(d.id)
            if s is not None and s.connected:
                where, free = s.where, s.free_bytes
            elif pv is not None:  # seen here before the engine told the summary
                where, free = f"plugged in at {pv.mountpoint}", pv.volume.free_bytes
            elif s is not None:
                where, free = s.where, s.free_bytes
            else:
                where, free = "…", None
            connected = (s is not None and s.connected) or pv is not None
            free_text = "?" if free is None else human_bytes(free) + ("" if connected else " (last seen)")
            if s is None:
                waiting = "…"
            elif s.waiting_files:
                waiting = f"{plural(s.waiting_files, 'file')} ({human_bytes(s.waiting_bytes)})"
                if s.shortfall_bytes:  # the summary's own figure: what the status window says too
                    waiting += f": does not fit, {human_bytes(s.shortfall_bytes)} more needed"
            else:
                waiting = "nothing"
            cells = (d.name, ", ".join(d.categories), where, free_text, waiting, d.folder)
            short = s is not None and bool(s.shortfall_bytes or s.state.value in ("does_not_fit", "failed"))
            for col, text in enumerate(cells):
                tip = s.headline if s is not None and col in (0, 4) else ""
                self.table.setItem(i, col, _item(text, tip, warn=short and col == 4))
        if selected is not None:
            row = next((i for i, d in enumerate(self._drives) if d.id == selected.id), None)
            if row is not None:
                self.table.selectRow(row)
        notes = []
        missing = uncovered_categories(config)
        if missing:
            notes.append(f"No drive holds {', '.join(missing)}: their files wait until a drive holds them.")
        if summary is not None:
            notes += [f"{u.headline[0].upper()}{u.headline[1:]}." for u in summary.unrouted]
        if not self._drives:
            notes.insert(0, "No drive is registered yet: pick a plugged-in volume below and register it.")
        self.note.setText("\n".join(notes))
        self.note.setVisible(bool(notes))
        self._update_buttons()

    def show_volumes(self) -> None:
        selected = self.selected_volume()
        self.volumes.setRowCount(len(self.plugged))
        for i, pv in enumerate(self.plugged):
            warn = pv.kind in (
                VolumeKind.OTHER,
                VolumeKind.LOOK_ALIKE,
                VolumeKind.LOCKED,
                VolumeKind.UNREADABLE,
            )
            cells = (
                (pv.label or "(no label)", ""),
                (pv.mountpoint, ""),
                (pv.short_id or "unknown", pv.volume_id),
                (pv.size_text, ""),
            )
            for col, (text, tip) in enumerate(cells):
                self.volumes.setItem(i, col, _item(text, tip or pv.detail))
            self.volumes.setItem(i, 4, _item(pv.status, pv.detail, warn))
        if selected is not None:
            row = next((i for i, pv in enumerate(self.plugged) if pv.mountpoint == selected.mountpoint), None)
            if row is not None:
                self.volumes.selectRow(row)
        if not self._scanned_once:
            self.volumes_note.setText("Looking at the plugged-in volumes…")
        elif not self.plugged:
            self.volumes_note.setText("Nothing is plugged in. Plug in a USB drive: it shows up here.")
        else:
            self.volumes_note.setText("")
        self.volumes_note.setVisible(bool(self.volumes_note.text()))
        self._update_buttons()

    def selected_drive(self) -> DriveConfig | None:
        rows = {i.row() for i in self.table.selectionModel().selectedRows()}
        return self._drives[min(rows)] if rows and min(rows) < len(self._drives) else None

    def selected_volume(self) -> PluggedVolume | None:
        rows = {i.row() for i in self.volumes.selectionModel().selectedRows()}
        return self.plugged[min(rows)] if rows and min(rows) < len(self.plugged) else None

    @Slot()
    def _update_buttons(self) -> None:
        has_drive = self.selected_drive() is not None
        self.edit_btn.setEnabled(has_drive)
        self.forget_btn.setEnabled(has_drive)
        pv = self.selected_volume()
        self.register_btn.setEnabled(pv is not None and pv.can_register)
        if pv is not None and not pv.can_register:
            self.register_btn.setToolTip(f"{pv.mountpoint} is {pv.status}")
        else:
            self.register_btn.setToolTip("")

    def _say(self, text: str, error: bool = False) -> None:
        self.message.setStyleSheet(error_style() if error else "")
        self.message.setText(text)

    # -- keeping up -----------------------------------------------------------------------------------------

    @Slot(object)
    def _on_summary(self, summary: StateSummary) -> None:
        if self._alive():
            self.show_drives()

    @Slot(object)
    def _on_volume_added(self, cv: object) -> None:
        self._volumes_changed()

    @Slot(str, str)
    def _on_volume_removed(self, mount: str, drive_id: str) -> None:
        self._volumes_changed()

    def _volumes_changed(self) -> None:
        if not self._alive():
            return
        if self.isVisible():
            self.rescan()
        else:  # closed (the tray keeps it): look again when shown
            self._stale = True

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._stale:
            self._stale = False
            self.rescan()

    @Slot()
    def rescan(self) -> None:
        """Look at the plugged-in volumes again, on a pool thread (one look at a time; one more follows when
        asked meanwhile)."""
        if self._scanning:
            self._scan_again = True
            return
        self._scanning, self._scan_again = True, False
        paths, config, inspect = self.ctx.paths, self.ctx.config, self._inspect
        self.ctx.tasks.run(
            lambda: survey_volumes(paths, config, inspect), self._scanned, name="drives dialog: volumes"
        )

    def _scanned(self, result: TaskResult[list[PluggedVolume]]) -> None:
        if not self._alive():
            return
        self._scanning = False
        self._scanned_once = True
        if result.error is not None:
            self._say(f"Could not look at the plugged-in volumes: {result.error}", error=True)
        else:
            self.plugged = list(result.value or [])
        self.show_volumes()
        self.show_drives()
        if self._scan_again:
            self.rescan()

    # -- actions --------------------------------------------------------------------------------------------

    def _run(self, work: Callable[[], Any], done: Callable[[Any], None], busy: str, name: str) -> None:
        self._say(busy)
        for b in (self.edit_btn, self.forget_btn, self.register_btn):
            b.setEnabled(False)

        def finished(result: TaskResult[Any]) -> None:
            if not self._alive():
                return
            self._update_buttons()
            if result.error is not None:
                err = result.error
                if isinstance(err, RegistrationError | ConfigError | OSError | LookupError):
                    self._say(f"Not saved: {err}", error=True)
                    return
                raise err
            done(result.value)

        self.ctx.tasks.run(work, finished, name=name)

    def _saved(self, config: Config, said: str) -> None:
        self.ctx.config = config
        self._say(said)
        self.show_drives()
        self.ctx.summary.invalidate()
        self.rescan()

    @Slot()
    def on_register(self) -> None:
        pv = self.selected_volume()
        if pv is None or not pv.can_register:
            return
        if pv.needs_take_over:
            box = self.question = take_over_box(self, pv)
            box.finished.connect(lambda _r: self._take_over_answered(box, pv))
        else:
            self._open_register_editor(pv, take_over=False)

    def _take_over_answered(self, box: QMessageBox, pv: PluggedVolume) -> None:
        self.question = None
        if said_yes(box):
            self._open_register_editor(pv, take_over=True)
        else:
            self._say(f"{pv.title} at {pv.mountpoint} was left alone.")

    def _open_register_editor(self, pv: PluggedVolume, take_over: bool) -> None:
        config = self.ctx.config
        taken = {drive_name_key(d.name) for d in config.drives}
        if pv.kind is VolumeKind.LOOK_ALIKE and pv.twin:  # a re-formatted drive may keep its name
            taken.discard(drive_name_key(pv.twin))
        suggested = pv.marker_name if pv.kind is VolumeKind.FORGOTTEN and pv.marker_name else pv.label
        ed = self.editor = DriveEditor(
            config,
            f"Register {pv.title}",
            unique_drive_name(default_drive_name(suggested), taken),
            parent=self,
            taken=[d.name for d in config.drives if drive_name_key(d.name) in taken],
            about=f"{pv.title} at {pv.mountpoint}: {pv.size_text}, volume ID {pv.volume_id or 'unknown'}.",
        )
        ed.accepted.connect(
            lambda: self._register(pv, ed.drive_name(), ed.categories(), ed.drive_folder(), take_over)
        )
        ed.finished.connect(self._editor_closed)
        ed.open()

    @Slot()
    def _editor_closed(self) -> None:
        if self.editor is not None:
            self.editor.deleteLater()
        self.editor = None

    def _register(
        self, pv: PluggedVolume, name: str, categories: tuple[str, ...], folder: str, take_over: bool
    ) -> None:
        paths, mount = self.ctx.paths, pv.mountpoint

        def work() -> Registration:
            with CONFIG_WRITE_LOCK:  # onto the configuration saved now, not this dialog's copy
                config = load_config(paths.config_file)
                return register_volume(paths, config, mount, name, list(categories), folder, take_over)

        self._run(
            work,
            lambda reg: self._saved(reg.config, "\n".join(reg.lines)),
            f"Registering {name} on {mount}…",
            "drives dialog: register",
        )

    @Slot()
    def on_edit(self) -> None:
        d = self.selected_drive()
        if d is None:
            return
        config = self.ctx.config
        ed = self.editor = DriveEditor(
            config,
            f"Edit {d.name}",
            d.name,
            d.categories,
            d.folder,
            self,
            taken=[x.name for x in config.drives if x.id != d.id],
        )
        ed.accepted.connect(lambda: self._save_drive(d, ed.drive_name(), ed.categories(), ed.drive_folder()))
        ed.finished.connect(self._editor_closed)
        ed.open()

    def _save_drive(self, d: DriveConfig, name: str, categories: tuple[str, ...], folder: str) -> None:
        def apply(config: Config) -> Config:
            now = config.drive_by_id(d.id)
            if now is None:
                raise LookupError(f"{d.name} is no longer registered (forgotten meanwhile)")
            other = config.drive_by_name(name)
            if other is not None and other.id != d.id:
                raise LookupError(f"a drive named {name!r} is already registered")
            return config.with_drive(replace(now, name=name, categories=categories, folder=folder))

        path = self.ctx.paths.config_file
        self._run(
            lambda: edit_config(path, apply),
            lambda config: self._saved(config, f"Saved {name}."),
            f"Saving {name}…",
            "drives dialog: edit",
        )

    @Slot()
    def on_forget(self) -> None:
        d = self.selected_drive()
        if d is None:
            return
        text = forget_question(d, self.ctx.config, self.ctx.summary.latest)
        box = self.question = ask(self, f"Forget {d.name}?", text, "Forget it", "Keep it")
        box.finished.connect(lambda _r: self._forget_answered(box, d))

    def _forget_answered(self, box: QMessageBox, d: DriveConfig) -> None:
        self.question = None
        if not said_yes(box):
            return
        path = self.ctx.paths.config_file

        def apply(config: Config) -> Config:
            return replace(config, drives=tuple(x for x in config.drives if x.id != d.id))

        self._run(
            lambda: edit_config(path, apply),
            lambda config: self._saved(config, f"{d.name} was forgotten."),
            f"Forgetting {d.name}…",
            "drives dialog: forget",
        )
