"""Icons and other files from ``usbsync_gui/resources/``, package data: found the same way in a source checkout,
an installed wheel and a frozen (PyInstaller) build, where they are unpacked under ``sys._MEIPASS``.

Every icon is drawn from its SVG source into pixmaps at the sizes trays, menus and windows ask for, each at 1x
and 2x device pixel ratio, so it is sharp on high-DPI screens and does not depend on Qt's SVG icon-engine
plugin being deployed.

The tray state icons follow the system colour scheme (:func:`is_dark`): a dark glyph for light panels, a light
one for dark panels. Each carries a thin outline in the other colour, so it still reads on a panel that does not
follow the scheme (GNOME's top bar is dark under a light scheme). View code that colours text itself takes its
colours from here too (:func:`error_color`), and can follow a change of scheme with :func:`on_scheme_changed`.
"""

from __future__ import annotations

import logging
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path

from PySide6.QtCore import QByteArray, Qt
from PySide6.QtGui import QGuiApplication, QIcon, QImage, QPainter, QPalette, QPixmap
from PySide6.QtSvg import QSvgRenderer

log = logging.getLogger(__name__)

STATES = ("idle", "syncing", "waiting", "attention", "paused")
APP_ICON = "usbsync.svg"

# Logical sizes (px) drawn for each icon, each at these device pixel ratios, up to MAX_PIXELS physical pixels.
# Trays are 16 to 24 px (44 px on macOS), menus 16, notifications and task switchers 32 to 64, the app icon up
# to 256 in launchers and about boxes.
STATE_SIZES = (16, 20, 22, 24, 32, 40, 48, 64)
APP_SIZES = (16, 20, 22, 24, 32, 40, 48, 64, 96, 128, 256)
RATIOS = (1.0, 2.0)
MAX_PIXELS = 256

# The parts of a state icon's SVG marked class="glyph" (the stick) and class="ring" (the ring that sets the
# state badge off from it) get these attributes, for a light scheme (False) and a dark one (True). The SVG
# files are drawn with the light values.
SCHEME_COLORS: dict[bool, dict[str, dict[str, str]]] = {
    False: {"glyph": {"fill": "#3e4c59", "stroke": "#ffffff"}, "ring": {"stroke": "#ffffff"}},
    True: {"glyph": {"fill": "#e4e7eb", "stroke": "#1f2933"}, "ring": {"stroke": "#1f2933"}},
}
# Text that reports a failure (an error label): legible on the scheme's window background.
ERROR_COLORS = {False: "#c0392b", True: "#ff7b72"}

SVG_NS = "http://www.w3.org/2000/svg"
ET.register_namespace("", SVG_NS)  # write the recoloured SVG without an "ns0:" prefix


def resources_dir() -> Path:
    """The folder holding ``usbsync.svg``, ``usbsync.desktop`` and ``icons/``: ``usbsync_gui/resources``, package
    data of the wheel (so an installed app has its icons), or under ``sys._MEIPASS`` in a frozen build."""
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        return Path(frozen) / "usbsync_gui" / "resources"
    return Path(__file__).resolve().parents[1] / "resources"


def app_icon_file() -> Path:
    """The app icon's SVG file (for a desktop entry's ``Icon=``); it may be missing from a broken install."""
    return resources_dir() / APP_ICON


def is_dark() -> bool:
    """Whether the system colour scheme is dark. Qt reports the scheme (6.5+) where the platform theme knows it;
    where it does not, the application palette decides (light text on a dark window). False before there is a
    QGuiApplication."""
    if QGuiApplication.instance() is None:
        return False
    scheme = QGuiApplication.styleHints().colorScheme()
    if scheme != Qt.ColorScheme.Unknown:
        return scheme == Qt.ColorScheme.Dark
    palette = QGuiApplication.palette()
    window = palette.color(QPalette.ColorRole.Window).lightness()
    return window < palette.color(QPalette.ColorRole.WindowText).lightness()


def on_scheme_changed(callback: Callable[[bool], None]) -> Callable[[], None]:
    """Call ``callback(is_dark())`` whenever the system colour scheme changes. Returns a function that stops it.
    Needs a QGuiApplication; connect for no longer than what the callback touches lives."""
    hints = QGuiApplication.styleHints()

    def relay(_scheme: Qt.ColorScheme) -> None:
        callback(is_dark())

    def stop() -> None:
        hints.colorSchemeChanged.disconnect(relay)

    hints.colorSchemeChanged.connect(relay)
    return stop


WARN_COLORS = {False: "#a04000", True: "#ffa657"}  # ≥ 4.5:1 on the default light and dark window colours


def warn_color() -> str:
    """The colour (``#rrggbb``) for a caution (a volume of another installation, a drive that is short of
    space), legible in the current scheme's windows."""
    return WARN_COLORS[is_dark()]


def error_color() -> str:
    """The colour (``#rrggbb``) for text that reports a failure, legible in the current scheme's windows."""
    return ERROR_COLORS[is_dark()]


def state_icon(state: str) -> QIcon:
    """The tray icon for a state (idle, syncing, waiting, attention, paused; anything else is idle), in the
    variant for the current colour scheme. Needs a QGuiApplication."""
    return _state_icon(state if state in STATES else "idle", is_dark())


@cache
def _state_icon(state: str, dark: bool) -> QIcon:
    return _icon(resources_dir() / "icons" / f"{state}.svg", STATE_SIZES, SCHEME_COLORS[dark])


@cache
def app_icon() -> QIcon:
    """The application's icon (windows, dialogs). Needs a QGuiApplication."""
    return _icon(app_icon_file(), APP_SIZES)


def _recolored(svg: bytes, colors: dict[str, dict[str, str]]) -> bytes:
    """``svg`` with the attributes in ``colors[cls]`` set on every element whose class list holds ``cls``."""
    root = ET.fromstring(svg)
    for element in root.iter():
        for cls in element.get("class", "").split():
            for attribute, value in colors.get(cls, {}).items():
                element.set(attribute, value)
    return ET.tostring(root)


def _icon(path: Path, sizes: Iterable[int], colors: dict[str, dict[str, str]] | None = None) -> QIcon:
    """A QIcon holding ``path`` drawn at each of ``sizes`` at every ratio in RATIOS; empty (and logged) when the
    file is missing or not SVG, so a broken install shows no icon rather than failing to start."""
    try:
        svg = path.read_bytes()
        if colors:
            svg = _recolored(svg, colors)
    except (OSError, ET.ParseError) as exc:
        log.error("icon %s cannot be read: %s", path, exc)
        return QIcon()
    renderer = QSvgRenderer(QByteArray(svg))
    if not renderer.isValid():
        log.error("icon %s is not a drawable SVG", path)
        return QIcon()
    icon = QIcon()
    for size in sizes:
        for ratio in RATIOS:
            pixels = round(size * ratio)
            if pixels > MAX_PIXELS:
                continue
            image = QImage(pixels, pixels, QImage.Format.Format_ARGB32_Premultiplied)
            image.fill(Qt.GlobalColor.transparent)
            painter = QPainter(image)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            renderer.render(painter)
            painter.end()
            pixmap = QPixmap.fromImage(image)
            pixmap.setDevicePixelRatio(ratio)
            icon.addPixmap(pixmap)
    return icon
