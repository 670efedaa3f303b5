"""The app style's one repair: under Fusion with a dark palette an unticked check box must be visible (it was
not: Fusion frames it in the window colour darkened, on a dark base). Rendered for real, pixels compared."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QImage, QPalette
from PySide6.QtWidgets import QCheckBox, QStyle, QStyleFactory, QTableWidget, QTableWidgetItem

from usbsync_gui.views.app_style import CheckFrameStyle

R = QPalette.ColorRole


def dark_palette() -> QPalette:
    p = QPalette()
    for role, color in (
        (R.Window, "#353535"),
        (R.WindowText, "#ffffff"),
        (R.Base, "#2a2a2a"),
        (R.AlternateBase, "#2f2f2f"),
        (R.Text, "#ffffff"),
        (R.Button, "#353535"),
        (R.ButtonText, "#ffffff"),
    ):
        p.setColor(role, QColor(color))
    return p


def light_palette() -> QPalette:
    p = QPalette()
    for role, color in (
        (R.Window, "#efefef"),
        (R.WindowText, "#000000"),
        (R.Base, "#ffffff"),
        (R.Text, "#000000"),
    ):
        p.setColor(role, QColor(color))
    return p


def frame_contrast(image: QImage, background: QColor) -> int:
    """The largest lightness difference from ``background`` of any pixel in ``image``."""
    base = background.lightness()
    return max(
        abs(image.pixelColor(x, y).lightness() - base)
        for x in range(image.width())
        for y in range(image.height())
    )


def unticked_cell(qtbot, style: QStyle, palette: QPalette) -> QImage:
    table = QTableWidget(1, 1)
    qtbot.addWidget(table)
    table.setStyle(style)
    table.setPalette(palette)
    item = QTableWidgetItem()
    item.setFlags(Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled)
    item.setCheckState(Qt.CheckState.Unchecked)
    table.setItem(0, 0, item)
    table.resize(200, 100)
    rect = table.visualItemRect(item)
    return table.viewport().grab(rect).toImage()


def unticked_box(qtbot, style: QStyle, palette: QPalette) -> QImage:
    box = QCheckBox()
    qtbot.addWidget(box)
    box.setStyle(style)
    box.setPalette(palette)
    box.resize(box.sizeHint())
    return box.grab().toImage()


@pytest.fixture
def fusion():
    style = QStyleFactory.create("Fusion")
    yield style


@pytest.fixture
def repaired():
    style = CheckFrameStyle("Fusion")
    yield style


@pytest.mark.parametrize("render", [unticked_cell, unticked_box], ids=["item-view tick", "check box"])
def test_an_unticked_box_is_visible_on_a_dark_palette(qtbot, fusion, repaired, render):
    dark = dark_palette()
    background = dark.color(R.Base if render is unticked_cell else R.Window)
    plain = frame_contrast(render(qtbot, fusion, dark), background)
    fixed = frame_contrast(render(qtbot, repaired, dark), background)
    # Fusion alone: nothing differs from the background by more than a few steps (2 and 13 of 255 here; what
    # the screenshot showed)...
    assert plain < 40, plain
    # ...repaired: a frame that stands out clearly.
    assert fixed >= 90, fixed
    assert fixed > plain


def test_a_light_palette_is_drawn_as_fusion_draws_it(qtbot, fusion, repaired):
    light = light_palette()
    assert unticked_cell(qtbot, fusion, light) == unticked_cell(qtbot, repaired, light)
