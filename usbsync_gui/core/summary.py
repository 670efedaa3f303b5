"""What is waiting, where, and why: the one summary of usbsync's state that every front end reads.

``usbsync status``/``list-drives``, the tray icon and its tooltip, the status window, the drives dialog and
the notifications all show figures from :func:`summarize`; none of them counts jobs itself. It reads the state
database (one grouped query over the waiting jobs, one over the finished ones, one over the files of a category
no drive holds), the configuration, and what the caller knows live: which registered drives are plugged in now,
and whether syncing is paused. The reason each job's row shows comes from the same facts
(:attr:`StateSummary.reason_facts`).

Sizes are bytes; times are unix seconds.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from enum import Enum, StrEnum
from pathlib import Path
from typing import Any

import dacite

from usbsync_gui.core import space
from usbsync_gui.core.config import Config
from usbsync_gui.core.state import Notice, StateDB
from usbsync_gui.core.units import human_bytes, plural
from usbsync_gui.core.wait_reasons import (
    NO_CATEGORY,
    ReasonFacts,
    WaitKind,
    no_drive,
    sql_lasting_kind,
    wait_kind,
)

PAUSED = "paused"  # notice kind: raised while syncing is paused (the engine's; `status` reads it too)
KEYRING_LOCKED = "keyring_locked"
WATCHING_INCOMPLETE = "watching_incomplete"
#: Notices that keep the tray at "needs attention" while raised; others (a rebuilt database) are told once.
WAITING_LONG = "waiting_long"  # notice kind: more files waiting, or for longer, than [alerts] allows
ATTENTION_NOTICES = (KEYRING_LOCKED, WATCHING_INCOMPLETE, WAITING_LONG)


class DriveState(StrEnum):
    """A registered drive at a glance, most urgent first."""

    FAILED = "failed"  # files could not be copied to it
    DOES_NOT_FIT = "does_not_fit"
    READ_ONLY = "read_only"
    COPYING = "copying"  # plugged in, files going now (or next)
    PAUSED = "paused"  # plugged in, files waiting while syncing is paused
    RETRYING = "retrying"  # plugged in; what waits had an error and is tried again after a pause
    WAITING = "waiting"  # not plugged in, files waiting for it
    UP_TO_DATE = "up_to_date"  # plugged in, nothing waiting
    ABSENT = "absent"  # not plugged in, nothing waiting


class Overall(StrEnum):
    """The tray's state."""

    ATTENTION = "attention"
    PAUSED = "paused"
    SYNCING = "syncing"
    WAITING = "waiting"
    IDLE = "idle"


@dataclass(frozen=True)
class LiveVolume:
    """A registered drive plugged in now (what the caller's volume monitor or inspection found)."""

    mountpoint: str
    free_bytes: int
    total_bytes: int
    read_only: bool = False
    alloc_unit: int = 0  # bytes (core/space.py: allocation_unit); 0: not known, space.DEFAULT_UNIT stands in


@dataclass(frozen=True)
class WaitGroup:
    """Files waiting for one reason: how many, their bytes, the oldest one's queue time, a sample reason text."""

    kind: WaitKind
    files: int
    bytes: int
    oldest: float
    reason: str = ""


