"""Replacing a small file by a complete new one, and reading it, when other threads or processes read it too.

On POSIX ``rename(2)`` replaces a file whatever holds it open, and a reader sees the old file or the new one.
On Windows neither is so:

* ``MoveFileExW(MOVEFILE_REPLACE_EXISTING)`` (what :func:`os.replace` calls) fails with ``ERROR_ACCESS_DENIED``
  (5) or ``ERROR_SHARING_VIOLATION`` (32) while another handle to the destination is open without
  ``FILE_SHARE_DELETE``, which CPython's :func:`open` never asks for: the engine reading ``config.toml`` as the
  Settings window saves it, an antivirus scanning it, the user's editor.
* While a file is being replaced it is "delete pending", and opening it fails with ``ERROR_ACCESS_DENIED``
  (Python: :class:`PermissionError`, errno 13) until the last handle to it closes.

Both last as long as the other side's read, milliseconds: :func:`replace` and :func:`read_bytes` try again,
for up to :data:`RETRY_FOR_S` seconds, before giving up with the error. Elsewhere they are :func:`os.replace`
and :meth:`pathlib.Path.read_bytes`. Seen under Wine: 48 of 300 replaces of a file another thread kept reading
failed with WinError 5, and the reader's opens failed too (``docs/windows-tests.md``).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

RETRY_FOR_S = 2.0  # seconds: far longer than another program's read of a small file
_SHARING_ERRORS = (5, 32, 33)  # ERROR_ACCESS_DENIED, ERROR_SHARING_VIOLATION, ERROR_LOCK_VIOLATION

T = TypeVar("T")


def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
    """:func:`os.replace`, tried again on Windows while another handle holds ``dst`` (see the module's
    docstring). Raises what :func:`os.replace` raises, the last error once :data:`RETRY_FOR_S` is over."""
    _retrying(lambda: os.replace(src, dst))


def read_bytes(path: Path) -> bytes:
    """``path.read_bytes()``, tried again on Windows while ``path`` is being replaced. Raises :class:`OSError`
    as :meth:`pathlib.Path.read_bytes` does (:class:`FileNotFoundError` at once: nothing to wait for)."""
    return _retrying(path.read_bytes)


def _retrying(op: Callable[[], T]) -> T:
    if sys.platform != "win32":
        return op()
    deadline = time.monotonic() + RETRY_FOR_S
    pause = 0.005
    while True:
        try:
            return op()
        except PermissionError as exc:
            # open() reports a delete-pending file through the C runtime: errno 13 and no winerror at all.
            winerror = getattr(exc, "winerror", None)
            if (
                winerror is not None and winerror not in _SHARING_ERRORS
            ) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.1)
