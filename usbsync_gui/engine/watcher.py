"""Watch the source folders with watchdog and hand over files once they are complete.

Events, not clocks. A file is *ready* when it is complete: closed after writing (Linux ``IN_CLOSE_WRITE``)
or renamed into place. It is handed over the moment its event is handled, with no delay. A rename is atomic,
so what it brings in is whole: a file or folder renamed into the sources, from outside them or from elsewhere
inside them, goes at once like a closed file, and a folder's scan covers everything that came with it. Renames
out of the sources are not new files. A directory created or moved in is scanned.

A folder renamed in is handed over at once too, and scanned whole. watchdog watches all of it before it
reports it (so whatever changes in it after that is an event of its own), then walks it and reports each file
and folder in it as a *synthetic* event; those are covered by the folder's scan and dropped. (The folder used
to wait until that walk had been quiet for :data:`DEBOUNCE_S`: for 100,000 files renamed in as one folder the
walk took longer than the scan, and the scan waited for all of it.)

Only what is not known to be complete waits, on one single-shot timer armed for the earliest of them: a file
created or modified but not closed (everywhere on Windows, which has no close event) until it has kept its
size and mtime for the stability window; and a file closed again within :data:`DEBOUNCE_S` of its hand-over
(rewritten over and over) until it is quiet for that long, so a file saved twenty times in a row is handed
over twice, not twenty times. With nothing waiting there is no timer.

Each event wakes the watcher's thread through a queued signal, at most one in flight: events that come while
it works are handled together on the next wake, so a flood is taken in batches as big as the backlog and a
single file alone. The checks that used to run on a clock are events too: a source folder deleted, renamed
or recreated (watchdog's events on it and on the folder above); a volume mounted over a source folder
(:meth:`SourceWatcher.check_mounts`, called by the engine when the mount table changes); watchdog's observer
thread ending (its ``run`` wakes the watcher as it returns); lost events (a log record or an empty read).

Start: a file closed before the watch is added gives no event, and the engine's scan runs on another thread
in no set order with the watch; so once the watches are in place the watcher requests a rescan
(``rescan_requested``), and no file closed around the start waits for the next periodic rescan.

Event loss: with watchdog's default handler a 20,000-file burst overflowed the inotify queue
(``max_queued_events`` 16384) and lost over half the files, with only a log warning. So we subscribe to the
few event types we need (``event_filter``), and when events were lost we request a rescan. On Linux watchdog
says so only in a log warning (``Inotify queue overflowed``), which :class:`_OverflowDetector` catches. On
Windows ``ReadDirectoryChangesW`` reports an overflow as a read of 0 bytes ("enumerate the directory"), which
watchdog drops without a word: :class:`_OverflowQueue` in its reader catches that. The
candidate set is bounded (:data:`MAX_CANDIDATES`): past it, candidates are dropped and a rescan requested,
so memory does not grow without bound whatever arrives.

Watch limit: inotify needs one watch per folder, and ``inotify_add_watch`` fails with ENOSPC past the user's
``fs.inotify.max_user_watches`` (inotify(7)); watchdog raises that only for the folder it was asked to watch
and silently skips the sub-folders it cannot watch. So after watching starts, and for each folder that
appears later, the watcher compares the folders under the sources with the watches its inotify descriptors
really hold (``/proc/self/fdinfo/N``, one ``inotify wd:`` line per watch, proc(5)). While some are missing it
says so once (``watching_incomplete``, with the fix), hands those folders over every :data:`WATCH_RETRY_S`
seconds to be scanned (``files_ready``), and, when a probe shows the limit has room again, watches the
sources afresh; ``watching_complete`` when every folder is watched.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import heapq
import logging
import os
import queue
import stat
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot
from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, ObservedWatch
from watchdog.utils import UnsupportedLibcError

from usbsync_gui.core.fs_text import for_display

log = logging.getLogger(__name__)

# How long a file closed again soon after its hand-over must be quiet before it goes (seconds). Not applied to a
# file closed once: that goes at once.
DEBOUNCE_S = 0.3
# Folders renamed in are remembered this long after the last synthetic event of watchdog's walk of them, to drop
# that walk's events (seconds). Dropping one later would be right too (the folder's scan came after watchdog
# watched it); the bound only keeps the list short.
WALK_FORGET_S = 10.0
MAX_CANDIDATES = 100_000
READY_CHUNK = 1000
# While watching is incomplete: how often the unwatched folders are rescanned and watches tried again.
# 10 s: a photo in an unwatched folder still lands within seconds, not at the next 2-hour rescan; the cost (a
# stat per file of those folders, unchanged files need no read) is paid only while the warning stands.
# USBSYNC_WATCH_RETRY_SECONDS overrides it (tests).
WATCH_RETRY_S = float(os.environ.get("USBSYNC_WATCH_RETRY_SECONDS") or 10.0)
RAISE_TO = 524288  # the watch limit suggested in the fix (systemd's default since v240 is about this)
_FDINFO = "/proc/self/fdinfo"


def _inotify_fds() -> set[int]:
    """This process's inotify descriptors (``/proc/self/fd/N -> anon_inode:inotify``); empty without /proc."""
    out: set[int] = set()
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        return out
    for n in names:
        try:
            if os.readlink(f"/proc/self/fd/{n}") == "anon_inode:inotify":
                out.add(int(n))
        except (OSError, ValueError):
            continue
    return out


