"""The first-run wizard's drives page: each volume's path and what it is, the take-over question, kinds picked
from a list, no MIME patterns on the main pages. Real widgets (offscreen), real folders as volumes (see
:class:`tests.unit.test_drives_dialog.Sticks`), a real config file and state database."""

from __future__ import annotations

import math
import threading
from pathlib import Path

import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QFont, QTextLayout, QTextOption
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDialog,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QStyle,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
    QWizard,
)

from tests.unit import test_drives_dialog as dd
from tests.unit.test_drives_dialog import GB, other_installations_marker, register_here, saved
from usbsync_gui.core.config import DEFAULT_CATEGORIES, Rule, load_config, new_config
from usbsync_gui.core.volumes import read_marker
from usbsync_gui.views.wizard import WIZARD_SIZE, FirstRunWizard

paths, sticks = dd.paths, dd.sticks  # the fixtures: a USBSYNC_HOME, real folders as volumes


def open_wizard(qtbot, paths, sticks, existing=None) -> FirstRunWizard:
    wiz = FirstRunWizard(paths, existing=existing, inspect=sticks.inspector())
    qtbot.addWidget(wiz)
    wiz.show()
    wiz.next()  # -> drives
    page = wiz.drives_page
    qtbot.waitUntil(lambda: not page._scanning and all(r.pv is not None for r in page.rows))
    return wiz


def row_of(page, mount) -> int:
    return next(i for i, r in enumerate(page.rows) if r.mountpoint == str(mount))


def cat_col(page, name: str) -> int:
    return 2 + page.categories.index(name)


def tick(page, mount, kind: str, on: bool = True) -> None:
    state = Qt.CheckState.Checked if on else Qt.CheckState.Unchecked
    page.table.item(row_of(page, mount), cat_col(page, kind)).setCheckState(state)


def ticked(page, mount) -> list[str]:
    i = row_of(page, mount)
    return [
        c
        for c in page.categories
        if page.table.item(i, cat_col(page, c)).checkState() == Qt.CheckState.Checked
    ]


def finish(wiz: FirstRunWizard, qtbot) -> None:
    """Go to the last page, press Finish, and wait for its work (on the task runner) to be done."""
    while wiz.currentPage() is not wiz.finish_page:
        wiz.next()
    wiz.finish_page.autostart.setChecked(False)
    wiz.button(QWizard.WizardButton.FinishButton).click()
    qtbot.waitUntil(lambda: not wiz._finishing)


def test_two_photos_sticks_look_different_and_each_says_what_it_is(paths, sticks, qtbot):
    saved(paths, new_config([paths.default_outbox]))
    mine = sticks.plug("PHOTOS", "1A2B-3C4D", total=32 * GB, free=20 * GB)
    register_here(paths, sticks, mine, "Photos")
    theirs = sticks.plug("PHOTOS", "5E6F-7A8B", folder="PHOTOS1")
    other_installations_marker(theirs, "5E6F-7A8B")
    new = sticks.plug("DATA", "3a1f0c5e-9b7d-4c2a-8e61-0f2b4d6c8a90")
    wiz = open_wizard(qtbot, paths, sticks, existing=load_config(paths.config_file))
    page, table = wiz.drives_page, wiz.drives_page.table
    assert table.rowCount() == 3
    headers = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    assert headers == ["Volume", "Name", *[c.name for c in DEFAULT_CATEGORIES], "What it is"]
    status = table.columnCount() - 1
    vol = {m: table.item(row_of(page, m), 0).text() for m in (mine, theirs, new)}
    assert vol[mine] == f"PHOTOS\n{mine}\n32.0 GB, 20.0 GB free\nvolume ID 1A2B-3C4D"
    assert vol[theirs] == f"PHOTOS\n{theirs}\n16.0 GB, 12.0 GB free\nvolume ID 5E6F-7A8B"
    assert vol[new].endswith("volume ID 3a1f0c5e…")
    assert table.item(row_of(page, mine), status).text() == "registered here (as Photos)"
    assert (
        table.item(row_of(page, theirs), status).text()
        == "used by another usbsync installation (there: Fotos)"
    )
    assert table.item(row_of(page, new), status).text() == "new drive (not used by usbsync yet)"
    # A drive registered here shows its name and what it holds; the others get a free name from the label.
    assert table.item(row_of(page, mine), 1).text() == "Photos" and ticked(page, mine) == ["images"]
    assert table.item(row_of(page, theirs), 1).text() == "Photos 2"
    assert table.item(row_of(page, new), 1).text() == "Data" and ticked(page, new) == []
    # Looks: no row numbers, a name column the user can widen, the last column stretched; fits 1366x768.
    assert not table.verticalHeader().isVisibleTo(wiz)
    assert table.horizontalHeader().sectionResizeMode(1) is QHeaderView.ResizeMode.Interactive
    assert table.horizontalHeader().stretchLastSection()
    assert wiz.width() <= 1200 and wiz.height() <= 680
    # Nothing changed: Finish registers nothing again.
    finish(wiz, qtbot)
    assert [d.name for d in load_config(paths.config_file).drives] == ["Photos"]
    assert read_marker(theirs).name == "Fotos"


