"""Settings over the same TOML config as the CLI: sources, include/exclude, timings, categories and rules,
notifications, start at login. Validated by the same parser, so the messages are the CLI's; a running engine
applies a saved change within two seconds, without a restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tomli_w
from PySide6.QtCore import Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from usbsync_gui.core.config import (
    NOTIFICATION_KINDS,
    Config,
    ConfigError,
    config_to_dict,
    parse_config,
    save_config,
)
from usbsync_gui.platform import autostart
from usbsync_gui.views.resources import app_icon

NOTIFICATION_LABELS = {
    "drive_wanted": "A drive is wanted (files waiting for it)",
    "safe_to_unplug": "A drive has everything: safe to unplug",
    "drive_full": "A drive is full",
    "failures": "Files could not be copied",
    "source_missing": "A source folder is missing",
    "problems": "Something needs attention (keyring locked, watching incomplete, database rebuilt)",
    "new_drive": "A new drive is plugged in (offer to set it up)",
}


def _split(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


class SourcesEditor(QWidget):
    """A list of folders with Add… and Remove."""

    def __init__(self, folders: list[str], parent: QWidget | None = None):
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.list = QListWidget()
        self.list.addItems(folders)
        layout.addWidget(self.list)
        col = QVBoxLayout()
        add, remove = QPushButton("Add…"), QPushButton("Remove")
        add.clicked.connect(self._add)
        remove.clicked.connect(
            lambda: [self.list.takeItem(self.list.row(i)) for i in self.list.selectedItems()]
        )
        col.addWidget(add)
        col.addWidget(remove)
        col.addStretch(1)
        layout.addLayout(col)

    def folders(self) -> list[str]:
        return [self.list.item(i).text() for i in range(self.list.count())]

    @Slot()
    def _add(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Choose a folder to watch", str(Path.home()))
        if d and d not in self.folders():
            self.list.addItem(d)


class SettingsDialog(QDialog):
    def __init__(self, config: Config, config_file: Path, parent: QWidget | None = None):
        super().__init__(parent)
        self.config = config
        self.config_file = config_file
        self.setWindowTitle("usbsync: settings")
        self.setWindowIcon(app_icon())
        self.resize(720, 480)
        layout = QVBoxLayout(self)
        tabs = QTabWidget()
        layout.addWidget(tabs)

        general = QWidget()
        form = QFormLayout(general)
        self.sources = SourcesEditor([str(s) for s in config.sources])
        form.addRow("Watched folders:", self.sources)
        self.include = QLineEdit(", ".join(config.include))
        self.exclude = QLineEdit(", ".join(config.exclude))
        form.addRow("Include (patterns):", self.include)
        form.addRow("Exclude (patterns):", self.exclude)
        self.stability = self._spin(config.stability_window_s, 0, 3600, " s")
        self.rescan = self._spin(config.rescan_interval_s / 60, 1, 24 * 60, " min")
        self.heartbeat = self._spin(config.heartbeat_interval_s / 60, 0.1, 24 * 60, " min")
        form.addRow("Stability window:", self.stability)
        form.addRow("Rescan every:", self.rescan)
        form.addRow("Heartbeat every:", self.heartbeat)
        self.autostart = QCheckBox("Start usbsync when I log in")
        self.autostart.setChecked(autostart.is_enabled())
        form.addRow(self.autostart)
        self.rerun = QPushButton("Run the set-up wizard again…")
        self.rerun.clicked.connect(self.on_rerun)
        form.addRow(self.rerun)
        tabs.addTab(general, "General")

        self.categories = QTableWidget(len(config.categories), 3)
        self.categories.setHorizontalHeaderLabels(["Category", "MIME types", "Extensions (fallback)"])
        for i, c in enumerate(config.categories):
            for col, text in enumerate((c.name, ", ".join(c.mime), ", ".join(c.extensions))):
                self.categories.setItem(i, col, QTableWidgetItem(text))
        self.categories.horizontalHeader().setStretchLastSection(True)
        tabs.addTab(self._with_buttons(self.categories), "Categories")

        self.rules = QTableWidget(len(config.rules), 2)
        self.rules.setHorizontalHeaderLabels(["Pattern (name or path)", "Category"])
        for i, r in enumerate(config.rules):
            self.rules.setItem(i, 0, QTableWidgetItem(r.pattern))
            self.rules.setItem(i, 1, QTableWidgetItem(r.category))
        self.rules.horizontalHeader().setStretchLastSection(True)
        tabs.addTab(self._with_buttons(self.rules), "Rules")

        notes = QWidget()
        nl = QVBoxLayout(notes)
        self.notify: dict[str, QCheckBox] = {}
        for kind in NOTIFICATION_KINDS:
            box = QCheckBox(NOTIFICATION_LABELS[kind])
            box.setChecked(config.notifications.get(kind, True))
            self.notify[kind] = box
            nl.addWidget(box)
        nl.addStretch(1)
        tabs.addTab(notes, "Notifications")

        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #c0392b;")
        layout.addWidget(self.error)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.on_save)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    @staticmethod
    def _spin(value: float, lo: float, hi: float, suffix: str) -> QDoubleSpinBox:
        s = QDoubleSpinBox()
        s.setRange(lo, hi)
        s.setDecimals(1)
        s.setValue(value)
        s.setSuffix(suffix)
        return s

    @staticmethod
    def _with_buttons(table: QTableWidget) -> QWidget:
        w = QWidget()
        layout = QVBoxLayout(w)
        layout.addWidget(table)
        row = QHBoxLayout()
        add, remove = QPushButton("Add"), QPushButton("Remove")
        add.clicked.connect(lambda: table.insertRow(table.rowCount()))

        def remove_selected() -> None:
            for r in sorted({x.row() for x in table.selectedIndexes()}, reverse=True):
                table.removeRow(r)

        remove.clicked.connect(remove_selected)
        row.addWidget(add)
        row.addWidget(remove)
        row.addStretch(1)
        layout.addLayout(row)
        return w

    @staticmethod
    def _cell(table: QTableWidget, row: int, col: int) -> str:
        item = table.item(row, col)
        return item.text().strip() if item else ""

    def document(self) -> dict[str, Any]:
        """The TOML document the widgets describe (drives unchanged)."""
        doc = config_to_dict(self.config)
        doc["sources"] = self.sources.folders()
        doc["include"] = _split(self.include.text())
        doc["exclude"] = _split(self.exclude.text())
        doc["stability_window_seconds"] = self.stability.value()
        doc["rescan_interval_seconds"] = self.rescan.value() * 60
        doc["heartbeat_interval_seconds"] = self.heartbeat.value() * 60
        cats: dict[str, Any] = {}
        for i in range(self.categories.rowCount()):
            name = self._cell(self.categories, i, 0)
            if name:
                cats[name] = {
                    "mime": _split(self._cell(self.categories, i, 1)),
                    "extensions": _split(self._cell(self.categories, i, 2)),
                }
        doc["categories"] = cats
        rules = [
            {"pattern": self._cell(self.rules, i, 0), "category": self._cell(self.rules, i, 1)}
            for i in range(self.rules.rowCount())
            if self._cell(self.rules, i, 0) or self._cell(self.rules, i, 1)
        ]
        if rules:
            doc["rules"] = rules
        else:
            doc.pop("rules", None)
        doc["notifications"] = {k: b.isChecked() for k, b in self.notify.items()}
        return doc

    @Slot()
    def on_rerun(self) -> None:
        """The first-run wizard over the current configuration: its drives are kept."""
        from usbsync_gui.core.paths import app_paths
        from usbsync_gui.views.wizard import FirstRunWizard

        paths = app_paths()
        wiz = FirstRunWizard(paths, self, existing=self.config)
        if wiz.exec() == QDialog.DialogCode.Accepted and wiz.config is not None:
            self.config = wiz.config
            self.accept()

    @Slot()
    def on_save(self) -> None:
        try:
            new = parse_config(tomli_w.dumps(self.document()), self.config_file)
        except ConfigError as exc:
            self.error.setText(str(exc))  # the same one-line message the command line gives
            return
        save_config(new, self.config_file)
        try:
            autostart.set_enabled(self.autostart.isChecked())
        except OSError as exc:
            self.error.setText(f"could not change start at login: {exc}")
            return
        self.config = new
        self.accept()
