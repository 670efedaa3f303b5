"""Every filesystem operation usbsync makes on a drive, relative to the volume's root and following no links.

A registered stick can carry anything, including symbolic links planted to make a writer with the user's
rights touch files elsewhere (``USBSync/.usbsync-7.part -> ~/.bashrc`` would be truncated by an
``open(O_CREAT|O_TRUNC)``). So nothing on a drive is followed: the drive's folder, its sub-folders, temp files
and destination names alike.

How (POSIX, ``os.supports_dir_fd``): paths are '/'-separated and relative to the volume's root. Directories are
walked one component at a time from a descriptor of the root, ``openat(parent, name, O_DIRECTORY|O_NOFOLLOW)``
(openat(2)), created with ``mkdirat(2)`` where asked; files are created with ``O_CREAT|O_EXCL|O_NOFOLLOW``
(never truncating what is there), read with ``O_NOFOLLOW``, renamed with ``renameat2(2)`` (``RENAME_NOREPLACE``
where the filesystem supports it) and removed with ``unlinkat(2)``; metadata comes from ``fstatat(2)`` with
``AT_SYMLINK_NOFOLLOW``. Every directory and file opened is checked to be on the volume's device (``st_dev``):
a bare mount point left by an unmounted stick, or another volume mounted inside the drive, is refused.

Windows (no ``dir_fd``): each component is checked with ``lstat`` (a symbolic link or any reparse point, e.g.
a junction, is refused) and the operation then uses the full path. A link swapped in between the check and the
use is not caught there; Windows is tested on its own.

Errors: :class:`LinkOnDrive` (a link where a directory or file was expected; ``str()`` is the user's reason),
:class:`NotOnVolume` (the object opened is on another device), otherwise ``OSError`` as the system call raised
it (ENOENT, ENOTDIR, EIO, ENOTCONN, ...). Classifying them (drive gone, counted attempt) is the copier's job.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import stat
import sys
import threading

import blake3

from usbsync_gui.core.copy_stream import Cancelled
from usbsync_gui.core.hashing import chunk_buffer

_AT = {os.open, os.mkdir, os.rename, os.unlink, os.stat} <= os.supports_dir_fd
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_BINARY = getattr(os, "O_BINARY", 0)
_O_DIR = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _O_NOFOLLOW | _O_CLOEXEC
_O_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC | _O_BINARY
_O_READ = os.O_RDONLY | _O_NOFOLLOW | _O_CLOEXEC | _O_BINARY
_REPARSE = getattr(stat, "FILE_ATTRIBUTE_REPARSE_POINT", 0x400)
_RENAME_NOREPLACE = 1  # linux/fs.h
READ_CHUNK = 1 << 20  # bytes per read when hashing a file on the drive
MAX_OPEN_DIRS = 64  # directory descriptors kept open between operations (an fd each)


class _Refused(OSError):
    """A path on the drive usbsync will not use; ``str()`` and ``reason`` say why in words."""

    def __init__(self, code: int, rel: str, reason: str):
        self.rel = rel
        self.reason = reason
        super().__init__(code, reason, rel)

    def __str__(self) -> str:
        return self.reason


class LinkOnDrive(_Refused):
    """``rel`` on the drive is a symbolic link (or a Windows reparse point): it is never followed."""

    def __init__(self, rel: str, drive_name: str):
        super().__init__(
            errno.ELOOP,
            rel,
            f"{rel} on {drive_name} is a symbolic link; usbsync does not follow links on a drive",
        )


class NotOnVolume(_Refused):
    """``rel`` opened on another device than the drive's volume (unmounted meanwhile, or another volume mounted
    inside the drive)."""

    def __init__(self, rel: str, drive_name: str):
        super().__init__(errno.EXDEV, rel, f"{rel or 'the root'} is not on {drive_name}'s volume")


def _parts(rel: str) -> list[str]:
    parts = [p for p in rel.split("/") if p]
    if any(p in (".", "..") for p in parts):
        raise OSError(errno.EINVAL, "'.' and '..' are not used on a drive", rel)
    return parts


class DriveFS:
    """Link-free access to the volume mounted at ``root``.

    Args:
        root: the volume's mount point (a path on this computer; the mount point itself is not on the drive).
        dev: the volume's ``st_dev``, pinned when the drain started.
        drive_name: for messages.

    One instance per drain and thread (it caches directory descriptors); :meth:`close` releases them, and
    :meth:`forget_dirs` at the end of every batch, so the volume is not held busy between batches.
    """

    def __init__(self, root: str, dev: int, drive_name: str):
        self.root = root
        self.dev = dev
        self.name = drive_name
        self._dirs: dict[str, int] = {}

    # -- directories ------------------------------------------------------------------------------------------

    def close(self) -> None:
        self.forget_dirs()

    def forget_dirs(self) -> None:
        """Close every cached directory descriptor."""
        dirs, self._dirs = self._dirs, {}
        for fd in dirs.values():
            os.close(fd)

    def _check_dev(self, fd: int, rel: str) -> os.stat_result:
        st = os.fstat(fd)
        if st.st_dev != self.dev:
            os.close(fd)
            raise NotOnVolume(rel, self.name)
        return st

    def _link_check(self, parent: int, name: str, rel: str) -> None:
        """Raise LinkOnDrive if ``name`` in ``parent`` is a symbolic link (after an open refused it)."""
        try:
            st = os.stat(name, dir_fd=parent, follow_symlinks=False)
        except OSError:
            return
        if stat.S_ISLNK(st.st_mode):
            raise LinkOnDrive(rel, self.name)

    def dir_fd(self, rel_dir: str, create: bool = False) -> int:
        """A descriptor of the directory ``rel_dir`` ('' is the root), walked without following links and
        created (``mkdirat``) where missing if ``create``. Owned by this object: do not close it.

        Raises LinkOnDrive, NotOnVolume, FileNotFoundError (missing and not ``create``), NotADirectoryError (a
        file where a directory should be), OSError."""
        rel_dir = "/".join(_parts(rel_dir))
        fd = self._dirs.get(rel_dir)
        if fd is not None:
            return fd
        if not rel_dir:
            fd = os.open(self.root, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _O_CLOEXEC)
            self._check_dev(fd, "")
        else:
            head, _, name = rel_dir.rpartition("/")
            parent = self.dir_fd(head, create)
            try:
                fd = os.open(name, _O_DIR, dir_fd=parent)
            except FileNotFoundError:
                if not create:
                    raise
                # Made meanwhile (or a link put there: the open below tells).
                with contextlib.suppress(FileExistsError):
                    os.mkdir(name, 0o755, dir_fd=parent)
                fd = self._open_dir_at(parent, name, rel_dir)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
                    self._link_check(parent, name, rel_dir)
                raise
            self._check_dev(fd, rel_dir)
        if len(self._dirs) >= MAX_OPEN_DIRS:
            self.forget_dirs()  # deep trees: keep a bounded number of descriptors; re-walked when needed
        self._dirs[rel_dir] = fd
        return fd

    def _open_dir_at(self, parent: int, name: str, rel: str) -> int:
        try:
            return os.open(name, _O_DIR, dir_fd=parent)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
                self._link_check(parent, name, rel)
            raise

    def _at(self, rel: str, create_dirs: bool = False) -> tuple[int, str]:
        """(descriptor of the parent directory, last component) of ``rel``."""
        parts = _parts(rel)
        if not parts:
            raise OSError(errno.EINVAL, "the root of the drive is not a file", rel)
        return self.dir_fd("/".join(parts[:-1]), create_dirs), parts[-1]

    # -- Windows: check each component with lstat, then use the full path -------------------------------------

    def _checked_path(self, rel: str, create_dirs: bool = False, last: bool = False) -> str:
        """The full path of ``rel`` after checking that no component (the last one too if ``last``) is a link
        or reparse point and that the directories are on the volume (creating them if ``create_dirs``)."""
        parts = _parts(rel)
        path = self.root
        if os.stat(path).st_dev != self.dev:
            raise NotOnVolume("", self.name)
        for i, name in enumerate(parts):
            path = os.path.join(path, name)
            is_last = i == len(parts) - 1
            sub = "/".join(parts[: i + 1])
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                if is_last or not create_dirs:
                    if is_last:
                        return path
                    raise
                os.mkdir(path, 0o755)
                st = os.lstat(path)
            if (not is_last or last) and (
                stat.S_ISLNK(st.st_mode) or getattr(st, "st_file_attributes", 0) & _REPARSE
            ):
                raise LinkOnDrive(sub, self.name)
            if not is_last and st.st_dev != self.dev:
                raise NotOnVolume(sub, self.name)
        return path

    # -- files ------------------------------------------------------------------------------------------------

    def lstat(self, rel: str) -> os.stat_result | None:
        """``fstatat(AT_SYMLINK_NOFOLLOW)`` of ``rel``: None when it does not exist (or a parent is missing).
        A link is reported as a link (``S_ISLNK``), never followed. Raises LinkOnDrive for a linked parent,
        NotADirectoryError when a parent is a file, OSError."""
        try:
            if not _AT:
                return os.lstat(self._checked_path(rel))
            parent, name = self._at(rel)
            return os.stat(name, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def create_new(self, rel: str) -> int:
        """Create the file ``rel`` (mode 0644, write-only; parent directories created as needed) and return its
        descriptor; the caller closes it. Never opens what exists (``O_EXCL``: a link or file there raises
        FileExistsError, or LinkOnDrive for a link). Raises NotOnVolume, OSError."""
        if not _AT:
            fd = os.open(self._checked_path(rel, create_dirs=True), _O_NEW, 0o644)
        else:
            parent, name = self._at(rel, create_dirs=True)
            try:
                fd = os.open(name, _O_NEW, 0o644, dir_fd=parent)
            except FileExistsError:
                self._link_check(parent, name, rel)
                raise
        try:
            self._check_dev(fd, rel)
        except NotOnVolume:
            self.unlink(rel)  # created where nothing may land: take it back
            raise
        return fd

    def open_append(self, rel: str) -> int:
        """Open the existing regular file ``rel`` for appending (``O_APPEND``, never following a link). Returns
        the descriptor; the caller closes it. Raises as :meth:`open_read`."""
        return self._open_regular(rel, os.O_WRONLY | os.O_APPEND | _O_NOFOLLOW | _O_CLOEXEC | _O_BINARY)

    def open_read(self, rel: str) -> int:
        """Open the regular file ``rel`` for reading (``O_NOFOLLOW``). Returns the descriptor; the caller closes
        it. Raises LinkOnDrive, NotOnVolume, FileNotFoundError, OSError (EISDIR/EINVAL when not a file)."""
        return self._open_regular(rel, _O_READ)

    def _open_regular(self, rel: str, flags: int) -> int:
        if not _AT:
            fd = os.open(self._checked_path(rel, last=True), flags)
        else:
            parent, name = self._at(rel)
            try:
                fd = os.open(name, flags, dir_fd=parent)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.EMLINK):
                    raise LinkOnDrive(rel, self.name) from exc
                raise
        try:
            st = self._check_dev(fd, rel)
            if not stat.S_ISREG(st.st_mode):
                raise OSError(errno.EINVAL, "not a regular file", rel)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def hash(self, rel: str, drop_cache: bool = False, cancel: threading.Event | None = None) -> str:
        """BLAKE3 hex of the regular file ``rel``. With ``drop_cache`` (Linux) its pages are evicted first
        (``posix_fadvise(POSIX_FADV_DONTNEED)``) so the bytes come from the device; make them durable first.
        Read with ``read(2)``, never ``mmap``: a bad block must be an EIO, not a SIGBUS that kills usbsync.
        Raises as :meth:`open_read`, OSError (EIO) from the reads, and :class:`Cancelled` once ``cancel`` is
        set (checked after every chunk: a verify of a big file on a slow stick stops within a chunk's read)."""
        fd = self.open_read(rel)
        try:
            if drop_cache and hasattr(os, "posix_fadvise"):
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            h = blake3.blake3()
            buf, view = chunk_buffer(READ_CHUNK)
            while True:
                n = os.readv(fd, [buf]) if hasattr(os, "readv") else _read_into(fd, buf)
                if not n:
                    break
                h.update(view[:n])
                if cancel is not None and cancel.is_set():
                    raise Cancelled()
            return h.hexdigest()
        finally:
            os.close(fd)

    def fsync_file(self, rel: str) -> None:
        """fsync(2) the file ``rel`` (without following links; Windows needs it opened for writing)."""
        fd = (
            self.open_read(rel) if _AT else os.open(self._checked_path(rel, last=True), os.O_RDWR | _O_BINARY)
        )
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def unlink(self, rel: str) -> bool:
        """Remove the file (or link: the link itself) ``rel``. Returns False when it was not there."""
        try:
            if not _AT:
                os.unlink(self._checked_path(rel))
            else:
                parent, name = self._at(rel)
                os.unlink(name, dir_fd=parent)
        except FileNotFoundError:
            return False
        return True

    def rename(self, src: str, dst: str, replace: bool) -> None:
        """Rename ``src`` to ``dst`` (rename(2) at directory descriptors: neither is followed if a link).

        With ``replace`` False nothing at ``dst`` is ever replaced: ``renameat2(RENAME_NOREPLACE)`` where the
        kernel and filesystem support it, else (FUSE exFAT, Windows) a no-follow existence check just before.
        Raises FileExistsError when ``dst`` exists and not ``replace``; OSError."""
        if not _AT:
            s, d = self._checked_path(src), self._checked_path(dst)
            if not replace and os.path.lexists(d):
                raise FileExistsError(errno.EEXIST, "exists", dst)
            os.replace(s, d) if replace else os.rename(s, d)
            return
        sp, sn = self._at(src)
        dp, dn = self._at(dst)
        if not replace:
            if _renameat2_noreplace(sp, sn, dp, dn):
                return
            if self.lstat(dst) is not None:
                raise FileExistsError(errno.EEXIST, "exists", dst)
        os.rename(sn, dn, src_dir_fd=sp, dst_dir_fd=dp)

    def fsync_dir(self, rel_dir: str) -> None:
        """fsync(2) a directory so renames in it are durable. Filesystems that cannot (FUSE exFAT: EINVAL) and
        Windows (no directory handles) are skipped: their rename is as durable as it gets."""
        if not _AT:
            return
        try:
            os.fsync(self.dir_fd(rel_dir))
        except OSError as exc:
            if exc.errno not in (errno.EINVAL, errno.EOPNOTSUPP):
                raise

    def syncfs(self) -> bool:
        """``syncfs(2)`` the volume. Returns False where unavailable (not Linux): fsync each file instead."""
        if not sys.platform.startswith("linux"):
            return False
        fd = self.dir_fd("")
        if _libc().syncfs(fd) != 0:
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e), self.root)
        return True