def test_the_volumes_are_looked_at_off_the_gui_thread(paths, sticks, qtbot):
    sticks.plug("PHOTOS", "1A2B-3C4D")
    wiz = open_wizard(qtbot, paths, sticks)
    assert wiz.drives_page.table.rowCount() == 1
    assert sticks.inspected_on and threading.get_ident() not in sticks.inspected_on
    wiz.reject()
    assert not paths.config_file.exists()  # looking wrote no configuration


def test_ticking_another_installations_stick_asks_and_no_unticks_it(paths, sticks, qtbot):
    theirs = sticks.plug("PHOTOS", "5E6F-7A8B")
    other_id = other_installations_marker(theirs, "5E6F-7A8B")
    new = sticks.plug("PHOTOS", "1111-2222", folder="PHOTOS1")
    wiz = open_wizard(qtbot, paths, sticks)
    page = wiz.drives_page

    tick(page, new, "documents")  # a new stick: no question
    assert page.question is None

    tick(page, theirs, "images")
    box = page.question
    assert box is not None and box.isVisible()
    assert str(theirs) in box.text() and "5E6F-7A8B" in box.text() and "'Fotos'" in box.text()
    assert "will no longer go there" in box.text()
    assert box.defaultButton() is box.button(QMessageBox.StandardButton.No)
    tick(page, theirs, "videos")  # while the question is open: asked once
    assert page.question is box
    box.button(QMessageBox.StandardButton.No).click()
    qtbot.waitUntil(lambda: page.question is None)
    assert ticked(page, theirs) == [] and ticked(page, new) == ["documents"]

    tick(page, theirs, "images")
    page.question.button(QMessageBox.StandardButton.Yes).click()
    qtbot.waitUntil(lambda: page.question is None)
    assert ticked(page, theirs) == ["images"]
    tick(page, theirs, "videos")  # said yes once: not asked again
    assert page.question is None
    finish(wiz, qtbot)
    assert wiz.problems == []
    drives = {d.name: d for d in load_config(paths.config_file).drives}
    assert drives["Photos"].categories == ("images", "videos") and drives["Photos 2"].categories == (
        "documents",
    )
    assert read_marker(theirs).drive_id == drives["Photos"].id != other_id


def test_next_is_refused_until_the_take_over_question_is_answered(paths, sticks, qtbot):
    theirs = sticks.plug("PHOTOS", "5E6F-7A8B")
    other_id = other_installations_marker(theirs, "5E6F-7A8B")
    wiz = open_wizard(qtbot, paths, sticks)
    page = wiz.drives_page
    tick(page, theirs, "images")
    box = page.question
    wiz.next()
    assert wiz.currentPage() is page  # not past the page with the question open
    box.button(QMessageBox.StandardButton.No).click()
    qtbot.waitUntil(lambda: page.question is None)
    finish(wiz, qtbot)
    assert load_config(paths.config_file).drives == ()  # left alone
    assert read_marker(theirs).drive_id == other_id


