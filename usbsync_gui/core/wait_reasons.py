"""Why a job waits: the reason texts the copier records, and the one place they are told apart.

A job's ``last_error`` is a line for the user ("not enough space on Photos"). The copier builds the texts that
mean something lasting (no space, read-only) with the functions here, and :func:`sql_lasting_kind` /
:func:`wait_kind` read them back, so the wording and its meaning cannot drift apart.

What a job's row *says* (``usbsync pending``, the queue window's Reason column) is :func:`job_reason`: the
recorded text where it still holds, else what the job waits for now, from the same facts the summary judges by
(whether syncing is paused, whether its drive is registered and plugged in). :class:`ReasonFacts` carries those
facts from the summary to a view, and gives the same text as an SQL expression for sorting.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

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


PENDING_REASON = "waiting for the drive"  # pending; its drive is not plugged in
PAUSED_REASON = "syncing is paused"  # pending; its drive is plugged in, but syncing is paused
PAUSE_ROLLED_BACK = (
    "paused"  # recorded on a copy the pause rolled back (the engine's); shown only while paused
)
QUEUED_REASON = "next in line"  # pending; its drive is plugged in and nothing holds it back
COPYING_REASON = "copying now"
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


#: A failed attempt's kind, from its reason's words: the ``reason`` label of the copy-failure metric (a few
#: fixed values, so a label never holds a file name).
FAILURE_KINDS = ("verification", "too_big", "link_on_drive", "drive_io", "other")


def failure_kind(reason: str) -> str:
    """One of :data:`FAILURE_KINDS` for the reason a copy attempt failed (the copier's own texts)."""
    if reason.startswith("verification failed"):
        return "verification"
    if reason.startswith("too big for "):
        return "too_big"
    if "usbsync does not follow links on a drive" in reason or reason.endswith("'s volume"):
        return "link_on_drive"  # drive_fs.LinkOnDrive, NotOnVolume
    if reason.startswith("cannot "):
        return "drive_io"
    return "other"


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
    """An SQL expression over the text column ``column`` giving :func:`lasting_kind`'s value ('' for None).
    GLOB, not LIKE: case-sensitive, as :func:`fnmatch.fnmatchcase` is."""
    whens = " ".join(f"WHEN {column} GLOB '{p.replace('%', '*')}' THEN '{k.value}'" for k, p in _PATTERNS)
    return f"(CASE {whens} ELSE '' END)"


def job_reason(
    state: str,
    reason: str | None,
    category: str | None,
    *,
    drive_registered: bool,
    drive_connected: bool,
    paused: bool,
) -> str:
    """The reason a job's row shows (``usbsync pending``, the queue window), from the facts the summary judges
    by: the kind :func:`wait_kind` gives, and whether syncing is paused.

    * What needs the user says so, whatever else holds: failed (its recorded reason), no drive holds its
      category (a forgotten drive's job), no space, a read-only mount.
    * Its drive plugged in while syncing is paused: the pause holds it, whatever happened to it before.
    * Otherwise what happened to it last, when recorded ("drive removed", "interrupted ...", an error it is
      retried after), except what no longer holds: a pause that is over, a read-only mount of a drive that is
      away (it may come back writable).
    * With nothing recorded: its drive ("waiting for the drive", and the pause too while paused), or its turn.

    Jobs done or removed show their recorded note. :meth:`ReasonFacts.sql` is the same text in SQL: change both
    together (a test holds them to each other).
    """
    if state not in ("pending", "copying", "failed"):
        return reason or ""
    kind = wait_kind(state, reason, False, drive_registered, drive_connected)
    if kind is WaitKind.FAILED:
        return reason or ""
    if kind is WaitKind.NO_DRIVE:
        return no_drive(category)
    if kind is WaitKind.COPYING:
        return COPYING_REASON
    if kind in (WaitKind.NO_SPACE, WaitKind.READ_ONLY):
        return reason or ""
    if paused and drive_connected:
        return PAUSED_REASON
    if reason and reason != PAUSE_ROLLED_BACK and lasting_kind(reason) is None:
        return reason
    if not drive_connected:
        return f"{PENDING_REASON}; {PAUSED_REASON}" if paused else PENDING_REASON
    return QUEUED_REASON


@dataclass(frozen=True)
class ReasonFacts:
    """What a job's shown reason depends on besides the job itself, taken from one summary
    (:attr:`usbsync_gui.core.summary.StateSummary.reason_facts`).

    ``registered`` None: no configuration could be read, every drive counts as registered (the summary does the
    same). The defaults (not paused, no drive plugged in) are what a view shows before its first summary.
    """

    paused: bool = False
    connected: frozenset[str] = frozenset()
    registered: frozenset[str] | None = None

    def reason(self, state: str, reason: str | None, category: str | None, drive_id: str) -> str:
        """:func:`job_reason` for a job of ``drive_id``."""
        return job_reason(
            state,
            reason,
            category,
            drive_registered=self.registered is None or drive_id in self.registered,
            drive_connected=drive_id in self.connected,
            paused=self.paused,
        )

    def sql(
        self,
        *,
        state: str = "j.state",
        reason: str = "j.last_error",
        category: str = "f.category",
        drive_id: str = "j.drive_id",
    ) -> tuple[str, list[Any]]:
        """:meth:`reason` as an SQL expression over the given columns, and its parameters (to sort by the text
        a row shows)."""
        params: list[Any] = []

        def among(ids: Iterable[str]) -> str:
            ids = sorted(ids)
            params.extend(ids)
            return f"{drive_id} IN ({','.join('?' * len(ids))})" if ids else "0"

        text = f"COALESCE({reason}, '')"
        lasting = sql_lasting_kind(reason)
        whens = [f"WHEN {state} NOT IN ('pending', 'copying') THEN {text}"]  # failed, done, removed
        if self.registered is not None:
            whens.append(
                f"WHEN NOT {among(self.registered)} THEN 'no drive holds ' || COALESCE({category}, ?)"
            )
            params.append(NO_CATEGORY)
        whens.append(f"WHEN {state}='copying' THEN ?")
        params.append(COPYING_REASON)
        whens.append(f"WHEN {lasting}='{WaitKind.NO_SPACE.value}' THEN {text}")
        whens.append(f"WHEN {among(self.connected)} AND {lasting}='{WaitKind.READ_ONLY.value}' THEN {text}")
        if self.paused:
            whens.append(f"WHEN {among(self.connected)} THEN ?")
            params.append(PAUSED_REASON)
        whens.append(f"WHEN {text} NOT IN ('', ?) AND {lasting}='' THEN {text}")
        params.append(PAUSE_ROLLED_BACK)
        whens.append(f"WHEN NOT {among(self.connected)} THEN ?")
        params.append(f"{PENDING_REASON}; {PAUSED_REASON}" if self.paused else PENDING_REASON)
        return f"(CASE {' '.join(whens)} ELSE ? END)", [*params, QUEUED_REASON]
