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
from PySide6.QtWidgets import QMessageBox

from usbsync_gui.core import registration
from usbsync_gui.core.config import load_config, new_config, save_config
from usbsync_gui.core.identity import SecretStore, make_token
from usbsync_gui.core.paths import app_paths
from usbsync_gui.core.registration import RegistrationError, VolumeKind, register_volume
from usbsync_gui.core.service import ConnectedVolume, inspect_volumes
from usbsync_gui.core.state import StateDB
from usbsync_gui.core.summary import LiveVolume
from usbsync_gui.core.volumes import Volume, read_marker, write_marker
from usbsync_gui.engine.summary_feed import LiveState, SummaryFeed
from usbsync_gui.engine.tasks import TaskRunner
from usbsync_gui.platform import VolumeInfo
from usbsync_gui.views.context import ViewContext

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
