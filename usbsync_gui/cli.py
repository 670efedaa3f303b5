"""The ``usbsync`` command line, over the same engine as the tray app.

Exit status: 0 success; 1 a job failed; 2 usage or config error; 3 another usbsync is running.
User mistakes get one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sqlite3
import sys
import threading
import time
from pathlib import Path
from typing import Any

from usbsync_gui import __version__, restore_builtin_import
from usbsync_gui.core import replace_file
from usbsync_gui.core.audit import setup_logging
from usbsync_gui.core.config import (
    DEFAULT_DRIVE_FOLDER,
    Config,
    ConfigError,
    load_config,
    new_config,
    save_config,
)
from usbsync_gui.core.copier import DrainResult
from usbsync_gui.core.fs_text import for_display
from usbsync_gui.core.identify import identify_volumes, inspect_volumes
from usbsync_gui.core.identity import LOCKED_MESSAGE, KeyringLocked, SecretStore
from usbsync_gui.core.instance_lock import AlreadyRunning, InstanceLock
from usbsync_gui.core.paths import AppPaths, app_paths
from usbsync_gui.core.service import SyncService
from usbsync_gui.core.space import allocation_unit
from usbsync_gui.core.state import DatabaseDamaged, StateDB, is_damage, open_checked, rebuild
from usbsync_gui.core.summary import DriveSummary, LiveVolume, StateSummary, summarize
from usbsync_gui.core.units import human_bytes, plural
from usbsync_gui.core.volumes import ConnectedVolume
from usbsync_gui.core.wait_reasons import no_drive
from usbsync_gui.platform import EjectError, eject_volume

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_RUNNING = 0, 1, 2, 3
log = logging.getLogger("usbsync_gui.cli")


class UserError(Exception):
    """A mistake the user can fix; printed as one line, exit status 2."""


def _print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")


def _next_steps(config: Config) -> None:
    print("watching: " + ", ".join(str(s) for s in config.sources))
    print("categories: " + ", ".join(c.name for c in config.categories))
    if not config.drives:
        print("next: plug in a USB drive and register it, for example:")
        print("  usbsync register-drive /media/$USER/STICK --name Photos --category images")
        print("  ('usbsync list-connected' shows the mounted volumes)")


def ensure_config(paths: AppPaths) -> Config:
    """Load the config, or create the default one (default outbox) when there is none yet."""
    if paths.config_file.exists():
        return load_config(paths.config_file)
    paths.default_outbox.mkdir(parents=True, exist_ok=True)
    config = new_config([paths.default_outbox])
    save_config(config, paths.config_file)
    print(f"no configuration yet: created {paths.config_file}")
    _next_steps(config)
    return load_config(paths.config_file)


# -- commands ---------------------------------------------------------------------------------------------------


def cmd_init(args: argparse.Namespace, paths: AppPaths) -> int:
    if paths.config_file.exists() and not args.force:
        raise UserError(f"{paths.config_file} already exists (use --force to start over)")
    sources = [Path(s).expanduser().resolve() for s in args.source] or [paths.default_outbox]
    for s in sources:
        s.mkdir(parents=True, exist_ok=True)
    config = new_config(sources)
    save_config(config, paths.config_file)
    print(f"wrote {paths.config_file}")
    _next_steps(config)
    return EXIT_OK


def cmd_register(args: argparse.Namespace, paths: AppPaths) -> int:
    from usbsync_gui.core.registration import RegistrationError, register_volume  # this command's alone

    config = load_config(paths.config_file)
    try:
        reg = register_volume(
            paths, config, args.mountpoint, args.name, args.category, args.folder, take_over=args.take_over
        )
    except RegistrationError as exc:
        raise UserError(str(exc)) from exc
    for line in reg.lines:
        print(line)
    return EXIT_OK


def _read_config(paths: AppPaths) -> tuple[Config | None, str | None]:
    """For the read-only commands: the configuration, or None and one line saying it is broken and where (the
    state is still shown; the running usbsync keeps its last good configuration meanwhile)."""
    try:
        return load_config(paths.config_file), None
    except ConfigError as exc:
        return None, f"the configuration is broken, so drives are not identified: {exc}"


def _summary(paths: AppPaths, config: Config | None, problem: str | None) -> StateSummary:
    """The one summary (:func:`usbsync_gui.core.summary.summarize`) with the drives plugged in now. Paused is
    the running engine's notice; with no usbsync running nothing is paused (a pause lasts until Resume or quit,
    and one that quit or crashed while paused left its notice behind until its next start clears it)."""
    with StateDB(paths.state_db) as db:
        paused = None if _is_running(paths) else False
        connected = {}
        if config is not None:
            for cv in _identify(paths, config, db):
                if cv.drive is not None:
                    v = cv.volume
                    connected[cv.drive.id] = LiveVolume(
                        v.mountpoint, v.free_bytes, v.total_bytes, v.read_only, _allocation_unit(v.mountpoint)
                    )
        return summarize(db, config, connected, paused, config_problem=problem)


def _allocation_unit(mountpoint: str) -> int:
    """The volume's allocation unit for the summary's shortfall; 0 (not known: a default stands in) when the
    volume cannot be asked."""
    try:
        return allocation_unit(mountpoint)
    except OSError:
        return 0


def _warn_config(problem: str | None) -> None:
    if problem:
        print(f"usbsync: warning: {problem}", file=sys.stderr)


def _waiting_line(d: DriveSummary) -> str:
    """``'12 files, 3.4 GB waiting; 2.1 GB free when last seen'`` (and how much more space they need)."""
    line = f"{plural(d.waiting_files, 'file')}, {human_bytes(d.waiting_bytes)} waiting"
    if d.free_bytes is not None:
        line += f"; {human_bytes(d.free_bytes)} free" + ("" if d.connected else " when last seen")
        if d.shortfall_bytes:
            line += f" (does not fit: {human_bytes(d.shortfall_bytes)} more needed)"
    return line


def cmd_list_drives(args: argparse.Namespace, paths: AppPaths) -> int:
    config, problem = _read_config(paths)
    summary = _summary(paths, config, problem)
    _warn_config(problem)
    if args.json:
        _print_json({"drives": summary.to_json()["drives"], "config_problem": problem})
        return EXIT_OK
    if not summary.drives:
        print("no drives registered ('usbsync register-drive MOUNTPOINT --name NAME --category C')")
    for d in summary.drives:
        holds = f" ({', '.join(d.categories)} -> {d.folder}/)" if d.categories else ""
        print(f"{d.name}{holds}: {d.where}")
        print(f"    {_waiting_line(d)}; {d.failed_files} failed, {d.done_files} synced")
        if d.state.value not in ("waiting", "absent", "up_to_date", "copying"):
            print(f"    ! {d.headline}")
    return EXIT_OK


def cmd_list_connected(args: argparse.Namespace, paths: AppPaths) -> int:
    config = load_config(paths.config_file)
    with StateDB(paths.state_db) as db:
        found = _identify(paths, config, db)
    rows: list[dict[str, Any]] = [
        {
            "mountpoint": cv.volume.mountpoint,
            "device": cv.volume.device,
            "label": cv.info.label,
            "filesystem": cv.fs_type,
            "volume_id": cv.info.uuid,
            "removable": cv.info.removable,
            "read_only": cv.volume.read_only,
            "total_bytes": cv.volume.total_bytes,
            "free_bytes": cv.volume.free_bytes,
            "status": cv.status,
            "drive": cv.drive.name if cv.drive else None,
            "message": cv.message or None,
        }
        for cv in found
    ]
    if args.json:
        _print_json({"volumes": rows})
        return EXIT_OK
    for r in rows:
        who = f"registered drive {r['drive']!r}" if r["drive"] else r["status"]
        flags = ", ".join(f for f, on in (("removable", r["removable"]), ("read-only", r["read_only"])) if on)
        label = f" {r['label']!r}" if r["label"] else ""
        print(
            f"{r['mountpoint']}{label}  {r['filesystem']}  id {r['volume_id'] or '?'}  {r['device']}"
            f"{'  ' + flags if flags else ''}  {human_bytes(r['free_bytes'])} free of "
            f"{human_bytes(r['total_bytes'])}  [{who}]"
        )
        if r["message"]:
            print(f"    {r['message']}")
    return EXIT_OK


def _lock(paths: AppPaths) -> InstanceLock:
    paths.ensure()
    lock = InstanceLock(paths.lock_file, paths.pid_file)
    lock.acquire()
    return lock


def _sync(paths: AppPaths, config: Config, scan: bool, retry_failed: bool) -> int:
    setup_logging(paths.log_dir, console=True)
    lock = _lock(paths)
    try:
        db, rebuilt = open_checked(paths.state_db)  # a damaged database is set aside and rebuilt here
        db.close()
        if rebuilt:
            log.error("%s", rebuilt)
        svc = SyncService(paths, config)
    except BaseException:
        lock.release()
        raise
    try:
        with svc.db.transaction():
            recovered = svc.db.recover()
            retried = svc.db.retry_failed() if retry_failed else 0
        if recovered:
            log.info("%s interrupted by an earlier stop went back to pending", plural(recovered, "job"))
        if retried:
            log.info("retrying %s that had failed", plural(retried, "job"))
        if scan:
            results = _scan_and_drain(paths, config, svc)
        else:
            svc.queue_for_drives()
            results = svc.drain_all(sweep=True)
        counts = svc.db.counts()
        # What waits, as `status` counts it: the files of a category no drive holds too, and each said.
        after = summarize(svc.db, config, {})
    finally:
        svc.close()
        lock.release()
    failed = sum(r.failed for r in results.values())
    copied = sum(r.copied for r in results.values())
    dupes = sum(r.duplicates for r in results.values())
    for name, r in results.items():
        if r.drive_gone:
            print(f"{name}: removed during the sync; its files stay pending")
    print(
        f"{plural(copied, 'file')} copied, {dupes} already there, {after.waiting_files} waiting, "
        f"{counts['failed']} failed"
    )
    for u in after.unrouted:
        print(u.headline)
    return EXIT_FAILED if failed else EXIT_OK


def _scan_and_drain(paths: AppPaths, config: Config, svc: SyncService) -> dict[str, DrainResult]:
    """Scan, and copy on a second thread while the scan goes on (each committed ingest batch is copyable at
    once), as the running engine does with its ingest and copy threads. Returns drain results by drive name."""
    scanning = threading.Event()
    scanning.set()
    committed = threading.Event()  # set by the scan after each committed batch: the copier wakes at once
    svc.ingestor.on_batch = committed.set
    results: dict[str, DrainResult] = {}
    failure: list[BaseException] = []

    def copy_loop() -> None:
        dsvc = SyncService(paths, config, svc.audit)
        first = True  # this run's first drain of each drive sweeps its unrecorded temp files
        try:
            while True:
                last_round = not scanning.is_set()
                committed.clear()
                moved = 0
                for target, r in dsvc.drain_all(sweep=first).items():
                    results.setdefault(target, DrainResult()).merge(r)
                    moved += r.copied + r.duplicates
                first = False
                if last_round:
                    break
                if not moved:
                    committed.wait(0.5)  # until the scan commits more (or finishes)
        except BaseException as exc:  # surfaced in the main thread below
            failure.append(exc)
        finally:
            dsvc.close()

    copier = threading.Thread(target=copy_loop, name="usbsync-copy")
    copier.start()
    try:
        stats = svc.scan(min_age_s=config.stability_window_s)
        deadline = time.monotonic() + max(10 * config.stability_window_s, 10)
        while stats.fresh and time.monotonic() < deadline:
            # Files still being written: wait out the stability window, then take them if they held still.
            time.sleep(config.stability_window_s)
            stats = svc.ingest_paths(stats.fresh, min_age_s=config.stability_window_s)
        if stats.fresh:
            log.warning("%s still being written; left for the next run", plural(len(stats.fresh), "file"))
    finally:
        scanning.clear()
        committed.set()
        copier.join()
        svc.ingestor.on_batch = None
    if failure:
        raise failure[0]
    return results


def cmd_sync_once(args: argparse.Namespace, paths: AppPaths) -> int:
    return _sync(paths, load_config(paths.config_file), scan=True, retry_failed=False)


def cmd_process_pending(args: argparse.Namespace, paths: AppPaths) -> int:
    return _sync(paths, load_config(paths.config_file), scan=False, retry_failed=True)


def cmd_run(args: argparse.Namespace, paths: AppPaths) -> int:
    paths.ensure()
    config = ensure_config(paths)
    setup_logging(paths.log_dir, level=logging.DEBUG if args.verbose else logging.INFO, console=True)
    lock = _lock(paths)
    try:
        import PySide6.QtCore  # noqa: F401  # first, so that its import hook can go before the engine's modules load

        restore_builtin_import()
        from usbsync_gui.engine.headless import run_headless

        return run_headless(paths, config, with_parent=args.with_parent)
    finally:
        lock.release()


def _is_running(paths: AppPaths) -> bool:
    return InstanceLock(paths.lock_file, paths.pid_file).held_elsewhere()


def _ask_engine(paths: AppPaths, request: dict[str, Any]) -> dict[str, Any] | None:
    """One command to the running engine over its channel (engine/control.py); None when none answers."""
    from PySide6.QtCore import QCoreApplication

    from usbsync_gui.engine.control import send_command

    _app = QCoreApplication.instance() or QCoreApplication([])  # QLocalSocket needs one; CLI process only
    return send_command(paths.control_endpoint, request)


def _health(paths: AppPaths, running: bool) -> dict[str, Any] | None:
    """The engine's figures (``Engine.health``): asked of the running engine, else its last heartbeat's
    ``health.json`` (with ``"live": false``); None when there is neither."""
    if running:
        reply = _ask_engine(paths, {"cmd": "health"})
        if reply is not None and isinstance(reply.get("health"), dict):
            return dict(reply["health"]) | {"live": True}
    try:
        data = json.loads(replace_file.read_bytes(paths.state_dir / "health.json"))  # the engine replaces it
    except (OSError, ValueError):
        return None
    return data | {"live": False} if isinstance(data, dict) else None


def cmd_status(args: argparse.Namespace, paths: AppPaths) -> int:
    config, problem = _read_config(paths)
    summary = _summary(paths, config, problem)
    _warn_config(problem)
    with StateDB(paths.state_db) as db:
        removed = db.counts()["removed"]
    running = _is_running(paths)
    data = summary.to_json() | {
        "health": _health(paths, running),
        "running": running,
        "removed": removed,
        "sources": [str(s) for s in config.sources] if config else [],
        "config": str(paths.config_file),
        "log_dir": str(paths.log_dir),
    }
    if args.json:
        _print_json(data)
        return EXIT_OK
    print(
        f"usbsync {'is running' if data['running'] else 'is not running'}"
        + (": paused" if summary.paused else "")
    )
    print(
        f"{summary.waiting_files} waiting, {summary.failed_files} failed, {summary.done_files} synced, "
        f"{removed} removed from the queue "
        f"({summary.files_seen} files seen, {summary.unclassified} without a category: not copied)"
    )
    if summary.refused:
        print(
            f"{plural(summary.refused, 'path')} refused: symbolic links leading outside the source folders "
            "(not read; see the log)"
        )
    for line in summary.attention:
        print(f"! {line}")
    for n in summary.notices:
        if n.message not in summary.attention:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(n.since))
            print(f"! {n.message} (since {when})")
    for d in summary.drives:
        state = "connected" if d.connected else "absent"
        print(
            f"  {d.name} ({state}): {plural(d.waiting_files, 'file')} ({human_bytes(d.waiting_bytes)}) waiting, "
            f"{d.failed_files} failed, {d.done_files} synced"
        )
    for u in summary.unrouted:
        if not u.needs_attention:  # a forgotten drive's files are said above, with the "!" lines
            them = "it" if u.files == 1 else "them"
            print(f"  {u.headline} (register a drive for {u.category} to copy {them})")
    h = data["health"]
    if h:
        when = "now" if h.get("live") else time.strftime("at %Y-%m-%d %H:%M", time.localtime(h.get("at", 0)))
        print(
            f"health ({when}): {h.get('events_seen', 0)} events, {h.get('files_queued', 0)} queued, "
            f"{h.get('files_copied', 0)} copied since start; watcher {h.get('watcher', '?')}; memory "
            f"{human_bytes(int(h.get('rss_bytes', 0)))}"
        )
    return EXIT_OK


def cmd_pending(args: argparse.Namespace, paths: AppPaths) -> int:
    config, problem = _read_config(paths)
    # Why each job waits comes from the one summary's facts (paused, which drives are plugged in and registered),
    # so it says what `usbsync status` and the tray say.
    facts = _summary(paths, config, problem).reason_facts
    _warn_config(problem)
    with StateDB(paths.state_db) as db:
        jobs = db.list_jobs(("pending", "copying", "failed"))
        names = {str(i): str(n) for i, n in db.conn.execute("SELECT id, name FROM drives")}
        held = {c for d in config.drives for c in d.categories} if config else None
        files = db.unrouted_files(held) if held is not None else []
    names |= {d.id: d.name for d in config.drives} if config else {}
    rows: list[dict[str, Any]] = [
        {
            "id": j.id,
            "file": j.path,
            "category": j.category,
            "drive": names.get(j.drive_id, j.drive_id),
            "state": j.state,
            "size_bytes": j.size,
            "attempts": j.attempts,
            "reason": facts.reason(j.state, j.last_error, j.category, j.drive_id),
            "last_error": j.last_error,
            "queued_at": j.queued_at,
        }
        for j in jobs
    ]
    # Files of a category no drive holds have no job: no drive to wait for, until one holds their category.
    unrouted: list[dict[str, Any]] = [
        {"file": f.path, "category": f.category, "size_bytes": f.size, "reason": no_drive(f.category)}
        for f in files
    ]
    if args.json:
        _print_json({"jobs": rows, "unrouted": unrouted, "config_problem": problem})
        return EXIT_OK
    if not rows and not unrouted:
        print("nothing waiting")
    for r in rows:
        print(
            f"{r['state']:8} {r['drive']:12} {human_bytes(r['size_bytes']):>10}  {r['file']}  ({r['reason']})"
        )
    for r in unrouted:
        print(
            f"{'pending':8} {'(no drive)':12} {human_bytes(r['size_bytes']):>10}  {r['file']}  ({r['reason']})"
        )
    return EXIT_OK


def cmd_clear(args: argparse.Namespace, paths: AppPaths) -> int:
    load_config(paths.config_file)  # refuse on a broken config, like every command
    if not args.yes:
        if not sys.stdin.isatty():
            raise UserError("clear forgets all sync history; confirm with --yes when not at a terminal")
        answer = input(
            "Forget all sync history (files seen, queue, verified copies)? Files on drives stay. [y/N] "
        )
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing changed")
            return EXIT_OK
    lock = _lock(paths)
    try:
        with StateDB(paths.state_db) as db:
            db.clear_history()
    finally:
        lock.release()
    print(
        "sync history cleared; the next sync recognises files already on the drives and does not copy them again"
    )
    return EXIT_OK


def cmd_eject(args: argparse.Namespace, paths: AppPaths) -> int:
    config = load_config(paths.config_file)
    drive = config.drive_by_name(args.name)
    if drive is None:
        names = ", ".join(d.name for d in config.drives) or "none registered"
        raise UserError(f"no drive named {args.name!r} (drives: {names})")
    lock = InstanceLock(paths.lock_file, paths.pid_file)
    try:
        lock.acquire()
    except AlreadyRunning:
        # The engine runs: it must stop writing first, so it does the eject.
        reply = _ask_engine(paths, {"cmd": "eject", "drive": drive.name})
        if reply is None:
            raise UserError("usbsync is running but did not answer; try again, or stop it first") from None
        print(reply.get("message", ""))
        if reply.get("ok"):
            return EXIT_OK
        return EXIT_USAGE if "not plugged in" in str(reply.get("message")) else EXIT_FAILED
    try:
        with StateDB(paths.state_db) as db:
            cv = next(
                (
                    c
                    for c in identify_volumes(paths.state_dir, config, db)
                    if c.drive is not None and c.drive.id == drive.id
                ),
                None,
            )
        if cv is None:
            raise UserError(f"{drive.name} is not plugged in")
        try:
            how = eject_volume(cv.volume.device, cv.volume.mountpoint)
        except EjectError as exc:
            print(f"usbsync: could not eject {drive.name}: {exc}", file=sys.stderr)
            return EXIT_FAILED
        # What waits for it: the one summary's count (what `usbsync status` says), now that it is unplugged.
        with StateDB(paths.state_db) as db:
            found = summarize(db, config, {}).drive(drive.id)
        waiting = found.waiting_files if found else 0
    finally:
        lock.release()
    msg = f"{drive.name} ejected ({how}): safe to unplug"
    print(msg + (f"; {plural(waiting, 'file')} will wait for it" if waiting else ""))
    return EXIT_OK


def cmd_verify(args: argparse.Namespace, paths: AppPaths) -> int:
    """Re-read from the device every file the drive's manifest lists (core/verify.py). Exit 0 when all match,
    1 when a file is missing or changed, 2 when the drive is not plugged in or not registered."""
    from usbsync_gui.core.verify import NotTheDrive, verify_drive

    config = load_config(paths.config_file)
    drive = config.drive_by_name(args.name)
    if drive is None:
        names = ", ".join(d.name for d in config.drives) or "none registered"
        raise UserError(f"no drive named {args.name!r} (drives: {names})")
    with StateDB(paths.state_db) as db:
        cv = next(
            (c for c in _identify(paths, config, db) if c.drive is not None and c.drive.id == drive.id), None
        )
    if cv is None:
        raise UserError(f"{drive.name} is not plugged in")
    shown = [0.0]
    tty = sys.stderr.isatty()

    def progress(files: int, listed: int, done: int, total: int) -> None:
        now = time.monotonic()
        if now - shown[0] < (0.5 if tty else 5.0) and files < listed:
            return
        shown[0] = now
        line = (
            f"verifying {drive.name}: {files:,} of {listed:,} files, "
            f"{human_bytes(done)} of {human_bytes(total)} read from the device"
        )
        print(("\r" + line + " " * 8) if tty else line, end="" if tty else "\n", file=sys.stderr, flush=True)

    try:
        report = verify_drive(
            cv.volume.mountpoint, drive.id, drive.name, drive.folder, None if args.json else progress
        )
    except NotTheDrive as exc:
        raise UserError(str(exc)) from None
    except OSError as exc:  # the volume itself (its manifest, its root) could not be read
        print(f"usbsync: cannot read {drive.name} at {cv.volume.mountpoint}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        if tty and not args.json and shown[0]:
            print(file=sys.stderr)
    status = EXIT_OK if report.all_match else EXIT_FAILED
    if args.json:
        _print_json(report.to_json())
        return status
    if report.no_manifest:
        print(
            f"{drive.name} has no manifest yet: usbsync lists on the drive what it writes there, and lists the "
            "copies it knows of the next time the drive is plugged in while usbsync runs (or at 'usbsync "
            "sync-once')."
        )
    print(
        f"{drive.name} at {report.mountpoint}: {plural(report.listed, 'file')} listed, {report.ok} read back from "
        f"the device and matching ({human_bytes(report.bytes_read)} in {report.seconds:.1f} s)"
    )
    if report.manifest_damaged:
        print(f"! {plural(report.manifest_damaged, 'line')} of the manifest could not be read")
    for path in report.missing:
        print(f"missing: {for_display(path)}")
    for c in report.changed:
        print(f"changed: {for_display(c.path)} ({c.why})")
    for path in report.unknown:
        print(f"unknown (not written by usbsync; not a failure): {for_display(path)}")
    if report.all_match:
        print("all files match")
    else:
        print(
            f"{plural(len(report.missing), 'file')} missing, {plural(len(report.changed), 'file')} changed "
            "since usbsync wrote them"
        )
    return status


def cmd_validate(args: argparse.Namespace, paths: AppPaths) -> int:
    config = load_config(paths.config_file)
    problems = []
    for s in config.sources:
        if not s.is_dir():
            problems.append(f"source folder missing: {s}")
    for c in config.categories:
        if not config.drives_for(c.name):
            problems.append(f"category {c.name!r} has no drive (its files wait until a drive holds it)")
    print(
        f"{paths.config_file}: OK ({plural(len(config.sources), 'source')}, "
        f"{plural(len(config.categories), 'category', 'categories')}, {plural(len(config.drives), 'drive')})"
    )
    for p in problems:
        print(f"note: {p}")
    return EXIT_OK


# -- parser -----------------------------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"usbsync: {message} (see 'usbsync --help')\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="usbsync", description="Route files from an outbox folder to the USB drive of their category."
    )
    p.add_argument("--version", action="version", version=f"usbsync {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    s = sub.add_parser("init", help="create the configuration")
    s.add_argument(
        "--source", action="append", default=[], metavar="DIR", help="a folder to watch (repeatable)"
    )
    s.add_argument("--force", action="store_true", help="replace an existing configuration")
    s.set_defaults(func=cmd_init)

    s = sub.add_parser("register-drive", help="make a mounted volume a target drive")
    s.add_argument("mountpoint")
    s.add_argument("--name", required=True)
    s.add_argument("--category", action="append", required=True, help="a category it holds (repeatable)")
    s.add_argument("--folder", default=DEFAULT_DRIVE_FOLDER, help="destination folder on the drive")
    s.add_argument(
        "--take-over",
        action="store_true",
        help="use a volume another usbsync installation uses (its files waiting for it no longer go there)",
    )
    s.set_defaults(func=cmd_register)

    for name, func, helptext in (
        ("list-drives", cmd_list_drives, "registered drives"),
        ("list-connected", cmd_list_connected, "mounted volumes and whether they are registered"),
        ("status", cmd_status, "counts of waiting, failed and synced files"),
        ("pending", cmd_pending, "each waiting or failed job with its drive and reason"),
    ):
        s = sub.add_parser(name, help=helptext)
        s.add_argument("--json", action="store_true", help="machine-readable output (stable keys)")
        s.set_defaults(func=func)

    sub.add_parser("sync-once", help="scan, copy all that can go now, exit").set_defaults(func=cmd_sync_once)
    sub.add_parser(
        "process-pending", help="retry failed jobs and copy pending ones to connected drives"
    ).set_defaults(func=cmd_process_pending)
    s = sub.add_parser("run", help="run the engine in the foreground until signalled")
    s.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    s.add_argument(
        "--with-parent",
        action="store_true",
        help="stop when standard input is closed (the tray app runs the engine so: it stops with the app)",
    )
    s.set_defaults(func=cmd_run)
    s = sub.add_parser("clear", help="forget the sync history")
    s.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    s.set_defaults(func=cmd_clear)
    sub.add_parser("validate", help="check the configuration").set_defaults(func=cmd_validate)
    s = sub.add_parser(
        "eject", help="stop writing to a drive, flush, unmount and power it off: safe to unplug"
    )
    s.add_argument("name", help="the registered drive's name")
    s.set_defaults(func=cmd_eject)
    s = sub.add_parser(
        "verify",
        help="read back from the device every file the drive's manifest lists: exit 0 when all match, 1 when "
        "any is missing or changed",
    )
    s.add_argument("name", help="the registered drive's name")
    s.add_argument("--json", action="store_true", help="machine-readable output (stable keys)")
    s.set_defaults(func=cmd_verify)
    return p


def _repair_database(paths: AppPaths) -> str | None:
    """Set a damaged state database aside and start a fresh one (under the instance lock). Returns the message,
    or None when another process repaired it meanwhile. Raises AlreadyRunning when usbsync runs: the running
    engine repairs it itself."""
    lock = _lock(paths)
    try:
        try:
            StateDB(paths.state_db, check=True).close()
            return None
        except DatabaseDamaged as exc:
            db, message = rebuild(paths.state_db, exc.detail)
            db.close()
            return message
    finally:
        lock.release()


def _identify(paths: AppPaths, config: Config, db: StateDB) -> list[ConnectedVolume]:
    """The mounted volumes, identified with the installation's secret; while the keyring is locked, with no
    registered drive verified (:func:`inspect_volumes` without a secret) and :data:`LOCKED_MESSAGE` on stderr."""
    try:
        secret = SecretStore(paths.state_dir).secret()
    except KeyringLocked:
        print(f"usbsync: {LOCKED_MESSAGE}", file=sys.stderr)
        return inspect_volumes(config, None)
    return identify_volumes(paths.state_dir, config, db, secret=secret)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    paths = app_paths()
    for attempt in range(2):
        try:
            return int(args.func(args, paths))
        except ConfigError as exc:
            print(f"usbsync: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except UserError as exc:
            print(f"usbsync: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except AlreadyRunning as exc:
            print(f"usbsync: {exc}", file=sys.stderr)
            return EXIT_RUNNING
        except KeyringLocked:  # sync-once, process-pending, eject: no drive can be verified, none was written
            print(f"usbsync: {LOCKED_MESSAGE}", file=sys.stderr)
            return EXIT_USAGE
        except KeyboardInterrupt:
            return 130
        except BrokenPipeError:  # output piped into `head` and closed early: not an error worth a traceback
            sys.stderr.close()
            return EXIT_OK
        except sqlite3.DatabaseError as exc:  # DatabaseDamaged is one too
            if not is_damage(exc) or attempt:
                print(f"usbsync: {paths.state_db}: {exc}", file=sys.stderr)
                return EXIT_FAILED
            # A damaged database is never a crash (loop): set it aside, rebuild, run the command once more.
            try:
                message = _repair_database(paths)
            except AlreadyRunning:
                print(
                    f"usbsync: {paths.state_db}: the state database is damaged; the running usbsync sets it "
                    "aside and rebuilds it",
                    file=sys.stderr,
                )
                return EXIT_FAILED
            if message:
                print(f"usbsync: {message}", file=sys.stderr)
                if not logging.getLogger("usbsync_gui").handlers:
                    setup_logging(paths.log_dir, console=False)
                log.error("%s", message)
    return EXIT_FAILED
