"""Decide a file's category: user rules first, then content (libmagic), then the extension as a fallback.

Order, per file:
1. the first user rule whose glob matches the path relative to its source folder, or the bare name;
2. the MIME type libmagic reads from the content, matched against each category's MIME patterns in config
   order (so a PNG named ``x.txt`` is an image);
3. the extension, only when content says nothing specific: ``application/octet-stream``, an empty file,
   libmagic unavailable, or a generic container (ZIP, OLE2) whose extension names a more specific kind
   (a ``.docx`` is a ZIP inside; if libmagic only says ``application/zip`` the extension decides).
"""

from __future__ import annotations

import fnmatch
import logging
import os
import posixpath
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from usbsync_gui.core.config import Category, Rule
from usbsync_gui.core.fs_text import for_display

log = logging.getLogger(__name__)

UNKNOWN_MIME = "application/octet-stream"
# MIME types that say "nothing specific about this content".
_UNINFORMATIVE = {UNKNOWN_MIME, "inode/x-empty", "application/x-empty", ""}
# Containers that many specific formats are built on; the extension may refine them.
# libmagic 5.44's default MAGIC_PARAM_BYTES_MAX: what it reads of a file at most.
MAGIC_HEAD_BYTES = 7 << 20
_GENERIC_CONTAINERS = {"application/zip", "application/x-ole-storage", "application/cdfv2", "text/xml"}

_magic: ModuleType | None
try:
    import magic as _magic

    _MAGIC_ERROR: str | None = None
except ImportError as exc:  # libmagic shared library missing: python-magic raises ImportError at import
    _magic = None
    _MAGIC_ERROR = str(exc)


@dataclass(frozen=True)
class Classification:
    """The outcome for one file: ``category`` is None when no rule, MIME pattern or extension matched."""

    category: str | None
    mime: str
    reason: str  # "rule", "content", "extension" or "none"


def bundled_magic_file() -> str | None:
    """The ``magic.mgc`` a frozen (PyInstaller) build ships beside itself, if any. PyInstaller bundles the
    libmagic library but not its database; without this, libmagic would look for it at a path of the build
    machine."""
    import sys

    base = getattr(sys, "_MEIPASS", None)
    if base:
        candidate = os.path.join(base, "magic.mgc")
        if os.path.exists(candidate):
            return candidate
    return None


def magic_available() -> bool:
    return _magic is not None


