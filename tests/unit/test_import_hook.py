"""PySide6's import hook reads and keeps the source of every module imported after PySide6 (6 MiB of the tray
app's memory); :func:`usbsync_gui.restore_builtin_import` removes it. Each case runs in a fresh interpreter:
this one imported PySide6 long ago (pytest-qt)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

CASE = textwrap.dedent(
    """
    import linecache, sys
    sys.path.insert(0, sys.argv[1])
    import usbsync_gui
    from PySide6.QtCore import QObject, QTimer, Signal
    restored = usbsync_gui.restore_builtin_import() if sys.argv[2] == "restore" else False
    import late_module  # a module imported after PySide6, with its source beside it

    class Sender(QObject):  # PySide6 still works: signals, slots, timers
        ping = Signal(int)

    got = []
    s = Sender()
    s.ping.connect(got.append)
    s.ping.emit(late_module.VALUE)
    QTimer()
    cached = any(name.endswith("late_module.py") for name in linecache.cache)
    print(restored, cached, got)
    """
)


def _run(tmp_path, mode: str) -> str:
    (tmp_path / "late_module.py").write_text("VALUE = 7\n" + "# padding\n" * 100)
    p = subprocess.run(
        [sys.executable, "-c", CASE, str(tmp_path), mode], capture_output=True, text=True, timeout=60
    )
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def test_pyside6_keeps_the_source_of_later_modules_in_linecache(tmp_path):
    assert _run(tmp_path, "keep") == "False True [7]"


def test_restoring_the_builtin_import_keeps_no_source_and_pyside6_still_works(tmp_path):
    assert _run(tmp_path, "restore") == "True False [7]"
