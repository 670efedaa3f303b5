"""The manifest on the drive: what usbsync wrote there, so that the stick itself carries the proof.

Where: ``.usbsync/manifest`` at the volume's root, beside the marker (``.usbsync/drive.json``).

How it stays whole: each committed batch is **appended** as one block: its lines, then a trailer line
``{"batch": <lines>, "blake3": <hex of those lines' bytes>}``, then ``fsync``. A block counts only when its
trailer is there and its hash matches, so a power cut or a yanked stick in the middle of an append leaves a
torn tail that readers pass over (``Manifest.torn``) and the next append follows. The whole file is rewritten
as the copies are written (temp file, fsync, rename over it, fsync of the directory) only when it has no valid
header, or when more than half its lines are superseded. Why not a rewrite or a new file per batch: a rewrite
per batch writes the manifest again for every 256 files (a 20,000-file flood would write ~100 MB of manifest
for ~20 MB of files), and a file per batch takes a whole allocation unit each (128 KiB on a large exFAT stick);
an append takes a new unit only every few hundred files, which is what lets a drive whose free space was
measured take the files it was promised (tests/unit/test_space.py).

The format is JSON Lines, UTF-8. The first line is a header ``{"usbsync_manifest": 1, "drive_id": ...}``;
every entry line is one file::

    {"folder": "USBSync", "path": "2024/IMG_0001.jpg", "size": 2481664,
     "blake3": "<64 hex>", "mtime_ns": 1732190000000000000, "source": "2024/IMG_0001.jpg"}

``path`` is relative to the drive's folder ``folder`` (a drive's folder can be changed; its older files keep
theirs), '/'-separated; ``source`` is the file's path relative to its outbox folder. A name that is not valid
UTF-8 (Linux allows any bytes) is written as ``path_hex`` / ``source_hex``: the raw bytes in hex. Later lines
win: a copy usbsync replaced by a newer version is listed again with its new content. Lines that cannot be
read are counted (``Manifest.damaged``) and skipped, never fatal.

Nothing here follows a link on the drive: every access goes through :class:`DriveFS`.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field

import blake3

from usbsync_gui.core.drive_fs import DriveFS
from usbsync_gui.core.fs_text import is_text
from usbsync_gui.core.volumes import MARKER_DIR

log = logging.getLogger(__name__)

FORMAT = 1
MANIFEST = f"{MARKER_DIR}/manifest"
_TEMP = f"{MARKER_DIR}/manifest.tmp"


@dataclass(frozen=True)
class Entry:
    """One file usbsync wrote on the drive. ``size`` in bytes; ``mtime_ns`` of the copy on the drive (None:
    not known); ``blake3`` hex of its content as verified from the device."""

    folder: str
    path: str
    size: int
    blake3: str
    mtime_ns: int | None
    source: str

    @property
    def rel(self) -> str:
        """The path relative to the volume's root, '/'-separated (what the state database records)."""
        return f"{self.folder}/{self.path}" if self.folder else self.path

    @classmethod
    def from_rel(
        cls, folder: str, rel: str, size: int, blake3: str, mtime_ns: int | None, source: str
    ) -> Entry:
        """An entry for the volume-relative path ``rel``, relative to ``folder`` when it is inside it (else to
        the volume's root, with an empty folder)."""
        folder = folder.strip("/")
        if folder and rel.startswith(folder + "/"):
            return cls(folder, rel[len(folder) + 1 :], size, blake3, mtime_ns, source)
        return cls("", rel, size, blake3, mtime_ns, source)

    def to_json(self) -> str:
        d: dict[str, object] = {"folder": self.folder}
        _put_name(d, "path", self.path)
        d.update(size=self.size, blake3=self.blake3, mtime_ns=self.mtime_ns)
        _put_name(d, "source", self.source)
        return json.dumps(d, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, line: str) -> Entry:
        """Raises ValueError (json.JSONDecodeError included), KeyError or TypeError for a line that is not one."""
        d = json.loads(line)
        size, digest, mtime = d["size"], d["blake3"], d.get("mtime_ns")
        if not isinstance(size, int) or not isinstance(digest, str) or len(digest) != 64:
            raise ValueError("bad size or hash")
        if mtime is not None and not isinstance(mtime, int):
            raise ValueError("bad mtime")
        return cls(str(d["folder"]), _get_name(d, "path"), size, digest, mtime, _get_name(d, "source"))


def _put_name(d: dict[str, object], key: str, name: str) -> None:
    if is_text(name):
        d[key] = name
    else:
        d[key + "_hex"] = os.fsencode(name).hex()


def _get_name(d: dict[str, object], key: str) -> str:
    if key in d:
        return str(d[key])
    return os.fsdecode(bytes.fromhex(str(d[key + "_hex"])))


@dataclass
class Manifest:
    """What a drive's manifest lists: entries by volume-relative path (the last line for a path wins)."""

    drive_id: str | None = None  # from the header; None: there is no manifest
    entries: dict[str, Entry] = field(default_factory=dict)
    lines: int = 0  # entry lines in the file, superseded ones included
    damaged: int = 0  # lines that could not be read, or blocks whose hash did not match
    torn: int = 0  # lines of an append that did not finish (no trailer yet): passed over, not damage
    ends_cleanly: bool = True  # the file ends with a newline (else the next append starts a new line)

    @property
    def exists(self) -> bool:
        return self.drive_id is not None

    def add(self, entries: list[Entry]) -> None:
        for e in entries:
            self.entries[e.rel] = e