def test_a_stick_ticked_before_it_was_looked_at_is_asked_about_when_it_is(paths, sticks, qtbot, monkeypatch):
    """The volumes come from psutil at once and are identified later: a tick made meanwhile on another
    installation's stick is asked about when that turns out; and Finish never takes it over unasked."""
    theirs = sticks.plug("PHOTOS", "5E6F-7A8B")
    other_id = other_installations_marker(theirs, "5E6F-7A8B")
    release = threading.Event()
    inspect = sticks.inspector()

    def slow(config):
        release.wait(10)
        return inspect(config)

    volume = sticks.plugged[str(theirs)][0]
    wiz = FirstRunWizard(paths, volumes=[volume], inspect=slow)
    qtbot.addWidget(wiz)
    wiz.show()
    wiz.next()
    page = wiz.drives_page
    assert page.table.item(0, page.table.columnCount() - 1).text() == "looking at it…"
    assert str(theirs) in page.table.item(0, 0).toolTip()
    tick(page, theirs, "images")
    assert page.question is None  # not known yet
    release.set()
    qtbot.waitUntil(lambda: page.question is not None)
    page.question.button(QMessageBox.StandardButton.No).click()
    qtbot.waitUntil(lambda: page.question is None)
    assert ticked(page, theirs) == []
    # Even a row ticked without an answer (bypassing the page) is refused by register_volume at Finish.
    warned: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a: warned.append(a[2]))
    page._filling = True
    tick(page, theirs, "images")
    page._filling = False
    wiz.accept()
    qtbot.waitUntil(lambda: not wiz._finishing)
    assert read_marker(theirs).drive_id == other_id
    assert len(wiz.problems) == 1 and "another usbsync installation" in wiz.problems[0]
    assert warned and "Set up, with problems" in warned[0]


def test_kinds_are_picked_from_a_list_and_no_mime_pattern_is_shown(paths, sticks, qtbot):
    sticks.plug("PHOTOS", "1A2B-3C4D")
    wiz = open_wizard(qtbot, paths, sticks)
    wiz.next()  # -> kinds and rules
    page = wiz.categories_page
    rules = page.rules
    editor = rules.indexWidget(rules.model().index(0, 1))
    assert isinstance(editor, QComboBox)  # a drop-down in every rule row
    assert [editor.itemText(i) for i in range(editor.count())] == [c.name for c in DEFAULT_CATEGORIES]
    rules.setItem(0, 0, QTableWidgetItem("scans/*"))
    editor.setCurrentIndex(editor.findText("documents"))
    editor.activated.emit(editor.currentIndex())
    assert rules.item(0, 1).text() == "documents"
    rules.insertRow(rules.rowCount())  # a row added later gets its drop-down too
    assert isinstance(rules.indexWidget(rules.model().index(rules.rowCount() - 1, 1)), QComboBox)
    # No MIME pattern on any page of the wizard: the kinds are shown by example extensions.
    texts = []
    for p in (wiz.sources_page, wiz.drives_page, page, wiz.finish_page):
        texts += [p.title(), p.subTitle()]
        texts += [w.text() for w in p.findChildren(QLabel)]
        for t in p.findChildren(QTableWidget):
            texts += [
                t.item(r, c).text()
                for r in range(t.rowCount())
                for c in range(t.columnCount())
                if t.item(r, c)
            ]
    joined = "\n".join(texts)
    assert (
        "image/" not in joined and "application/" not in joined and "/*" not in joined.replace("scans/*", "")
    )
    assert ".jpg" in joined and ".pdf" in joined
    wiz.next()
    finish(wiz, qtbot)
    assert load_config(paths.config_file).rules == (Rule("scans/*", "documents"),)


def test_run_again_keeps_a_drive_registered_while_it_was_open(paths, sticks, qtbot):
    saved(paths, new_config([paths.default_outbox]))
    wiz = open_wizard(qtbot, paths, sticks, existing=load_config(paths.config_file))
    mount = sticks.plug("PHOTOS", "1A2B-3C4D")
    register_here(paths, sticks, mount, "Photos")  # from the drives dialog, say, meanwhile
    finish(wiz, qtbot)
    assert [d.name for d in load_config(paths.config_file).drives] == ["Photos"]


def test_look_again_finds_a_stick_plugged_in_after_the_page_opened(paths, sticks, qtbot):
    wiz = open_wizard(qtbot, paths, sticks)
    page = wiz.drives_page
    assert page.table.rowCount() == 0 and "No USB drive is plugged in" in page.note.text()
    mount = sticks.plug("PHOTOS", "1A2B-3C4D")
    page.rescan_btn.click()
    qtbot.waitUntil(lambda: page.table.rowCount() == 1 and page.rows[0].pv is not None)
    assert page.table.item(0, 0).text().startswith(f"PHOTOS\n{mount}\n")


