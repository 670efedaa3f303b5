"""Why a job waits: the reason texts the copier records, and the one place they are told apart.

A job's ``last_error`` is a line for the user ("not enough space on Photos"). The copier builds the texts that
mean something lasting (no space, read-only) with the functions here, and :func:`sql_wait_kind` /
:func:`wait_kind` read them back, so the wording and its meaning cannot drift apart.
"""

from __future__ import annotations

import fnmatch
from enum import StrEnum

from usbsync_gui.core.units import human_bytes


class WaitKind(StrEnum):
    """Why a file is not on its drive yet (or will not get there without the user)."""

    DRIVE_ABSENT = "drive_absent"  # pending; its drive is not plugged in
    QUEUED = "queued"  # pending; its drive is plugged in: next in line
    COPYING = "copying"  # being copied now
    RETRYING = "retrying"  # pending after a counted error; not tried again before its backoff ends
    NO_SPACE = "no_space"  # does not fit on its drive
    READ_ONLY = "read_only"  # its drive is mounted read-only
    FAILED = "failed"  # gave up after the tries; the user decides (retry, remove)
    NO_DRIVE = "no_drive"  # no registered drive holds its category (its drive was forgotten)


#: Kinds that need the user: the tray shows "needs attention" while a job waits for one of them.
ATTENTION_KINDS = frozenset({WaitKind.NO_SPACE, WaitKind.READ_ONLY, WaitKind.FAILED, WaitKind.NO_DRIVE})

# The lasting reasons, as SQL LIKE patterns ('%' any text) over the texts built below.
_PATTERNS: tuple[tuple[WaitKind, str], ...] = (
    (WaitKind.NO_SPACE, "not enough space on %"),
    (WaitKind.READ_ONLY, "% is mounted read-only%"),
)


PENDING_REASON = "waiting for the drive"  # a pending job with no recorded reason
NO_CATEGORY = "files without a category"


def no_drive(category: str | None) -> str:
    """Why a file of ``category`` goes nowhere: no registered drive holds that category (none ever did, or its
    drive was forgotten)."""
    return f"no drive holds {category or NO_CATEGORY}"


def no_space(drive_name: str) -> str:
    """The reason of a job that does not fit on ``drive_name``'s free space."""
    return f"not enough space on {drive_name}"


def too_big(drive_name: str, size: int, capacity: int) -> str:
    """The reason of a job (failed) whose file is bigger than the whole drive (``size``, ``capacity``: bytes)."""
    return (
        f"too big for {drive_name}: {human_bytes(size)} does not fit on a {human_bytes(capacity)} drive even "
        "when it is empty; remove it from the queue, or give its kind of file a bigger drive"
    )


def read_only(drive_name: str) -> str:
    """The reason of the jobs of a drive mounted read-only."""
    return f"{drive_name} is mounted read-only (remount it writable, or check its lock switch)"


def lasting_kind(reason: str | None) -> WaitKind | None:
    """The lasting kind a recorded ``reason`` text means (no space, read-only), or None for any other text."""
    if reason:
        for kind, pattern in _PATTERNS:
            if fnmatch.fnmatchcase(reason, pattern.replace("%", "*")):
                return kind
    return None


def wait_kind(
    state: str, reason: str | None, backing_off: bool, drive_registered: bool, drive_connected: bool
) -> WaitKind:
    """Why a job in ``state`` (pending, copying, failed) waits.

    Args:
        reason: its recorded ``last_error``.
        backing_off: its ``not_before`` is still ahead (a counted error, retried later).
        drive_registered: its drive is in the configuration (a forgotten drive's jobs go nowhere).
        drive_connected: its drive is plugged in and identified now.

    A lack of space stays the reason while the drive is away (plugging it in does not help); a read-only
    mount does not (it may come back writable).
    """
    if state == "failed":
        return WaitKind.FAILED
    if not drive_registered:
        return WaitKind.NO_DRIVE
    if state == "copying":
        return WaitKind.COPYING
    lasting = lasting_kind(reason)
    if lasting is WaitKind.NO_SPACE:
        return lasting
    if not drive_connected:
        return WaitKind.DRIVE_ABSENT
    if lasting is not None:
        return lasting
    return WaitKind.RETRYING if backing_off else WaitKind.QUEUED


def sql_lasting_kind(column: str) -> str:
    """An SQL expression over the text column ``column`` giving :func:`lasting_kind`'s value ('' for None)."""
    whens = " ".join(f"WHEN {column} LIKE '{p}' THEN '{k.value}'" for k, p in _PATTERNS)
    return f"(CASE {whens} ELSE '' END)"


def job_reason(state: str, reason: str | None, category: str | None, drive_registered: bool) -> str:
    """The reason a job's row shows (``usbsync pending``, the queue window): its recorded text, or what it
    waits for when none was recorded; a forgotten drive's job says that no drive holds its category."""
    if state != "failed" and not drive_registered:
        return no_drive(category)
    if reason:
        return reason
    return {"pending": PENDING_REASON, "copying": "copying now"}.get(state, "")
