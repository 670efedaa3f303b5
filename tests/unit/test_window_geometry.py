"""Window geometry kept in a small JSON file in the state folder: saved, restored, and never in the way."""

from __future__ import annotations

import json

from PySide6.QtCore import QSize
from PySide6.QtWidgets import QWidget

from usbsync_gui.views.window_geometry import GeometryStore, fit_to_screen


def test_saved_geometry_comes_back_on_another_window(tmp_path, qtbot):
    store = GeometryStore(tmp_path / "state" / "windows.json")  # the folder is created on first save
    a = QWidget()
    qtbot.addWidget(a)
    a.resize(640, 420)
    a.show()
    qtbot.waitExposed(a)
    store.remember(a, "queue")
    store.save("other", b"\x01\x02")
    assert set(json.loads(store.path.read_text())) == {"queue", "other"}  # entries of other windows kept
    b = QWidget()
    qtbot.addWidget(b)
    assert store.restore(b, "queue")
    b.show()
    qtbot.waitExposed(b)
    assert b.size() == QSize(640, 420)
    assert store.load("other") == b"\x01\x02"


def test_missing_or_damaged_file_means_defaults(tmp_path, qtbot):
    w = QWidget()
    qtbot.addWidget(w)
    store = GeometryStore(tmp_path / "windows.json")
    assert store.load("queue") is None and not store.restore(w, "queue")
    for text in ("{not json", "[1, 2]", '{"queue": 3}', '{"queue": "***not base64***"}'):
        store.path.write_text(text)
        assert store.load("queue") is None and not store.restore(w, "queue"), text
    store.path.write_text('{"queue": "AAAA"}')  # valid base64, not a geometry Qt wrote
    assert not store.restore(w, "queue")


def test_a_failed_save_is_logged_not_raised(tmp_path, qtbot, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("")
    store = GeometryStore(blocker / "windows.json")  # its folder cannot be made: a file is in the way
    store.save("queue", b"x")
    assert "could not save the window size" in caplog.text


def test_default_size_is_shrunk_to_the_screen(qtbot):
    w = QWidget()
    qtbot.addWidget(w)
    avail = w.screen().availableGeometry().size()
    assert fit_to_screen(w, QSize(100, 80)) == QSize(100, 80)
    big = fit_to_screen(w, QSize(avail.width() * 2, avail.height() * 2))
    assert big.width() <= avail.width() and big.height() <= avail.height()