@dataclass(frozen=True)
class DriveSummary:
    """One registered drive (or, without a configuration, one the database knows)."""

    id: str
    name: str
    categories: tuple[str, ...]
    folder: str
    connected: bool
    mountpoint: str | None  # now, or where it was last seen
    read_only: bool
    free_bytes: int | None  # now when connected, else when last seen; None: never seen
    total_bytes: int | None
    last_seen: float | None
    waiting_files: int  # pending and copying
    waiting_bytes: int
    failed_files: int
    done_files: int
    waits: tuple[WaitGroup, ...]  # by kind, most urgent first
    state: DriveState
    #: Bytes more free space the files not yet being copied need (core/space.py's space_needed, less the free
    #: bytes); 0 when they fit or the free space is not known. See :func:`_shortfall`.
    shortfall_bytes: int = 0

    def wait(self, kind: WaitKind) -> WaitGroup | None:
        return next((w for w in self.waits if w.kind is kind), None)

    @property
    def where(self) -> str:
        """``'plugged in at /media/anna/PHOTOS'``, ``'last seen 21 Nov 14:02'`` or ``'never plugged in'``."""
        if self.connected:
            return f"plugged in at {self.mountpoint}"
        if self.last_seen:
            return "not plugged in; last seen " + time.strftime("%d %b %H:%M", time.localtime(self.last_seen))
        return "not plugged in yet"

    @property
    def headline(self) -> str:
        """One line in plain words: what this drive needs or has."""
        waiting = f"{plural(self.waiting_files, 'file')} ({human_bytes(self.waiting_bytes)})"
        if self.state is DriveState.FAILED:
            return f"{plural(self.failed_files, 'file')} could not be copied to {self.name}"
        if self.state is DriveState.DOES_NOT_FIT:
            # Count the files the copier found too big, not every file waiting (a walk-through read "2 files do
            # not fit" when one of them was only next in line). The shortfall is for all the waiting files:
            # which of them fit depends on the order they go in, so the sentence says so when they differ.
            g = self.wait(WaitKind.NO_SPACE)
            n, size = (g.files, g.bytes) if g else (self.waiting_files, self.waiting_bytes)
            verb = "does" if n == 1 else "do"
            line = f"{plural(n, 'file')} ({human_bytes(size)}) {verb} not fit on {self.name}"
            if self.shortfall_bytes:
                line += f": {human_bytes(self.shortfall_bytes)} more space needed"
                if self.waiting_files > n:
                    line += f" for all {waiting} waiting"
            return line
        if self.state is DriveState.READ_ONLY:
            return f"{self.name} is read-only: {waiting} cannot be written"
        if self.state is DriveState.COPYING:
            return f"copying {waiting} to {self.name}"
        if self.state is DriveState.PAUSED:
            return f"paused: {waiting} waiting for {self.name}"
        if self.state is DriveState.RETRYING:
            retry = self.wait(WaitKind.RETRYING)
            why = f" after an error ({retry.reason})" if retry and retry.reason else ""
            return f"{waiting} for {self.name} will be tried again{why}"
        if self.state is DriveState.WAITING:
            return f"plug in {self.name}: {waiting} waiting"
        if self.state is DriveState.UP_TO_DATE:
            return f"{self.name} is up to date"
        return f"{self.name}: nothing waiting"


@dataclass(frozen=True)
class Unrouted:
    """Waiting files of a category no registered drive holds: recorded while no drive held it (so they have no
    job), or left waiting by a drive that was forgotten (``forgotten`` of them).

    Only a forgotten drive's files need attention (the user may not know they now go nowhere); the others wait
    as the wizard and the Drives dialog said they would, until a drive holds their category.
    """

    category: str
    files: int
    bytes: int
    forgotten: int = 0

    @property
    def needs_attention(self) -> bool:
        return self.forgotten > 0

    @property
    def headline(self) -> str:
        verb = "waits" if self.files == 1 else "wait"
        return f"{no_drive(self.category)}: {plural(self.files, 'file')} ({human_bytes(self.bytes)}) {verb}"


