"""The drives dialog: registered drives (connected or not, free space, categories, waiting files), and
editing them: categories, name, destination folder, forget, register a newly plugged volume."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from usbsync_gui.core.config import Config, ConfigError, DriveConfig, drive_name_problem, save_config
from usbsync_gui.core.identity import SecretStore
from usbsync_gui.core.registration import RegistrationError, register_volume
from usbsync_gui.core.service import ConnectedVolume, identify_volumes
from usbsync_gui.core.units import human_bytes, plural
from usbsync_gui.views.context import ViewContext
from usbsync_gui.views.resources import app_icon


def uncovered_categories(config: Config) -> list[str]:
    """Categories no drive holds: their files are recorded but go nowhere (pointed out, not an error)."""
    return [c.name for c in config.categories if not config.drives_for(c.name)]


class DriveEditor(QDialog):
    """Name, categories and destination folder of one drive (new or existing)."""

    def __init__(
        self,
        config: Config,
        title: str,
        name: str = "",
        categories: tuple[str, ...] = (),
        folder: str = "USBSync",
        parent: QWidget | None = None,
    ):
        super().__init__(parent)
        self.setWindowTitle(title)
        form = QFormLayout(self)
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
        form.addRow("Holds:", cats)
        form.addRow("Folder on the drive:", self.folder)
        self.error = QLabel()
        self.error.setStyleSheet("color: #c0392b;")
        form.addRow(self.error)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self._check)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def categories(self) -> tuple[str, ...]:
        return tuple(n for n, b in self.boxes.items() if b.isChecked())

    @Slot()
    def _check(self) -> None:
        problem = drive_name_problem(self.name.text().strip())
        if not self.name.text().strip():
            self.error.setText("Give the drive a name.")
        elif problem is not None:
            self.error.setText(f"The name {problem}.")
        elif not self.categories():
            self.error.setText("Choose at least one kind of file for it.")
        elif not self.folder.text().strip() or ".." in self.folder.text():
            self.error.setText("The folder is a name relative to the drive's root, like USBSync.")
        else:
            self.accept()


class DrivesDialog(QDialog):
    COLUMNS = ("Drive", "Holds", "Folder", "Where", "Free", "Waiting")

    def __init__(self, ctx: ViewContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self._secret: bytes | None = None
        self.setWindowTitle("usbsync: drives")
        self.setWindowIcon(app_icon())
        self.resize(860, 420)
        layout = QVBoxLayout(self)
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(self.COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        layout.addWidget(self.table)
        self.note = QLabel()
        self.note.setWordWrap(True)
        layout.addWidget(self.note)
        row = QHBoxLayout()
        self.edit_btn = QPushButton("Edit…")
        self.forget_btn = QPushButton("Forget")
        self.volumes = QComboBox()
        self.register_btn = QPushButton("Register…")
        row.addWidget(self.edit_btn)
        row.addWidget(self.forget_btn)
        row.addStretch(1)
        row.addWidget(QLabel("Plugged-in volume:"))
        row.addWidget(self.volumes)
        row.addWidget(self.register_btn)
        layout.addLayout(row)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        layout.addWidget(close)
        self.edit_btn.clicked.connect(self.on_edit)
        self.forget_btn.clicked.connect(self.on_forget)
        self.register_btn.clicked.connect(self.on_register)
        self.refresh()

    def _inspect(self) -> list[ConnectedVolume]:
        if self._secret is None:  # once per dialog: a keyring look-up can be a D-Bus round trip
            self._secret = SecretStore(self.ctx.paths.state_dir).secret()
        return identify_volumes(self.ctx.paths.state_dir, self.ctx.config, self.ctx.db, secret=self._secret)

    def refresh(self) -> None:
        config = self.ctx.reload_config()
        found = self._inspect()
        connected = {cv.drive.id: cv for cv in found if cv.drive is not None}
        per = self.ctx.db.per_drive()
        self.table.setRowCount(len(config.drives))
        for i, d in enumerate(config.drives):
            cv = connected.get(d.id)
            info = self.ctx.db.drive_info(d.id) or {}
            free = cv.volume.free_bytes if cv else info.get("free_bytes")
            waiting = per.get(d.id, {})
            cells = (
                d.name,
                ", ".join(d.categories),
                d.folder,
                f"plugged in at {cv.volume.mountpoint}" if cv else "not plugged in",
                (human_bytes(int(free)) + ("" if cv else " (last seen)")) if free is not None else "?",  # type: ignore[call-overload]
                f"{plural(waiting.get('pending', 0), 'file')}, {human_bytes(waiting.get('pending_bytes', 0))}",
            )
            for col, text in enumerate(cells):
                self.table.setItem(i, col, QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
        missing = uncovered_categories(config)
        notes = []
        if missing:
            notes.append(f"No drive holds {', '.join(missing)}: those files are recorded but not copied.")
        lookalikes = [cv for cv in found if cv.status == "look-alike"]
        notes += [cv.message for cv in lookalikes]
        self.note.setText("\n".join(notes))
        self.volumes.clear()
        for cv in found:
            if cv.drive is None and not cv.volume.read_only and cv.volume.mountpoint != "/":
                label = cv.info.label or cv.volume.mountpoint
                self.volumes.addItem(
                    f"{label} ({cv.fs_type}, {human_bytes(cv.volume.free_bytes)} free)", cv.volume.mountpoint
                )
        self.register_btn.setEnabled(self.volumes.count() > 0)

    def _selected(self) -> DriveConfig | None:
        rows = {i.row() for i in self.table.selectionModel().selectedRows()}
        if not rows:
            return None
        return self.ctx.config.drives[min(rows)]

    def _save(self, config: Config) -> None:
        try:
            save_config(config, self.ctx.paths.config_file)
        except (ConfigError, OSError) as exc:  # nothing was written: say why, keep the dialog as it was
            QMessageBox.warning(self, "usbsync", f"Not saved: {exc}")
            return
        self.ctx.config = config
        self.refresh()

    @Slot()
    def on_edit(self) -> None:
        d = self._selected()
        if d is None:
            return
        ed = DriveEditor(self.ctx.config, f"Edit {d.name}", d.name, d.categories, d.folder, self)
        if ed.exec() != QDialog.DialogCode.Accepted:
            return
        name = ed.name.text().strip()
        other = self.ctx.config.drive_by_name(name)
        if other is not None and other.id != d.id:
            QMessageBox.warning(self, "usbsync", f"A drive named {name!r} is already registered.")
            return
        self._save(
            self.ctx.config.with_drive(
                replace(
                    d, name=name, categories=ed.categories(), folder=ed.folder.text().strip().strip("/\\")
                )
            )
        )

    @Slot()
    def on_forget(self) -> None:
        d = self._selected()
        if d is None:
            return
        ok = QMessageBox.question(
            self, "usbsync", f"Forget {d.name}? Its files on the drive stay; nothing more is copied to it."
        )
        if ok == QMessageBox.StandardButton.Yes:
            self._save(
                replace(self.ctx.config, drives=tuple(x for x in self.ctx.config.drives if x.id != d.id))
            )

    @Slot()
    def on_register(self) -> None:
        mount = self.volumes.currentData()
        if not mount:
            return
        ed = DriveEditor(self.ctx.config, "Register a drive", parent=self)
        if ed.exec() != QDialog.DialogCode.Accepted:
            return
        try:
            reg = register_volume(
                self.ctx.paths,
                self.ctx.config,
                mount,
                ed.name.text().strip(),
                ed.categories(),
                ed.folder.text().strip(),
            )
        except RegistrationError as exc:
            QMessageBox.warning(self, "usbsync", str(exc))
            return
        self.ctx.config = reg.config
        self.refresh()
