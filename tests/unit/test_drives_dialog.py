"""Issue "Drives are never taken over silently", and the drives dialog's words and looks.

Real widgets (pytest-qt, offscreen), a real state database, and real directories standing in for mounted
volumes: the markers on them are written and read by core/volumes.py, tokens made and checked with this
installation's real secret. Only what the OS would say about a volume (psutil's mount table, blkid's UUID and
label) is made up, by :class:`Sticks`.
"""

from __future__ import annotations

import os
import threading
from dataclasses import replace
from pathlib import Path

import pytest
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QDialogButtonBox, QMessageBox

from usbsync_gui.core import registration
from usbsync_gui.core.config import DriveConfig, load_config, new_config, save_config
from usbsync_gui.core.identify import inspect_volumes
from usbsync_gui.core.identity import SecretStore, make_token
from usbsync_gui.core.paths import app_paths
from usbsync_gui.core.registration import RegistrationError, VolumeKind, register_volume
from usbsync_gui.core.state import StateDB
from usbsync_gui.core.summary import LiveVolume
from usbsync_gui.core.volumes import ConnectedVolume, Volume, read_marker, write_marker
from usbsync_gui.engine.summary_feed import LiveState, SummaryFeed
from usbsync_gui.engine.tasks import TaskRunner
from usbsync_gui.platform import VolumeInfo
from usbsync_gui.views.context import ViewContext
from usbsync_gui.views.drives_dialog import DrivesDialog, error_style, uncovered_categories
from usbsync_gui.views.resources import warn_color

GB = 1_000_000_000


