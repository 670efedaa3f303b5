"""The Windows icon file: usbsync_gui/resources/usbsync.svg drawn at the sizes Windows asks for (Explorer, the
taskbar, the Start menu, Add/Remove Programs), packed as one .ico for the executables and the installer.

    python installer/windows/make_ico.py OUT.ico      (a Python with PySide6; draws offscreen)

Sizes up to 64 px are stored as 32-bit bitmaps (the classic form every reader takes, NSIS's too), 128 and 256 px
as PNG (smaller; Windows Vista and later read them). Format: Microsoft's ICO (ICONDIR, ICONDIRENTRY, then each
image: a BITMAPINFOHEADER of double height, BGRA rows bottom-up, a 1-bit AND mask) or the PNG file itself.
"""

from __future__ import annotations

import os
import struct
import sys
from pathlib import Path

BITMAP_SIZES = (16, 20, 24, 32, 40, 48, 64)
PNG_SIZES = (128, 256)
SVG = Path(__file__).resolve().parents[2] / "usbsync_gui" / "resources" / "usbsync.svg"


def _draw(size: int):  # -> QImage, ARGB32 (not premultiplied: an icon's alpha is straight)
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(str(SVG))
    if not renderer.isValid():
        raise SystemExit(f"cannot read {SVG}")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    renderer.render(painter)
    painter.end()
    return image.convertToFormat(QImage.Format.Format_ARGB32)


def _bitmap(image, size: int) -> bytes:
    """One icon image as a DIB: the header says twice the height (the XOR image, then the AND mask)."""
    header = struct.pack("<IiiHHIIiiII", 40, size, size * 2, 1, 32, 0, 0, 0, 0, 0, 0)
    # ARGB32 in memory on a little-endian machine is B, G, R, A: the DIB's own order; rows go bottom-up.
    rows = [bytes(image.constBits())[y * image.bytesPerLine() :][: size * 4] for y in range(size)]
    mask_row = b"\0" * (((size + 31) // 32) * 4)  # all 0: the alpha channel decides transparency
    return header + b"".join(reversed(rows)) + mask_row * size


def _png(image) -> bytes:
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice

    data = QByteArray()
    buf = QBuffer(data)
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    if not image.save(buf, "PNG"):
        raise SystemExit("cannot encode a PNG")
    return bytes(data.data())


def main(out: Path) -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QGuiApplication

    _app = QGuiApplication([])
    images = [(s, _bitmap(_draw(s), s)) for s in BITMAP_SIZES] + [(s, _png(_draw(s))) for s in PNG_SIZES]
    offset = 6 + 16 * len(images)
    head = struct.pack("<HHH", 0, 1, len(images))  # reserved, type 1 (icon), count
    for size, blob in images:
        dim = size if size < 256 else 0  # 0 stands for 256
        head += struct.pack("<BBBBHHII", dim, dim, 0, 0, 1, 32, len(blob), offset)
        offset += len(blob)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(head + b"".join(blob for _, blob in images))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    main(Path(sys.argv[1]))