def test_two_new_sticks_with_one_label_get_two_names_and_a_clash_is_refused(paths, sticks, qtbot):
    saved(paths, new_config([paths.default_outbox]))
    old = sticks.plug("BACKUP", "0000-1111")
    register_here(paths, sticks, old, "Backup")
    sticks.unplug(old)
    a = sticks.plug("PHOTOS", "1111-2222")
    b = sticks.plug("PHOTOS", "3333-4444", folder="PHOTOS1")
    c = sticks.plug("STICK", "5555-6666")
    wiz = open_wizard(qtbot, paths, sticks, existing=load_config(paths.config_file))
    page = wiz.drives_page
    names = {m: page.table.item(row_of(page, m), 1).text() for m in (a, b, c)}
    assert names == {a: "Photos", b: "Photos 2", c: "Stick"}  # registering both as Photos would move one
    for m in (a, b, c):
        tick(page, m, "images")
    page.table.item(row_of(page, b), 1).setText("photos")
    wiz.next()
    assert (
        wiz.currentPage() is page
        and page.note.text() == "Two drives are called photos: give each its own name."
    )
    page.table.item(row_of(page, b), 1).setText("Photos B")
    page.table.item(row_of(page, c), 1).setText("BACKUP")  # another drive's name: it would move that drive
    wiz.next()
    assert wiz.currentPage() is page and "A drive named BACKUP is already registered" in page.note.text()
    page.table.item(row_of(page, c), 1).setText("Stick")
    finish(wiz, qtbot)
    assert wiz.problems == []
    assert sorted(d.name for d in load_config(paths.config_file).drives) == [
        "Backup",
        "Photos",
        "Photos B",
        "Stick",
    ]


def test_without_an_inspector_the_rows_come_from_the_mount_table_at_once(paths, sticks, qtbot, monkeypatch):
    """The mounted volumes are listed when the page is built (psutil only); blkid and the markers follow on a
    pool thread."""
    from usbsync_gui.core import registration
    from usbsync_gui.views import wizard as wizard_module

    mount = sticks.plug("PHOTOS", "1A2B-3C4D")
    listed = [sticks.plugged[str(mount)][0]]
    monkeypatch.setattr(wizard_module, "list_volumes", lambda: listed)
    probed_on: list[int] = []

    def survey(paths_, config, inspect=None, volumes=None):
        probed_on.append(threading.get_ident())
        return [registration.describe_volume(cv, config, None) for cv in sticks.identify(config)]

    monkeypatch.setattr(wizard_module, "survey_volumes", survey)
    wiz = FirstRunWizard(paths)
    qtbot.addWidget(wiz)
    wiz.show()
    wiz.next()
    page = wiz.drives_page
    assert page.table.rowCount() == 1 and str(mount) in page.table.item(0, 0).toolTip()
    qtbot.waitUntil(lambda: page.rows[0].pv is not None)
    assert page.table.item(0, page.table.columnCount() - 1).text() == "new drive (not used by usbsync yet)"
    assert probed_on and threading.get_ident() not in probed_on


class Chooser:
    """Stands in for the folder dialog: records where it opened, answers with the folders queued (or '')."""

    def __init__(self, *answers: Path | str):
        self.answers = [str(a) for a in answers]
        self.opened_at: list[str] = []

    def __call__(self, parent, caption: str, start: str) -> str:
        assert isinstance(parent, QWidget) and caption
        self.opened_at.append(start)
        return self.answers.pop(0) if self.answers else ""


def test_the_outbox_chooser_opens_at_the_suggestion_and_the_first_choice_replaces_it(paths, qtbot, tmp_path):
    paths.default_outbox.rmdir()  # a first run: the suggested outbox is made on Finish, not before
    photos, scans = tmp_path / "Pictures" / "to-stick", tmp_path / "Scans"
    photos.mkdir(parents=True)
    scans.mkdir()
    choose = Chooser("", photos, scans)
    wiz = FirstRunWizard(paths, volumes=[], choose_folder=choose)
    qtbot.addWidget(wiz)
    wiz.show()
    editor = wiz.sources_page.editor
    assert editor.folders() == [str(paths.default_outbox)]
    assert editor.add_btn.text() == "Change…"  # says what it does: the suggestion is replaced

    editor.add_btn.click()  # cancelled: nothing changes
    assert choose.opened_at == [str(paths.default_outbox.parent)]  # where the suggestion will be
    assert editor.folders() == [str(paths.default_outbox)]

    editor.add_btn.click()
    assert editor.folders() == [str(photos)]  # in place of the suggestion, not beside it
    assert editor.add_btn.text() == "Add…"
    editor.add_btn.click()  # after that, more can be added; the chooser opens at the folder chosen
    assert choose.opened_at[2] == str(photos)
    assert editor.folders() == [str(photos), str(scans)]

    finish(wiz, qtbot)
    assert load_config(paths.config_file).sources == (photos, scans)
    assert not paths.default_outbox.exists()  # the suggestion was not wanted: not made


