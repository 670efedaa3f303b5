"""SourceFolders: the one rule for reading from the outbox, on a real filesystem."""

import os
import sys
import time

import pytest

from tests.conftest import byte_names, needs_fifos, needs_symlinks
from usbsync_gui.core import source_paths
from usbsync_gui.core.source_paths import NotRegularFile, Refused, SourceFolders


@needs_symlinks
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


@needs_symlinks
@byte_names
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


@needs_fifos
def test_open_never_blocks_on_a_fifo(tmp_path):
    src = tmp_path / "out"
    src.mkdir()
    os.mkfifo(src / "pipe")
    t0 = time.monotonic()
    with pytest.raises(NotRegularFile, match="FIFO"):
        SourceFolders([src]).open(src / "pipe")
    assert time.monotonic() - t0 < 1


def _mine_and_outside(tmp_path):
    """An outbox with ``sub/f.txt`` ("mine"), and a folder outside it with an ``f.txt`` of its own."""
    src = tmp_path / "out"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "f.txt").write_bytes(b"mine")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "f.txt").write_bytes(b"not yours")
    return src, outside


@needs_symlinks
@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs Linux's /proc/self/fd")
def test_a_folder_swapped_for_a_link_between_the_check_and_the_open_is_refused(tmp_path, monkeypatch):
    src, outside = _mine_and_outside(tmp_path)
    checked = SourceFolders.real_path

    def check_then_swap(self, path):  # the race, made certain: the check passes, then the folder is a link
        real = checked(self, path)
        (src / "sub" / "f.txt").unlink()
        (src / "sub").rmdir()
        (src / "sub").symlink_to(outside)
        return real

    monkeypatch.setattr(SourceFolders, "real_path", check_then_swap)
    # The check-then-open way, used where /proc or O_PATH is missing: the open's own check refuses it.
    monkeypatch.setattr(source_paths, "_O_PATH", 0)
    with pytest.raises(Refused) as info:
        SourceFolders([src]).open(src / "sub" / "f.txt")
    assert "leads outside the source folders" in info.value.reason


@needs_symlinks
@pytest.mark.skipif(not getattr(source_paths, "_O_PATH", 0), reason="needs Linux's O_PATH and /proc/self/fd")
def test_what_is_read_is_the_file_that_was_checked_even_if_swapped_at_once(tmp_path, monkeypatch):
    """Linux: open() checks the very file it then reads (an O_PATH handle), so a folder swapped for a link
    right after the lookup changes nothing: the file that was in the outbox is read, never the outside one."""
    src, outside = _mine_and_outside(tmp_path)
    real_open = os.open
    swapped: list[int] = []

    def open_then_swap(path, flags, *args, **kw):
        fd = real_open(path, flags, *args, **kw)
        if flags & source_paths._O_PATH and not swapped:  # the race, made certain: just after the lookup
            (src / "sub").rename(src / "moved")  # the file stays in the outbox, under another name
            (src / "sub").symlink_to(outside)
            swapped.append(fd)
        return fd

    monkeypatch.setattr(source_paths.os, "open", open_then_swap)
    fd = SourceFolders([src]).open(src / "sub" / "f.txt")
    try:
        assert swapped and os.read(fd, 100) == b"mine"
    finally:
        os.close(fd)
    # And a path that leads outside from the start is refused before anything is opened for reading.
    with pytest.raises(Refused, match="leads outside"):
        SourceFolders([src]).open(src / "sub" / "f.txt")


def test_outbox_paths_compare_as_the_os_compares_names(tmp_path):
    """Windows names are case-insensitive: a path spelt in another case (a manifest entry, an event from
    another API) is in the outbox. POSIX names are case-sensitive: there it is another folder."""
    src = tmp_path / "Outbox"
    (src / "Holiday").mkdir(parents=True)
    sf = SourceFolders([src])
    other = os.path.join(str(src).upper(), "Holiday", "IMG.png")
    got = sf.locate(other)
    if sys.platform == "win32":
        assert got is not None and (got.root, got.relpath) == (src, "Holiday/IMG.png")
        assert got.path == str(src / "Holiday" / "IMG.png")  # the outbox as configured, the rest as given
        assert sf.inside(os.path.join(str(src).lower(), "x.png"))
    else:
        assert got is None and not sf.inside(os.path.join(str(src).upper(), "x.png"))