def watched_inodes(fds: set[int]) -> set[int]:
    """Inode numbers of the objects watched through ``fds`` (``ino:`` of each ``inotify wd:`` line of
    /proc/self/fdinfo/N, hexadecimal). Inode numbers only, not the ``sdev`` beside them: on btrfs ``st_dev``
    is a per-subvolume number that differs from the superblock's device the kernel prints."""
    out: set[int] = set()
    for fd in fds:
        try:
            with open(f"{_FDINFO}/{fd}", "rb") as fh:
                data = fh.read()
        except OSError:
            continue
        for line in data.split(b"\n"):
            if not line.startswith(b"inotify wd:"):
                continue
            for field in line.split():
                if field.startswith(b"ino:"):
                    out.add(int(field[4:], 16))
                    break
    return out


def folders_under(top: str) -> list[tuple[str, int]]:
    """(path, inode) of ``top`` and every folder under it, as watchdog watches them: links to folders are
    not followed. Folders that vanish or cannot be listed meanwhile are left out."""
    out = []
    try:
        out.append((top, os.stat(top).st_ino))
    except OSError:
        return out
    for dirpath, dirnames, _ in os.walk(top):
        for d in list(dirnames):
            full = os.path.join(dirpath, d)
            try:
                st = os.lstat(full)
            except OSError:
                continue
            if os.path.islink(full):
                continue
            out.append((full, st.st_ino))
    return out


def watch_limit() -> int | None:
    """The inotify watch limit for this user (of this user namespace where there is one), or None."""
    for f in ("/proc/sys/user/max_inotify_watches", "/proc/sys/fs/inotify/max_user_watches"):
        try:
            with open(f) as fh:
                return int(fh.read().strip())
        except (OSError, ValueError):
            continue
    return None


def _room_for_a_watch(path: str) -> bool | None:
    """Whether one more inotify watch can be added now (a probe on a private inotify instance, released at
    once). None when inotify is not available through libc here."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        init, add = libc.inotify_init1, libc.inotify_add_watch
    except (OSError, AttributeError):
        return None
    fd = init(os.O_CLOEXEC)
    if fd < 0:
        return False
    try:
        wd = add(fd, os.fsencode(path), 0x100)  # IN_CREATE
        return wd >= 0 or ctypes.get_errno() != errno.ENOSPC
    finally:
        os.close(fd)


def _topmost(folders: list[str]) -> list[str]:
    """``folders`` without those inside another one of them (a scan of a folder covers its sub-folders)."""
    out: list[str] = []
    for f in sorted(folders):
        if not out or not (f == out[-1] or f.startswith(out[-1].rstrip(os.sep) + os.sep)):
            out.append(f)
    return out


class _OverflowQueue(queue.Queue[Any]):
    """The queue between watchdog's ``ReadDirectoryChangesW`` thread and its emitter (Windows). Each item is
    ``(buffer, extended)``; the first empty buffer says the thread started, and any later one is a read that
    returned 0 bytes: the system's buffer overflowed and events were lost. Calls ``on_overflow`` for those."""

    def __init__(self, on_overflow: Callable[[], None]):
        super().__init__()
        self._on_overflow = on_overflow
        self._started = False

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if not item[0]:
            if self._started:
                self._on_overflow()
            self._started = True
        super().put(item, block, timeout)


def _windows_observer(on_overflow: Callable[[], None]) -> BaseObserver | None:
    """watchdog's Windows observer with an :class:`_OverflowQueue` in each reader; None if this watchdog is
    not built the way this relies on (then overflows go unnoticed until the periodic rescan)."""
    try:
        from watchdog.observers import read_directory_changes as rdc
        from watchdog.observers import winapi
    except ImportError:
        return None
    base_reader = getattr(winapi, "DirectoryChangeReader", None)
    if base_reader is None or not hasattr(rdc.WindowsApiEmitter, "on_thread_start"):
        log.debug("watchdog %s: no overflow detection on Windows", getattr(winapi, "__name__", "?"))
        return None

    class Reader(base_reader):  # type: ignore[misc,valid-type]
        def __init__(self, path: str, *, recursive: bool) -> None:
            super().__init__(path, recursive=recursive)
            self._buf_queue = _OverflowQueue(on_overflow)

    class Emitter(rdc.WindowsApiEmitter):
        def on_thread_start(self) -> None:
            with self._lock:
                reader = Reader(self.watch.path, recursive=self.watch.is_recursive)
                self._reader = reader
            reader.start()

    class WindowsObserver(BaseObserver):
        def __init__(self) -> None:
            super().__init__(Emitter)

    return WindowsObserver()