def test_the_outbox_chooser_opens_in_an_existing_suggestion_and_at_home_with_nothing_listed(
    paths, qtbot, tmp_path
):
    assert paths.default_outbox.is_dir()  # made already (say, by an earlier run)
    chosen = tmp_path / "Outgoing"
    chosen.mkdir()
    choose = Chooser(chosen, "")
    wiz = FirstRunWizard(paths, volumes=[], choose_folder=choose)
    qtbot.addWidget(wiz)
    editor = wiz.sources_page.editor
    editor.add_btn.click()
    assert choose.opened_at == [str(paths.default_outbox)]  # in it, not in its parent
    assert editor.folders() == [str(chosen)]

    remove = next(b for b in editor.findChildren(QPushButton) if b.text() == "Remove")
    editor.list.setCurrentRow(0)
    remove.click()
    assert editor.folders() == [] and editor.add_btn.text() == "Add…"
    editor.add_btn.click()
    assert choose.opened_at[1] == str(Path.home())  # nothing listed: the home folder


def test_run_again_the_chooser_adds_to_the_folders_watched(paths, qtbot, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    choose = Chooser(tmp_path / "new")
    wiz = FirstRunWizard(paths, volumes=[], existing=new_config([a, b]), choose_folder=choose)
    qtbot.addWidget(wiz)
    editor = wiz.sources_page.editor
    assert editor.folders() == [str(a), str(b)] and editor.add_btn.text() == "Add…"
    editor.list.setCurrentRow(0)
    editor.add_btn.click()
    assert choose.opened_at == [str(a)]  # the selected folder
    assert editor.folders() == [str(a), str(b), str(tmp_path / "new")]


@pytest.fixture(params=[None, 11, 13], ids=["default-font", "11pt", "13pt"])
def desktop_font(request):
    """The application font: the default, or a desktop's larger one (the walk-through's 1366x768 laptop)."""
    before = QFont(QApplication.font())
    if request.param is not None:
        font = QFont(before)
        font.setPointSize(request.param)
        QApplication.setFont(font)
    yield QApplication.font()
    QApplication.setFont(before)


def _wrapped_height(view, text: str, cell_width: int) -> int:
    """Pixels of height ``text`` takes when ``view``'s style paints it word-wrapped in a cell ``cell_width`` wide:
    laid out line by line as QCommonStyle lays out an item's text (QTextLayout, inside a margin of
    PM_FocusFrameHMargin + 1 each side). QFontMetrics.boundingRect breaks lines by other rules and, with some
    fonts (DejaVu under Windows), a line sooner than what is painted."""
    margin = view.style().pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin, None, view) + 1
    option = QTextOption()
    option.setWrapMode(QTextOption.WrapMode.WordWrap)
    layout = QTextLayout(text, view.font())
    layout.setTextOption(option)
    layout.beginLayout()
    height = 0.0
    while (line := layout.createLine()).isValid():
        line.setLineWidth(cell_width - 2 * margin)
        line.setPosition(QPointF(0, height))
        height += line.height()
    layout.endLayout()
    return math.ceil(height)


def test_the_drives_table_fits_the_wizard_and_every_word_can_be_read(paths, sticks, qtbot, desktop_font):
    """At the wizard's default size (it fits 1366x768), the table never needs sideways scrolling: the volume's
    lines are elided in the middle with all of it in the tooltip, and what it is wraps onto more lines."""
    saved(paths, new_config([paths.default_outbox]))
    photos = sticks.plug("PHOTOS", "1A2B-3C4D", total=32 * GB, free=20 * GB)
    theirs = sticks.plug("PHOTOS", "5E6F-7A8B", folder="PHOTOS1")
    other_installations_marker(theirs, "5E6F-7A8B", name="Fotos vom Familienurlaub")
    new = sticks.plug("DATA", "3a1f0c5e-9b7d-4c2a-8e61-0f2b4d6c8a90")
    assert photos.as_posix().endswith("/media/anna/PHOTOS") and theirs.as_posix().endswith(
        "/media/anna/PHOTOS1"
    )
    wiz = open_wizard(qtbot, paths, sticks, existing=load_config(paths.config_file))
    assert (wiz.width(), wiz.height()) == WIZARD_SIZE
    page, table = wiz.drives_page, wiz.drives_page.table
    QApplication.processEvents()  # the page laid out at its size
    assert table.horizontalScrollBar().maximum() == 0
    assert table.horizontalHeader().length() <= table.viewport().width()
    status_col = table.columnCount() - 1
    for mount in (photos, theirs, new):
        i = row_of(page, mount)
        pv = page.rows[i].pv
        status = table.item(i, status_col)
        assert status.text() == pv.status  # the words are registration's, as the drives dialog shows them
        assert status.toolTip().startswith(pv.status)
        # wrapped into the column, it fits in the row (the row grew for it)
        rect = table.visualItemRect(status)
        assert _wrapped_height(table, status.text(), rect.width()) <= table.rowHeight(i)
        tip = table.item(i, 0).toolTip()
        assert str(mount) in tip and pv.volume_id in tip and pv.label in tip
    assert table.item(row_of(page, theirs), status_col).text() == (
        "used by another usbsync installation (there: Fotos vom Familienurlaub)"
    )
    assert table.item(row_of(page, new), status_col).text() == "new drive (not used by usbsync yet)"
    assert table.textElideMode() == Qt.TextElideMode.ElideMiddle
    wiz.reject()


