"""Opening a folder in the file manager: a failure is said, not swallowed. The program run is a stand-in for
xdg-open on PATH (a shell script with xdg-open's documented exit statuses), so the outcome does not depend on
which file manager, if any, this machine has registered."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox

from tests.unit.test_tray_actions import _ctx
from usbsync_gui.views.open_folder import open_folder
from usbsync_gui.views.tray import TrayController

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="xdg-open is the Linux path")


def _stand_in(tmp_path, monkeypatch, status: int, said: str = "") -> str:
    """An ``xdg-open`` first on PATH that records its argument and exits ``status``; returns the record file."""
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    record = tmp_path / "xdg-open.args"
    script = bindir / "xdg-open"
    script.write_text(
        f'#!/bin/sh\nprintf "%s" "$1" > "{record}"\n'
        + (f'echo "{said}"\n' if said else "")
        + f"exit {status}\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    return str(record)


def test_a_file_manager_that_opens_the_folder_is_not_an_error(tmp_path, monkeypatch, qtbot, qapp):
    record = _stand_in(tmp_path, monkeypatch, 0)
    failed: list[str] = []
    open_folder(str(tmp_path), qapp, failed.append)
    qtbot.waitUntil(lambda: os.path.exists(record) and Path(record).read_text() == str(tmp_path))
    qtbot.wait(200)  # its exit is read too
    assert failed == []


def test_xdg_open_failing_is_reported_with_its_status_and_words(tmp_path, monkeypatch, qtbot, qapp):
    _stand_in(tmp_path, monkeypatch, 3, "xdg-open: no method available for opening 'x'")
    failed: list[str] = []
    open_folder(str(tmp_path), qapp, failed.append)
    qtbot.waitUntil(lambda: bool(failed))
    assert failed == ["xdg-open ended with status 3: xdg-open: no method available for opening 'x'"]


def test_the_trays_open_log_folder_says_where_the_folder_is_when_nothing_opens_it(
    tmp_path, monkeypatch, qtbot, qapp
):
    """The walk-through clicked "Open log folder" on a desktop with no file manager, and nothing happened."""
    ctx = _ctx(tmp_path, monkeypatch)
    _stand_in(tmp_path, monkeypatch, 4)
    tray = TrayController(ctx, qapp, sender=lambda t, b: True)
    try:
        tray.open_logs()
        qtbot.waitUntil(lambda: getattr(tray, "_warn_box", None) is not None)
        box = tray._warn_box
        assert isinstance(box, QMessageBox) and box.isVisible()
        assert str(ctx.paths.log_dir) in box.text() and "status 4" in box.text()
        box.close()
    finally:
        tray.close()
        ctx.tasks.shutdown()
        ctx.db.close()
