"""The manifest's own rules on a real folder (a volume's root stands in): one block appended per batch, whole
or not at all; later lines win; a rewrite when it is damaged or mostly superseded; names that are not UTF-8
survive; nothing is written through a link on the drive."""

from __future__ import annotations

import os
import sys

import pytest

from tests.conftest import needs_symlinks
from usbsync_gui.core import manifest
from usbsync_gui.core.drive_fs import DriveFS, LinkOnDrive


def _fs(root) -> DriveFS:
    return DriveFS(str(root), os.stat(root).st_dev, "Photos")


def _entry(i: int, digest: str = "a") -> manifest.Entry:
    return manifest.Entry("USBSync", f"f{i}.jpg", i, digest * 64, 1000 + i, f"src/f{i}.jpg")


def test_batches_are_appended_and_later_lines_win(tmp_path):
    fs = _fs(tmp_path)
    manifest.append(fs, "d1", [_entry(0), _entry(1)])  # none yet: written whole
    manifest.append(fs, "d1", [_entry(1, "b"), _entry(2)])  # appended
    text = (tmp_path / manifest.MANIFEST).read_text().splitlines()
    assert len(text) == 1 + 3 + 3  # header, (2 entries + trailer), (2 entries + trailer)
    m = manifest.read(fs)
    assert (m.drive_id, m.damaged, m.torn, m.lines) == ("d1", 0, 0, 4)
    assert m.entries["USBSync/f1.jpg"].blake3 == "b" * 64 and len(m.entries) == 3
    assert not (tmp_path / ".usbsync" / "manifest.tmp").exists()
    fs.close()


def test_an_append_cut_short_is_passed_over_and_the_next_one_heals_the_file(tmp_path):
    fs = _fs(tmp_path)
    manifest.append(fs, "d1", [_entry(0)])
    with (tmp_path / manifest.MANIFEST).open("ab") as f:
        f.write(_entry(1).to_json().encode() + b"\n" + b'{"folder": "USBSync", "pa')  # a power cut mid-append
    m = manifest.read(fs)
    assert sorted(m.entries) == ["USBSync/f0.jpg"] and m.torn == 2 and m.damaged == 0
    manifest.append(fs, "d1", [_entry(2)], m)  # follows on a new line; the torn lines count as damage now
    m = manifest.read(fs)
    assert sorted(m.entries) == ["USBSync/f0.jpg", "USBSync/f2.jpg"] and m.damaged == 2
    manifest.append(fs, "d1", [_entry(3)], m)  # a damaged manifest is rewritten whole
    m = manifest.read(fs)
    assert sorted(m.entries) == [f"USBSync/f{i}.jpg" for i in (0, 2, 3)] and (m.damaged, m.torn) == (0, 0)
    fs.close()


def _two_blocks_edited(tmp_path, old: bytes, new: bytes) -> tuple[DriveFS, manifest.Manifest]:
    """A manifest of two appended blocks (f0, f1) whose bytes are then edited (``old`` -> ``new``), read back."""
    fs = _fs(tmp_path)
    manifest.append(fs, "d1", [_entry(0)])
    manifest.append(fs, "d1", [_entry(1)])
    path = tmp_path / manifest.MANIFEST
    path.write_bytes(path.read_bytes().replace(old, new))
    return fs, manifest.read(fs)


def test_a_block_whose_hash_does_not_match_is_not_believed(tmp_path):
    fs, m = _two_blocks_edited(tmp_path, b'"f1.jpg","size":1', b'"f1.jpg","size":9')
    assert sorted(m.entries) == ["USBSync/f0.jpg"] and m.damaged == 1
    fs.close()


def test_a_manifest_mostly_of_superseded_lines_is_rewritten(tmp_path):
    fs = _fs(tmp_path)
    for n in range(70):
        manifest.append(fs, "d1", [_entry(0, "abcdef"[n % 6])])
    m = manifest.read(fs)
    assert len(m.entries) == 1 and m.lines <= 2 * 64 + 1
    fs.close()


@pytest.mark.skipif(sys.platform != "linux", reason="names that are not UTF-8 exist on Linux filesystems")
def test_a_name_that_is_not_utf8_survives(tmp_path):
    fs = _fs(tmp_path)
    odd = os.fsdecode(b"caf\xe9.jpg")
    manifest.append(fs, "d1", [manifest.Entry("USBSync", odd, 5, "d" * 64, None, odd)])
    assert "path_hex" in (tmp_path / manifest.MANIFEST).read_text()
    m = manifest.read(fs)
    assert m.entries[f"USBSync/{odd}"].source == odd
    fs.close()


@needs_symlinks
def test_a_link_planted_for_the_manifest_is_not_followed(tmp_path):
    outside = tmp_path / "outside"
    outside.write_text("not usbsync's\n")
    vol = tmp_path / "vol"
    (vol / ".usbsync").mkdir(parents=True)
    os.symlink(outside, vol / manifest.MANIFEST)
    fs = _fs(vol)
    with pytest.raises(LinkOnDrive):
        manifest.read(fs)
    m = manifest.Manifest(drive_id="d1")
    with pytest.raises(LinkOnDrive):
        manifest.append(fs, "d1", [_entry(1)], m)  # an append opens the file: refused, not followed
    assert outside.read_text() == "not usbsync's\n"
    fs.close()


def test_a_manifest_whose_line_ends_became_crlf_still_reads(tmp_path):
    """A copy through a tool that turns line ends into CR LF (a Windows editor, a text-mode transfer) changes no
    entry: the blocks still verify, nothing is lost or rewritten away."""
    fs, m = _two_blocks_edited(tmp_path, b"\n", b"\r\n")
    assert sorted(m.entries) == ["USBSync/f0.jpg", "USBSync/f1.jpg"] and m.damaged == 0
    fs.close()
