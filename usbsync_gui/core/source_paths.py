"""The one rule for reading from the outbox: a file is read only if its real path is inside the real path of a
source folder.

Scans, the watcher, manifests (``.lst``) and the copier all go through :class:`SourceFolders`, so a symbolic
link in the outbox that leads elsewhere (``notes.txt -> ~/.ssh/id_ed25519``) is refused everywhere alike, and
a source folder reached through a link (Fedora Silverblue's ``/home -> /var/home``) is still inside itself.

Names: a file keeps the path it has in the outbox as the user sees it (``path``, under the configured source
folder): a link that stays inside the sources is copied under its own name.

Reading (:meth:`SourceFolders.open`) checks what it opens, not a name looked up before. On Linux the path is
first opened with ``O_PATH`` (open(2): links followed, but nothing opened for I/O, so a FIFO or device has no
side effect), the kernel says where that descriptor really is (``/proc/self/fd/N``, proc(5)), and only then is
that very file re-opened for reading through it: no window for a swap, and no Python loop of ``lstat`` per
path component (``os.path.realpath``). Elsewhere the real path is opened with ``O_NOFOLLOW``, so a file
swapped for a link between the check and the open is refused too. FIFOs and devices are never opened for
reading in a way that blocks (``O_NONBLOCK``, then ``fstat``).
"""

from __future__ import annotations

import errno
import os
import stat
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from usbsync_gui.core.fs_text import for_display

_O_READ = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
_O_READ |= getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
# Linux: open by an O_PATH handle and ask /proc where it is (see the module's doc). Not where /proc is missing.
_O_PATH = getattr(os, "O_PATH", 0) if os.path.isdir("/proc/self/fd") else 0


class Refused(OSError):
    """``path`` is not read: its real path is outside every source folder. ``str()`` says why, in words;
    ``reason`` is valid Unicode (undecodable bytes of a link's target shown as U+FFFD, see
    :func:`~usbsync_gui.core.fs_text.for_display`), so it can be stored and logged as it is."""

    def __init__(self, path: str, reason: str):
        super().__init__(errno.EACCES, reason, path)
        self.path = path
        self.reason = reason

    def __str__(self) -> str:
        return f"{for_display(self.path)}: {self.reason}"


def _leaves(real: str) -> str:
    return f"a symbolic link that leads outside the source folders (to {for_display(real)})"


class NotRegularFile(OSError):
    """``path`` is a FIFO, socket, device or directory: nothing to copy. ``kind`` names it in words."""

    def __init__(self, path: str, kind: str = "not a regular file"):
        super().__init__(errno.EINVAL, kind, path)
        self.kind = kind


def file_kind(mode: int) -> str:
    """What a ``st_mode`` that is not a regular file is, in words ("a FIFO", "a socket", ...)."""
    for test, name in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISLNK, "a symbolic link"),
    ):
        if test(mode):
            return name
    return "not a regular file"


@dataclass(frozen=True)
class SourceFile:
    """A path in a source folder. ``path`` is absolute, under ``root`` as configured; ``relpath`` is
    '/'-separated and relative to ``root``."""

    path: str
    root: Path
    relpath: str


