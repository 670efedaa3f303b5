"""Logging set-up and the structured audit log.

* ``file_watcher.log``: human-readable, rotating (5 files of 5 MiB), standard levels.
* ``file_operations.csv``: one row per file operation with the columns of :data:`AUDIT_COLUMNS`; opened in
  append mode, a header written when the file is new. Safe to call from several threads.

Neither ever raises on a file name that is not valid UTF-8 (a Linux name decoded with ``surrogateescape``,
PEP 383): the audit log writes names as :func:`~usbsync_gui.core.fs_text.for_display` shows them (undecodable
bytes as U+FFFD), and every log handler encodes with ``errors="backslashreplace"``, so a message that still
holds such a name shows its bytes as ``\udcff`` instead of failing with a "--- Logging error ---" traceback.
"""

from __future__ import annotations

import csv
import logging
import logging.handlers
import sys
import threading
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from usbsync_gui.core.fs_text import for_display

LOG_FILE = "file_watcher.log"
AUDIT_FILE = "file_operations.csv"
AUDIT_COLUMNS = (
    "timestamp",
    "operation",
    "source",
    "destination",
    "drive",
    "size_bytes",
    "blake3",
    "duration_ms",
    "status",
    "error",
)
LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def _display_names(record: logging.LogRecord) -> bool:
    """Handler filter: string arguments (file names) as people read them, undecodable bytes as U+FFFD
    (:func:`fs_text.for_display`), in one place instead of at every log call."""
    if isinstance(record.args, tuple):
        record.args = tuple(for_display(a) if isinstance(a, str) else a for a in record.args)
    return True


def setup_logging(log_dir: Path, level: int = logging.INFO, console: bool = True) -> None:
    """Send the ``usbsync_gui`` loggers to the rotating log file and (optionally) to stderr."""
    log_dir.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger("usbsync_gui")
    for h in list(root.handlers):
        root.removeHandler(h)
        h.close()
    root.setLevel(level)
    fh = logging.handlers.RotatingFileHandler(
        log_dir / LOG_FILE, maxBytes=5 << 20, backupCount=5, encoding="utf-8", errors="backslashreplace"
    )
    fh.setFormatter(logging.Formatter(LOG_FORMAT))
    fh.addFilter(_display_names)
    root.addHandler(fh)
    if console:
        sh = logging.StreamHandler(_tolerant(sys.stderr))
        sh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
        sh.addFilter(_display_names)
        root.addHandler(sh)
    root.propagate = False


def _tolerant(stream: TextIO) -> TextIO:
    """``stream`` set to ``errors="backslashreplace"`` where it can be (CPython's stderr already is; a
    replaced ``sys.stderr`` may not be)."""
    reconfigure = getattr(stream, "reconfigure", None)
    if reconfigure is not None and getattr(stream, "errors", None) != "backslashreplace":
        with suppress(ValueError, OSError):  # a stream that cannot be reconfigured now: kept as it is
            reconfigure(errors="backslashreplace")
    return stream


class AuditLog:
    """Append-only CSV audit log at ``path``. ``size_bytes`` in bytes, ``duration_ms`` in milliseconds."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        new = not path.exists() or path.stat().st_size == 0
        # Open as long as the log is; backslashreplace as a second guard behind for_display in record().
        self._fh = open(path, "a", newline="", encoding="utf-8", errors="backslashreplace")  # noqa: SIM115
        self._writer = csv.writer(self._fh)
        if new:
            self._writer.writerow(AUDIT_COLUMNS)
            self._fh.flush()

    def record(
        self,
        operation: str,
        source: str = "",
        destination: str = "",
        drive: str = "",
        size_bytes: int | None = None,
        blake3: str = "",
        duration_ms: float | None = None,
        status: str = "ok",
        error: str = "",
    ) -> None:
        """Append one row (:meth:`row`'s arguments)."""
        row = self.row(
            operation, source, destination, drive, size_bytes, blake3, duration_ms, status, error=error
        )
        self.write([row])

    @staticmethod
    def now() -> str:
        """The timestamp column's value for now (UTC, ISO 8601, milliseconds)."""
        return datetime.now(UTC).isoformat(timespec="milliseconds")

    @staticmethod
    def row(
        operation: str,
        source: str = "",
        destination: str = "",
        drive: str = "",
        size_bytes: int | None = None,
        blake3: str = "",
        duration_ms: float | None = None,
        status: str = "ok",
        stamp: str | None = None,
        error: str = "",
    ) -> tuple[str, ...]:
        """One row as :meth:`write` takes it, stamped now. Paths and texts may hold undecodable bytes (PEP 383):
        written as :func:`~usbsync_gui.core.fs_text.for_display` shows them. ``size_bytes`` in bytes,
        ``duration_ms`` in milliseconds; ``stamp``: the timestamp (:meth:`now`), now when None."""
        return (
            stamp or AuditLog.now(),
            operation,
            for_display(source),
            for_display(destination),
            for_display(drive),
            "" if size_bytes is None else str(size_bytes),
            blake3,
            "" if duration_ms is None else f"{duration_ms:.1f}",
            status,
            for_display(error),
        )

    def write(self, rows: list[tuple[str, ...]]) -> None:
        """Append ``rows`` (from :meth:`row`) and flush once: a batch of 500 queued files is one write(2), not
        500."""
        if not rows:
            return
        with self._lock:
            self._writer.writerows(rows)
            self._fh.flush()

    def close(self) -> None:
        with self._lock:
            self._fh.close()
