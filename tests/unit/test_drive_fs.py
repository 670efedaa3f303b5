"""DriveFS: every operation on a drive relative to its root, following no link, on the volume's device."""

import os

import pytest

from tests.conftest import needs_symlinks
from usbsync_gui.core.drive_fs import DriveFS, LinkOnDrive, NotOnVolume


@pytest.fixture
def fs(tmp_path):
    root = tmp_path / "drive"
    root.mkdir()
    d = DriveFS(str(root), os.stat(root).st_dev, "Photos")
    yield d
    d.close()


def _victim(tmp_path):
    v = tmp_path / "victim"
    v.write_bytes(b"keep")
    return v


def test_create_new_makes_folders_and_never_opens_what_exists(fs, tmp_path):
    fd = fs.create_new("USBSync/a b/.usbsync-1.part")
    os.write(fd, b"x")
    os.close(fd)
    assert (tmp_path / "drive" / "USBSync" / "a b" / ".usbsync-1.part").read_bytes() == b"x"
    with pytest.raises(FileExistsError):
        fs.create_new("USBSync/a b/.usbsync-1.part")


@needs_symlinks
def test_links_are_refused_at_every_level(fs, tmp_path):
    victim = _victim(tmp_path)
    root = tmp_path / "drive"
    (root / "USBSync").mkdir()
    (root / "USBSync" / ".usbsync-1.part").symlink_to(victim)
    with pytest.raises(LinkOnDrive) as e:
        fs.create_new("USBSync/.usbsync-1.part")
    assert str(e.value) == (
        "USBSync/.usbsync-1.part on Photos is a symbolic link; usbsync does not follow links on a drive"
    )
    with pytest.raises(LinkOnDrive):
        fs.open_read("USBSync/.usbsync-1.part")
    with pytest.raises(LinkOnDrive):
        fs.hash("USBSync/.usbsync-1.part")
    assert fs.lstat("USBSync/.usbsync-1.part").st_size == len(str(victim))  # the link itself
    (root / "USBSync" / "sub").symlink_to(tmp_path)
    with pytest.raises(LinkOnDrive, match="USBSync/sub on Photos"):
        fs.create_new("USBSync/sub/new.part")
    with pytest.raises(LinkOnDrive, match="USBSync/sub on Photos"):
        fs.lstat("USBSync/sub/victim")
    assert victim.read_bytes() == b"keep" and not (tmp_path / "new.part").exists()


def test_rename_without_replace_never_overwrites(fs, tmp_path):
    root = tmp_path / "drive"
    os.close(fs.create_new("t"))
    (root / "dest").write_bytes(b"theirs")
    with pytest.raises(FileExistsError):
        fs.rename("t", "dest", replace=False)
    assert (root / "dest").read_bytes() == b"theirs"
    fs.rename("t", "dest", replace=True)
    assert (root / "dest").read_bytes() == b""
    assert fs.unlink("dest") and not fs.unlink("dest")


def test_another_device_is_not_the_volume(tmp_path):
    root = tmp_path / "drive"
    root.mkdir()
    fs = DriveFS(str(root), os.stat(root).st_dev + 1, "Photos")  # as if the volume were unmounted
    with pytest.raises(NotOnVolume):
        fs.create_new("USBSync/x")
    assert not (root / "USBSync").exists()
    fs.close()


def test_dot_dot_is_refused(fs):
    with pytest.raises(OSError):
        fs.create_new("../escape")