def _read_into(fd: int, buf: bytearray) -> int:
    data = os.read(fd, len(buf))
    buf[: len(data)] = data
    return len(data)


_LIBC: ctypes.CDLL | None = None


def _libc() -> ctypes.CDLL:
    global _LIBC
    if _LIBC is None:
        _LIBC = ctypes.CDLL(None, use_errno=True)
    return _LIBC


_NOREPLACE_WORKS = sys.platform.startswith("linux")


def _renameat2_noreplace(sp: int, sn: str, dp: int, dn: str) -> bool:
    """renameat2(2) with RENAME_NOREPLACE. Returns False where the kernel or filesystem does not support it
    (ENOSYS, EINVAL: then the caller checks and renames); raises FileExistsError, OSError."""
    global _NOREPLACE_WORKS
    if not _NOREPLACE_WORKS:
        return False
    fn = getattr(_libc(), "renameat2", None)
    if fn is None:
        _NOREPLACE_WORKS = False
        return False
    if fn(sp, os.fsencode(sn), dp, os.fsencode(dn), _RENAME_NOREPLACE) == 0:
        return True
    e = ctypes.get_errno()
    if e == errno.ENOSYS:
        _NOREPLACE_WORKS = False
        return False
    if e == errno.EINVAL:  # this filesystem cannot (FUSE without rename2): fall back, for this call only
        return False
    raise OSError(e, os.strerror(e), dn)
