"""Paths as text: the one codec between file names as the OS gives them and what the database, logs and
windows hold.

Linux allows any bytes but ``/`` and NUL in a name; Python decodes names that are not valid UTF-8 with the
``surrogateescape`` error handler (PEP 383), so such a name is a ``str`` holding lone surrogates
(U+DC80-U+DCFF). SQLite's Python binding, CSV and log files encode text as strict UTF-8 and refuse those
strings, which once aborted a whole ingest batch for one badly named file.

* :func:`to_db` / :func:`from_db`: lossless. A path that is valid Unicode is stored as TEXT; any other is
  stored as a BLOB of its raw OS bytes. One path always maps to the same value, so equality and UNIQUE work.
* :func:`for_display`: lossy, for humans (logs, audit CSV, windows): undecodable bytes become U+FFFD.
"""

from __future__ import annotations

import os


def is_text(s: str) -> bool:
    """True when ``s`` can be encoded as strict UTF-8 (it holds no lone surrogates)."""
    if s.isascii():
        return True
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def to_db(s: str) -> str | bytes:
    """The value to bind for path ``s``: ``s`` itself, or its raw OS bytes when it is not valid Unicode."""
    return s if is_text(s) else os.fsencode(s)


def from_db(v: str | bytes) -> str:
    """The path string for a stored value (inverse of :func:`to_db`)."""
    return os.fsdecode(v) if isinstance(v, bytes) else v


def for_display(s: str) -> str:
    """``s`` with undecodable bytes shown as U+FFFD: safe to log, write to CSV or show in a widget."""
    if is_text(s):
        return s
    return s.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
