"""Read-only and full drives, before the run and in the middle of a file.

Read-only mid-file: ``mount -o remount,ro`` when no file is open for writing; while one is, ext4 is aborted
(``remount,abort``: EROFS from then on, as ``errors=remount-ro`` does) and an exFAT stick's block device is made
read-only under exfat-fuse (``blockdev --setro``: EIO/EPERM on a still-mounted drive). Full mid-file: a filler
fills the volume while a big file is being written. Afterwards the user fixes the drive (fsck, free space) and
plugs it in again; everything must then be there exactly once."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from tests.faults.conftest import assert_clean
from tests.faults.harness import FaultDrive, Scenario, run_tool

pytestmark = pytest.mark.faults


def _replug(sc: Scenario, d: FaultDrive, fsck: bool = False) -> None:
    at = d.mountpoint
    d.unplug()
    if d.loop is None and fsck:
        d.fsck()
    d.plug(at)


def test_readonly_drive_before(scenario: Scenario):
    sc = scenario
    sc.standard(rate=0)
    d = sc.drives[sc.rng.choice(["Media", "Docs"])]
    sc.notes["drive"] = d.label
    at = d.mountpoint
    d.unplug()
    d.plug(at, ro=True)
    sc.usb("sync-once")  # waiting for a writable drive is not a failure: exit 0
    jobs = sc.usb.json("pending").get("jobs", [])
    if any(j.get("state") == "failed" for j in jobs):
        sc.counts.add("other", f"jobs failed on a read-only drive: {[j.get('reason') for j in jobs][:3]}")
    how = sc.rng.choice(["replug-stopped", "remount-while-running"])
    sc.notes["how"] = how
    if how == "replug-stopped":
        _replug(sc, d)
        sc.finish()
    else:
        engine = sc.start_engine()
        time.sleep(sc.rng.uniform(0.2, 1.5))
        if d.fstype == "ext4":
            run_tool(["mount", "-o", "remount,rw", str(d.mountpoint)])
        else:
            _replug(sc, d)
        sc.finish(engine=engine)
    assert_clean(sc)


def _make_readonly_now(sc: Scenario, d: FaultDrive) -> str:
    if d.fstype == "ext4":
        r = subprocess.run(["mount", "-o", "remount,ro", str(d.mountpoint)], capture_output=True, timeout=30)
        if r.returncode == 0:
            return "remount,ro"
        run_tool(["mount", "-o", "remount,abort", str(d.mountpoint)])
        return "remount,abort (a file was open for writing)"
    run_tool(["blockdev", "--setro", str(d.loop)])
    sc.cleanups.append(lambda: subprocess.run(["blockdev", "--setrw", str(d.loop)], capture_output=True))
    return "blockdev --setro under exfat-fuse"


def test_readonly_drive_mid_file(scenario: Scenario):
    sc = scenario
    sc.standard(big=2)
    cmd = sc.rng.choice(["run", "sync-once"])
    sc.notes["cmd"] = cmd
    proc = sc.start_engine(cmd=cmd)
    d = sc.wait_mid_copy() or sc.drives["Media"]
    sc.notes["delay_s"] = sc.fault_delay(0.8)
    sc.notes["drive"] = d.label
    sc.notes["how"] = _make_readonly_now(sc, d)
    time.sleep(sc.rng.uniform(0.5, 2.0))
    if cmd == "sync-once":
        sc.wait_exit(proc)
    at, loop = d.mountpoint, d.loop
    d.unplug()  # the user takes the stick out, repairs it, plugs it in again
    subprocess.run(["blockdev", "--setrw", str(loop)], capture_output=True, timeout=30)
    d.fsck()
    d.plug(at)
    if cmd == "sync-once":
        sc.finish()
    else:
        sc.finish(engine=proc)
    assert_clean(sc)


def test_full_drive_before(scenario: Scenario):
    sc = scenario
    sc.standard(rate=0, big=3)
    name = sc.rng.choice(["Media", "Docs"])
    d = sc.drives[name]
    need = sc.needed_on(name)
    leave = int(need * sc.rng.uniform(0.1, 0.8))
    filler = sc.fill(d, leave=leave)
    sc.notes.update(drive=name, needed=need, left_free=leave)
    sc.usb("sync-once")  # what fits goes; the rest waits: exit 0
    if sc.temps():
        sc.counts.add("temp_left", f"temp files after sync-once on a full drive: {sc.temps()[:3]}")
    how = sc.rng.choice(["freed-stopped", "freed-while-running"])
    sc.notes["how"] = how
    if how == "freed-stopped":
        filler.unlink()
        _replug(sc, d)
        sc.finish()
    else:
        engine = sc.start_engine()
        time.sleep(sc.rng.uniform(0.2, 1.5))
        filler.unlink()
        _replug(sc, d)
        sc.finish(engine=engine)
    assert_clean(sc)


def test_full_drive_mid_file(scenario: Scenario):
    sc = scenario
    sc.standard(big=2)
    cmd = sc.rng.choice(["run", "sync-once"])
    sc.notes["cmd"] = cmd
    proc = sc.start_engine(cmd=cmd)
    d = sc.wait_mid_copy() or sc.drives["Media"]
    sc.notes["delay_s"] = sc.fault_delay(0.8)
    sc.notes["drive"] = d.label
    filler = sc.fill(d, leave=sc.rng.choice([0, 4096, 256 << 10]))
    time.sleep(sc.rng.uniform(0.5, 2.0))
    if cmd == "sync-once":
        sc.wait_exit(proc)
    if os.path.exists(filler):
        filler.unlink()
    _replug(sc, d)
    if cmd == "sync-once":
        sc.finish()
    else:
        sc.finish(engine=proc)
    assert_clean(sc)
