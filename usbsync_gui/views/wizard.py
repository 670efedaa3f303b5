"""The first-run wizard: folders to watch, the drives plugged in now and what each holds, kinds of files and
rules, start at login. Nothing is written until Finish; Cancel leaves no configuration behind.

The drives page shows each plugged-in volume's label and mount point (two sticks labelled PHOTOS look
different), its size, volume ID and what it is to this installation; the volumes are looked at on a pool
thread. A volume another usbsync installation uses gets a question before it is used here (default: no).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

import shiboken6
from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt, Slot
from PySide6.QtGui import QBrush
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from usbsync_gui.core.config import (
    DEFAULT_DRIVE_FOLDER,
    Config,
    ConfigError,
    Rule,
    default_drive_name,
    drive_name_key,
    drive_name_problem,
    load_config,
    new_config,
    save_config,
    unique_drive_name,
)
from usbsync_gui.core.identity import KeyringLocked, SecretStore
from usbsync_gui.core.paths import AppPaths
from usbsync_gui.core.registration import (
    Inspect,
    PluggedVolume,
    RegistrationError,
    VolumeKind,
    register_volume,
    survey_volumes,
)
from usbsync_gui.core.units import human_bytes
from usbsync_gui.core.volumes import Volume, list_volumes
from usbsync_gui.engine.tasks import TaskResult, TaskRunner
from usbsync_gui.platform import autostart
from usbsync_gui.views.drives_dialog import WARN_COLOR, error_style, said_yes, take_over_box
from usbsync_gui.views.resources import app_icon
from usbsync_gui.views.settings_dialog import KindDelegate, SourcesEditor, keep_kind_editors_open

#: Wide enough for the volume, its name, a tick per kind and what it is; fits a 1366x768 screen.
WIZARD_SIZE = (1060, 640)
#: The drives page's name column at first, in px: at least this, at most that (the user may widen it).
NAME_WIDTH = (160, 240)


#: ``choose(parent, caption, start folder)`` -> the folder chosen, or ``''`` when cancelled (tests pass their own).
FolderChooser = Callable[[QWidget, str, str], str]


def existing_ancestor(folder: str | Path) -> str:
    """``folder`` if it is a folder, else its nearest ancestor that is one (the suggested outbox is only made on
    Finish: the chooser opens where it will be)."""
    p = Path(folder).expanduser()
    while not p.is_dir() and p.parent != p:
        p = p.parent
    return str(p)


class OutboxEditor(SourcesEditor):
    """The folders to watch, as on the settings dialog, but for a first choice: the chooser opens at the folder
    in question (the selected one, else the last one: at first the suggested outbox), and while the list holds
    only the untouched suggestion, the folder chosen takes its place instead of joining it (its button then says
    Change…; after that, Add… adds).

    Its Add… button is SourcesEditor's, connected there to ``self._add``: this class's :meth:`_add`.
    """

    def __init__(self, folders: list[str], suggestion: str | None, choose: FolderChooser):
        super().__init__(folders)
        self._suggestion = suggestion  # None once the user chose a folder (or on a run again: no suggestion)
        self._choose = choose
        self.add_btn = next(b for b in self.findChildren(QPushButton) if b.text() == "Add…")
        self.list.model().rowsRemoved.connect(self._update_button)
        self._update_button()

    def replaces_suggestion(self) -> bool:
        return self._suggestion is not None and self.folders() == [self._suggestion]

    def start_folder(self) -> str:
        """Where the chooser opens: the selected folder, else the last listed, else the home folder; the nearest
        existing folder above it when it does not exist yet."""
        selected = self.list.selectedItems()
        folders = self.folders()
        at = selected[0].text() if selected else folders[-1] if folders else str(Path.home())
        return existing_ancestor(at)

    @Slot()
    def _update_button(self) -> None:
        replacing = self.replaces_suggestion()
        self.add_btn.setText("Change…" if replacing else "Add…")
        self.add_btn.setToolTip(
            "Choose another folder instead of the suggested one." if replacing else "Watch one more folder."
        )

    @Slot()
    def _add(self) -> None:
        replacing = self.replaces_suggestion()
        caption = "Choose your outbox folder" if replacing else "Choose a folder to watch"
        chosen = self._choose(self, caption, self.start_folder())
        if not chosen:
            return  # cancelled: the list stays as it was
        if replacing:
            self.list.clear()
        if chosen not in self.folders():
            self.list.addItem(chosen)
        self._suggestion = None  # touched: from now on Add… adds
        self._update_button()


class SourcesPage(QWizardPage):
    """Args:
    folders: the folders listed at first.
    suggested: they are a suggestion (a first run's default outbox) the first choice replaces.
    choose: the folder chooser (default: the platform's).
    """

    def __init__(self, folders: list[str], suggested: bool, choose: FolderChooser | None = None):
        super().__init__()
        self.setTitle("Which folder is your outbox?")
        self.setSubTitle(
            "usbsync watches the folder listed here: keep the suggestion or Change… it to your own, then Add… more if "
            "you like. Files you put in it are copied to the right USB drive; they themselves are never changed, "
            "moved or deleted."
        )
        layout = QVBoxLayout(self)
        suggestion = folders[0] if suggested and len(folders) == 1 else None
        self.editor = OutboxEditor(folders, suggestion, choose or QFileDialog.getExistingDirectory)
        layout.addWidget(self.editor)

    def validatePage(self) -> bool:
        if not self.editor.folders():
            QMessageBox.warning(self, "usbsync", "Choose at least one folder to watch.")
            return False
        return True


class _LinesDelegate(QStyledItemDelegate):
    """A cell of lines kept as lines: each is elided on its own (the view's elide mode) instead of wrapped."""

    def initStyleOption(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        super().initStyleOption(option, index)
        option.features &= ~QStyleOptionViewItem.ViewItemFeature.WrapText


@dataclass
class _Row:
    """One volume on the drives page, and what the user did with it."""

    volume: Volume
    pv: PluggedVolume | None = None  # None until the volume was looked at
    name_touched: bool = False
    ticks_touched: bool = False
    confirmed: bool = False  # the user said yes to using another installation's volume here
    registered_as: tuple[str, tuple[str, ...]] | None = None  # (name, categories) when registered here
    folder: str = DEFAULT_DRIVE_FOLDER  # a drive registered here keeps its folder

    @property
    def mountpoint(self) -> str:
        return self.volume.mountpoint


@dataclass(frozen=True)
class DriveChoice:
    """A volume to register on Finish."""

    volume: Volume
    name: str
    categories: list[str]
    take_over: bool  # the user said yes to using another installation's volume here
    folder: str = DEFAULT_DRIVE_FOLDER


class DrivesPage(QWizardPage):
    """The volumes plugged in now; tick the kinds of files each should hold (or skip).

    Columns: the volume (label, mount point, size, volume ID), the drive's name, one tick per kind, and what
    the volume is here, in registration's words (:attr:`PluggedVolume.status`, as the drives dialog says it).
    """

    def __init__(
        self,
        categories: list[str],
        volumes: list[Volume] | None,
        survey: Callable[[], list[PluggedVolume]],
        runner: TaskRunner,
        taken: Iterable[str] = (),
    ):
        super().__init__()
        self.setTitle("Which drive holds what?")
        self.setSubTitle(
            "Tick the kinds of files each drive should receive; drives without a tick are left alone. "
            "You can skip this and add drives later from the tray menu (Drives…)."
        )
        self.categories = categories
        self._survey = survey
        self._runner = runner
        self._taken = {drive_name_key(n) for n in taken}
        self._filling = False
        self._scanning = False
        self.rows: list[_Row] = []
        self.question: QMessageBox | None = None  # the take-over question open now
        self._to_ask: list[_Row] = []
        layout = QVBoxLayout(self)
        self.table = QTableWidget(0, 3 + len(categories))
        self.table.setHorizontalHeaderLabels(["Volume", "Name", *categories, "What it is"])
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setFocusPolicy(Qt.FocusPolicy.ClickFocus)  # no cell looks picked before one is
        self.table.setEditTriggers(
            QAbstractItemView.EditTrigger.DoubleClicked
            | QAbstractItemView.EditTrigger.SelectedClicked
            | QAbstractItemView.EditTrigger.EditKeyPressed
            | QAbstractItemView.EditTrigger.AnyKeyPressed
        )
        # The table fits the page, never scrolls sideways: the ticks take what their headers need, the name
        # what it needs (the user may widen it), and the volume and what it is share the rest. A volume's lines
        # are elided in the middle (both ends of a mount point say most), what it is wraps, and the rows grow
        # to hold it; each cell's tooltip has all of it.
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.table.setWordWrap(True)
        self.table.setItemDelegateForColumn(0, _LinesDelegate(self.table))
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Interactive)  # the name: the user may widen it
        header.setStretchLastSection(True)
        header.setMinimumSectionSize(self.table.fontMetrics().horizontalAdvance("m") * 3)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self.table.itemChanged.connect(self._on_item_changed)
        layout.addWidget(self.table)
        self.note = QLabel()
        self.note.setWordWrap(True)
        layout.addWidget(self.note)
        row = QHBoxLayout()
        self.rescan_btn = QPushButton("Look again")
        self.rescan_btn.setToolTip("Plugged in a drive just now? Look at the plugged-in volumes again.")
        self.rescan_btn.clicked.connect(self.rescan)
        row.addWidget(self.rescan_btn)
        row.addStretch(1)
        layout.addLayout(row)
        for v in volumes or []:
            self._add_row(_Row(v))
        self._fit_columns()
        self.rescan()

    # -- rows -----------------------------------------------------------------------------------------------

    def _cell(self, row: int, col: int) -> QTableWidgetItem:
        item = self.table.item(row, col)
        assert item is not None  # every cell gets an item when its row is added
        return item

    def _cat_cols(self) -> range:
        return range(2, 2 + len(self.categories))

    def _status_col(self) -> int:
        return 2 + len(self.categories)

    def _add_row(self, row: _Row) -> None:
        i = self.table.rowCount()
        self.rows.append(row)
        self._filling = True
        try:
            self.table.insertRow(i)
            self.table.setItem(i, 0, QTableWidgetItem())
            label = Path(row.mountpoint).name or row.mountpoint
            name = unique_drive_name(default_drive_name(label), self._taken | self._row_names(i))
            self.table.setItem(i, 1, QTableWidgetItem(name))
            for col in self._cat_cols():
                box = QTableWidgetItem()
                box.setFlags(Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled)
                box.setCheckState(Qt.CheckState.Unchecked)
                self.table.setItem(i, col, box)
            self.table.setItem(i, self._status_col(), QTableWidgetItem())
        finally:
            self._filling = False
        self._show_row(i)

    def _show_row(self, i: int) -> None:
        """Fill row ``i``'s volume and status cells from what is known about it (and, until the user typed or
        ticked, its name and ticks)."""
        row = self.rows[i]
        pv, v = row.pv, row.volume
        title = (pv.label or "(no label)") if pv else (Path(v.mountpoint).name or v.mountpoint)
        size = f"{human_bytes(v.total_bytes)}, {human_bytes(v.free_bytes)} free"
        ident = f"volume ID {pv.short_id or 'unknown'}" if pv else "volume ID …"
        self._filling = True
        try:
            vol = self._cell(i, 0)
            text = f"{title}\n{v.mountpoint}\n{size}\n{ident}"  # a line each: none is cut in a narrow column
            vol.setText(text)
            vol.setFlags(Qt.ItemFlag.ItemIsEnabled)
            vol.setToolTip(f"{title}\n{size}\n{pv.detail}" if pv else text)  # all of it, the whole volume ID
            status = self._cell(i, self._status_col())
            status.setFlags(Qt.ItemFlag.ItemIsEnabled)
            status.setText(pv.status if pv else "looking at it…")
            status.setToolTip(f"{pv.status}\n{pv.detail}" if pv else "")
            if pv is not None and pv.kind in (VolumeKind.OTHER, VolumeKind.LOOK_ALIKE, VolumeKind.LOCKED):
                status.setForeground(QBrush(WARN_COLOR))
            if pv is None:
                return
            drive = pv.cv.drive if pv.kind is VolumeKind.REGISTERED else None
            if drive is not None:
                row.registered_as = (drive.name, tuple(drive.categories))
                row.folder = drive.folder
            if not row.name_touched:
                if drive is not None:
                    name = drive.name
                else:
                    taken = self._taken | self._row_names(i)
                    if pv.kind is VolumeKind.LOOK_ALIKE and pv.twin:  # re-formatted: it may keep its name
                        taken.discard(drive_name_key(pv.twin))
                    base = pv.marker_name if pv.kind is VolumeKind.FORGOTTEN and pv.marker_name else pv.label
                    name = unique_drive_name(
                        default_drive_name(base), taken
                    )  # no label: "Drive", not its UUID
                self._cell(i, 1).setText(name)
            usable = pv.can_register or pv.kind is VolumeKind.REGISTERED
            for col, cat in zip(self._cat_cols(), self.categories, strict=True):
                box = self._cell(i, col)
                if drive is not None and not row.ticks_touched:
                    box.setCheckState(
                        Qt.CheckState.Checked if cat in drive.categories else Qt.CheckState.Unchecked
                    )
                flags = Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled
                box.setFlags(flags if usable else Qt.ItemFlag.ItemIsUserCheckable)
                if not usable:
                    box.setCheckState(Qt.CheckState.Unchecked)
        finally:
            self._filling = False
        if pv is not None and pv.needs_take_over and self._ticked(i) and not row.confirmed:
            self._ask(row)

    def _fit_columns(self) -> None:
        self.table.resizeColumnToContents(1)
        self.table.setColumnWidth(1, min(max(self.table.columnWidth(1), NAME_WIDTH[0]), NAME_WIDTH[1]))
        if not self.rows:
            self.note.setText(
                "Looking for plugged-in drives…"
                if self._scanning
                else "No USB drive is plugged in right now. That is fine: add drives later, or plug one in "
                "and press Look again."
            )
        else:
            self.note.setText("Double-click a name to change it.")

    def _row_names(self, but: int) -> set[str]:
        """The names in the other rows (two new PHOTOS sticks must not both be suggested as Photos)."""
        return {
            drive_name_key(it.text().strip())
            for r in range(self.table.rowCount())
            if r != but and (it := self.table.item(r, 1)) is not None
        }

    def _name_problem(self) -> str | None:
        """Why the names of the ticked volumes cannot be registered as they are, in words, or None."""
        seen: set[str] = set()
        for i, row in enumerate(self.rows):
            if not self._ticked(i):
                continue
            name = self._cell(i, 1).text().strip()
            problem = drive_name_problem(name)
            if problem is not None:
                return f"The name for {row.mountpoint} {problem}."
            key = drive_name_key(name)
            if key in seen:
                return f"Two drives are called {name}: give each its own name."
            seen.add(key)
            pv = row.pv
            own = {drive_name_key(row.registered_as[0])} if row.registered_as else set()
            if pv is not None and pv.kind is VolumeKind.LOOK_ALIKE and pv.twin:
                own.add(drive_name_key(pv.twin))  # a re-formatted drive may keep its name
            if key in self._taken and key not in own:
                return f"A drive named {name} is already registered: pick another name for {row.mountpoint}."
        return None

    def _ticked_kinds(self, i: int) -> list[str]:
        """The categories ticked on row ``i``, in column order."""
        return [
            c
            for col, c in zip(self._cat_cols(), self.categories, strict=True)
            if self._cell(i, col).checkState() == Qt.CheckState.Checked
        ]

    def _ticked(self, i: int) -> bool:
        return bool(self._ticked_kinds(i))

    def _untick(self, i: int) -> None:
        self._filling = True
        try:
            for col in self._cat_cols():
                self._cell(i, col).setCheckState(Qt.CheckState.Unchecked)
        finally:
            self._filling = False

    # -- looking at the volumes (a pool thread) -----------------------------------------------------------

    @Slot()
    def rescan(self) -> None:
        if self._scanning:
            return
        self._scanning = True
        self.rescan_btn.setEnabled(False)
        self._runner.run(self._survey, self._surveyed, name="wizard: volumes")

    def _surveyed(self, result: TaskResult[list[PluggedVolume]]) -> None:
        if not shiboken6.isValid(self):
            return
        self._scanning = False
        self.rescan_btn.setEnabled(True)
        if result.error is not None:
            self.note.setText(f"Could not look at the plugged-in volumes: {result.error}")
            return
        found = {pv.mountpoint: pv for pv in result.value or []}
        for i in reversed(range(len(self.rows))):  # unplugged meanwhile
            if self.rows[i].mountpoint not in found:
                del self.rows[i]
                self.table.removeRow(i)
        known = {r.mountpoint: i for i, r in enumerate(self.rows)}
        for mount, pv in found.items():
            if mount in known:
                self.rows[known[mount]].pv = pv
                self.rows[known[mount]].volume = pv.volume
                self._show_row(known[mount])
            else:
                self._add_row(_Row(pv.volume, pv))
        self._fit_columns()

    # -- the user's ticks, and the take-over question ------------------------------------------------------

    @Slot(QTableWidgetItem)
    def _on_item_changed(self, item: QTableWidgetItem) -> None:
        if self._filling or item.row() >= len(self.rows):
            return
        row = self.rows[item.row()]
        if item.column() == 1:
            row.name_touched = True
        elif item.column() in self._cat_cols():
            row.ticks_touched = True
            if (
                item.checkState() == Qt.CheckState.Checked
                and row.pv is not None
                and row.pv.needs_take_over
                and not row.confirmed
            ):
                self._ask(row)

    def _ask(self, row: _Row) -> None:
        if self.question is not None:
            if row not in self._to_ask:
                self._to_ask.append(row)
            return
        assert row.pv is not None
        box = self.question = take_over_box(self, row.pv)
        box.finished.connect(lambda _r: self._answered(box, row))

    def _answered(self, box: QMessageBox, row: _Row) -> None:
        self.question = None
        if said_yes(box):
            row.confirmed = True
        elif row in self.rows:
            self._untick(self.rows.index(row))
        while self._to_ask:
            nxt = self._to_ask.pop(0)
            if nxt in self.rows and not nxt.confirmed and self._ticked(self.rows.index(nxt)):
                self._ask(nxt)
                break

    def validatePage(self) -> bool:
        """Not past this page with a question unanswered, or with names that would clash."""
        if self.question is not None:
            return False
        problem = self._name_problem()
        self.note.setStyleSheet(error_style() if problem else "")
        if problem is not None:
            self.note.setText(problem)
            return False
        waiting = next(
            (
                r
                for i, r in enumerate(self.rows)
                if r.pv is not None and r.pv.needs_take_over and not r.confirmed and self._ticked(i)
            ),
            None,
        )
        if waiting is not None:
            self._ask(waiting)
            return False
        return True

    def plan(self) -> list[tuple[str, str, list[str]]]:
        """What the ticks say now, row by row: (drive name, mount point, categories), for every ticked row."""
        out = []
        for i, row in enumerate(self.rows):
            cats = self._ticked_kinds(i)
            if cats:
                out.append((self._cell(i, 1).text().strip(), row.mountpoint, cats))
        return out

    def choices(self) -> list[DriveChoice]:
        """The volumes to register: ticked, and for a drive registered here, changed."""
        out = []
        for i, row in enumerate(self.rows):
            cats = self._ticked_kinds(i)
            name = self._cell(i, 1).text().strip()
            if not cats or row.registered_as == (name, tuple(cats)):
                continue
            out.append(DriveChoice(row.volume, name, cats, row.confirmed, row.folder))
        return out


class CategoriesPage(QWizardPage):
    """The kinds of files (with examples, not MIME types: those are in Settings, Advanced) and rules, whose kind
    is picked from a list."""

    def __init__(self, config: Config):
        super().__init__()
        self.setTitle("Kinds of files")
        self.setSubTitle(
            "usbsync tells a file's kind from its content. Rules (a name pattern and a kind) win "
            "over that; add some if you like, e.g. scans/* goes to documents."
        )
        layout = QVBoxLayout(self)
        cats = QTableWidget(len(config.categories), 2)
        cats.setHorizontalHeaderLabels(["Kind", "For example"])
        for i, c in enumerate(config.categories):
            cats.setItem(i, 0, QTableWidgetItem(c.name))
            examples = ", ".join(f".{e}" for e in c.extensions[:8]) + (" …" if len(c.extensions) > 8 else "")
            cats.setItem(i, 1, QTableWidgetItem(examples))
        cats.verticalHeader().setVisible(False)
        cats.horizontalHeader().setDefaultAlignment(
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
        )
        cats.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        cats.horizontalHeader().setStretchLastSection(True)
        cats.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        cats.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        layout.addWidget(cats)
        layout.addWidget(QLabel("Rules (optional): a pattern like scans/* or *.pdf, and the kind it means."))
        self.names = [c.name for c in config.categories]
        self.rules = QTableWidget(max(3, len(config.rules) + 1), 2)
        self.rules.setHorizontalHeaderLabels(["Pattern", "Kind"])
        for i, r in enumerate(config.rules):  # a re-run starts from the rules there are
            self.rules.setItem(i, 0, QTableWidgetItem(r.pattern))
            self.rules.setItem(i, 1, QTableWidgetItem(r.category))
        self.rules.verticalHeader().setVisible(False)
        self.rules.horizontalHeader().setDefaultAlignment(
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
        )
        self.rules.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.rules.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Fixed)
        self.rules.setColumnWidth(1, 200)
        self.rules.setItemDelegateForColumn(1, KindDelegate(lambda: self.names, self.rules))
        keep_kind_editors_open(self.rules, 1)
        layout.addWidget(self.rules)

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
        self.summary = QLabel()  # what Finish will set up, filled when the page is shown
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.PlainText)
        layout.addWidget(self.summary)
        layout.addSpacing(self.fontMetrics().height())
        self.autostart = QCheckBox("Start usbsync when I log in")
        self.autostart.setChecked(True)
        layout.addWidget(self.autostart)
        layout.addStretch(1)

    def initializePage(self) -> None:
        wizard = self.wizard()
        if isinstance(wizard, FirstRunWizard):
            self.summary.setText(wizard.plan_text())


class FirstRunWizard(QWizard):
    """Writes the configuration (and registers the chosen drives) only when finished.

    Args:
        volumes: the volumes to offer (default: every mounted one but the root and read-only ones).
        existing: run again from Settings: keep its drives, start from its folders and rules.
        inspect: identifies volumes under a config (tests pass their own instead of running ``blkid``).
        runner: where the volumes are looked at (default: the wizard's own pool).
        choose_folder: the outbox page's folder chooser (default: the platform's; tests pass their own).
    """

    def __init__(
        self,
        paths: AppPaths,
        parent: QWidget | None = None,
        volumes: list[Volume] | None = None,
        existing: Config | None = None,
        inspect: Inspect | None = None,
        runner: TaskRunner | None = None,
        choose_folder: FolderChooser | None = None,
    ):
        super().__init__(parent)
        self.paths = paths
        self.setWindowTitle("Set up usbsync")
        self.setWindowIcon(app_icon())
        self.setWizardStyle(QWizard.WizardStyle.ModernStyle)
        self.resize(*WIZARD_SIZE)
        self.existing = existing
        base = existing or new_config([paths.default_outbox])
        self.runner = runner or TaskRunner(parent=self)

        def survey() -> list[PluggedVolume]:
            found = survey_volumes(paths, base, inspect, volumes)
            return [pv for pv in found if not pv.volume.read_only]

        if existing is not None:  # run again: the folders watched now, no suggestion
            self.sources_page = SourcesPage([str(s) for s in existing.sources], False, choose_folder)
        else:
            self.sources_page = SourcesPage([str(paths.default_outbox)], True, choose_folder)
        first = volumes
        if volumes is None and inspect is None:  # the mount table now (psutil, no blkid); identified later
            first = [v for v in list_volumes() if v.mountpoint != "/" and not v.read_only]
        self.drives_page = DrivesPage(
            [c.name for c in base.categories], first, survey, self.runner, [d.name for d in base.drives]
        )
        self.categories_page = CategoriesPage(base)
        self.finish_page = FinishPage()
        for page in (self.sources_page, self.drives_page, self.categories_page, self.finish_page):
            self.addPage(page)
        self.config: Config | None = None
        self.problems: list[str] = []
        self._finishing = False  # Finish pressed; its work runs on the task runner

    def plan_text(self) -> str:
        """What Finish sets up, in plain words: the outbox folders, which drive takes which kinds of files, and
        the kinds no drive takes (their files wait in the queue until a drive holds them)."""
        folders = self.sources_page.editor.folders()
        lines = [("Outbox: " if len(folders) == 1 else "Outbox folders: ") + ", ".join(folders), ""]
        plan = self.drives_page.plan()
        kept = [
            d for d in (self.existing.drives if self.existing else ()) if d.name not in {p[0] for p in plan}
        ]
        for name, mount, cats in plan:
            lines.append(f"{name} ({mount}) gets {', '.join(cats)}")
        for d in kept:
            lines.append(f"{d.name} (not plugged in) gets {', '.join(d.categories)}")
        if not plan and not kept:
            lines.append("No drive yet: add drives later from the tray menu (Drives…).")
        held = {c for _n, _m, cats in plan for c in cats} | {c for d in kept for c in d.categories}
        missing = [c for c in self.drives_page.categories if c not in held]
        if missing:
            lines.append(f"No drive holds {', '.join(missing)}: their files wait until a drive holds them.")
        return "\n".join(lines)

    def accept(self) -> None:
        """Finish: write the configuration, register the chosen drives and set start at login, on the task
        runner (registering probes each volume and writes its marker: not on the GUI thread). The wizard
        closes when that is done. With the keyring locked nothing is written and the wizard stays open: the
        drives' identity secret lives there, and a registration without it would fail for every drive."""
        if self._finishing:
            return
        sources = [Path(s) for s in self.sources_page.editor.folders()]
        rules = tuple(self.categories_page.rule_list())
        choices = self.drives_page.choices()
        start_at_login = self.finish_page.autostart.isChecked()
        paths, existing = self.paths, self.existing

        def work() -> tuple[Config, list[str]] | None:
            from usbsync_gui.views.drives_dialog import CONFIG_WRITE_LOCK

            if choices:
                try:
                    SecretStore(paths.state_dir).secret()
                except KeyringLocked:
                    return None
            for s in sources:
                s.mkdir(parents=True, exist_ok=True)
            paths.ensure()
            problems: list[str] = []
            with CONFIG_WRITE_LOCK:
                if existing is not None:
                    try:  # what is saved now (a drive registered meanwhile stays), else what the wizard began from
                        current = load_config(paths.config_file)
                    except ConfigError:
                        current = existing
                    config = replace(current, sources=tuple(s.resolve() for s in sources), rules=rules)
                else:
                    config = replace(new_config(sources), rules=rules)
                save_config(config, paths.config_file)
                for c in choices:
                    try:
                        config = register_volume(
                            paths, config, c.volume.mountpoint, c.name, c.categories, c.folder, c.take_over
                        ).config
                    except RegistrationError as exc:
                        problems.append(f"{c.volume.mountpoint}: {exc}")
            try:
                autostart.set_enabled(start_at_login)
            except OSError as exc:
                problems.append(f"start at login: {exc}")
            return config, problems

        self._set_finishing(True)
        self.runner.run(work, self._finished, name="set up")

    def _set_finishing(self, on: bool) -> None:
        self._finishing = on
        for which in (QWizard.WizardButton.FinishButton, QWizard.WizardButton.BackButton):
            button = self.button(which)
            if button is not None:
                button.setEnabled(not on)
        if on:
            self.setCursor(Qt.CursorShape.BusyCursor)
        else:
            self.unsetCursor()

    def _finished(self, result: TaskResult[tuple[Config, list[str]] | None]) -> None:
        if not shiboken6.isValid(self):
            return
        self._set_finishing(False)
        if result.error is not None:
            QMessageBox.warning(self, "usbsync", f"Not set up: {result.error}")
            return
        if result.value is None:
            QMessageBox.information(
                self,
                "usbsync",
                "Your keyring is locked. usbsync keeps the secret that recognises your drives in it.\n\n"
                "Unlock it (log in to your desktop, or open your passwords tool), then press Finish again. "
                "Nothing has been set up yet.",
            )
            return
        self.config, self.problems = result.value
        if self.problems:
            QMessageBox.warning(self, "usbsync", "Set up, with problems:\n" + "\n".join(self.problems))
        super().accept()
