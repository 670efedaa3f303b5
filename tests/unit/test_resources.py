"""The icons: every state and the app icon drawn sharp at 1x and 2x, a light and a dark variant of the tray
icons chosen by the colour scheme, and the scheme helpers other views use."""

from __future__ import annotations

import logging

import pytest
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QImage, QPalette

from usbsync_gui.views import resources
from usbsync_gui.views.resources import (
    STATES,
    app_icon,
    app_icon_file,
    error_color,
    is_dark,
    on_scheme_changed,
    resources_dir,
    state_icon,
)


def _opaque_pixels(image: QImage) -> int:
    return sum(
        image.pixelColor(x, y).alpha() > 0 for x in range(image.width()) for y in range(image.height())
    )


def _assert_sharp(icon: QIcon, sizes: tuple[int, ...]) -> None:
    assert not icon.isNull()
    for size in sizes:
        pixmap = icon.pixmap(QSize(size, size), 1.0)
        assert (pixmap.width(), pixmap.height(), pixmap.devicePixelRatio()) == (size, size, 1.0)
        assert _opaque_pixels(pixmap.toImage()) > size * size // 4  # drawn, not blank
    hidpi = icon.pixmap(QSize(32, 32), 2.0)
    assert (hidpi.width(), hidpi.height(), hidpi.devicePixelRatio()) == (64, 64, 2.0)
    # Drawn at 64 physical pixels from the SVG, not 32 pixels scaled up: the same image as the 64 px one.
    assert hidpi.toImage() == icon.pixmap(QSize(64, 64), 1.0).toImage()
    assert hidpi.toImage() != icon.pixmap(QSize(32, 32), 1.0).toImage().scaled(64, 64)


def test_the_files_are_where_the_app_looks():
    assert (resources_dir() / "icons").is_dir()
    assert app_icon_file().is_file() and app_icon_file().suffix == ".svg"
    for state in STATES:
        assert (resources_dir() / "icons" / f"{state}.svg").is_file()


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
@pytest.mark.parametrize("state", STATES)
def test_every_state_icon_is_sharp_at_1x_and_2x(qapp, monkeypatch, state, dark):
    monkeypatch.setattr(resources, "is_dark", lambda: dark)
    _assert_sharp(state_icon(state), (16, 22, 32, 64))


def test_the_app_icon_is_sharp_at_1x_and_2x_up_to_256(qapp):
    _assert_sharp(app_icon(), (16, 32, 64, 256))


def test_an_unknown_state_shows_idle(qapp):
    assert state_icon("no-such-state").cacheKey() == state_icon("idle").cacheKey()


def _glyph_lightness(icon: QIcon) -> int:
    """Lightness of the stick's body (left half, away from the badge) in the 64 px pixmap."""
    return icon.pixmap(QSize(64, 64), 1.0).toImage().pixelColor(20, 30).lightness()


@pytest.mark.parametrize("state", STATES)
def test_a_dark_scheme_gets_a_light_glyph_and_a_light_scheme_a_dark_one(qapp, monkeypatch, state):
    monkeypatch.setattr(resources, "is_dark", lambda: False)
    light = state_icon(state)
    monkeypatch.setattr(resources, "is_dark", lambda: True)
    dark = state_icon(state)
    assert light.pixmap(QSize(32, 32)).toImage() != dark.pixmap(QSize(32, 32)).toImage()
    assert _glyph_lightness(light) < 100 < 180 < _glyph_lightness(dark)


@pytest.fixture
def palette(qapp):
    """The application palette, restored after the test."""
    saved = QPalette(QGuiApplication.palette())
    yield
    QGuiApplication.setPalette(saved)


def test_is_dark_follows_the_palette_where_the_platform_reports_no_scheme(palette):
    if QGuiApplication.styleHints().colorScheme() != Qt.ColorScheme.Unknown:
        pytest.skip("this platform reports its colour scheme; is_dark() follows that, not the palette")
    dark = QPalette()
    dark.setColor(QPalette.ColorRole.Window, QColor("#202020"))
    dark.setColor(QPalette.ColorRole.WindowText, QColor("#f0f0f0"))
    QGuiApplication.setPalette(dark)
    assert is_dark() and error_color() == resources.ERROR_COLORS[True]
    light = QPalette()
    light.setColor(QPalette.ColorRole.Window, QColor("#f0f0f0"))
    light.setColor(QPalette.ColorRole.WindowText, QColor("#202020"))
    QGuiApplication.setPalette(light)
    assert not is_dark() and error_color() == resources.ERROR_COLORS[False]


def test_error_colors_contrast_with_their_schemes_window():
    """WCAG contrast of at least 4.5:1 against a typical window background of each scheme."""

    def luminance(name: str) -> float:
        def channel(c: float) -> float:
            return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

        color = QColor(name)
        r, g, b = (channel(v) for v in (color.redF(), color.greenF(), color.blueF()))
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    def contrast(a: str, b: str) -> float:
        hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
        return (hi + 0.05) / (lo + 0.05)

    assert contrast(resources.ERROR_COLORS[False], "#efefef") >= 4.5
    assert contrast(resources.ERROR_COLORS[True], "#2b2b2b") >= 4.5


def test_on_scheme_changed_calls_back_until_stopped(qapp):
    seen: list[bool] = []
    stop = on_scheme_changed(seen.append)
    hints = QGuiApplication.styleHints()
    hints.colorSchemeChanged.emit(Qt.ColorScheme.Dark)  # what the platform theme does when the user switches
    assert seen == [is_dark()]
    stop()
    hints.colorSchemeChanged.emit(Qt.ColorScheme.Light)
    assert seen == [is_dark()]


def test_a_missing_icon_file_is_an_empty_icon_and_a_logged_error(qapp, monkeypatch, tmp_path, caplog):
    monkeypatch.setattr(resources, "resources_dir", lambda: tmp_path)
    resources._state_icon.cache_clear()
    try:
        with caplog.at_level(logging.ERROR, logger=resources.__name__):
            assert state_icon("idle").isNull()
        assert "idle.svg cannot be read" in caplog.text
    finally:
        resources._state_icon.cache_clear()


def test_the_wheel_carries_the_icons_and_the_desktop_entry(tmp_path):
    """An installed app draws its tray icons from package data: a wheel built from this checkout must hold every
    file of ``usbsync_gui/resources`` (it held none, and an installed app had no icons)."""
    import subprocess
    import sys
    import zipfile
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    if not (root / "usbsync_gui").is_dir():
        # make test-windows runs a copy of tests/ against the installed wheel, whose own icons
        # test_the_files_are_where_the_app_looks finds (or not).
        pytest.skip("not run from a source checkout: the installed package is what is tested")
    out = tmp_path / "wheel"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(out),
            str(root),
        ],
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    (wheel,) = out.glob("usbsync-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {
        p.relative_to(root).as_posix() for p in (root / "usbsync_gui" / "resources").rglob("*") if p.is_file()
    }
    assert shipped and shipped <= names, sorted(shipped - names)
    assert (
        "usbsync_gui/resources/icons/attention.svg" in names
        and "usbsync_gui/resources/usbsync.desktop" in names
    )