@dataclass(frozen=True)
class StateSummary:
    """Everything a front end shows about what waits where and why.

    ``waiting_*`` count pending and copying jobs (of every drive, registered or not) and the files of a category
    no drive holds (``unrouted``); ``attention`` holds one plain line per thing the user must do something
    about; ``state`` is the tray's. ``unclassified`` files (no category matched) are counted, not waiting: no
    drive can hold them.
    """

    drives: tuple[DriveSummary, ...]
    unrouted: tuple[Unrouted, ...]
    waiting_files: int
    waiting_bytes: int
    copying_files: int
    failed_files: int
    done_files: int
    files_seen: int
    unclassified: int
    refused: int
    paused: bool
    notices: tuple[Notice, ...]
    missing_sources: tuple[str, ...]
    uncovered: tuple[str, ...]  # categories no drive holds (their files wait, in ``unrouted``)
    config_problem: str | None
    attention: tuple[str, ...]
    state: Overall
    at: float = field(default_factory=time.time)
    by_config: bool = True  # False: no configuration could be read; the drives are the database's

    def drive(self, drive_id: str) -> DriveSummary | None:
        return next((d for d in self.drives if d.id == drive_id), None)

    def drive_named(self, name: str) -> DriveSummary | None:
        key = name.casefold()
        return next((d for d in self.drives if d.name.casefold() == key), None)

    @property
    def watching_ok(self) -> bool:
        return not any(n.kind == WATCHING_INCOMPLETE for n in self.notices)

    @property
    def waiting_for_drives(self) -> tuple[DriveSummary, ...]:
        """Drives not plugged in with files waiting for them."""
        return tuple(d for d in self.drives if d.state is DriveState.WAITING)

    @property
    def reason_facts(self) -> ReasonFacts:
        """What a job's shown reason depends on (:func:`usbsync_gui.core.wait_reasons.job_reason`), as this
        summary found it: ``usbsync pending`` and the queue window say why each job waits from these."""
        return ReasonFacts(
            paused=self.paused,
            connected=frozenset(d.id for d in self.drives if d.connected),
            registered=frozenset(d.id for d in self.drives) if self.by_config else None,
        )

    @property
    def headline(self) -> str:
        """The tray tooltip's text (without the current file's progress, which the tray adds)."""
        if self.state is Overall.ATTENTION:
            return "; ".join(self.attention)
        if self.state is Overall.PAUSED:
            return f"paused; {plural(self.waiting_files, 'file')} waiting"
        if self.state is Overall.SYNCING:
            return f"copying: {plural(self.waiting_files, 'file')} ({human_bytes(self.waiting_bytes)}) to go"
        if self.state is Overall.WAITING:
            return "; ".join(
                [d.headline for d in self.waiting_for_drives] + [u.headline for u in self.unrouted]
            )
        if not self.drives:
            return "no drives yet: add one from Drives…"
        if not self.done_files:
            return "nothing to copy yet: files put in the outbox go to their drive"
        return "everything is copied"

    def to_wire(self) -> dict[str, Any]:
        """The whole summary as JSON values, field for field (enums as their values, tuples as lists), for the
        engine's command channel; :meth:`from_wire` gives it back equal. Not ``status --json``'s form
        (:meth:`to_json`), which is for people and scripts."""
        return asdict(self)

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> StateSummary:
        """The summary from :meth:`to_wire`'s form (after JSON). Raises ``dacite.DaciteError`` on a malformed
        one."""
        return dacite.from_dict(cls, data, config=dacite.Config(cast=[Enum, tuple], strict=True))

    def to_json(self) -> dict[str, Any]:
        """The summary as plain JSON values (``usbsync status --json``)."""

        def waits(d: DriveSummary) -> list[dict[str, Any]]:
            return [
                {
                    "kind": w.kind.value,
                    "files": w.files,
                    "bytes": w.bytes,
                    "oldest": w.oldest,
                    "reason": w.reason,
                }
                for w in d.waits
            ]

        return {
            "state": self.state.value,
            "paused": self.paused,
            "attention": list(self.attention),
            "pending": self.waiting_files,
            "pending_bytes": self.waiting_bytes,
            "copying": self.copying_files,
            "failed": self.failed_files,
            "synced": self.done_files,
            "files_seen": self.files_seen,
            "unclassified": self.unclassified,
            "refused": self.refused,
            "watching": "complete" if self.watching_ok else "incomplete",
            "missing_sources": list(self.missing_sources),
            "uncovered_categories": list(self.uncovered),
            "config_problem": self.config_problem,
            "notices": [
                {"kind": n.kind, "message": n.message, "since": round(n.since, 3)} for n in self.notices
            ],
            "unrouted": [
                {"category": u.category, "files": u.files, "bytes": u.bytes, "forgotten": u.forgotten}
                for u in self.unrouted
            ],
            "drives": [
                {
                    "name": d.name,
                    "id": d.id,
                    "categories": list(d.categories),
                    "folder": d.folder,
                    "state": d.state.value,
                    "connected": d.connected,
                    "mountpoint": d.mountpoint if d.connected else None,
                    "read_only": d.read_only,
                    "free_bytes": d.free_bytes,
                    "total_bytes": d.total_bytes,
                    "last_seen": d.last_seen,
                    "pending": d.waiting_files,
                    "pending_bytes": d.waiting_bytes,
                    "shortfall_bytes": d.shortfall_bytes,
                    "failed": d.failed_files,
                    "synced": d.done_files,
                    "waits": waits(d),
                    "headline": d.headline,
                }
                for d in self.drives
            ],
        }


