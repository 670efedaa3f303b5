"""SourceFolders: the one rule for reading from the outbox, on a real filesystem."""

import os
import time

import pytest

from usbsync_gui.core.source_paths import NotRegularFile, Refused, SourceFolders


def test_locate_by_name_and_through_the_real_path(tmp_path):
    real = tmp_path / "var" / "home" / "out"
    real.mkdir(parents=True)
    (tmp_path / "home").symlink_to(tmp_path / "var" / "home")
    src = tmp_path / "home" / "out"
    sf = SourceFolders([src])
    assert sf.locate(src / "a" / "b.png").relpath == "a/b.png"
    via_real = sf.locate(real / "c.png")  # a manifest entry written with the real path
    assert (via_real.path, via_real.relpath) == (str(src / "c.png"), "c.png")
    assert sf.locate(tmp_path / "elsewhere.png") is None and sf.locate(src) is None
    (real / "c.png").write_bytes(b"x")
    assert sf.real_path(src / "c.png") == str(real / "c.png")


def test_open_refuses_links_that_leave_and_reads_links_that_stay(tmp_path):
    src = tmp_path / "out"
    src.mkdir()
    secret = tmp_path / "secret"
    secret.write_bytes(b"key")
    (src / "inside.txt").write_bytes(b"fine")
    (src / "alias.txt").symlink_to(src / "inside.txt")
    (src / "leak.txt").symlink_to(secret)
    bad_target = tmp_path / os.fsdecode(b"\xff\xfe")
    bad_target.write_bytes(b"x")
    (src / "leak2.txt").symlink_to(bad_target)
    sf = SourceFolders([src])
    fd = sf.open(src / "alias.txt")
    try:
        assert os.read(fd, 10) == b"fine"
    finally:
        os.close(fd)
    with pytest.raises(Refused) as info:
        sf.open(src / "leak.txt")
    assert "leads outside the source folders" in info.value.reason
    with pytest.raises(Refused) as info:
        sf.open(src / "leak2.txt")
    info.value.reason.encode("utf-8")  # storable and loggable as it is
    with pytest.raises(Refused, match="outside the source folders"):
        sf.open(secret)


def test_open_never_blocks_on_a_fifo(tmp_path):
    src = tmp_path / "out"
    src.mkdir()
    os.mkfifo(src / "pipe")
    t0 = time.monotonic()
    with pytest.raises(NotRegularFile, match="FIFO"):
        SourceFolders([src]).open(src / "pipe")
    assert time.monotonic() - t0 < 1


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs Linux's /proc/self/fd")
def test_a_folder_swapped_for_a_link_between_the_check_and_the_open_is_refused(tmp_path, monkeypatch):
    src = tmp_path / "out"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "f.txt").write_bytes(b"mine")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "f.txt").write_bytes(b"not yours")
    checked = SourceFolders.real_path

    def check_then_swap(self, path):  # the race, made certain: the check passes, then the folder is a link
        real = checked(self, path)
        (src / "sub" / "f.txt").unlink()
        (src / "sub").rmdir()
        (src / "sub").symlink_to(outside)
        return real

    monkeypatch.setattr(SourceFolders, "real_path", check_then_swap)
    with pytest.raises(Refused) as info:
        SourceFolders([src]).open(src / "sub" / "f.txt")
    assert "leads outside the source folders" in info.value.reason