class Sticks:
    """Real folders as mounted volumes. ``register_volume`` finds them through the patched ``volume_at`` and
    ``probe_volume``; the dialogs get :meth:`inspector`, the real :func:`inspect_volumes` over them."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch):
        self.root = root
        self.plugged: dict[str, tuple[Volume, VolumeInfo]] = {}
        self.inspected_on: list[int] = []  # thread ids the inspection ran on
        monkeypatch.setattr(registration, "volume_at", self.volume_at)
        monkeypatch.setattr(registration, "probe_volume", self.probe)

    def plug(
        self,
        label: str,
        uuid: str,
        folder: str | None = None,
        total: int = 16 * GB,
        free: int = 12 * GB,
        read_only: bool = False,
    ) -> Path:
        mount = self.root / "media" / "anna" / (folder or label)
        mount.mkdir(parents=True, exist_ok=True)
        dev = f"/dev/sd{chr(ord('b') + len(self.plugged))}1"
        self.plugged[str(mount)] = (
            Volume(str(mount), dev, "vfat", total, free, read_only),
            VolumeInfo(uuid, "vfat", label, True),
        )
        return mount

    def unplug(self, mount: Path) -> None:
        del self.plugged[str(mount)]

    def volume_at(self, mountpoint: str | Path) -> Volume | None:
        got = self.plugged.get(os.path.realpath(mountpoint))
        return got[0] if got else None

    def probe(self, device: str, mountpoint: str, fstype: str) -> VolumeInfo:
        return self.plugged[mountpoint][1]

    def identify(self, config) -> list[ConnectedVolume]:
        """The real identification (markers, tokens under this installation's secret) over these folders."""
        secret = SecretStore(self.paths.state_dir).secret()
        with StateDB(self.paths.state_db) as db:
            labels = db.registered_labels()
        volumes = [v for v, _ in self.plugged.values()]
        return inspect_volumes(config, secret, volumes, labels, probe=self.probe)

    def cv(self, mount: Path, config) -> ConnectedVolume:
        return next(c for c in self.identify(config) if c.volume.mountpoint == str(mount))

    def inspector(self):
        """``inspect(config)`` for the dialogs; records the thread it ran on."""

        def inspect(config):
            self.inspected_on.append(threading.get_ident())
            return self.identify(config)

        return inspect


def other_installations_marker(mount: Path, uuid: str, name: str = "Fotos") -> str:
    """A marker as another installation writes it: its own drive id, a token under its own secret."""
    other_id = "0ther" + os.urandom(8).hex()
    write_marker(mount, name, other_id, make_token(os.urandom(32), other_id, uuid))
    return other_id


@pytest.fixture
def paths(tmp_path, monkeypatch):
    import keyring
    from keyring.backends import fail

    monkeypatch.setattr(keyring, "get_keyring", lambda: fail.Keyring())  # the secret lives in a 0600 file
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    p = app_paths({"USBSYNC_HOME": str(tmp_path / "home")})
    p.ensure()
    p.default_outbox.mkdir(parents=True, exist_ok=True)
    return p


@pytest.fixture
def sticks(tmp_path, monkeypatch, paths):
    s = Sticks(tmp_path, monkeypatch)
    s.paths = paths
    return s


class FakeMonitor(QObject):
    volume_added = Signal(object)
    volume_removed = Signal(str, str)


class FakeEngine:
    """What the views use of the engine here: its runner, its summary feed (with drives plugged in) and its
    volume monitor's signals."""

    def __init__(self, paths, config):
        self.runner = TaskRunner()
        self.connected: dict[str, LiveVolume] = {}
        self.config = config
        self.summary = SummaryFeed(
            paths, self.runner, lambda: LiveState(self.config, dict(self.connected), False)
        )
        self.monitor = FakeMonitor()


@pytest.fixture
def make_ctx(paths):
    made: list[ViewContext] = []

    def make(config, engine: FakeEngine | None = None) -> ViewContext:
        ctx = ViewContext(paths, config, StateDB(paths.state_db), engine=engine)  # type: ignore[arg-type]
        made.append(ctx)
        return ctx

    yield make
    for ctx in made:
        ctx.tasks.shutdown()
        ctx.db.close()


def saved(paths, config):
    save_config(config, paths.config_file)
    return load_config(paths.config_file)


def register_here(paths, sticks, mount: Path, name: str, categories=("images",)):
    return register_volume(paths, load_config(paths.config_file), mount, name, list(categories))


def queue(paths, drive_id: str, n: int, category: str = "images", size: int = 7_000_000) -> None:
    with StateDB(paths.state_db) as db, db.transaction():
        for i in range(n):
            fid, _ = db.upsert_file(
                f"/out/{drive_id}-{i}.png", "/out", f"{drive_id}-{i}.png", size, 1, f"h{drive_id}{i}",
                "image/png", category,
            )  # fmt: skip
            db.enqueue(fid, [drive_id], f"h{drive_id}{i}", size)


def cells(table, row: int) -> list[str]:
    return [table.item(row, c).text() for c in range(table.columnCount())]


def row_of(table, text: str) -> int:
    return next(r for r in range(table.rowCount()) if any(text == t for t in cells(table, r)))


def wait_scanned(qtbot, dlg, rows: int) -> None:
    qtbot.waitUntil(lambda: dlg._scanned_once and not dlg._scanning and dlg.volumes.rowCount() == rows)


def click(box: QMessageBox, which: QMessageBox.StandardButton) -> None:
    box.button(which).click()


# -- register_volume refuses another installation's volume ----------------------------------------------------


def test_register_volume_refuses_another_installations_marker_unless_take_over(paths, sticks):
    config = saved(paths, new_config([paths.default_outbox]))
    mount = sticks.plug("PHOTOS", "1A2B-3C4D")
    other_id = other_installations_marker(mount, "1A2B-3C4D")
    before = paths.config_file.read_bytes()

    with pytest.raises(RegistrationError) as err:  # the CLI's call: positional, no take_over
        register_volume(paths, config, str(mount), "Photos", ["images"], "USBSync")
    message = str(err.value)
    assert "\n" not in message
    assert str(mount) in message and "another usbsync installation" in message and "'Fotos'" in message
    assert "--take-over" in message
    assert paths.config_file.read_bytes() == before  # nothing written: no config, marker untouched
    assert read_marker(mount).drive_id == other_id

    reg = register_volume(paths, config, str(mount), "Photos", ["images"], take_over=True)
    assert reg.verb == "registered" and [d.name for d in load_config(paths.config_file).drives] == ["Photos"]
    assert read_marker(mount).drive_id == reg.drive.id != other_id


def test_a_drive_this_installation_forgot_is_not_another_installations(paths, sticks):
    saved(paths, new_config([paths.default_outbox]))
    mount = sticks.plug("PHOTOS", "1A2B-3C4D")
    first = register_here(paths, sticks, mount, "Photos").drive
    config = saved(paths, replace(load_config(paths.config_file), drives=()))  # forgotten
    pv = registration.describe_volume(sticks.cv(mount, config), config, SecretStore(paths.state_dir).secret())
    assert pv.kind is VolumeKind.FORGOTTEN and pv.status == "was registered here as Photos, then forgotten"
    assert not pv.needs_take_over
    again = register_volume(paths, config, mount, "Photos", ["images"])  # no take-over needed
    assert again.drive.name == "Photos" and again.drive.id != first.id


# -- what the dialog shows ----------------------------------------------------------------------------------


def test_each_plugged_in_volume_shows_path_id_label_size_and_what_it_is(paths, sticks, make_ctx, qtbot):
    saved(paths, new_config([paths.default_outbox]))
    mine = sticks.plug("PHOTOS", "1A2B-3C4D", total=32 * GB, free=20 * GB)
    register_here(paths, sticks, mine, "Photos")
    theirs = sticks.plug("PHOTOS", "5E6F-7A8B", folder="PHOTOS1")
    other_installations_marker(theirs, "5E6F-7A8B")
    copy = sticks.plug("PHOTOS", "9C0D-1E2F", folder="PHOTOS2")  # Photos' marker copied onto another stick
    (copy / ".usbsync").mkdir()
    (copy / ".usbsync" / "drive.json").write_bytes((mine / ".usbsync" / "drive.json").read_bytes())
    sticks.plug("", "3a1f0c5e-9b7d-4c2a-8e61-0f2b4d6c8a90", folder="disk", total=500 * GB, free=400 * GB)
    ctx = make_ctx(load_config(paths.config_file))
    dlg = DrivesDialog(ctx, inspect=sticks.inspector())
    qtbot.addWidget(dlg)
    dlg.show()
    wait_scanned(qtbot, dlg, 4)

    assert [dlg.volumes.horizontalHeaderItem(c).text() for c in range(5)] == [
        "Volume", "Mount point", "Volume ID", "Size", "What it is",
    ]  # fmt: skip
    rows = {cells(dlg.volumes, r)[1]: cells(dlg.volumes, r) for r in range(4)}
    assert rows[str(mine)] == [
        "PHOTOS",
        str(mine),
        "1A2B-3C4D",
        "32.0 GB, 20.0 GB free",
        "registered here (as Photos)",
    ]
    assert rows[str(theirs)][2] == "5E6F-7A8B"
    assert rows[str(theirs)][4] == "used by another usbsync installation (there: Fotos)"
    assert rows[str(copy)][4] == "looks like Photos but is not it"
    disk = rows[str(sticks.root / "media/anna/disk")]
    assert (
        disk[0] == "(no label)"
        and disk[2] == "3a1f0c5e…"
        and disk[4] == "new drive (not used by usbsync yet)"
    )
    # The two other PHOTOS sticks are told apart by their mount points and IDs.
    assert len({(r[1], r[2]) for r in rows.values() if r[0] == "PHOTOS"}) == 3
    assert (
        dlg.volumes.item(row_of(dlg.volumes, str(disk[1])), 2).toolTip()
        == "3a1f0c5e-9b7d-4c2a-8e61-0f2b4d6c8a90"
    )
    # A registered volume cannot be registered again from here; a new one can.
    dlg.volumes.selectRow(row_of(dlg.volumes, str(mine)))
    assert not dlg.register_btn.isEnabled()
    dlg.volumes.selectRow(row_of(dlg.volumes, disk[1]))
    assert dlg.register_btn.isEnabled()


def test_the_volumes_are_looked_at_off_the_gui_thread(paths, sticks, make_ctx, qtbot):
    saved(paths, new_config([paths.default_outbox]))
    sticks.plug("PHOTOS", "1A2B-3C4D")
    dlg = DrivesDialog(make_ctx(load_config(paths.config_file)), inspect=sticks.inspector())
    qtbot.addWidget(dlg)
    assert dlg.volumes.rowCount() == 0 and dlg.volumes_note.text() == "Looking at the plugged-in volumes…"
    wait_scanned(qtbot, dlg, 1)
    assert sticks.inspected_on and threading.get_ident() not in sticks.inspected_on


def test_tables_have_no_row_numbers_fit_their_content_and_the_window_fits_a_small_screen(
    paths, make_ctx, qtbot
):
    config = saved(
        paths, new_config([paths.default_outbox]).with_drive(DriveConfig("Photos", "d1", ("images",)))
    )
    dlg = DrivesDialog(make_ctx(config), inspect=lambda c: [])
    qtbot.addWidget(dlg)
    for table in (dlg.table, dlg.volumes):
        assert not table.verticalHeader().isVisible() and not table.verticalHeader().isVisibleTo(dlg)
        assert table.horizontalHeader().stretchLastSection()
        assert table.horizontalHeader().sectionResizeMode(0).name == "ResizeToContents"
    assert dlg.width() <= 1200 and dlg.height() <= 680


# -- Taking over asks first --------------------------------------------------------------------------------


def test_registering_another_installations_volume_asks_first_and_no_leaves_it_alone(
    paths, sticks, make_ctx, qtbot
):
    saved(paths, new_config([paths.default_outbox]))
    theirs = sticks.plug("PHOTOS", "5E6F-7A8B")
    other_id = other_installations_marker(theirs, "5E6F-7A8B")
    ctx = make_ctx(load_config(paths.config_file))
    dlg = DrivesDialog(ctx, inspect=sticks.inspector())
    qtbot.addWidget(dlg)
    dlg.show()
    wait_scanned(qtbot, dlg, 1)
    dlg.volumes.selectRow(0)
    before = paths.config_file.read_bytes()

    dlg.register_btn.click()
    box = dlg.question
    assert box is not None and box.isVisible() and dlg.editor is None  # asked before anything else
    text = box.text()
    assert "'PHOTOS'" in text and str(theirs) in text and "5E6F-7A8B" in text
    assert "another usbsync installation" in text and "'Fotos'" in text
    assert "files it has waiting for this drive will no longer go there" in text
    assert box.defaultButton() is box.button(QMessageBox.StandardButton.No)  # Enter says no
    assert box.escapeButton() is box.button(QMessageBox.StandardButton.No)
    click(box, QMessageBox.StandardButton.No)
    qtbot.waitUntil(lambda: dlg.question is None)
    assert dlg.editor is None and "left alone" in dlg.message.text()
    assert paths.config_file.read_bytes() == before and read_marker(theirs).drive_id == other_id

    dlg.register_btn.click()
    click(dlg.question, QMessageBox.StandardButton.Yes)
    qtbot.waitUntil(lambda: dlg.editor is not None and dlg.editor.isVisible())
    ed = dlg.editor
    assert ed.name.text() == "Photos"
    ed.boxes["images"].setChecked(True)
    ed.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    qtbot.waitUntil(lambda: len(load_config(paths.config_file).drives) == 1)
    drive = load_config(paths.config_file).drives[0]
    assert (drive.name, drive.categories) == ("Photos", ("images",))
    assert read_marker(theirs).drive_id == drive.id
    qtbot.waitUntil(lambda: "registered drive 'Photos'" in dlg.message.text())
    qtbot.waitUntil(lambda: cells(dlg.volumes, 0)[4] == "registered here (as Photos)")
    qtbot.waitUntil(lambda: dlg.table.rowCount() == 1 and cells(dlg.table, 0)[0] == "Photos")


def test_a_new_volume_is_registered_without_a_question_and_a_taken_name_is_refused(
    paths, sticks, make_ctx, qtbot
):
    saved(paths, new_config([paths.default_outbox]))
    mine = sticks.plug("PHOTOS", "1A2B-3C4D")
    register_here(paths, sticks, mine, "Photos")
    sticks.unplug(mine)
    new = sticks.plug("PHOTOS", "7777-8888", folder="PHOTOS1")  # a new stick with the same label
    dlg = DrivesDialog(make_ctx(load_config(paths.config_file)), inspect=sticks.inspector())
    qtbot.addWidget(dlg)
    dlg.show()
    wait_scanned(qtbot, dlg, 1)
    dlg.volumes.selectRow(0)
    assert cells(dlg.volumes, 0)[4] == "looks like Photos but is not it"  # same label as a registered drive
    dlg.register_btn.click()
    assert dlg.question is None
    ed = dlg.editor
    assert ed is not None and ed.name.text() == "Photos"  # a re-formatted Photos may keep its name
    dlg.editor.reject()

    sticks.unplug(new)
    other = sticks.plug("PHOTOS", "9999-AAAA", folder="PHOTOS2")
    write_marker(other, "x", None)  # an unverifiable marker copied around (not this installation's drive)
    other_marker = read_marker(other)
    dlg.rescan()
    qtbot.waitUntil(lambda: dlg.volumes.rowCount() == 1 and cells(dlg.volumes, 0)[1] == str(other))
    dlg.volumes.selectRow(0)
    dlg.register_btn.click()
    click(dlg.question, QMessageBox.StandardButton.Yes)  # its marker is another installation's
    qtbot.waitUntil(lambda: dlg.editor is not None)
    ed = dlg.editor
    assert ed.name.text() == "Photos 2"  # from its label; "Photos" is taken
    ed.name.setText("photos")
    ed.boxes["documents"].setChecked(True)
    ed.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    assert ed.isVisible() and "A drive named photos is already registered" in ed.error.text()
    ed.name.setText("Papers")
    ed.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    qtbot.waitUntil(lambda: [d.name for d in load_config(paths.config_file).drives] == ["Photos", "Papers"])
    assert read_marker(other).drive_id != other_marker.drive_id


# -- Keeping up ---------------------------------------------------------------------------------------------


def test_the_dialog_follows_the_summary_and_drives_coming_and_going(paths, sticks, make_ctx, qtbot):
    config = saved(paths, new_config([paths.default_outbox]))
    mine = sticks.plug("PHOTOS", "1A2B-3C4D")
    drive = register_here(paths, sticks, mine, "Photos").drive
    sticks.unplug(mine)
    queue(paths, drive.id, 3)
    config = load_config(paths.config_file)
    engine = FakeEngine(paths, config)
    ctx = make_ctx(config, engine)
    dlg = DrivesDialog(ctx, inspect=sticks.inspector())
    qtbot.addWidget(dlg)
    dlg.show()
    qtbot.waitUntil(lambda: cells(dlg.table, 0)[4] == "3 files (21.0 MB)")
    assert cells(dlg.table, 0)[2].startswith("not plugged in")
    wait_scanned(qtbot, dlg, 0)
    assert dlg.volumes_note.text() == "Nothing is plugged in. Plug in a USB drive: it shows up here."

    # Photos is plugged in and its files land: the engine says so through its monitor and the summary.
    sticks.plug("PHOTOS", "1A2B-3C4D")
    engine.monitor.volume_added.emit(sticks.cv(mine, config))
    qtbot.waitUntil(lambda: dlg.volumes.rowCount() == 1)
    assert cells(dlg.volumes, 0)[4] == "registered here (as Photos)"
    with StateDB(paths.state_db) as db, db.transaction():
        for j in db.next_jobs(drive.id, 10):
            assert db.finish_job(j.id, "copied", j.relpath, j.blake3)
    engine.connected[drive.id] = LiveVolume(str(mine), 12 * GB - 21_000_000, 16 * GB)
    engine.summary.invalidate()
    qtbot.waitUntil(lambda: cells(dlg.table, 0)[4] == "nothing")
    assert cells(dlg.table, 0)[2] == f"plugged in at {mine}" and cells(dlg.table, 0)[3] == "12.0 GB"

    # Unplugged again.
    sticks.unplug(mine)
    engine.monitor.volume_removed.emit(str(mine), drive.id)
    engine.connected.clear()
    engine.summary.invalidate()
    qtbot.waitUntil(
        lambda: dlg.volumes.rowCount() == 0 and cells(dlg.table, 0)[2].startswith("not plugged in")
    )
    assert cells(dlg.table, 0)[3] == "12.0 GB (last seen)"
    assert threading.get_ident() not in sticks.inspected_on

    # While closed it does not look; shown again, it does.
    dlg.hide()
    looks = len(sticks.inspected_on)
    sticks.plug("DATA", "4444-5555")
    engine.monitor.volume_added.emit(sticks.cv(sticks.root / "media/anna/DATA", config))
    qtbot.wait(50)
    assert len(sticks.inspected_on) == looks
    dlg.show()
    qtbot.waitUntil(lambda: dlg.volumes.rowCount() == 1 and cells(dlg.volumes, 0)[0] == "DATA")


def test_an_absent_drive_and_the_categories_no_drive_holds(paths, make_ctx, qtbot):
    """(Was in test_gui.py; the dialog now waits for the summary instead of probing on the GUI thread.)"""
    config = saved(
        paths, new_config([paths.default_outbox]).with_drive(DriveConfig("Photos", "d1", ("images",)))
    )
    dlg = DrivesDialog(make_ctx(config), inspect=lambda c: [])
    qtbot.addWidget(dlg)
    assert dlg.table.rowCount() == 1 and cells(dlg.table, 0)[0] == "Photos"
    qtbot.waitUntil(lambda: cells(dlg.table, 0)[2] == "not plugged in yet")
    assert cells(dlg.table, 0)[3:] == ["?", "nothing", "USBSync"]
    assert "No drive holds videos, audio, documents, archives" in dlg.note.text()
    assert uncovered_categories(replace(config, drives=())) == [c.name for c in config.categories]


# -- Forget and edit --------------------------------------------------------------------------------------


def test_forget_says_how_many_files_wait_and_that_they_wait_for_another_drive(paths, make_ctx, qtbot):
    config = saved(
        paths,
        new_config([paths.default_outbox])
        .with_drive(DriveConfig("Photos", "d1", ("images", "videos")))
        .with_drive(DriveConfig("Backup", "d2", ("videos",))),
    )
    queue(paths, "d1", 3)
    ctx = make_ctx(config)
    dlg = DrivesDialog(ctx, inspect=lambda c: [])
    qtbot.addWidget(dlg)
    dlg.show()
    qtbot.waitUntil(lambda: cells(dlg.table, row_of(dlg.table, "Photos"))[4] == "3 files (21.0 MB)")
    dlg.table.selectRow(row_of(dlg.table, "Photos"))

    dlg.forget_btn.click()
    box = dlg.question
    assert box is not None and box.isVisible()
    text = box.text()
    assert "Forget the drive Photos?" in text
    assert "3 files (21.0 MB) are waiting for it" in text
    assert "shown as “no drive holds images”, until another drive holds images" in text
    assert "Backup also holds videos" in text
    assert box.defaultButton() is box.button(QMessageBox.StandardButton.No)
    click(box, QMessageBox.StandardButton.No)
    qtbot.waitUntil(lambda: dlg.question is None)
    assert [d.name for d in load_config(paths.config_file).drives] == ["Photos", "Backup"]

    dlg.forget_btn.click()
    click(dlg.question, QMessageBox.StandardButton.Yes)
    qtbot.waitUntil(lambda: [d.name for d in load_config(paths.config_file).drives] == ["Backup"])
    qtbot.waitUntil(lambda: "No drive holds images: 3 files (21.0 MB) wait." in dlg.note.text())
    assert dlg.message.text() == "Photos was forgotten."


def test_edit_and_forget_write_only_their_drive_onto_the_saved_config(paths, make_ctx, qtbot):
    config = saved(
        paths, new_config([paths.default_outbox]).with_drive(DriveConfig("Photos", "d1", ("images",)))
    )
    dlg = DrivesDialog(make_ctx(config), inspect=lambda c: [])
    qtbot.addWidget(dlg)
    dlg.show()
    # Meanwhile, elsewhere (Settings, the command line): another drive and a setting.
    elsewhere = replace(
        config.with_drive(DriveConfig("Papers", "d2", ("documents",))), stability_window_s=9.0
    )
    save_config(elsewhere, paths.config_file)

    dlg.table.selectRow(0)
    dlg.edit_btn.click()
    ed = dlg.editor
    assert ed is not None and ed.name.text() == "Photos"
    ed.boxes["videos"].setChecked(True)
    ed.folder.setText("/Camera/")
    ed.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    qtbot.waitUntil(lambda: dlg.message.text() == "Saved Photos.")
    now = load_config(paths.config_file)
    assert [(d.name, d.categories, d.folder) for d in now.drives] == [
        ("Papers", ("documents",), "USBSync"),
        ("Photos", ("images", "videos"), "Camera"),
    ]
    assert now.stability_window_s == 9.0
    qtbot.waitUntil(lambda: dlg.table.rowCount() == 2)

    dlg.table.selectRow(row_of(dlg.table, "Papers"))
    dlg.edit_btn.click()
    dlg.editor.name.setText("PHOTOS")
    dlg.editor.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    assert "A drive named PHOTOS is already registered" in dlg.editor.error.text()
    dlg.editor.reject()
    qtbot.waitUntil(lambda: dlg.editor is None)


def test_a_failed_save_is_said_in_the_dialog_not_in_a_blocking_box(paths, make_ctx, qtbot):
    config = saved(
        paths, new_config([paths.default_outbox]).with_drive(DriveConfig("Photos", "d1", ("images",)))
    )
    dlg = DrivesDialog(make_ctx(config), inspect=lambda c: [])
    qtbot.addWidget(dlg)
    paths.config_file.write_text("sources = [\n")  # broken by hand meanwhile
    dlg.table.selectRow(0)
    dlg.forget_btn.click()
    click(dlg.question, QMessageBox.StandardButton.Yes)
    qtbot.waitUntil(lambda: dlg.message.text().startswith("Not saved: "))
    assert "TOML syntax error" in dlg.message.text()
    assert paths.config_file.read_text() == "sources = [\n"
    assert dlg.message.styleSheet() == error_style()


def test_files_that_do_not_fit_are_said_in_the_drives_table(paths, sticks, make_ctx, qtbot):
    saved(paths, new_config([paths.default_outbox]))
    mine = sticks.plug("PHOTOS", "1A2B-3C4D")
    drive = register_here(paths, sticks, mine, "Photos").drive
    queue(paths, drive.id, 3)  # 21.0 MB
    config = load_config(paths.config_file)
    engine = FakeEngine(paths, config)
    engine.connected[drive.id] = LiveVolume(str(mine), 5_000_000, 16 * GB)  # 5 MB free
    ctx = make_ctx(config, engine)
    dlg = DrivesDialog(ctx, inspect=sticks.inspector())
    qtbot.addWidget(dlg)
    dlg.show()
    engine.summary.invalidate()
    qtbot.waitUntil(lambda: "does not fit" in cells(dlg.table, 0)[4])
    assert cells(dlg.table, 0)[4].startswith("3 files (21.0 MB): does not fit, ")
    assert dlg.table.item(0, 4).foreground().color().name() == warn_color()