_URGENCY = (
    WaitKind.FAILED,
    WaitKind.NO_SPACE,
    WaitKind.READ_ONLY,
    WaitKind.NO_DRIVE,
    WaitKind.COPYING,
    WaitKind.RETRYING,
    WaitKind.QUEUED,
    WaitKind.DRIVE_ABSENT,
)


def _drive_state(
    connected: bool, groups: dict[WaitKind, WaitGroup], waiting: int, paused: bool
) -> DriveState:
    if WaitKind.FAILED in groups:
        return DriveState.FAILED
    if WaitKind.NO_SPACE in groups:
        return DriveState.DOES_NOT_FIT
    if WaitKind.READ_ONLY in groups:
        return DriveState.READ_ONLY
    if connected:
        if not waiting:
            return DriveState.UP_TO_DATE
        if paused:
            return DriveState.PAUSED
        ready = {WaitKind.COPYING, WaitKind.QUEUED} & groups.keys()
        return DriveState.COPYING if ready else DriveState.RETRYING
    return DriveState.WAITING if waiting else DriveState.ABSENT


@dataclass
class _Acc:
    files: int = 0
    bytes: int = 0
    oldest: float = float("inf")
    reason: str = ""

    def add(self, n: int, size: int, oldest: float, reason: str | None) -> None:
        self.files += n
        self.bytes += size
        self.oldest = min(self.oldest, oldest)
        self.reason = self.reason or (reason or "")


def _shortfall(db: StateDB, drive_id: str, pending: _Acc | None, unit: int, free: int | None) -> int:
    """Bytes more free space ``drive_id``'s pending files need than the ``free`` bytes: what
    :func:`usbsync_gui.core.space.space_needed` says they need on a volume of allocation unit ``unit``, less
    ``free``; 0 when they fit or ``free`` is not known.

    Files being copied ('copying') are left out, on purpose: the copier counted them against the free space
    when it planned their batch, and the free figure, read while they are written, already lacks what of them
    is on the drive. Counting them in full again (as waiting files against a free figure their partial writes
    shrank) said "does not fit" while a file that fits was being copied. What they still have to write is not
    known here; leaving it out can say a little too little while a batch is written, and the next summary
    after the batch, with the free space read then, is exact again.

    The sizes rounded up to the unit are summed by one more query over the drive's pending jobs, and only when
    the files might not fit: :func:`~usbsync_gui.core.space.space_needed_at_most` of their count and total
    settles the usual case of plenty of room."""
    if free is None or pending is None or not pending.files:
        return 0
    if space.space_needed_at_most(pending.files, pending.bytes, unit) <= free:
        return 0
    files, units = db.conn.execute(
        f"SELECT COUNT(*), COALESCE(SUM({space.sql_units('size', unit)}), 0) FROM jobs"
        " WHERE drive_id=? AND state='pending'",
        (drive_id,),
    ).fetchone()
    return max(0, space.space_needed_in_units(int(files), int(units), unit) - free)