class SourceFolders:
    """The configured source folders and their real paths.

    Args:
        sources: the source folders as configured (absolute paths; they may contain symbolic links).
    """

    def __init__(self, sources: Iterable[Path | str]):
        # Deepest first, so a file in a nested source folder belongs to the innermost one.
        self.roots = sorted((Path(os.path.abspath(s)) for s in sources), key=lambda p: -len(p.parts))
        self._root_strs = [str(r) for r in self.roots]
        self._real_strs = [os.path.realpath(r) for r in self.roots]
        # (real root, the prefix of what is inside it), as :meth:`_under` compares them: :meth:`inside` runs for
        # every file read, and normalising the roots each time was most of its cost.
        self._real_prefixes = [
            (os.path.normcase(r), os.path.normcase(r if r.endswith(os.sep) else r + os.sep))
            for r in self._real_strs
        ]

    @staticmethod
    def _under(s: str, root: str) -> bool:
        """``s`` is ``root`` or inside it. Compared as the OS compares names: on Windows without regard to case
        (``C:\\Users\\Me\\Outbox`` and ``c:\\users\\me\\outbox`` are one folder), on POSIX exactly."""
        s, root = os.path.normcase(s), os.path.normcase(root)
        return s == root or s.startswith(root if root.endswith(os.sep) else root + os.sep)

    @staticmethod
    def _rest(s: str, root: str) -> str:
        """The part of ``s`` (inside ``root``, :meth:`_under`) below ``root``, as ``s`` spells it."""
        return s[len(root) :].lstrip(os.sep)

    def locate(self, path: Path | str) -> SourceFile | None:
        """Where ``path`` (absolute) stands in the sources, by its name: under a configured source folder, or,
        for a path given through links (a manifest entry), under a source folder's real path (mapped back to
        the folder as configured). None when it is in neither. This does not check where links lead: see
        :meth:`real_path`."""
        s = os.path.abspath(os.fspath(path))
        for root, root_s in zip(self.roots, self._root_strs, strict=True):
            if self._under(s, root_s) and (rel := self._rest(s, root_s)):
                return SourceFile(os.path.join(root_s, rel), root, rel.replace(os.sep, "/"))
        for root, real_s in zip(self.roots, self._real_strs, strict=True):
            if self._under(s, real_s) and (rel := self._rest(s, real_s)):
                return SourceFile(os.path.join(str(root), rel), root, rel.replace(os.sep, "/"))
        return None

    def inside(self, real: str) -> bool:
        """True when the real path ``real`` is inside the real path of a source folder."""
        s = os.path.normcase(real)
        return any(s == root or s.startswith(prefix) for root, prefix in self._real_prefixes)

    def real_path(self, path: Path | str) -> str:
        """The real path of ``path`` (links resolved). Raises :class:`Refused` when it leads outside every
        source folder; the path need not exist."""
        s = os.fspath(path)
        real = os.path.realpath(s)
        if not self.inside(real):
            if self.locate(s) is None:
                raise Refused(s, "outside the source folders")
            raise Refused(s, _leaves(real))
        return real

    def open(self, path: Path | str) -> int:
        """Open the regular file at ``path`` for reading and return the descriptor (the caller closes it).

        Raises:
            Refused: its real path is outside the source folders (checked before and after opening).
            NotRegularFile: a FIFO, socket, device or directory.
            OSError: as os.open (ENOENT when it is gone, EACCES when unreadable, ELOOP when swapped for a
                link after the check).
        """
        s = os.fspath(path)
        if _O_PATH:
            return self._open_by_handle(s)
        real = self.real_path(s)
        if sys.platform == "win32":  # shared for deleting too: the user may still move or delete it meanwhile
            from usbsync_gui.platform.windows import open_shared_read

            fd = open_shared_read(real)
        else:
            fd = os.open(real, _O_READ)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise NotRegularFile(s, f"not a regular file ({file_kind(st.st_mode)})")
            opened = f"/proc/self/fd/{fd}"
            if os.path.islink(opened):  # Linux: where the descriptor really points
                # The kernel's own path of the open file (proc(5): absolute, no link in it), so one readlink
                # says what os.path.realpath would, without its Python loop of lstat calls per component.
                now = os.readlink(opened)
                if not self.inside(now):
                    raise Refused(s, _leaves(now))
            if getattr(os, "O_NONBLOCK", 0):  # undo it where it was used (Windows has none, and no pipes API)
                os.set_blocking(fd, True)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _open_by_handle(self, s: str) -> int:
        """:meth:`open` on Linux: an ``O_PATH`` handle first, its real path from the kernel, then that file."""
        handle = os.open(s, _O_PATH | os.O_CLOEXEC)
        try:
            opened = f"/proc/self/fd/{handle}"
            real = os.readlink(opened)
            st = os.fstat(handle)
            if st.st_nlink == 0:  # deleted meanwhile (the link then ends in " (deleted)")
                raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), s)
            if not self.inside(real):
                if self.locate(s) is None:
                    raise Refused(s, "outside the source folders")
                raise Refused(s, _leaves(real))
            if not stat.S_ISREG(st.st_mode):
                raise NotRegularFile(s, f"not a regular file ({file_kind(st.st_mode)})")
            # Re-opening the handle's /proc link opens that same inode, with the usual permission check.
            return os.open(opened, os.O_RDONLY | os.O_CLOEXEC)
        finally:
            os.close(handle)
