"""Settings over the same TOML config as the CLI. Everyday things first (outbox folders, drives, copy speed,
start at login), then notifications, rules, and the engineering knobs under Advanced (timings, include/exclude
patterns, the MIME types and extensions of each kind). Validated by the same parser, so the messages are the
CLI's; a running engine applies a saved change within two seconds, without a restart.

Saving writes only what was changed here onto the configuration as it is saved *now*: a drive registered, or a
notification turned off, while Settings was open is kept. Settings never writes the drives list.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import shiboken6
import tomli_w
from PySide6.QtCore import QAbstractItemModel, QModelIndex, QPersistentModelIndex, Qt, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QStyledItemDelegate,
    QStyleOptionViewItem,
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
    update_config,
)
from usbsync_gui.engine.tasks import TaskResult
from usbsync_gui.platform import autostart
from usbsync_gui.views.context import ViewContext
from usbsync_gui.views.resources import app_icon, error_color

NOTIFICATION_LABELS = {
    "drive_wanted": "A drive is wanted (files waiting for it)",
    "safe_to_unplug": "A drive has everything: safe to unplug",
    "drive_full": "A file does not fit on its drive",
    "failures": "Files could not be copied",
    "source_missing": "A source folder is missing",
    "problems": "Something needs attention (keyring locked, watching incomplete, database rebuilt)",
    "new_drive": "A new drive is plugged in (offer to set it up)",
}

#: The configuration fields Settings edits (besides notifications, merged kind by kind). Not the drives.
SETTINGS_FIELDS = (
    "sources",
    "categories",
    "rules",
    "include",
    "exclude",
    "stability_window_s",
    "rescan_interval_s",
    "heartbeat_interval_s",
    "max_copy_rate_mib_s",
)

SETTINGS_SIZE = (780, 600)
# The copy speed limit is kept in MiB/s (``max_copy_rate_mib_s``) but shown in MB/s, the SI units every size and
# speed in the app is shown in (core/units.py human_bytes): 1 MiB = 1.048576 MB.
MB_PER_MIB = 1.048576


def _split(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def apply_settings(current: Config, before: Config, after: Config) -> Config:
    """Settings' own edits onto ``current`` (the configuration saved now): each field Settings owns that differs
    between ``before`` (what the dialog showed) and ``after`` (what it shows at Save), and each notification
    switched. Everything else, the drives first of all, stays as in ``current``."""
    changes: dict[str, Any] = {
        f: getattr(after, f) for f in SETTINGS_FIELDS if getattr(after, f) != getattr(before, f)
    }
    notes = dict(current.notifications)
    for kind, on in after.notifications.items():
        if before.notifications.get(kind) != on:
            notes[kind] = on
    return replace(current, **changes, notifications=notes)


class KindDelegate(QStyledItemDelegate):
    """The kind column of a rules table: a drop-down of the configured kinds, so a typo cannot be made."""

    def __init__(self, kinds: Callable[[], list[str]], parent: QWidget | None = None):
        super().__init__(parent)
        self._kinds = kinds

    def createEditor(
        self, parent: QWidget, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QWidget:
        combo = QComboBox(parent)
        combo.addItems(self._kinds())
        combo.setPlaceholderText("choose a kind")
        combo.activated.connect(lambda _i: self.commitData.emit(combo))
        return combo

    def setEditorData(self, editor: QWidget, index: QModelIndex | QPersistentModelIndex) -> None:
        assert isinstance(editor, QComboBox)
        editor.setCurrentIndex(editor.findText(str(index.data() or "")))

    def setModelData(
        self, editor: QWidget, model: QAbstractItemModel, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        assert isinstance(editor, QComboBox)
        if editor.currentIndex() >= 0:
            model.setData(index, editor.currentText())


def keep_kind_editors_open(table: QTableWidget, col: int) -> None:
    """Show the kind drop-down in every row of ``table``'s column ``col``, rows added later included."""

    def open_rows(first: int, last: int) -> None:
        for r in range(first, last + 1):
            item = table.item(r, col)
            if item is None:
                item = QTableWidgetItem("")
                table.setItem(r, col, item)
            table.openPersistentEditor(item)

    open_rows(0, table.rowCount() - 1)
    table.model().rowsInserted.connect(lambda _parent, first, last: open_rows(first, last))


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
    """Args:
    config: the configuration to show (what the tray has).
    config_file: where it is saved.
    ctx: the views' context: with it, Save writes on ``ctx.tasks`` and a Drives… button opens the drives
        dialog; without it (a dialog on its own, tests), Save writes at once.
    """

    def __init__(
        self,
        config: Config,
        config_file: Path,
        parent: QWidget | None = None,
        ctx: ViewContext | None = None,
    ):
        super().__init__(parent)
        self.config = config
        self.config_file = config_file
        self.ctx = ctx
        self.drives_dialog: QDialog | None = None
        self.setWindowTitle("usbsync: settings")
        self.setWindowIcon(app_icon())
        self.resize(*SETTINGS_SIZE)
        layout = QVBoxLayout(self)
        self.tabs = tabs = QTabWidget()
        layout.addWidget(tabs)

        # -- General: what everyone sets --------------------------------------------------------------------
        general = QWidget()
        gl = QVBoxLayout(general)
        folders = QGroupBox("Outbox folders")
        fl = QVBoxLayout(folders)
        about = QLabel("Files you put in these folders are copied to the drives that hold their kind.")
        about.setWordWrap(True)
        fl.addWidget(about)
        self.sources = SourcesEditor([str(s) for s in config.sources])
        fl.addWidget(self.sources)
        gl.addWidget(folders, 1)
        drives = QGroupBox("Drives")
        dl = QHBoxLayout(drives)
        self.drives_list = QListWidget()
        self.drives_list.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.drives_list.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        dl.addWidget(self.drives_list)
        dcol = QVBoxLayout()
        self.drives_btn = QPushButton("Drives…")
        self.drives_btn.setToolTip("Register a drive, change what a drive holds, forget one")
        self.drives_btn.clicked.connect(self.on_drives)
        self.drives_btn.setVisible(ctx is not None)
        dcol.addWidget(self.drives_btn)
        dcol.addStretch(1)
        dl.addLayout(dcol)
        gl.addWidget(drives, 1)
        self.rate = QDoubleSpinBox()
        self.rate.setRange(0, 10_000)
        self.rate.setDecimals(1)
        self.rate.setSingleStep(1)
        self.rate.setSuffix(" MB/s")
        self.rate.setSpecialValueText("no limit")
        self._rate_shown = round(config.max_copy_rate_mib_s * MB_PER_MIB, 1)
        self.rate.setValue(self._rate_shown)
        self.rate.setToolTip(
            "Limit how fast files are copied to the drives (megabytes per second); 0: no limit"
        )
        self.rate.setMinimumWidth(130)
        row = QHBoxLayout()
        row.addWidget(QLabel("Copy speed limit:"))
        row.addWidget(self.rate)
        row.addWidget(QLabel("(leaves the drive and the computer room for other work)"))
        row.addStretch(1)
        gl.addLayout(row)
        self._autostart_was = autostart.is_enabled()
        self.autostart = QCheckBox("Start usbsync when I log in")
        self.autostart.setChecked(self._autostart_was)
        gl.addWidget(self.autostart)
        self.rerun = QPushButton("Run the set-up wizard again…")
        self.rerun.clicked.connect(self.on_rerun)
        row = QHBoxLayout()
        row.addWidget(self.rerun)
        row.addStretch(1)
        gl.addLayout(row)
        tabs.addTab(general, "General")

        notes = QWidget()
        nl = QVBoxLayout(notes)
        nl.addWidget(QLabel("Tell me when:"))
        self.notify: dict[str, QCheckBox] = {}
        for kind in NOTIFICATION_KINDS:
            box = QCheckBox(NOTIFICATION_LABELS[kind])
            box.setChecked(config.notifications.get(kind, True))
            self.notify[kind] = box
            nl.addWidget(box)
        nl.addStretch(1)
        tabs.addTab(notes, "Notifications")

        # (The kinds are edited under Advanced; the rules' drop-downs offer them, so they come first.)
        self.categories = QTableWidget(len(config.categories), 3)
        self.categories.setHorizontalHeaderLabels(["Kind", "MIME types", "Extensions (fallback)"])
        for i, c in enumerate(config.categories):
            for col, text in enumerate((c.name, ", ".join(c.mime), ", ".join(c.extensions))):
                self.categories.setItem(i, col, QTableWidgetItem(text))
        self._table_look(self.categories)
        self.categories.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Interactive)
        self.categories.setColumnWidth(1, 260)
        self.categories.setWordWrap(False)
        self.rules = QTableWidget(len(config.rules), 2)
        self.rules.setHorizontalHeaderLabels(["Pattern (name or path)", "Kind"])
        for i, r in enumerate(config.rules):
            self.rules.setItem(i, 0, QTableWidgetItem(r.pattern))
            self.rules.setItem(i, 1, QTableWidgetItem(r.category))
        self._table_look(self.rules)
        self.rules.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.rules.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Fixed)
        self.rules.horizontalHeader().setStretchLastSection(False)
        self.rules.setColumnWidth(1, 200)
        self.rules.setItemDelegateForColumn(1, KindDelegate(self._kind_names, self.rules))
        keep_kind_editors_open(self.rules, 1)
        rules_tab = QWidget()
        rl = QVBoxLayout(rules_tab)
        hint = QLabel(
            "A rule sends files whose name or path matches a pattern to a kind, whatever their content: "
            "scans/* to documents, *.raw to images."
        )
        hint.setWordWrap(True)
        rl.addWidget(hint)
        rl.addWidget(self._with_buttons(self.rules))
        tabs.addTab(rules_tab, "Rules")

        # -- Advanced: the engineering knobs ----------------------------------------------------------------
        advanced = QWidget()
        al = QVBoxLayout(advanced)
        knobs = QGroupBox("Watching the outbox")
        kf = QFormLayout(knobs)
        self.include = QLineEdit(", ".join(config.include))
        self.exclude = QLineEdit(", ".join(config.exclude))
        kf.addRow("Include (patterns):", self.include)
        kf.addRow("Exclude (patterns):", self.exclude)
        self.stability = self._spin(config.stability_window_s, 0, 3600, " s")
        self.stability.setToolTip(
            "The stability window: a file still being written is taken once it has not changed for this long"
        )
        self.rescan = self._spin(config.rescan_interval_s / 60, 1, 24 * 60, " min")
        self.rescan.setToolTip(
            "The whole outbox is looked through this often, for anything the watcher missed"
        )
        self.heartbeat = self._spin(config.heartbeat_interval_s / 60, 0.1, 24 * 60, " min")
        self.heartbeat.setToolTip("This often, one line of figures (waiting, copied, memory) goes to the log")
        times = QHBoxLayout()
        for label, spin in (
            ("Stability window:", self.stability),
            ("Rescan every:", self.rescan),
            ("Heartbeat every:", self.heartbeat),
        ):
            times.addWidget(QLabel(label))
            times.addWidget(spin)
        times.addStretch(1)
        kf.addRow(times)
        al.addWidget(knobs)
        kinds = QGroupBox("Kinds of files: MIME types, and extensions when the content does not tell")
        kl = QVBoxLayout(kinds)
        what = QLabel(
            "A MIME type is the file's type as its content shows it (image/jpeg, application/pdf); image/* "
            "matches every image. The extension is used only when the content does not tell."
        )
        what.setWordWrap(True)
        kl.addWidget(what)
        kl.addWidget(self._with_buttons(self.categories))
        al.addWidget(kinds, 1)
        tabs.addTab(advanced, "Advanced")

        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet(f"color: {error_color()};")
        layout.addWidget(self.error)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.on_save)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.show_drives()
        if ctx is not None:
            ctx.summary.changed.connect(self._on_summary)
        # What the widgets showed at first, read back as they will be at Save: a value the widgets round
        # (a heartbeat of 45 s shown as 0.8 min) is not mistaken for an edit.
        try:
            self._before = parse_config(tomli_w.dumps(self.document()), config_file)
        except ConfigError:
            self._before = config

    @staticmethod
    def _table_look(table: QTableWidget) -> None:
        table.verticalHeader().setVisible(False)
        header = table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)

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
        layout.setContentsMargins(0, 0, 0, 0)
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

    def _kind_names(self) -> list[str]:
        names = [self._cell(self.categories, i, 0) for i in range(self.categories.rowCount())]
        return [n for n in names if n]

    def show_drives(self) -> None:
        """The registered drives (read-only here; the drives dialog changes them)."""
        config = self.ctx.reload_config() if self.ctx is not None else self.config
        self.drives_list.clear()
        for d in config.drives:
            self.drives_list.addItem(f"{d.name}: {', '.join(d.categories)}")
        if not config.drives:
            self.drives_list.addItem(
                "No drive registered yet" + (": press Drives…" if self.ctx is not None else "")
            )

    @Slot(object)
    def _on_summary(self, _summary: object) -> None:
        if shiboken6.isValid(self):
            self.show_drives()

    def document(self) -> dict[str, Any]:
        """The TOML document the widgets describe (drives unchanged)."""
        doc = config_to_dict(self.config)
        doc["sources"] = self.sources.folders()
        doc["include"] = _split(self.include.text())
        doc["exclude"] = _split(self.exclude.text())
        doc["stability_window_seconds"] = self.stability.value()
        doc["rescan_interval_seconds"] = self.rescan.value() * 60
        doc["heartbeat_interval_seconds"] = self.heartbeat.value() * 60
        shown = self.rate.value()  # untouched: the saved value stays exact (not converted there and back)
        doc["max_copy_rate_mib_s"] = (
            self.config.max_copy_rate_mib_s if shown == self._rate_shown else shown / MB_PER_MIB
        )
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
    def on_drives(self) -> None:
        """The drives dialog over the same context (it saves its own changes; the list here follows)."""
        if self.ctx is None:
            return
        from usbsync_gui.views.drives_dialog import DrivesDialog

        if self.drives_dialog is None or not shiboken6.isValid(self.drives_dialog):
            self.drives_dialog = DrivesDialog(self.ctx, self)
            self.drives_dialog.finished.connect(lambda _r: self.show_drives())
        self.drives_dialog.show()

    @Slot()
    def on_rerun(self) -> None:
        """The first-run wizard over the current configuration: its drives are kept."""
        from usbsync_gui.core.paths import app_paths
        from usbsync_gui.views.wizard import FirstRunWizard

        paths = self.ctx.paths if self.ctx is not None else app_paths()
        runner = self.ctx.tasks if self.ctx is not None else None
        wiz = FirstRunWizard(paths, self, existing=self.config, runner=runner)
        if wiz.exec() == QDialog.DialogCode.Accepted and wiz.config is not None:
            self.config = wiz.config
            if self.ctx is not None:
                self.ctx.config = wiz.config
            self.accept()

    @Slot()
    def on_save(self) -> None:
        try:
            after = parse_config(tomli_w.dumps(self.document()), self.config_file)
        except ConfigError as exc:
            self.error.setText(str(exc))  # the same one-line message the command line gives
            return
        before, path = self._before, self.config_file
        start = self.autostart.isChecked()
        change_start = start != self._autostart_was

        def work() -> tuple[Config, str]:
            from usbsync_gui.views.drives_dialog import CONFIG_WRITE_LOCK

            with CONFIG_WRITE_LOCK:
                if path.exists():
                    new = update_config(path, lambda current: apply_settings(current, before, after))
                else:  # nothing saved yet (a dialog on its own): what it shows
                    save_config(after, path)
                    new = after
            problem = ""
            if change_start:
                try:
                    autostart.set_enabled(start)
                except OSError as exc:
                    problem = f"could not change start at login: {exc}"
            return new, problem

        self.buttons.setEnabled(False)
        self.error.setText("")
        if self.ctx is None:
            try:
                result: TaskResult[tuple[Config, str]] = TaskResult(work())
            except (ConfigError, OSError) as exc:
                result = TaskResult(None, exc)
            self._saved(result, after)
        else:
            self.ctx.tasks.run(work, lambda r: self._saved(r, after), name="settings: save")

    def _saved(self, result: TaskResult[tuple[Config, str]], after: Config) -> None:
        if not shiboken6.isValid(self):
            return
        self.buttons.setEnabled(True)
        err = result.error
        if isinstance(err, ConfigError | OSError):
            self.error.setText(f"Not saved: {err}" if isinstance(err, OSError) else str(err))
            return
        if err is not None:
            raise err
        new, problem = result.unwrap()
        self.config, self._before = new, after  # saved: Save again does not apply the same edits twice
        if self.ctx is not None:
            self.ctx.config = new
        if problem:  # the settings were saved; start at login was not changed
            self.error.setText(problem)
            return
        self.accept()