def summarize(
    db: StateDB,
    config: Config | None,
    connected: Mapping[str, LiveVolume],
    paused: bool | None = None,
    config_problem: str | None = None,
    now: float | None = None,
) -> StateSummary:
    """The summary of ``db``'s state under ``config``.

    Args:
        db: the state database (read only; a few grouped queries, a few ms at 100,000 jobs).
        config: the configuration in force, or None when it cannot be read (then the drives are the ones the
            database has seen, without categories, and nothing counts as unrouted). With one, the files of a
            category none of its drives holds are ``unrouted``: those with no job (:meth:`StateDB.unrouted_counts`)
            and those a forgotten drive's jobs leave waiting.
        connected: drive id -> its volume, for the registered drives plugged in and identified now.
        paused: whether syncing is paused; None reads the engine's ``paused`` notice (``usbsync status``).
        config_problem: one line saying the configuration file is broken and where, shown as needing attention.
        now: unix seconds (tests pass their own).
    """
    now = time.time() if now is None else now
    if config is not None:
        drives = [(d.id, d.name, tuple(d.categories), d.folder) for d in config.drives]
    else:
        drives = [
            (str(i), str(n), (), "") for i, n in db.conn.execute("SELECT id, name FROM drives ORDER BY name")
        ]
    registered = {d[0] for d in drives}
    groups: dict[str, dict[WaitKind, _Acc]] = {}
    unrouted: dict[str, _Acc] = {}
    copying = 0
    pending: dict[str, _Acc] = {}  # per drive: the jobs not being copied yet, which still need space
    for drive_id, state, category, lasting, reason, backing, n, size, oldest in db.conn.execute(
        f"SELECT j.drive_id, j.state, f.category, {sql_lasting_kind('j.last_error')}, MIN(j.last_error),"
        " COALESCE(j.not_before > ?, 0), COUNT(*), COALESCE(SUM(j.size), 0), MIN(j.queued_at)"
        " FROM jobs j JOIN files f ON f.id=j.file_id WHERE j.state IN ('pending', 'copying', 'failed')"
        " GROUP BY 1, 2, 3, 4, 6",
        (now,),
    ):
        kind = wait_kind(
            state,
            reason if lasting else None,
            bool(backing),
            config is None or drive_id in registered,
            drive_id in connected,
        )
        if state == "copying":
            copying += int(n)
        elif state == "pending":
            pending.setdefault(drive_id, _Acc()).add(int(n), int(size), float(oldest), None)
        if kind is WaitKind.NO_DRIVE and state != "failed":
            unrouted.setdefault(category or NO_CATEGORY, _Acc()).add(int(n), int(size), oldest, None)
            continue
        groups.setdefault(drive_id, {}).setdefault(kind, _Acc()).add(int(n), int(size), float(oldest), reason)
    done = dict(db.conn.execute("SELECT drive_id, COUNT(*) FROM jobs WHERE state='done' GROUP BY drive_id"))
    seen = {
        str(r[0]): r[1:]
        for r in db.conn.execute("SELECT id, mountpoint, free_bytes, total_bytes, last_seen FROM drives")
    }
    notices = tuple(db.notices())
    if paused is None:
        paused = any(n.kind == PAUSED for n in notices)
    notices = tuple(n for n in notices if n.kind != PAUSED)
    out: list[DriveSummary] = []
    for drive_id, name, categories, folder in drives:
        by_kind = {
            k: WaitGroup(k, a.files, a.bytes, a.oldest, a.reason)
            for k, a in sorted(groups.get(drive_id, {}).items(), key=lambda kv: _URGENCY.index(kv[0]))
        }
        live = connected.get(drive_id)
        mount, free, total, last_seen = seen.get(drive_id, (None, None, None, None))
        waiting = [w for k, w in by_kind.items() if k is not WaitKind.FAILED]
        failed = by_kind.get(WaitKind.FAILED)
        n_waiting = sum(w.files for w in waiting)
        free_now = live.free_bytes if live else (int(free) if free is not None else None)
        unit = (live.alloc_unit if live else 0) or space.DEFAULT_UNIT
        out.append(
            DriveSummary(
                id=drive_id,
                name=name,
                categories=categories,
                folder=folder,
                connected=live is not None,
                mountpoint=live.mountpoint if live else (str(mount) if mount else None),
                read_only=bool(live and live.read_only),
                free_bytes=free_now,
                total_bytes=live.total_bytes if live else (int(total) if total is not None else None),
                last_seen=now if live else (float(last_seen) if last_seen else None),
                waiting_files=n_waiting,
                waiting_bytes=sum(w.bytes for w in waiting),
                failed_files=failed.files if failed else 0,
                done_files=int(done.get(drive_id, 0)),
                waits=tuple(by_kind.values()),
                state=_drive_state(live is not None, by_kind, n_waiting, bool(paused)),
                shortfall_bytes=_shortfall(db, drive_id, pending.get(drive_id), unit, free_now),
            )
        )
    forgotten = {c: a.files for c, a in unrouted.items()}  # files a forgotten drive's jobs leave waiting
    if config is not None:
        held = {c for d in config.drives for c in d.categories}
        for category, n, size in db.unrouted_counts(held):
            unrouted.setdefault(category, _Acc()).add(n, size, now, None)
    unrouted_list = tuple(
        Unrouted(c, a.files, a.bytes, forgotten.get(c, 0)) for c, a in sorted(unrouted.items())
    )
    missing = tuple(str(s) for s in (config.sources if config else ()) if not Path(s).is_dir())
    uncovered = tuple(c.name for c in config.categories if not config.drives_for(c.name)) if config else ()
    files_seen, unclassified = db.conn.execute(
        "SELECT COUNT(*), COALESCE(SUM(category IS NULL), 0) FROM files"
    ).fetchone()
    attention: list[str] = []
    if config_problem:
        attention.append(config_problem)
    attention += [n.message for n in notices if n.kind in ATTENTION_NOTICES]
    attention += [f"source folder missing: {s}" for s in missing]
    attention += [
        d.headline
        for d in out
        if d.state in (DriveState.FAILED, DriveState.DOES_NOT_FIT, DriveState.READ_ONLY)
    ]
    attention += [u.headline for u in unrouted_list if u.needs_attention]
    waiting_total = sum(d.waiting_files for d in out) + sum(u.files for u in unrouted_list)
    if attention:
        overall = Overall.ATTENTION
    elif paused:
        overall = Overall.PAUSED
    elif any(d.state in (DriveState.COPYING, DriveState.RETRYING) for d in out):
        overall = Overall.SYNCING
    elif any(d.state is DriveState.WAITING for d in out) or unrouted_list:
        overall = Overall.WAITING
    else:
        overall = Overall.IDLE
    return StateSummary(
        drives=tuple(out),
        unrouted=unrouted_list,
        waiting_files=waiting_total,
        waiting_bytes=sum(d.waiting_bytes for d in out) + sum(u.bytes for u in unrouted_list),
        copying_files=copying,
        failed_files=sum(d.failed_files for d in out),
        done_files=sum(d.done_files for d in out),
        files_seen=int(files_seen),
        unclassified=int(unclassified),
        refused=db.refusal_count(),
        paused=bool(paused),
        notices=notices,
        missing_sources=missing,
        uncovered=uncovered,
        config_problem=config_problem,
        attention=tuple(attention),
        state=overall,
        at=now,
        by_config=config is not None,
    )
