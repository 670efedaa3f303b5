"""The first-run wizard: folders to watch, the drives plugged in now and what each holds, categories and rules,
start at login. Nothing is written until Finish; Cancel leaves no configuration behind."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QLabel,
    QMessageBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from usbsync_gui.core.config import Config, Rule, default_drive_name, new_config, save_config
from usbsync_gui.core.paths import AppPaths
from usbsync_gui.core.registration import RegistrationError, register_volume
from usbsync_gui.core.units import human_bytes
from usbsync_gui.core.volumes import Volume, list_volumes
from usbsync_gui.platform import autostart, probe_volume
from usbsync_gui.views.resources import app_icon
from usbsync_gui.views.settings_dialog import SourcesEditor


class SourcesPage(QWizardPage):
    def __init__(self, default: Path):
        super().__init__()
        self.setTitle("Which folder is your outbox?")
        self.setSubTitle(
            "usbsync watches these folders. Files you put in them are copied to the right USB drive; "
            "they themselves are never changed, moved or deleted."
        )
        layout = QVBoxLayout(self)
        self.editor = SourcesEditor([str(default)])
        layout.addWidget(self.editor)

    def validatePage(self) -> bool:
        if not self.editor.folders():
            QMessageBox.warning(self, "usbsync", "Choose at least one folder to watch.")
            return False
        return True


class DrivesPage(QWizardPage):
    """The volumes plugged in now; tick the kinds of files each should hold (or skip)."""

    def __init__(self, categories: list[str], volumes: list[Volume]):
        super().__init__()
        self.setTitle("Which drive holds what?")
        self.setSubTitle(
            "Tick the kinds of files each drive should receive. Drives not ticked are left alone. "
            "You can skip this and add drives later from the tray menu."
        )
        self.categories = categories
        self.volumes = volumes
        layout = QVBoxLayout(self)
        self.table = QTableWidget(len(volumes), 2 + len(categories))
        self.table.setHorizontalHeaderLabels(["Volume", "Name", *categories])
        for i, v in enumerate(volumes):
            info = probe_volume(v.device, v.mountpoint, v.fstype)
            label = info.label or Path(v.mountpoint).name or v.mountpoint
            vol = QTableWidgetItem(f"{label}  ({info.fs_type}, {human_bytes(v.free_bytes)} free)")
            vol.setFlags(vol.flags() & ~Qt.ItemFlag.ItemIsEditable)
            vol.setToolTip(v.mountpoint)
            self.table.setItem(i, 0, vol)
            self.table.setItem(i, 1, QTableWidgetItem(default_drive_name(label)))
            for j in range(len(categories)):
                box = QTableWidgetItem()
                box.setFlags(Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled)
                box.setCheckState(Qt.CheckState.Unchecked)
                self.table.setItem(i, 2 + j, box)
        self.table.resizeColumnsToContents()
        layout.addWidget(self.table)
        if not volumes:
            layout.addWidget(QLabel("No USB drive is plugged in right now. That is fine: add drives later."))

    def choices(self) -> list[tuple[Volume, str, list[str]]]:
        out = []
        for i, v in enumerate(self.volumes):
            cats = []
            for j, c in enumerate(self.categories):
                box = self.table.item(i, 2 + j)
                if box is not None and box.checkState() == Qt.CheckState.Checked:
                    cats.append(c)
            name_item = self.table.item(i, 1)
            if cats:
                out.append((v, name_item.text().strip() if name_item else "", cats))
        return out


class CategoriesPage(QWizardPage):
    def __init__(self, config: Config):
        super().__init__()
        self.setTitle("Kinds of files")
        self.setSubTitle(
            "usbsync tells a file's kind from its content. Rules (a name pattern and a kind) win "
            "over that; add some if you like, e.g. scans/* -> documents."
        )
        layout = QVBoxLayout(self)
        cats = QTableWidget(len(config.categories), 2)
        cats.setHorizontalHeaderLabels(["Kind", "Recognised as"])
        for i, c in enumerate(config.categories):
            cats.setItem(i, 0, QTableWidgetItem(c.name))
            cats.setItem(i, 1, QTableWidgetItem(", ".join(c.mime[:4]) + (" …" if len(c.mime) > 4 else "")))
        cats.horizontalHeader().setStretchLastSection(True)
        cats.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        layout.addWidget(cats)
        layout.addWidget(QLabel("Rules (optional):"))
        self.rules = QTableWidget(max(3, len(config.rules) + 1), 2)
        self.rules.setHorizontalHeaderLabels(["Pattern", "Kind"])
        for i, r in enumerate(config.rules):  # a re-run starts from the rules there are
            self.rules.setItem(i, 0, QTableWidgetItem(r.pattern))
            self.rules.setItem(i, 1, QTableWidgetItem(r.category))
        self.rules.horizontalHeader().setStretchLastSection(True)
        layout.addWidget(self.rules)
        self.names = [c.name for c in config.categories]

    def rule_list(self) -> list[Rule]:
        out = []
        for i in range(self.rules.rowCount()):
            p, c = self.rules.item(i, 0), self.rules.item(i, 1)
            if p and c and p.text().strip() and c.text().strip():
                out.append(Rule(p.text().strip(), c.text().strip()))
        return out

    def validatePage(self) -> bool:
        bad = [r.category for r in self.rule_list() if r.category not in self.names]
        if bad:
            QMessageBox.warning(
                self, "usbsync", f"Unknown kind {bad[0]!r}; use one of: {', '.join(self.names)}."
            )
            return False
        return True


class FinishPage(QWizardPage):
    def __init__(self) -> None:
        super().__init__()
        self.setTitle("Ready")
        self.setSubTitle(
            "usbsync will live in the system tray and tell you when a drive is wanted and when it "
            "is safe to unplug."
        )
        layout = QVBoxLayout(self)
        self.autostart = QCheckBox("Start usbsync when I log in")
        self.autostart.setChecked(True)
        layout.addWidget(self.autostart)


class FirstRunWizard(QWizard):
    """Writes the configuration (and registers the chosen drives) only when finished."""

    def __init__(
        self,
        paths: AppPaths,
        parent: QWidget | None = None,
        volumes: list[Volume] | None = None,
        existing: Config | None = None,
    ):
        super().__init__(parent)
        self.paths = paths
        self.setWindowTitle("Set up usbsync")
        self.setWindowIcon(app_icon())
        self.setWizardStyle(QWizard.WizardStyle.ModernStyle)
        self.resize(760, 520)
        self.existing = existing  # run again from settings: keep its drives, start from its folders and rules
        base = existing or new_config([paths.default_outbox])
        if volumes is None:
            volumes = [v for v in list_volumes() if v.mountpoint != "/" and not v.read_only]
        self.sources_page = SourcesPage(paths.default_outbox)
        if existing is not None:
            self.sources_page.editor.list.clear()
            self.sources_page.editor.list.addItems([str(s) for s in existing.sources])
        self.drives_page = DrivesPage([c.name for c in base.categories], volumes)
        self.categories_page = CategoriesPage(base)
        self.finish_page = FinishPage()
        for page in (self.sources_page, self.drives_page, self.categories_page, self.finish_page):
            self.addPage(page)
        self.config: Config | None = None
        self.problems: list[str] = []

    def accept(self) -> None:
        sources = [Path(s) for s in self.sources_page.editor.folders()]
        for s in sources:
            s.mkdir(parents=True, exist_ok=True)
        rules = tuple(self.categories_page.rule_list())
        if self.existing is not None:
            config = replace(self.existing, sources=tuple(s.resolve() for s in sources), rules=rules)
        else:
            config = replace(new_config(sources), rules=rules)
        self.paths.ensure()
        save_config(config, self.paths.config_file)
        for volume, name, cats in self.drives_page.choices():
            try:
                config = register_volume(self.paths, config, volume.mountpoint, name, cats).config
            except RegistrationError as exc:
                self.problems.append(f"{volume.mountpoint}: {exc}")
        try:
            autostart.set_enabled(self.finish_page.autostart.isChecked())
        except OSError as exc:
            self.problems.append(f"start at login: {exc}")
        self.config = config
        if self.problems:
            QMessageBox.warning(self, "usbsync", "Set up, with problems:\n" + "\n".join(self.problems))
        super().accept()
