"""Verify drive…: the window reads the drive back off the GUI thread with a progress bar, says what matched,
and "Copy again" puts a missing copy back in the queue so the next drain writes it again."""

from __future__ import annotations

import pytest

from tests.conftest import png_bytes
from tests.unit.helpers import make_service
from usbsync_gui.core.paths import app_paths
from usbsync_gui.views.context import ViewContext
from usbsync_gui.views.verify_window import VerifyWindow


@pytest.fixture
def synced(tmp_path):
    svc, src, target = make_service(tmp_path)
    for i in range(3):
        (src / f"p{i}.png").write_bytes(png_bytes(i) + bytes(300_000))
    svc.scan()
    assert svc.drain(target).copied == 3
    ctx = ViewContext(app_paths({"USBSYNC_HOME": str(tmp_path / "home")}), svc.config, svc.db)
    yield svc, target, ctx
    ctx.tasks.shutdown()
    svc.close()


def _run(qtbot, ctx, target) -> VerifyWindow:
    win = VerifyWindow(ctx, target.drive, str(target.mountpoint))
    qtbot.addWidget(win)
    seen: list[int] = []
    win.bar.valueChanged.connect(seen.append)
    win.show()
    win.start()
    qtbot.waitUntil(lambda: win.report is not None, timeout=10_000)
    assert seen and seen[-1] == 1000  # the bar moved to the end
    return win


def test_a_healthy_drive_reads_back_whole(synced, qtbot):
    _svc, target, ctx = synced
    win = _run(qtbot, ctx, target)
    assert win.headline.text() == "All 3 files usbsync wrote on Photos are there and read back the same."
    assert win.results.count() == 0 and not win.recopy_button.isEnabled()
    assert win.close_button.text() == "Close"


def test_a_missing_copy_is_listed_and_copied_again(synced, qtbot):
    svc, target, ctx = synced
    (target.mountpoint / "USBSync" / "p1.png").unlink()
    (target.mountpoint / "USBSync" / "mine.txt").write_text("the user's")
    win = _run(qtbot, ctx, target)
    assert win.headline.text().startswith("1 file missing and 0 files changed on Photos, of 3 usbsync wrote")
    items = [win.results.item(i).text() for i in range(win.results.count())]
    assert items == ["missing: USBSync/p1.png", "not written by usbsync (left alone): USBSync/mine.txt"]
    assert win.recopy_button.isEnabled()
    win.recopy_button.click()
    qtbot.waitUntil(lambda: "will be copied again" in win.headline.text(), timeout=10_000)
    assert win.headline.text() == "1 file will be copied again to Photos."
    assert svc.drain(target).copied == 1
    assert (target.mountpoint / "USBSync" / "p1.png").read_bytes() == png_bytes(1) + bytes(300_000)
    assert (target.mountpoint / "USBSync" / "mine.txt").read_text() == "the user's"