def test_the_last_page_says_what_finish_will_set_up(paths, sticks, qtbot):
    saved(paths, new_config([paths.default_outbox]))
    photos = sticks.plug("PHOTOS", "1A2B-3C4D")
    videos = sticks.plug("VIDEOS", "5E6F-7A8B")
    wiz = open_wizard(qtbot, paths, sticks)
    tick(wiz.drives_page, photos, "images")
    tick(wiz.drives_page, videos, "videos")
    tick(wiz.drives_page, videos, "audio")
    while wiz.currentPage() is not wiz.finish_page:
        wiz.next()
    assert wiz.finish_page.summary.text().splitlines() == [
        f"Outbox: {paths.default_outbox}",
        "",
        f"Photos ({photos}) gets images",
        f"Videos ({videos}) gets videos, audio",
        "No drive holds documents, archives: their files wait until a drive holds them.",
    ]
    wiz.back()  # untick: the page says it when shown again
    wiz.back()
    tick(wiz.drives_page, videos, "videos", on=False)
    tick(wiz.drives_page, videos, "audio", on=False)
    wiz.next()
    wiz.next()
    assert "Videos" not in wiz.finish_page.summary.text()
    assert "No drive holds videos, audio, documents, archives" in wiz.finish_page.summary.text()


def test_finish_with_the_keyring_locked_writes_nothing_and_stays_open_until_it_is_unlocked(
    paths, sticks, qtbot, monkeypatch
):
    """A first start on a desktop whose keyring is not unlocked yet: every registration would fail for want of
    the identity secret, so Finish says so and keeps the wizard (and the user's ticks) for a second try."""
    from usbsync_gui.core.identity import KeyringLocked, SecretStore
    from usbsync_gui.views import wizard as wizard_module

    photos = sticks.plug("PHOTOS", "1A2B-3C4D")
    wiz = open_wizard(qtbot, paths, sticks)
    tick(wiz.drives_page, photos, "images")
    real_secret = SecretStore.secret
    locked = [True]

    def secret(self):  # the keyring's state as the Secret Service would report it
        if locked[0]:
            raise KeyringLocked("the default collection is locked")
        return real_secret(self)

    monkeypatch.setattr(SecretStore, "secret", secret)
    said: list[str] = []
    monkeypatch.setattr(QMessageBox, "information", lambda *a: said.append(a[2]))
    finish(wiz, qtbot)
    assert said and "keyring is locked" in said[0] and "press Finish again" in said[0]
    assert wiz.isVisible() and wiz.result() != QDialog.DialogCode.Accepted
    assert not paths.config_file.exists() and read_marker(photos) is None  # nothing written
    assert ticked(wiz.drives_page, photos) == ["images"]  # the choices are still there
    locked[0] = False
    threads: list[str] = []
    register = wizard_module.register_volume
    monkeypatch.setattr(
        wizard_module,
        "register_volume",
        lambda *a, **k: threads.append(threading.current_thread().name) or register(*a, **k),
    )
    wiz.button(QWizard.WizardButton.FinishButton).click()
    qtbot.waitUntil(lambda: wiz.result() == QDialog.DialogCode.Accepted)
    assert [d.name for d in load_config(paths.config_file).drives] == ["Photos"]
    assert threads and threading.main_thread().name not in threads  # probed and written off the GUI thread
