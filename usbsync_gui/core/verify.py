"""``usbsync verify``: read back from the device every file a drive's manifest lists, and compare.

Works from the drive alone (its marker and :mod:`usbsync_gui.core.manifest`), so it answers with the state
database gone. Each file is read with its cached pages dropped first (``posix_fadvise(POSIX_FADV_DONTNEED)``,
as the copier's verify does), so what is compared is what the device returns, not what the computer remembers.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from usbsync_gui.core import manifest
from usbsync_gui.core.copy_plan import TEMP_PREFIX
from usbsync_gui.core.drive_fs import DriveFS
from usbsync_gui.core.fs_text import for_display
from usbsync_gui.core.volumes import MARKER_DIR, MarkerError, read_marker


class NotTheDrive(Exception):
    """The volume is not the drive asked for (no marker, or another drive's)."""


@dataclass(frozen=True)
class Changed:
    path: str  # relative to the volume's root (as the OS names it: may hold undecodable bytes)
    why: str  # "size 1024 bytes, listed 2048", "content differs", "not a regular file", "unreadable: EIO"


@dataclass
class VerifyReport:
    """What ``verify`` found. Paths are relative to the volume's root, '/'-separated, as the OS names them
    (:func:`to_json` and the views show them with :func:`for_display`)."""

    drive: str
    mountpoint: str
    listed: int = 0  # files the manifest lists
    ok: int = 0
    bytes_read: int = 0
    missing: list[str] = field(default_factory=list)
    changed: list[Changed] = field(default_factory=list)
    unknown: list[str] = field(
        default_factory=list
    )  # files in the drive's folders the manifest does not list
    manifest_damaged: int = 0  # manifest lines that could not be read
    no_manifest: bool = False
    seconds: float = 0.0

    @property
    def all_match(self) -> bool:
        return not self.missing and not self.changed

    def to_json(self) -> dict[str, object]:
        d = asdict(self)
        d["missing"] = [for_display(p) for p in self.missing]
        d["unknown"] = [for_display(p) for p in self.unknown]
        d["changed"] = [{"path": for_display(c.path), "why": c.why} for c in self.changed]
        d["all_match"] = self.all_match
        return d


#: progress(files done, files listed, bytes done, bytes listed)
Progress = Callable[[int, int, int, int], None]


def verify_drive(
    mountpoint: str,
    drive_id: str,
    drive_name: str,
    folder: str,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> VerifyReport:
    """Verify the drive ``drive_id`` mounted at ``mountpoint`` against its manifest.

    Args:
        folder: the drive's folder now; it is searched for unknown files as well as every folder the manifest
            names.
        progress: called after each file.
        cancel: set to stop; raises :class:`usbsync_gui.core.copy_stream.Cancelled` within a chunk (1 MiB).

    Raises:
        NotTheDrive: the volume carries no marker, or another drive's.
        OSError: the volume cannot be read at all (its manifest or its root); a single file's read error is a
            :class:`Changed` entry ("unreadable: ...") instead.
    """
    t0 = time.monotonic()
    try:
        marker = read_marker(mountpoint)
    except MarkerError as exc:
        raise NotTheDrive(f"{mountpoint}: {exc}") from exc
    if marker is None or marker.drive_id != drive_id:
        raise NotTheDrive(
            f"the volume at {mountpoint} is not {drive_name} (its marker differs or is missing)"
        )
    fs = DriveFS(mountpoint, os.stat(mountpoint).st_dev, drive_name)
    report = VerifyReport(drive_name, mountpoint)
    try:
        m = manifest.read(fs)
        report.no_manifest = not m.exists
        report.manifest_damaged = m.damaged
        entries = sorted(m.entries.values(), key=lambda e: e.rel)
        report.listed = len(entries)
        total = sum(e.size for e in entries)
        for i, e in enumerate(entries, 1):
            _check(fs, e, report, cancel)
            if progress is not None:
                progress(i, len(entries), report.bytes_read, total)
        folders = {e.folder for e in entries} | {folder.strip("/")}
        report.unknown = _unlisted(mountpoint, folders, m.entries)
    finally:
        fs.close()
    report.seconds = time.monotonic() - t0
    return report


def _check(fs: DriveFS, e: manifest.Entry, report: VerifyReport, cancel: threading.Event | None) -> None:
    shown = e.rel
    try:
        st = fs.lstat(e.rel)
    except OSError as exc:  # a parent that is a link or a file: not what usbsync wrote
        report.changed.append(Changed(shown, f"unreadable: {exc}"))
        return
    if st is None:
        report.missing.append(shown)
        return
    if not stat.S_ISREG(st.st_mode):
        report.changed.append(Changed(shown, "not a regular file"))
        return
    if st.st_size != e.size:
        report.changed.append(Changed(shown, f"size {st.st_size} bytes, listed {e.size}"))
        return
    try:
        digest = fs.hash(e.rel, drop_cache=True, cancel=cancel)
    except OSError as exc:
        report.changed.append(Changed(shown, f"unreadable: {exc.strerror or exc}"))
        return
    report.bytes_read += e.size
    if digest != e.blake3:
        report.changed.append(Changed(shown, "content differs"))
    else:
        report.ok += 1


def _unlisted(mountpoint: str, folders: set[str], listed: dict[str, manifest.Entry]) -> list[str]:
    """Regular files and links under ``folders`` (relative to the volume) that ``listed`` does not name; usbsync's
    own temp files and ``.usbsync`` are left out. Links are reported, never followed."""
    out: set[str] = set()
    if "" in folders:
        folders = {""}  # the whole volume: every other folder is inside it
    for folder in folders:
        top = os.path.join(mountpoint, folder) if folder else mountpoint
        if not os.path.isdir(top) or os.path.islink(top):
            continue
        for dirpath, dirnames, filenames in os.walk(top):
            rel_dir = os.path.relpath(dirpath, mountpoint).replace(os.sep, "/")
            rel_dir = "" if rel_dir == "." else rel_dir
            if not rel_dir:
                dirnames[:] = [d for d in dirnames if d != MARKER_DIR]
            links = [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]
            dirnames[:] = [d for d in dirnames if d not in links]
            for name in filenames + links:
                if name.startswith(TEMP_PREFIX) and name.endswith(".part"):
                    continue
                rel = f"{rel_dir}/{name}" if rel_dir else name
                if rel not in listed:
                    out.add(rel)
    return sorted(out)
