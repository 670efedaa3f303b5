import csv
import json
import re

import pytest

from usbsync_gui.core.audit import AUDIT_COLUMNS, AuditLog
from usbsync_gui.core.instance_lock import AlreadyRunning, InstanceLock
from usbsync_gui.core.volumes import MarkerError, marker_path, read_marker, write_marker


def test_marker_round_trip_and_reregistration_keeps_the_id(tmp_path):
    assert read_marker(tmp_path) is None
    m = write_marker(tmp_path, "Photos")
    assert read_marker(tmp_path) == m
    again = write_marker(tmp_path, "Pictures", m.drive_id)
    assert again.drive_id == m.drive_id and read_marker(tmp_path).name == "Pictures"
    assert json.loads(marker_path(tmp_path).read_text())["format"] == 2
    assert [p.name for p in (tmp_path / ".usbsync").iterdir()] == ["drive.json"]  # no temp file left


@pytest.mark.parametrize("body", ["not json", '{"format": 99, "id": "x", "name": "y"}', '{"format": 1}'])
def test_a_broken_marker_is_an_error_naming_the_file(tmp_path, body):
    (tmp_path / ".usbsync").mkdir()
    marker_path(tmp_path).write_text(body)
    with pytest.raises(MarkerError, match=re.escape(str(marker_path(tmp_path)))):
        read_marker(tmp_path)


def test_audit_csv_has_the_header_once_and_quotes_commas(tmp_path):
    path = tmp_path / "file_operations.csv"
    a = AuditLog(path)
    a.record("copy", "/out/a, b.png", "/media/x/USBSync/a, b.png", "Photos", 69, "ab" * 32, 1.25)
    a.close()
    a = AuditLog(path)
    a.record("copy", "/out/c.png", status="deferred", error="not enough space on Photos")
    a.close()
    rows = list(csv.reader(path.open()))
    assert rows[0] == list(AUDIT_COLUMNS)
    assert len(rows) == 3
    assert rows[1][2] == "/out/a, b.png" and rows[1][5] == "69" and rows[1][7] == "1.2"
    assert rows[2][8:] == ["deferred", "not enough space on Photos"]


def test_second_instance_is_refused_with_the_pid(tmp_path):
    first = InstanceLock(tmp_path / "l", tmp_path / "pid")
    first.acquire()
    try:
        with pytest.raises(AlreadyRunning, match=r"already running \(pid \d+\)"):
            InstanceLock(tmp_path / "l", tmp_path / "pid").acquire()
    finally:
        first.release()
    with InstanceLock(tmp_path / "l", tmp_path / "pid"):
        pass


def test_log_lines_show_undecodable_names_as_replacement_characters(tmp_path):
    """A name that is not valid UTF-8 (a PEP 383 surrogate) is shown as U+FFFD in the log, not as \\udce9."""
    import logging

    from usbsync_gui.core.audit import LOG_FILE, setup_logging

    root = logging.getLogger("usbsync_gui")
    saved = (list(root.handlers), root.level, root.propagate)
    try:
        setup_logging(tmp_path, console=False)
        logging.getLogger("usbsync_gui.core.copier").info("copied %s -> %s", "caf\udce9.png", "caf_.png")
        for h in root.handlers:
            h.flush()
        text = (tmp_path / LOG_FILE).read_text(encoding="utf-8")
        assert "copied caf\ufffd.png -> caf_.png" in text, text
    finally:
        for h in list(root.handlers):
            root.removeHandler(h)
            h.close()
        for h in saved[0]:
            root.addHandler(h)
        root.setLevel(saved[1])
        root.propagate = saved[2]
