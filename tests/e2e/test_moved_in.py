"""usbsync run: what a file manager's drag and drop brings (a rename into the outbox) goes at once, without
waiting the stability window; a file still open for writing in the outbox does wait it."""

import os

from tests.conftest import png_bytes
from tests.e2e.conftest import stop, wait_for

WINDOW_S = 20  # the stability window in the config: whatever lands well before it did not wait it
AT_ONCE_S = 10  # a generous bound, still far under the window


def test_renamed_in_file_and_folder_land_verified_before_the_window(usbsync, make_drive, tmp_path):
    photos = make_drive("PHOTOS")
    usbsync("register-drive", str(photos.mountpoint), "--name", "Photos", "--category", "images")
    usbsync.set("stability_window_seconds", str(WINDOW_S))
    staging = tmp_path / "staging"  # beside the outbox: the same filesystem, so a move is a rename
    staging.mkdir()
    assert os.stat(staging).st_dev == os.stat(usbsync.source).st_dev
    proc = usbsync.start()
    growing = None
    try:
        wait_for(
            lambda: (
                "drive Photos plugged in" in usbsync.log() and f"watching {usbsync.source}" in usbsync.log()
            ),
            timeout=20,
        )
        # The control: written in place and still open, so only the window can release it.
        growing = open(usbsync.source / "growing.png", "wb")  # noqa: SIM115 - held open on purpose
        growing.write(png_bytes(3))
        growing.flush()

        (staging / "dropped.png").write_bytes(png_bytes(1))
        (staging / "album" / "day2").mkdir(parents=True)
        (staging / "album" / "a.png").write_bytes(png_bytes(2))
        (staging / "album" / "day2" / "b.png").write_bytes(png_bytes(4))
        os.rename(staging / "dropped.png", usbsync.source / "dropped.png")
        os.rename(staging / "album", usbsync.source / "album")
        expected = {
            "dropped.png": png_bytes(1),
            "album/a.png": png_bytes(2),
            "album/day2/b.png": png_bytes(4),
        }

        took = wait_for(lambda: usbsync.json("status")["synced"] == len(expected), timeout=AT_ONCE_S)
        assert took < AT_ONCE_S < WINDOW_S
        assert photos.files() == expected  # verified copies, byte for byte
        assert "growing.png" not in photos.files()  # still open: it waits its window
    finally:
        if growing is not None:
            growing.close()
        code, out = stop(proc)
    assert code == 0, out
