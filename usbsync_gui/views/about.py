"""The About box (tray menu, "About usbsync…"): the name and version, as ``usbsync --version`` and the installers
say them, and links that open the folders a bug report needs (the logs, the configuration)."""

from __future__ import annotations

import html
import platform
from pathlib import Path

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

from usbsync_gui import __version__
from usbsync_gui.core.paths import AppPaths
from usbsync_gui.views.open_folder import open_folder
from usbsync_gui.views.resources import app_icon

ICON_PX = 64


class AboutDialog(QDialog):
    """Name, version, what it runs on, and the log and configuration folders as links.

    Args:
        paths: the installation's folders (the log folder and the configuration file's folder are linked).
    """

    def __init__(self, paths: AppPaths, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("About usbsync")
        self._folders = {"logs": paths.log_dir, "config": paths.config_file.parent}
        icon = QLabel()
        icon.setPixmap(app_icon().pixmap(ICON_PX, ICON_PX))
        icon.setAlignment(Qt.AlignmentFlag.AlignTop)
        title = QLabel(f"<h3>usbsync {html.escape(__version__)}</h3>")
        title.setObjectName("about_title")
        title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        body = QLabel(
            "Copies the files in your outbox to the USB drive of their category, and checks each copy."
            f"<br><br>Python {html.escape(platform.python_version())}, PySide6 {html.escape(pyside_version)}, "
            f"{html.escape(platform.system())} {html.escape(platform.release())}"
            f"<br><br>{self._link('logs', 'Log folder')}: {html.escape(str(paths.log_dir))}"
            f"<br>{self._link('config', 'Configuration')}: {html.escape(str(paths.config_file))}"
        )
        body.setObjectName("about_body")
        body.setWordWrap(True)
        body.setTextFormat(Qt.TextFormat.RichText)
        body.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        body.linkActivated.connect(self.open_link)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        text = QVBoxLayout()
        text.addWidget(title)
        text.addWidget(body)
        row = QHBoxLayout()
        row.addWidget(icon)
        row.addLayout(text, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(buttons)
        self.setMinimumWidth(420)

    @staticmethod
    def _link(key: str, label: str) -> str:
        return f'<a href="{key}">{html.escape(label)}</a>'

    def open_link(self, key: str) -> None:
        """Open the folder behind link ``key`` ("logs" or "config") in the file manager; where none opens it,
        say where it is."""
        folder: Path = self._folders[key]
        folder.mkdir(
            parents=True, exist_ok=True
        )  # (the app makes both at start; a box for a missing one says less)

        def failed(why: str) -> None:
            box = QMessageBox(
                QMessageBox.Icon.Warning,
                "usbsync",
                f"No file manager opened the folder ({why}). It is:\n{folder}",
            )
            box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            box.setModal(False)
            box.open()
            self._failed_box = box  # kept: a parentless box with no reference would be collected at once

        open_folder(str(folder), self, failed)
