"""Turn files in the source folders into file records and jobs: scan, ingest, manifests.

A file is ingested when it is new or its (size, mtime) changed since it was last recorded: it is classified,
hashed with BLAKE3, recorded, and each registered drive that holds its category gets a job. Unchanged files
cost one ``stat`` and one indexed lookup, so the periodic rescan is cheap.

Manifests: a ``*.lst`` file in a source folder lists files to sync, one per line, relative to the ``.lst``'s
folder or absolute; lines starting with ``#`` are comments (a ``#`` inside a name is part of it). Listed files are synced even when the include/exclude patterns
would skip them (the list is an explicit request). Entries that resolve outside every source folder are
refused and logged; missing entries are reported; neither stops the rest.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import re
import stat
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from blake3 import blake3

from usbsync_gui.core.audit import AuditLog
from usbsync_gui.core.classify import Classification, Classifier
from usbsync_gui.core.config import Config
from usbsync_gui.core.hashing import hash_file
from usbsync_gui.core.state import StateDB

log = logging.getLogger(__name__)

MANIFEST_SUFFIX = ".lst"
SMALL_FILE = 1 << 20  # files up to 1 MiB are read once into memory for classification and hashing
COMMIT_EVERY = 500  # files per transaction: bounded memory for the WAL, few fsyncs
# Classification (libmagic through ctypes) and BLAKE3 release the GIL, so a few threads use every core.
ANALYSE_THREADS = max(2, min(8, os.cpu_count() or 2))


@dataclass(frozen=True)
class _Todo:
    path: str  # absolute; a plain string because pathlib costs more than the rest of the check
    root: Path
    relpath: str
    size: int
    mtime_ns: int


@dataclass
class IngestStats:
    """What a scan or batch did. ``fresh`` holds files still being written (modified within the window)."""

    seen: int = 0
    new_or_changed: int = 0
    unchanged: int = 0
    unclassified: int = 0
    jobs_queued: int = 0  # one per file and drive
    files_queued: int = 0
    errors: int = 0
    refused: int = 0
    missing: int = 0
    fresh: list[Path] = field(default_factory=list)
    drives_with_work: set[str] = field(default_factory=set)

    def merge(self, other: IngestStats) -> None:
        for name in (
            "seen",
            "new_or_changed",
            "unchanged",
            "unclassified",
            "jobs_queued",
            "files_queued",
            "errors",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.refused += other.refused
        self.missing += other.missing
        self.fresh.extend(other.fresh)
        self.drives_with_work |= other.drives_with_work


def _compile(patterns: Iterable[str]) -> re.Pattern[str] | None:
    """One regex for a list of fnmatch patterns (case-insensitive where the OS is, as fnmatch.fnmatch)."""
    pats = list(patterns)
    if not pats:
        return None
    flags = re.IGNORECASE if os.path.normcase("A") == "a" else 0
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in pats), flags)


class Ingestor:
    """Scan and ingest files for one configuration. Uses the caller's :class:`StateDB` (one per thread)."""

    def __init__(self, db: StateDB, config: Config, classifier: Classifier, audit: AuditLog | None = None):
        self.db = db
        self.config = config
        self.classifier = classifier
        self.audit = audit
        self.roots = sorted((Path(os.path.abspath(s)) for s in config.sources), key=lambda p: -len(p.parts))
        self._root_strs = [str(r) for r in self.roots]
        self._include = _compile(config.include)
        self._exclude = _compile(config.exclude)
        self._executor: ThreadPoolExecutor | None = None
        self.on_batch: Callable[[], None] | None = None  # called after each committed batch (any thread)

    # -- filtering --------------------------------------------------------------------------------------------

    def root_of(self, path: Path | str) -> Path | None:
        """The (deepest) source folder that contains ``path`` (absolute), or None."""
        s = os.fspath(path)
        for root, root_s in zip(self.roots, self._root_strs, strict=True):
            if s == root_s or s.startswith(root_s + os.sep):
                return root
        return None

    def wanted(self, relpath: str) -> bool:
        """Include/exclude patterns (fnmatch syntax), tried against the bare name and the relative path."""
        name = relpath.rsplit("/", 1)[-1]
        if name.endswith(MANIFEST_SUFFIX):
            return False
        inc, exc = self._include, self._exclude
        included = inc is not None and (inc.match(name) is not None or inc.match(relpath) is not None)
        excluded = exc is not None and (exc.match(name) is not None or exc.match(relpath) is not None)
        return included and not excluded

    # -- one file ---------------------------------------------------------------------------------------------

    def _needs_work(
        self, path: Path | str, stats: IngestStats, forced: bool, min_age_s: float, recheck: bool
    ) -> _Todo | None:
        """Cheap checks (patterns, stat, one indexed lookup). Returns what must be classified and hashed."""
        spath = os.fspath(path)
        root = self.root_of(spath)
        if root is None:
            return None
        relpath = spath[len(str(root)) + 1 :].replace(os.sep, "/")
        if not forced and not self.wanted(relpath):
            return None
        try:
            st = os.stat(spath)
        except FileNotFoundError:
            return None
        except OSError as exc:
            stats.errors += 1
            log.warning("cannot read %s: %s", path, exc.strerror)
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        stats.seen += 1
        if not recheck and self.db.file_stat(spath) == (st.st_size, st.st_mtime_ns):
            stats.unchanged += 1
            return None
        if min_age_s > 0 and time.time() - st.st_mtime < min_age_s:
            stats.fresh.append(Path(spath))
            return None
        return _Todo(spath, root, relpath, st.st_size, st.st_mtime_ns)

    def _analyse(self, todo: _Todo) -> tuple[Classification, str] | OSError | None:
        """Classify and hash (no database: runs on pool threads; libmagic and BLAKE3 release the GIL).
        Returns None when the file changed while being read (still being written)."""
        try:
            if todo.size <= SMALL_FILE:
                # One read serves both libmagic and BLAKE3.
                with open(todo.path, "rb") as fh:
                    content = fh.read(SMALL_FILE + 1)
                klass = self.classifier.classify(todo.path, todo.relpath, content)
                digest = blake3(content).hexdigest()
            else:
                klass = self.classifier.classify(todo.path, todo.relpath)
                digest = hash_file(todo.path)
            st = os.stat(todo.path)
        except OSError as exc:
            return exc
        if (st.st_size, st.st_mtime_ns) != (todo.size, todo.mtime_ns):
            return None
        return klass, digest

    def _analyse_many(self, todos: list[_Todo]) -> list[tuple[Classification, str] | OSError | None]:
        return [self._analyse(t) for t in todos]

    def _record(
        self, todo: _Todo, outcome: tuple[Classification, str] | OSError | None, stats: IngestStats
    ) -> None:
        path, relpath = todo.path, todo.relpath
        if isinstance(outcome, FileNotFoundError):
            return
        if isinstance(outcome, OSError):
            stats.errors += 1
            log.warning("cannot read %s: %s", path, outcome.strerror)
            return
        if outcome is None:
            stats.fresh.append(Path(path))  # changed while we read it: still being written
            return
        klass, digest = outcome
        file_id, changed = self.db.upsert_file(
            path, str(todo.root), relpath, todo.size, todo.mtime_ns, digest, klass.mime, klass.category
        )
        stats.new_or_changed += 1
        if klass.category is None:
            stats.unclassified += 1
            log.info("no category for %s (%s): not synced", relpath, klass.mime)
            return
        drives = [d.id for d in self.config.drives_for(klass.category)]
        if not drives:
            log.info("%s is %s, but no drive holds that category yet", relpath, klass.category)
            return
        queued = self.db.enqueue(file_id, drives, digest, todo.size)
        if queued:
            stats.jobs_queued += queued
            stats.files_queued += 1
            stats.drives_with_work.update(drives)
            log.debug(
                "queued %s (%s, %s, by %s) for %d drive(s)",
                relpath,
                klass.category,
                klass.mime,
                klass.reason,
                queued,
            )
            if self.audit:
                names = ",".join(d.name for d in self.config.drives if d.id in drives)
                self.audit.record("queued", path, "", names, todo.size, digest, status="pending")
        elif changed:
            log.debug("%s changed but its content is already delivered", relpath)

    def ingest_file(
        self,
        path: Path,
        stats: IngestStats,
        forced: bool = False,
        min_age_s: float = 0.0,
        recheck: bool = False,
    ) -> None:
        """Ingest one path (absolute), in the caller's transaction. ``forced`` skips the include/exclude
        patterns (manifest entries); ``recheck`` rehashes even when size and mtime are unchanged. Files
        modified less than ``min_age_s`` seconds ago are put in ``stats.fresh`` instead."""
        todo = self._needs_work(path, stats, forced, min_age_s, recheck)
        if todo is not None:
            self._record(todo, self._analyse(todo), stats)

    # -- many files -------------------------------------------------------------------------------------------

    def ingest_paths(self, paths: Iterable[Path], min_age_s: float = 0.0) -> IngestStats:
        """Ingest files named by the watcher (manifests are read, directories are scanned)."""
        stats = IngestStats()
        batch: list[Path] = []
        for p in paths:
            p = Path(os.path.abspath(p))
            if p.name.endswith(MANIFEST_SUFFIX) and p.is_file():
                stats.merge(self.read_manifest(p))
            elif p.is_dir():
                stats.merge(self._scan_tree(p, min_age_s))
            else:
                batch.append(p)
            if len(batch) >= COMMIT_EVERY:
                self._ingest_batch(batch, stats, min_age_s)
                batch = []
        self._ingest_batch(batch, stats, min_age_s)
        return stats

    def _ingest_batch(
        self, batch: Sequence[Path | str], stats: IngestStats, min_age_s: float, forced: bool = False
    ) -> None:
        """Ingest ``batch``: classify and hash on a thread pool, record in one transaction."""
        if not batch:
            return
        todos = [t for p in batch if (t := self._needs_work(p, stats, forced, min_age_s, False)) is not None]
        if len(todos) > 1:
            # A few large tasks, not one per file: a Future per file cost more than a small file's hash.
            k = -(-len(todos) // ANALYSE_THREADS)
            chunks = [todos[i : i + k] for i in range(0, len(todos), k)]
            outcomes = [o for part in self._pool().map(self._analyse_many, chunks) for o in part]
        else:
            outcomes = [self._analyse(t) for t in todos]
        with self.db.transaction():
            for todo, outcome in zip(todos, outcomes, strict=True):
                self._record(todo, outcome, stats)
        if self.on_batch is not None:
            self.on_batch()
        if stats.jobs_queued:
            log.debug("ingested %d files, %d jobs queued so far", len(todos), stats.jobs_queued)

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=ANALYSE_THREADS, thread_name_prefix="usbsync-analyse"
            )
        return self._executor

    def close(self) -> None:
        """Stop the analysis threads."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    def scan(self, min_age_s: float = 0.0) -> IngestStats:
        """Reconcile every source folder with the database (startup scan and periodic rescan)."""
        stats = IngestStats()
        for root in self.roots:
            if not root.is_dir():
                log.warning("source folder missing: %s", root)
                stats.errors += 1
                continue
            stats.merge(self._scan_tree(root, min_age_s))
        return stats

    def _scan_tree(self, top: Path, min_age_s: float) -> IngestStats:
        stats = IngestStats()
        batch: list[str] = []
        manifests: list[Path] = []
        for dirpath, dirnames, filenames in os.walk(top, onerror=lambda e: log.warning("cannot scan %s", e)):
            dirnames[:] = [d for d in dirnames if d != ".usbsync"]
            for name in filenames:
                p = os.path.join(dirpath, name)
                if name.endswith(MANIFEST_SUFFIX):
                    manifests.append(Path(p))
                    continue
                batch.append(p)
                if len(batch) >= COMMIT_EVERY:
                    self._ingest_batch(batch, stats, min_age_s)
                    batch = []
        self._ingest_batch(batch, stats, min_age_s)
        for m in manifests:
            stats.merge(self.read_manifest(m))
        return stats

    # -- manifests --------------------------------------------------------------------------------------------

    def _manifest_problem(
        self, status: str, lst: Path, lineno: int, entry: str, resolved: Path, why: str
    ) -> None:
        """Log and audit one manifest entry that is not synced (``status``: refused or missing)."""
        if status == "refused":
            log.warning("%s:%d: refused %s: %s", lst, lineno, entry, why)
        else:
            log.warning("%s:%d: %s: %s", lst, lineno, why, entry)
        if self.audit:
            self.audit.record(
                f"manifest-{status}", str(resolved), status=status, error=f"{lst}:{lineno}: {why}"
            )

    def read_manifest(self, lst: Path) -> IngestStats:
        """Ingest the entries of the manifest ``lst`` (see module doc)."""
        stats = IngestStats()
        try:
            text = lst.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            log.warning("cannot read manifest %s: %s", lst, exc.strerror)
            stats.errors += 1
            return stats
        entries: list[Path] = []
        for lineno, line in enumerate(text.splitlines(), 1):
            entry = line.strip()
            if not entry or entry.startswith("#"):
                continue
            target = Path(entry).expanduser()
            if not target.is_absolute():
                target = lst.parent / target
            resolved = Path(os.path.realpath(target))
            if self.root_of(resolved) is None:
                stats.refused += 1
                self._manifest_problem("refused", lst, lineno, entry, resolved, "outside the source folders")
                continue
            if not resolved.is_file():
                stats.missing += 1
                self._manifest_problem("missing", lst, lineno, entry, resolved, "listed file not found")
                continue
            entries.append(resolved)
        self._ingest_batch(entries, stats, 0.0, forced=True)
        return stats
