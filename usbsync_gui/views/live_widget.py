"""A window that refreshes itself at an interval while it is shown, and not while hidden (the tray app creates
its windows at start-up and keeps most of them hidden)."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtGui import QHideEvent, QShowEvent
from PySide6.QtWidgets import QWidget


class LiveWidget(QWidget):
    """Subclasses implement :meth:`refresh`; ``interval_ms`` is how often it runs while shown."""

    def __init__(self, interval_ms: int, parent: QWidget | None = None):
        super().__init__(parent)
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.refresh)

    def refresh(self) -> None:
        raise NotImplementedError

    def showEvent(self, event: QShowEvent) -> None:
        self.refresh()
        self._timer.start()
        super().showEvent(event)

    def hideEvent(self, event: QHideEvent) -> None:
        self._timer.stop()
        super().hideEvent(event)