def read(fs: DriveFS) -> Manifest:
    """The manifest of the volume ``fs`` is rooted at; an empty one (``exists`` False) when there is none.

    Raises OSError when the volume cannot be read (EIO, gone, a link where the manifest should be)."""
    m = Manifest()
    try:
        fd = fs.open_read(MANIFEST)
    except FileNotFoundError:
        return m
    with os.fdopen(fd, "rb") as f:
        data = f.read()
    m.ends_cleanly = data.endswith(b"\n") or not data
    raw = [line.rstrip(b"\r") for line in data.split(b"\n")]  # CR LF from a text-mode copy: the same lines
    if raw and raw[-1] == b"":
        raw.pop()
    if not raw:
        return m
    try:
        h = json.loads(raw[0])
        if not isinstance(h, dict) or h.get("usbsync_manifest") != FORMAT:
            raise ValueError("not a usbsync manifest header")
        m.drive_id = str(h.get("drive_id", ""))
    except ValueError as exc:
        log.warning("%s: the manifest's header is not readable (%s)", fs.name, exc)
        m.drive_id = ""
        m.damaged += 1
    block: list[bytes] = []
    for line in raw[1:]:
        trailer = _trailer(line)
        if trailer is None:
            block.append(line)
            continue
        count, digest = trailer
        body, extra = (
            block[len(block) - count :] if count <= len(block) else block,
            block[: max(0, len(block) - count)],
        )
        m.damaged += len(extra)
        if count > len(block) or blake3.blake3(b"".join(x + b"\n" for x in body)).hexdigest() != digest:
            m.damaged += len(body)
        else:
            for x in body:
                m.lines += 1
                try:
                    e = Entry.from_json(x.decode("utf-8"))
                except (ValueError, KeyError, TypeError):
                    m.damaged += 1
                    continue
                m.entries[e.rel] = e
        block = []
    m.torn = len(block)
    if m.damaged:
        log.warning("%s: %d line(s) of its manifest could not be read", fs.name, m.damaged)
    return m


def _trailer(line: bytes) -> tuple[int, str] | None:
    if not line.startswith(b'{"batch"'):
        return None
    try:
        d = json.loads(line)
        return int(d["batch"]), str(d["blake3"])
    except (ValueError, KeyError, TypeError):
        return None


def append(fs: DriveFS, drive_id: str, entries: list[Entry], m: Manifest | None = None) -> None:
    """Record ``entries`` (one committed batch) as one block appended to the manifest, then fsync; a manifest
    that is missing, damaged or more than half superseded lines is rewritten instead (:func:`rewrite`).
    ``m``: the manifest as read, when the caller keeps it (it is updated to match what was written; read
    again after an OSError).

    Raises OSError from the drive (the caller tells a vanished drive from a failing one)."""
    if not entries:
        return
    m = m if m is not None else read(fs)
    if not m.drive_id or m.drive_id != drive_id or m.damaged or m.lines > 2 * max(len(m.entries), 64):
        m.add(entries)
        rewrite(fs, drive_id, m)
        return
    body = b"".join(e.to_json().encode("utf-8") + b"\n" for e in entries)
    trailer = json.dumps({"batch": len(entries), "blake3": blake3.blake3(body).hexdigest()}).encode() + b"\n"
    fd = fs.open_append(MANIFEST)
    try:
        data = (b"" if m.ends_cleanly else b"\n") + body + trailer
        while data:
            data = data[os.write(fd, data) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    m.add(entries)
    m.lines += len(entries)
    m.ends_cleanly = True


def rewrite(fs: DriveFS, drive_id: str, m: Manifest) -> None:
    """Write ``m`` as the whole manifest, as the copies are written: a temp file beside it, fsync, rename over
    it, fsync of ``.usbsync``. Raises OSError from the drive."""
    header = json.dumps({"usbsync_manifest": FORMAT, "drive_id": drive_id}).encode() + b"\n"
    body = b"".join(e.to_json().encode("utf-8") + b"\n" for _rel, e in sorted(m.entries.items()))
    trailer = (
        json.dumps({"batch": len(m.entries), "blake3": blake3.blake3(body).hexdigest()}).encode() + b"\n"
    )
    fs.unlink(_TEMP)  # left by a rewrite that did not finish
    fd = fs.create_new(_TEMP)
    try:
        try:
            with os.fdopen(fd, "wb", closefd=False) as f:
                f.write(header)
                f.write(body)
                f.write(trailer)
            os.fsync(fd)
        finally:
            os.close(fd)
        fs.rename(_TEMP, MANIFEST, replace=True)
    except BaseException:
        fs.unlink(_TEMP)
        raise
    fs.fsync_dir(MARKER_DIR)
    m.drive_id, m.lines, m.damaged, m.torn, m.ends_cleanly = drive_id, len(m.entries), 0, 0, True