def _new_observer(on_overflow: Callable[[], None]) -> BaseObserver:
    """A watchdog observer. On Linux, one that reports a rename from outside the watched folders as a move
    (``src_path`` empty) and a rename out of them as a move (``dest_path`` empty): by default watchdog turns
    the first into a *created* event, which cannot be told from a file just opened for writing, so a file
    dropped in by a file manager would wait the whole stability window. On Windows, one that calls
    ``on_overflow`` when events were lost."""
    if sys.platform == "win32":
        observer = _windows_observer(on_overflow)
        if observer is not None:
            return observer
    if sys.platform.startswith("linux"):
        try:
            from watchdog.observers.inotify import InotifyObserver
        except (ImportError, UnsupportedLibcError):
            pass
        else:
            if Observer is InotifyObserver:
                return InotifyObserver(generate_full_events=True)
    return Observer()


class _Candidate:
    __slots__ = ("closed", "in_heap", "last_event", "quiet_first", "stat")

    def __init__(self, now: float):
        self.last_event = now
        # Complete: closed after writing, or renamed into place. Released at once; a writer that renames and
        # then keeps writing (rare) is caught by the ingest's re-check and the copier's.
        self.closed = False
        # Released only after DEBOUNCE_S without events: a file closed again soon after it was handed over
        # (being rewritten over and over).
        self.quiet_first = False
        self.stat: tuple[int, int] | None = None
        self.in_heap = (
            False  # has an entry in SourceWatcher._due (which may be earlier than its deadline now)
        )

    def deadline(self, window: float) -> float:
        """When it may go if no event comes first (monotonic seconds)."""
        return self.last_event + (DEBOUNCE_S if self.closed else window)

    def goes_at_once(self) -> bool:
        return self.closed and not self.quiet_first


class _Handler(FileSystemEventHandler):
    """Runs on watchdog's thread: records candidates under a lock, nothing else."""

    def __init__(self, owner: SourceWatcher):
        self.owner = owner

    def on_any_event(self, event: FileSystemEvent) -> None:
        if (
            isinstance(event, DirDeletedEvent | DirMovedEvent)
            and os.fsdecode(event.src_path) in self.owner._roots
        ):
            self.owner._root_gone(os.fsdecode(event.src_path))  # the source folder itself deleted or renamed
            return
        if isinstance(event, DirDeletedEvent):
            return  # a folder inside: nothing to copy
        if isinstance(event, FileMovedEvent | DirMovedEvent):
            if not event.dest_path:
                return  # renamed out of the sources: nothing new here
            # Renamed into place (from outside, or from elsewhere inside): a rename is atomic, so it is whole.
            path, complete = os.fsdecode(event.dest_path), True
        else:
            path, complete = os.fsdecode(event.src_path), isinstance(event, FileClosedEvent)
        if isinstance(event, DirCreatedEvent | DirMovedEvent):
            self.owner._folder_appeared(path)
        self.owner._note(
            path, closed=complete, synthetic=event.is_synthetic, folder=isinstance(event, DirMovedEvent)
        )


class _AboveHandler(FileSystemEventHandler):
    """On the folder above each source folder (or, while that is gone too, the nearest one that exists), not
    recursive: the source folder itself renamed away or deleted (inotify reports a rename of a watched folder
    only to the folder above it: watchdog gives no event on the folder's own watch), and folders created or
    renamed in, which may be a missing source folder back."""

    def __init__(self, owner: SourceWatcher):
        self.owner = owner

    def on_any_event(self, event: FileSystemEvent) -> None:
        src = os.fsdecode(event.src_path)
        if isinstance(event, DirDeletedEvent | DirMovedEvent) and src in self.owner._roots:
            self.owner._root_gone(src)
        if isinstance(event, DirCreatedEvent | DirMovedEvent):
            self.owner._gone_changed.set()
            self.owner._wake_up()


class _OverflowDetector(logging.Handler):
    """watchdog reports an inotify queue overflow (Linux) only as a log warning; turn it into a rescan
    request (``on_overflow``, called on watchdog's thread)."""

    def __init__(self, on_overflow: Callable[[], None]):
        super().__init__(logging.WARNING)
        self.on_overflow = on_overflow

    def emit(self, record: logging.LogRecord) -> None:
        if "overflow" in record.getMessage().lower():
            self.on_overflow()


