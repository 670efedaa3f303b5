"""The application's widget style: the platform's own, with one repair for Qt's Fusion style in a dark scheme.

Fusion (the style Qt uses on GNOME, Xfce and other desktops without a Qt platform theme) draws a check box's
frame in the window colour darkened by 40 %, which is visible on a light window and all but invisible on a dark
one: an unticked box in the wizard's "which drive holds what" table could not be seen (docs/screenshots,
wizard-2-drives-dark.png). The same quirk is worked around in other Qt applications the same way, by a
:class:`QProxyStyle` that draws the frame again (Rapid Photo Downloader's ``DarkModeQuirkCheckBoxStyle``).
Styles that draw their own dark look (Breeze, Windows 11) are left alone.
"""

from __future__ import annotations

from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor, QPainter, QPalette, QPen
from PySide6.QtWidgets import QApplication, QProxyStyle, QStyle, QStyleOption, QWidget

_CHECKS = (
    QStyle.PrimitiveElement.PE_IndicatorCheckBox,
    QStyle.PrimitiveElement.PE_IndicatorItemViewItemCheck,
)
FRAME_ALPHA = 150  # of 255: the text colour at this opacity, ≥ 3:1 on Fusion's dark base (WCAG 1.4.11)


def _dark(palette: QPalette) -> bool:
    return (
        palette.color(QPalette.ColorRole.Window).lightness()
        < palette.color(QPalette.ColorRole.WindowText).lightness()
    )


class CheckFrameStyle(QProxyStyle):
    """Fusion, with check boxes (widgets and item-view ticks) framed in the text colour when the palette is
    dark. Draws what Fusion draws, then the frame over it; nothing else changes."""

    def drawPrimitive(
        self,
        element: QStyle.PrimitiveElement,
        option: QStyleOption,
        painter: QPainter,
        widget: QWidget | None = None,
    ) -> None:
        super().drawPrimitive(element, option, painter, widget)
        if element not in _CHECKS or not _dark(option.palette):
            return
        color = QColor(option.palette.color(QPalette.ColorRole.Text))
        color.setAlpha(FRAME_ALPHA)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(color, 1))
        painter.setBrush(QColor(0, 0, 0, 0))
        r = QRectF(option.rect).adjusted(1.5, 1.5, -1.5, -1.5)
        painter.drawRoundedRect(r, 2, 2)
        painter.restore()


def apply_app_style(app: QApplication) -> None:
    """Install :class:`CheckFrameStyle` over the application's style when that style is Fusion (the frame is
    drawn only while the palette is dark, so a switch of scheme needs nothing more). Other styles are kept."""
    if app.style().name().lower() == "fusion":
        app.setStyle(CheckFrameStyle("Fusion"))