class Classifier:
    """Classify files by user rules, content and extension. Thread-safe: one libmagic handle per thread.

    Args:
        categories: the categories in priority order.
        rules: user rules, tried in order before content.
        magic_file: optional path to a ``magic.mgc`` database (frozen builds ship one).
    """

    _warned_no_magic = False

    def __init__(
        self, categories: tuple[Category, ...], rules: tuple[Rule, ...] = (), magic_file: str | None = None
    ):
        self._categories = categories
        self._rules = rules
        self._magic_file = magic_file or bundled_magic_file()
        self._local = threading.local()
        self._by_ext: dict[str, str] = {}
        for c in categories:
            for e in c.extensions:
                self._by_ext.setdefault(e.lower(), c.name)
        # Patterns compiled once (fnmatch.translate: the same matching as fnmatch), not parsed per file: the
        # classification of a flood of files runs on threads that share the GIL with the GUI thread.
        self._mime_res = tuple(
            (c.name, re.compile("|".join(fnmatch.translate(p.lower()) for p in c.mime)))
            for c in categories
            if c.mime
        )
        self._by_mime: dict[
            str, str | None
        ] = {}  # MIME type -> category, as found: a few dozen types at most
        self._rule_res = tuple(
            (re.compile(fnmatch.translate(os.path.normcase(r.pattern))), r.category) for r in rules
        )
        if _magic is None and not Classifier._warned_no_magic:
            Classifier._warned_no_magic = True
            log.warning("libmagic is not available (%s): classifying by file extension only", _MAGIC_ERROR)

    def mime_of(self, path: Path | str, content: bytes | None = None, fd: int | None = None) -> str:
        """The MIME type libmagic reads from the file's content, or ``application/octet-stream``.

        ``content``, when given, is the whole file already read by the caller (small files): libmagic reads it
        from memory instead of opening the file again. For a whole file this gives the same answer.
        ``fd``, when given (and no ``content``), is a descriptor the caller opened on the file
        (:meth:`~usbsync_gui.core.source_paths.SourceFolders.open`): libmagic reads from it and ``path`` is
        only named in messages, so a name that has become a link in the meantime is not followed. The
        descriptor's offset is not kept.
        """
        if _magic is None:
            return UNKNOWN_MIME
        m = getattr(self._local, "magic", None)
        if m is None:
            m = _magic.Magic(mime=True, magic_file=self._magic_file)
            self._local.magic = m
        try:
            if content is not None:
                return str(m.from_buffer(content) if content else "inode/x-empty").lower()
            if fd is not None:
                if hasattr(m, "from_descriptor"):
                    return str(m.from_descriptor(fd)).lower()
                # python-magic before 0.4.18: the first bytes, as much as libmagic reads of a file by default
                head = os.pread(fd, MAGIC_HEAD_BYTES, 0)
                return str(m.from_buffer(head) if head else "inode/x-empty").lower()
            return str(m.from_file(str(path))).lower()
        except (OSError, _magic.MagicException) as exc:
            log.debug("libmagic could not read %s: %s", for_display(os.fspath(path)), exc)
            return UNKNOWN_MIME

    def by_extension(self, name: str) -> str | None:
        """The category of ``name``'s extension (case-insensitive; ``.bashrc`` has none), or None."""
        suffix = os.path.splitext(name)[1].lower().lstrip(".")
        return self._by_ext.get(suffix) if suffix else None

    def by_mime(self, mime: str) -> str | None:
        """The first category (in priority order) with a MIME pattern that matches ``mime`` (fnmatch patterns,
        case-insensitive), or None."""
        try:
            return self._by_mime[mime]
        except KeyError:
            found = next((name for name, pattern in self._mime_res if pattern.match(mime)), None)
            self._by_mime[mime] = found
            return found

    def by_rule(self, relpath: str) -> str | None:
        """The category of the first rule whose pattern matches ``relpath`` (``/``-separated, relative to the
        source folder) or its file name, as ``fnmatch.fnmatch`` matches (case-insensitive where the OS is)."""
        if not self._rule_res:
            return None
        path = os.path.normcase(relpath)
        name = os.path.normcase(posixpath.basename(relpath))
        for pattern, category in self._rule_res:
            if pattern.match(path) or pattern.match(name):
                return category
        return None

    def classify(
        self,
        path: Path | str,
        relpath: str | None = None,
        content: bytes | None = None,
        fd: int | None = None,
    ) -> Classification:
        """Classify ``path``; ``relpath`` is its path relative to the source folder (for rules); ``content``
        the whole file if the caller has read it already; ``fd`` a descriptor open on it to read from
        instead of opening ``path`` (see :meth:`mime_of`)."""
        name = os.path.basename(path)
        rel = relpath if relpath is not None else name
        ruled = self.by_rule(rel)
        mime = self.mime_of(path, content, fd)
        if ruled is not None:
            return Classification(ruled, mime, "rule")
        by_ext = self.by_extension(name)
        if mime in _GENERIC_CONTAINERS and by_ext is not None:
            return Classification(by_ext, mime, "extension")
        if mime not in _UNINFORMATIVE:
            by_content = self.by_mime(mime)
            if by_content is not None:
                return Classification(by_content, mime, "content")
            if not mime.startswith("text/"):
                return Classification(None, mime, "none")
        if by_ext is not None:
            return Classification(by_ext, mime, "extension")
        return Classification(None, mime, "none")