class SourceWatcher(QObject):
    """Watches ``sources`` recursively. Create it, move it to its thread, then call :meth:`start` from that
    thread.

    Signals:
        files_ready(list[str]): files and folders ready to ingest, absolute paths (a folder is scanned whole).
            While watching is incomplete, this also carries the folders no events come from: at once when
            they are found unwatched, then every :data:`WATCH_RETRY_S` seconds, and a whole source folder
            after it was watched afresh.
        rescan_requested(): events were lost; rescan every source folder. Also emitted by :meth:`start` once the
            watches are in place, for the files closed before (they gave no event); when that is before a
            receiver is connected, the engine's own scan, which it requests after connecting, comes after the
            watch and sees them.
        source_missing(str): a source folder that does not exist or cannot be watched; also when it is deleted
            or renamed away while watched. Its return (created again, renamed back, mounted) is then watched
            for on the nearest folder above it that exists, and the watch is restarted when it comes:
            ``source_restored``.
        source_restored(str): a source folder that was missing is watched again; its files are handed over
            (``files_ready``) as a folder to scan whole.
        watcher_restarted(str): watchdog's observer thread had died (why, in words): a new one watches every
            source folder again, and a rescan is requested for what the gap missed.
        watching_incomplete(str, list[str]): some folders have no inotify watch (the watch limit is reached):
            a one-line message for the user (with the fix) and the unwatched folders (absolute, outermost
            only). Emitted when this is found (at start or when new folders appear) and again whenever the set
            of unwatched folders changes; the warning is logged once per episode.
        watching_complete(): every folder under the sources is watched. Emitted once at start when it is so
            (a notice left by an earlier run can be lowered), and when an incomplete watch becomes whole.
    """

    files_ready = Signal(object)  # list[str]: not list, whose QString conversion drops undecodable bytes
    rescan_requested = Signal()
    source_missing = Signal(str)
    source_restored = Signal(str)
    watcher_restarted = Signal(str)
    watching_incomplete = Signal(str, object)
    watching_complete = Signal()
    # Emitted by any thread (watchdog's mostly) to have :meth:`_process` run on this object's thread; at most one
    # in flight (``_wake_pending``), so a burst of events costs one wake.
    _wake = Signal()

    def __init__(self, sources: list[Path], stability_window_s: float, parent: QObject | None = None):
        super().__init__(parent)
        self._sources = [Path(s) for s in sources]
        self._roots = {str(s) for s in self._sources}
        self._window = stability_window_s
        self._lock = threading.Lock()
        self._candidates: dict[str, _Candidate] = {}
        self._overflow = threading.Event()
        self._observer: Observer | None = None  # type: ignore[valid-type]
        # The one timer: armed (single-shot) for the earliest candidate that must wait, stopped when none does.
        self._timer: QTimer | None = None
        self._wake_pending = False  # under _lock
        self._stopped = False
        self._observer_ended: BaseObserver | None = (
            None  # set by an observer's thread as it ends (under _lock)
        )
        # Files handed over in the last DEBOUNCE_S (path -> when): one closed again that soon waits to be quiet.
        self._released: OrderedDict[str, float] = OrderedDict()
        # Folders renamed in and handed over whole (path -> the last event of watchdog's walk of them, monotonic
        # seconds), whose walk's synthetic events are dropped. Under _lock.
        self._walked: dict[str, float] = {}
        # So that a wake costs what arrived since the last one, not the whole candidate set (a flood of 100,000
        # files is 100,000 wakes' worth of events): the files that became complete since the last wake, and a
        # heap of (deadline, sequence, path, candidate) for those that wait, whose head arms the timer. A heap
        # entry may be early (an event came since): it is put back with the candidate's deadline when popped.
        self._complete_now: list[str] = []
        self._due: list[tuple[float, int, str, _Candidate]] = []
        self._seq = 0
        self._detector = _OverflowDetector(self._lost_events)
        self._wake.connect(self._process, Qt.ConnectionType.QueuedConnection)
        self.dropped = 0
        self._events: list[type[FileSystemEvent]] = []
        self._handler = _Handler(self)
        self._watches: dict[str, ObservedWatch] = {}  # source folder -> its ObservedWatch
        self._baseline_fds: set[int] = (
            set()
        )  # inotify descriptors that were not ours (made before we started)
        self._appeared: set[str] = (
            set()
        )  # folders created or moved in since the last tick (watchdog's thread)
        self._unwatched: set[str] = set()
        self._retry_s = WATCH_RETRY_S
        self._retry: QTimer | None = None
        # Source folders gone while watched (watchdog's thread adds them) and those still gone; the folder above
        # each source folder that is watched for it (see _AboveHandler), and the watches on those folders.
        self._gone_now: set[str] = set()
        self._gone: set[str] = set()
        self._gone_changed = threading.Event()
        self._above_handler = _AboveHandler(self)
        self._above: dict[str, str] = {}
        self._above_watches: dict[str, ObservedWatch] = {}
        self._devs: dict[str, int] = {}  # source folder -> the st_dev it had when its watch was added

    def _wake_up(self) -> None:
        """Any thread: have :meth:`_process` run on this object's thread soon (once for many calls)."""
        with self._lock:
            if self._wake_pending:
                return
            self._wake_pending = True
        self._wake.emit()

    def _lost_events(self) -> None:
        """Any thread: events were lost (a queue overflowed); a rescan is requested at the next wake."""
        self._overflow.set()
        self._wake_up()

    def _note(self, path: str, closed: bool, synthetic: bool = False, folder: bool = False) -> None:
        """Record an event on ``path`` and wake the watcher. ``synthetic``: watchdog's own walk of a folder that
        just arrived; ``folder``: a folder renamed in (handed over at once and scanned whole)."""
        now = time.monotonic()
        with self._lock:
            if synthetic and self._walked_above(path, now):
                # Came with a folder renamed in whole: that folder's scan covers it. One hand-over for the folder
                # rather than one per file: moving in a large folder neither fills the candidate set (which
                # would rescan every source) nor hands each file over a second time.
                return
            if folder:
                for old in [f for f, t in self._walked.items() if now - t > WALK_FORGET_S]:
                    del self._walked[old]
                self._walked[path] = now
            c = self._candidates.get(path)
            if c is None:
                if len(self._candidates) >= MAX_CANDIDATES:
                    self.dropped += 1
                    self._overflow.set()
                else:
                    c = self._candidates[path] = _Candidate(now)
            if c is not None:
                c.last_event = now
                c.closed = c.closed or closed
                released = self._released.get(path)
                c.quiet_first = c.quiet_first or (released is not None and now - released < DEBOUNCE_S)
                if c.goes_at_once():
                    self._complete_now.append(path)
                elif not c.in_heap:
                    self._push(path, c)
            if self._wake_pending:
                return
            self._wake_pending = True
        self._wake.emit()

    def _push(self, path: str, c: _Candidate) -> None:
        """Put ``c`` on the heap of what waits, at its deadline. Call with the lock held."""
        self._seq += 1
        heapq.heappush(self._due, (c.deadline(self._window), self._seq, path, c))
        c.in_heap = True

    def _walked_above(self, path: str, now: float) -> bool:
        """Whether a folder above ``path`` (up to its source folder) was renamed in and handed over whole within
        :data:`WALK_FORGET_S` of ``now``; if so, its walk is noted as still going. Call with the lock held."""
        if not self._walked:
            return False
        parent = os.path.dirname(path)
        while parent not in self._roots:
            last = self._walked.get(parent)
            if last is not None and now - last <= WALK_FORGET_S:
                self._walked[parent] = now
                return True
            up = os.path.dirname(parent)
            if up == parent:
                break
            parent = up
        return False

    @Slot()
    def start(self) -> None:
        events: list[type[FileSystemEvent]] = [
            FileCreatedEvent,
            FileClosedEvent,
            FileMovedEvent,
            DirCreatedEvent,
            DirMovedEvent,
            DirDeletedEvent,  # the source folder itself going away (folders inside are ignored)
        ]
        if not sys.platform.startswith("linux"):
            events.append(
                FileModifiedEvent
            )  # no close-after-write event elsewhere: the stability window decides
        logging.getLogger("watchdog").addHandler(self._detector)
        self._events = events
        self._baseline_fds = _inotify_fds()
        self._stopped = False
        # Started first, so that each schedule() below adds its watches at once and raises when the source
        # folder itself cannot be watched (scheduled before start, the error would come out of start()).
        self._start_observer()
        watched = False
        for s in self._sources:
            self._watch_above(str(s))
            if not s.is_dir():
                log.warning("source folder missing: %s (watched for; its files go once it exists)", s)
                self.source_missing.emit(str(s))
                self._gone.add(str(s))
                continue
            watched = self._schedule(str(s)) or watched
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._process)
        self._retry = QTimer(self)
        self._retry.timeout.connect(self._retry_watches)
        log.info("watching %s", ", ".join(str(s) for s in self._sources))
        if watched:
            # A file closed before the watch was added gave no event, and the engine's scan at start (or after a
            # change of sources) runs on another thread, in no set order with this: it may have listed the
            # folders before that file came (seen: scan over, two files written, watch added 4 ms later; they
            # waited for the 2-hour rescan). Rescan now that every later event reaches us.
            log.debug("watch in place: rescanning what arrived before it")
            self.rescan_requested.emit()
        found = self._unwatched_in([str(s) for s in self._sources if s.is_dir()])
        if found is not None:
            self._set_unwatched(found, at_start=True)

    def _start_observer(self) -> None:
        """A new watchdog observer, started, whose thread wakes the watcher when it ends for any reason (an
        exception in watchdog, or stop()): :meth:`_check_observer` then tells which, with no clock."""
        observer = _new_observer(self._lost_events)
        run = observer.run

        def run_then_wake() -> None:
            try:
                run()
            finally:
                with self._lock:
                    self._observer_ended = observer
                self._wake_up()

        observer.run = run_then_wake  # type: ignore[method-assign]
        self._observer = observer
        observer.start()

    def _schedule(self, source: str) -> bool:
        """Watch ``source`` recursively. False when even the folder itself cannot be watched: the watch
        limit (then it counts as unwatched, and is tried again) or another error (``source_missing``)."""
        assert self._observer is not None
        try:
            self._devs[source] = os.stat(source).st_dev
            self._watches[source] = self._observer.schedule(
                self._handler, source, recursive=True, event_filter=self._events
            )
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                return False
            log.error("cannot watch %s: %s", for_display(source), exc.strerror)
            self.source_missing.emit(source)
            return False
        return True

    # -- source folders that go away and come back ------------------------------------------------------------

    def _root_gone(self, source: str) -> None:
        """watchdog's thread: ``source`` itself was deleted or renamed away."""
        with self._lock:
            self._gone_now.add(source)
        self._wake_up()

    def _watch_above(self, source: str) -> None:
        """Watch the nearest existing folder above ``source`` (not recursively; see :class:`_AboveHandler`), and
        stop watching the one watched for it before when no other source folder needs that one."""
        assert self._observer is not None
        above = os.path.dirname(source)
        while not os.path.isdir(above) and os.path.dirname(above) != above:
            above = os.path.dirname(above)
        before = self._above.get(source)
        if before == above and above in self._above_watches:
            return
        self._above[source] = above
        if before is not None and before not in self._above.values():
            watch = self._above_watches.pop(before, None)
            if watch is not None:
                with contextlib.suppress(KeyError):
                    self._observer.unschedule(watch)
        if above in self._above_watches:
            return
        try:
            self._above_watches[above] = self._observer.schedule(
                self._above_handler,
                above,
                recursive=False,
                event_filter=[DirCreatedEvent, DirMovedEvent, DirDeletedEvent],
            )
        except OSError as exc:
            log.error("cannot watch %s for %s: %s", above, for_display(source), exc.strerror)

    def _check_sources(self) -> None:
        """At each wake: source folders that went away, and those that came back."""
        with self._lock:
            now_gone, self._gone_now = self._gone_now, set()
        assert self._observer is not None
        for source in sorted(now_gone - self._gone):
            watch = self._watches.pop(source, None)
            if watch is not None:
                with contextlib.suppress(KeyError):  # watchdog may have dropped a deleted folder's watch
                    self._observer.unschedule(watch)
            log.warning(
                "source folder missing: %s (deleted or renamed while watched); watching for it", source
            )
            self._gone.add(source)
            self.source_missing.emit(source)
            self._watch_above(source)
        if not (self._gone and (now_gone or self._gone_changed.is_set())):
            return
        self._gone_changed.clear()
        for source in sorted(self._gone):
            if not os.path.isdir(source):
                self._watch_above(source)  # a folder on the way may exist now: watch closer
                continue
            self._gone.discard(source)
            self._watch_above(source)  # back to the folder right above it
            if self._schedule(source):
                log.warning("source folder %s is back: watch restarted on %s", source, source)
                self.source_restored.emit(source)
                self.files_ready.emit([source])  # whatever came with it, scanned whole

    @Slot()
    def check_mounts(self) -> None:
        """The mount table changed (the engine calls this on its drive monitor's ``mounts_changed``): a source
        folder that is now another filesystem (a volume mounted over it, or one that was mounted there and is
        gone) gives no events through the watch on what was there before: watch it afresh and scan it whole.
        One stat per source folder."""
        if self._observer is None:
            return
        for source, dev in list(self._devs.items()):
            if source not in self._watches:
                continue
            try:
                now = os.stat(source).st_dev
            except OSError:
                continue  # gone: the folder above reports it
            if now == dev:
                continue
            watch = self._watches.pop(source)
            with contextlib.suppress(KeyError):
                self._observer.unschedule(watch)
            if self._schedule(source):
                log.warning(
                    "source folder %s is now on another filesystem (a mount): watch restarted on %s",
                    source,
                    source,
                )
                self.source_restored.emit(source)
                self.files_ready.emit([source])

    def _check_observer(self) -> None:
        """At each wake: a dead observer thread (an exception in watchdog's emitter) is replaced, every source
        folder watched again and rescanned. Its thread wakes us as it ends, but may still be finishing: joined
        briefly first."""
        with self._lock:
            ended, self._observer_ended = self._observer_ended, None
        if self._observer is None or self._stopped or ended is not self._observer:
            return
        self._observer.join(timeout=1)  # it said so on its way out: its last lines run now
        why = "watchdog's observer thread ended unexpectedly"
        log.warning("%s: watch restarted on every source folder, and a rescan for what the gap missed", why)
        dead = self._observer
        with contextlib.suppress(Exception):  # its emitters (threads of their own) may still run: stop them
            dead.stop()
            dead.join(timeout=1)
        self._watches.clear()
        self._above_watches.clear()
        self._above.clear()
        self._start_observer()
        for s in self._sources:
            self._watch_above(str(s))
            if str(s) in self._gone or not s.is_dir():
                self._gone.add(str(s))
            else:
                self._schedule(str(s))
        self.watcher_restarted.emit(why)
        self.rescan_requested.emit()

    # -- the watch limit --------------------------------------------------------------------------------------

    def _our_fds(self) -> set[int]:
        return _inotify_fds() - self._baseline_fds

    def _unwatched_in(self, tops: list[str]) -> set[str] | None:
        """Folders under ``tops`` (each included) that no inotify watch of ours holds; None where this cannot
        be told (no /proc: not Linux)."""
        if not sys.platform.startswith("linux") or not os.path.isdir(_FDINFO):
            return None
        fds = self._our_fds()
        if not fds:
            return {t for t in tops if os.path.isdir(t)}
        watched = watched_inodes(fds)
        return {path for top in tops for path, ino in folders_under(top) if ino not in watched}

    def _message(self, unwatched: set[str]) -> str:
        limit = watch_limit()
        at = f" = {limit}" if limit is not None else ""
        n = len(unwatched)
        return (
            f"watching incomplete: {n} folder{'s' if n != 1 else ''} under the source folders cannot be watched "
            f"(the inotify watch limit fs.inotify.max_user_watches{at} is reached); they are rescanned every "
            f"{self._retry_s:g} s instead. To fix: sudo sysctl fs.inotify.max_user_watches={RAISE_TO} (and the "
            f"same line in /etc/sysctl.d/90-usbsync.conf to keep it)"
        )

    def _set_unwatched(self, unwatched: set[str], at_start: bool = False) -> None:
        """Take ``unwatched`` as the folders without a watch now: signals, log and the retry timer."""
        before = self._unwatched
        self._unwatched = unwatched
        if not unwatched:
            if before or at_start:
                if before:
                    log.info("watching complete again: every folder under the source folders is watched")
                self.watching_complete.emit()
            if self._retry is not None:
                self._retry.stop()
            return
        if unwatched == before:
            return
        message = self._message(unwatched)
        shown = sorted(for_display(f) for f in _topmost(sorted(unwatched)))
        if not before:
            log.warning(
                "%s. Not watched: %s", message, ", ".join(shown[:5]) + (", ..." if len(shown) > 5 else "")
            )
        else:
            log.info("still %d folder(s) not watched", len(unwatched))
        self.watching_incomplete.emit(message, _topmost(sorted(unwatched)))
        fresh = sorted(unwatched - before)
        if fresh:  # files may have arrived in them before we knew: scan them now
            self.files_ready.emit(_topmost(fresh))
        if self._retry is not None and not self._retry.isActive():
            self._retry.start(int(self._retry_s * 1000))

    def _folder_appeared(self, path: str) -> None:
        with self._lock:
            self._appeared.add(path)

    def _check_appeared(self) -> None:
        with self._lock:
            appeared, self._appeared = self._appeared, set()
        appeared = {p for p in appeared if os.path.isdir(p) and not os.path.islink(p)}
        if not appeared:
            return
        found = self._unwatched_in(_topmost(sorted(appeared)))
        if found:
            self._set_unwatched(self._unwatched | found)

    @Slot()
    def _retry_watches(self) -> None:
        """While incomplete: watch afresh when the limit has room again, and have the unwatched folders
        rescanned."""
        if self._observer is None or not self._unwatched:
            return
        tops = _topmost(sorted(p for p in self._unwatched if os.path.isdir(p)))
        still = self._unwatched_in(tops) or set()
        if still and _room_for_a_watch(sorted(still)[0]):
            # Room again: watch each affected source afresh (watchdog has no way to add the watches it skipped),
            # and rescan it whole, since events in the moment between are lost.
            sources = sorted(
                {s for s in self._watches if any(p == s or p.startswith(s + os.sep) for p in still)}
            )
            sources += [str(s) for s in self._sources if str(s) not in self._watches and str(s) in still]
            for source in sources:
                watch = self._watches.pop(source, None)
                if watch is not None:
                    self._observer.unschedule(watch)
                self._schedule(source)
            self.files_ready.emit(sources)
            still = self._unwatched_in(tops) or set()
        if still:
            self.files_ready.emit(_topmost(sorted(still)))
        self._set_unwatched(still)

    @Slot()
    def stop(self) -> None:
        self._stopped = True
        if self._timer is not None:
            self._timer.stop()
        if self._retry is not None:
            self._retry.stop()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
            self._observer = None
        logging.getLogger("watchdog").removeHandler(self._detector)

    @Slot(object)
    def track(self, paths: list[str]) -> None:
        """Watch ``paths`` (still being written) until they hold still for the stability window."""
        for p in paths:
            self._note(str(p), closed=False)

    def pending_count(self) -> int:
        with self._lock:
            return len(self._candidates)

    @Slot()
    def _process(self) -> None:
        """Handle what the events since the last wake brought: the checks they ask for, every file that became
        complete, and the waiting candidates whose deadline has come; then arm the timer for the next deadline
        (or stop it). Handed over with ``files_ready``. Runs on this object's thread, on a wake or when the
        timer fires; costs what arrived and what is due, not what merely waits."""
        with self._lock:
            self._wake_pending = False
        if self._stopped:
            return
        self._check_observer()
        self._check_sources()
        self._check_appeared()
        if self._overflow.is_set():
            self._overflow.clear()
            log.warning("file events were lost (queue overflow); rescanning the source folders")
            self.rescan_requested.emit()
        now = time.monotonic()
        ready: list[str] = []
        due: list[tuple[str, _Candidate, float]] = []  # (path, candidate, its last event as judged)
        with self._lock:
            complete, self._complete_now = self._complete_now, []
            for path in complete:
                c = self._candidates.get(path)
                if c is not None and c.goes_at_once():
                    del self._candidates[path]
                    ready.append(path)
            while self._due and self._due[0][0] <= now:
                _, _, path, c = heapq.heappop(self._due)
                c.in_heap = False
                if self._candidates.get(path) is not c:
                    continue  # handed over or replaced meanwhile
                if c.deadline(self._window) > now:
                    self._push(path, c)  # an event came since it was put here: it waits from that one
                else:
                    due.append((path, c, c.last_event))
        settled: list[tuple[str, _Candidate, float]] = []
        changed: list[tuple[str, _Candidate]] = []
        for path, c, seen in due:
            if c.closed:
                settled.append((path, c, seen))
                continue
            try:
                st = os.stat(path)
                sig = (st.st_size, st.st_mtime_ns)
            except OSError:
                settled.append((path, c, seen))  # gone: let ingest ignore it
                continue
            if stat.S_ISDIR(st.st_mode) or c.stat == sig:  # the stat in hand: another costs 2 ms under Wine
                settled.append((path, c, seen))
            else:
                c.stat = sig
                changed.append((path, c))
        with self._lock:
            for path, c in changed:  # changed since the last look: wait another window
                c.last_event = max(c.last_event, now)
                if self._candidates.get(path) is c and not c.in_heap and not c.goes_at_once():
                    self._push(path, c)
            for path, c, seen in settled:
                if self._candidates.get(path) is not c:
                    continue
                if c.last_event == seen:
                    del self._candidates[path]
                    ready.append(path)
                elif not c.in_heap and not c.goes_at_once():  # an event came meanwhile: wait from it
                    self._push(path, c)
            # Remembered for DEBOUNCE_S: a file closed again that soon is being rewritten and waits to be quiet.
            # In hand-over order, so the expired ones are at the front.
            while self._released and now - next(iter(self._released.values())) >= DEBOUNCE_S:
                self._released.popitem(last=False)
            for path in ready:
                self._released[path] = now
                self._released.move_to_end(path)
            # Entries of candidates handed over meanwhile must not keep a timer running: drop them from the head.
            while self._due and self._candidates.get(self._due[0][2]) is not self._due[0][3]:
                heapq.heappop(self._due)[3].in_heap = False
            next_at = self._due[0][0] if self._due else float("inf")
        self._arm(next_at, now)
        for i in range(0, len(ready), READY_CHUNK):
            self.files_ready.emit(ready[i : i + READY_CHUNK])

    def _arm(self, at: float, now: float) -> None:
        """Arm the timer for monotonic time ``at`` (seconds), or stop it when ``at`` is infinite (nothing waits).
        A millisecond late rather than early: the candidate is due when it fires."""
        if self._timer is None:
            return
        if at == float("inf"):
            self._timer.stop()
            return
        self._timer.start(max(0, int((at - now) * 1000) + 1))
