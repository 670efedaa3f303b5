"""Guards against a PySide6 defect seen in 6.12.0: each Signal.emit() dropped one reference to Python's True,
and after a few hundred emits (a tray app emits progress ten times a second) the interpreter aborted with
"Fatal Python error: bool_dealloc". pyproject.toml excludes that release; this fails on any release like it."""

import sys

from PySide6.QtCore import QObject, Signal, Slot


class _Sender(QObject):
    progress = Signal(str, str, int, int)
    flag = Signal(bool)


class _Receiver(QObject):
    @Slot(str, str, int, int)
    def on_progress(self, *args):
        pass

    @Slot(bool)
    def on_flag(self, value):
        pass


def test_emitting_signals_does_not_leak_or_steal_references(qapp):
    sender, receiver = _Sender(), _Receiver()
    sender.progress.connect(receiver.on_progress)
    sender.flag.connect(receiver.on_flag)
    before = (sys.getrefcount(True), sys.getrefcount(False))
    for i in range(1000):
        sender.progress.emit("d", "/out/a.jpg", i, 1000)
        sender.flag.emit(i % 2 == 0)
    after = (sys.getrefcount(True), sys.getrefcount(False))
    assert after == before, (
        f"PySide6 changed True/False reference counts by {after[0] - before[0]}/"
        f"{after[1] - before[1]} over 2,000 emits: this release will crash long-running apps"
    )
