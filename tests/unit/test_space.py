"""How much space files need on a volume (core/space.py), and the copier and the summary agreeing on it, on real
volumes: a tmpfs of a given size (as root) is a real filesystem with little free space, mounted in a moment."""

from __future__ import annotations

import logging
import os
import random
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import png_bytes
from tests.unit.helpers import make_service
from usbsync_gui.core.space import (
    DEFAULT_UNIT,
    ENTRY_ALLOWANCE,
    VOLUME_RESERVE,
    SpaceTally,
    allocated,
    allocation_unit,
    space_needed,
    space_needed_at_most,
    space_needed_in_units,
    sql_units,
)
from usbsync_gui.core.summary import DriveState, LiveVolume, summarize
from usbsync_gui.core.units import human_bytes
from usbsync_gui.core.volumes import free_bytes
from usbsync_gui.core.wait_reasons import no_space

KiB = 1024
MiB = 1 << 20

# -- the arithmetic -------------------------------------------------------------------------------------------


def test_each_file_is_rounded_up_to_the_unit_and_the_volume_reserve_is_counted_once():
    assert allocated(0, 4096) == 0 and allocated(1, 4096) == allocated(4096, 4096) == 4096
    assert allocated(4097, 4096) == 8192
    assert space_needed([], 4096) == 0
    # 61 photos of 5.9 kB (the user's case): two 4 KiB blocks each, not 1 MiB each
    assert space_needed([5_900] * 61, 4096) == 61 * (8192 + ENTRY_ALLOWANCE) + VOLUME_RESERVE == 1_563_904
    # on exFAT's 128 KiB clusters the same photos take a cluster each
    assert space_needed([5_900] * 61, 128 * KiB) == 61 * (128 * KiB + ENTRY_ALLOWANCE) + VOLUME_RESERVE


@given(
    st.lists(st.integers(0, 1 << 40), max_size=50), st.sampled_from([512, 1024, 4096, 32 * KiB, DEFAULT_UNIT])
)
def test_the_bound_is_never_below_the_exact_figure(sizes, unit):
    exact = space_needed(sizes, unit)
    assert sum(sizes) <= exact <= space_needed_at_most(len(sizes), sum(sizes), unit)
    # adding a file never makes a set need less (the copier plans a batch file by file)
    assert space_needed([*sizes, 1], unit) > exact


@given(st.lists(st.integers(0, 1 << 40), max_size=50), st.sampled_from([512, 4096, 32 * KiB, DEFAULT_UNIT]))
def test_the_copiers_running_tally_is_space_needed_of_the_files_so_far(sizes, unit):
    """The copier plans a batch file by file with a running tally, not the whole list again for each file."""
    tally = SpaceTally(unit)
    for i, size in enumerate(sizes):
        assert tally.needed_with(size) == space_needed([*sizes[:i], size], unit)
        tally.add(size)
    assert (tally.files, tally.units) == (len(sizes), sum(-(-s // unit) for s in sizes))


@given(st.lists(st.integers(0, 1 << 40), max_size=50), st.sampled_from([512, 4096, 32 * KiB, DEFAULT_UNIT]))
def test_the_summarys_query_counts_units_as_the_copier_does(sizes, unit):
    """The summary sums the units in SQL (core/space.py: sql_units); the copier in Python (space_needed)."""
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE jobs (size INTEGER NOT NULL)")
    db.executemany("INSERT INTO jobs VALUES (?)", [(s,) for s in sizes])
    n, units = db.execute(
        f"SELECT COUNT(*), COALESCE(SUM({sql_units('size', unit)}), 0) FROM jobs"
    ).fetchone()
    db.close()
    assert space_needed_in_units(n, units, unit) == space_needed(sizes, unit)


# -- real volumes ---------------------------------------------------------------------------------------------


@pytest.fixture
def tmpfs(tmp_path):
    """``mount(size)``: a tmpfs of ``size`` bytes at ``tmp_path/drive`` (where make_service puts its drive);
    unmounted afterwards."""
    mounted: list[Path] = []

    def mount(size: int) -> Path:
        if not sys.platform.startswith("linux"):
            pytest.skip("mounts a tmpfs (Linux) as a real volume with little free space")
        if os.geteuid() != 0:
            pytest.skip("needs root to mount a tmpfs of a given size (a real volume with little free space)")
        if shutil.which("mount") is None:
            pytest.skip("missing tool: mount")
        at = tmp_path / "drive"
        at.mkdir(exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(at)], check=True)
        mounted.append(at)
        return at

    yield mount
    for at in mounted:
        subprocess.run(["umount", str(at)], check=False, capture_output=True)


def _resize(at: Path, size: int) -> None:
    subprocess.run(["mount", "-o", f"remount,size={size}", str(at)], check=True)


@pytest.fixture
def service_on(tmp_path):
    """``service_on(at)``: make_service's service, source and target, with the drive on the volume mounted at
    ``at``; the service closed afterwards (its threads too, pass or fail)."""
    made = []

    def make(at: Path, **overrides):
        svc, src, target = make_service(tmp_path, **overrides)
        made.append(svc)
        assert target.mountpoint == at
        return svc, src, replace(target, require_mount=True)  # a real mount this time

    yield make
    for svc in made:
        svc.close()


def _live(at: Path) -> LiveVolume:
    """What the engine's summary feed reads of a plugged-in drive (engine/summary_feed.py: _fresh)."""
    usage = shutil.disk_usage(at)
    return LiveVolume(str(at), free_bytes(at), usage.total, False, allocation_unit(at))


def test_allocation_unit_is_the_volumes_own(tmpfs):
    at = tmpfs(2 * MiB)
    assert allocation_unit(at) == os.statvfs(at).f_frsize == os.sysconf("SC_PAGE_SIZE")
    with pytest.raises(OSError):
        allocation_unit(at / "not-there")


def test_sixty_small_files_all_go_to_a_volume_with_a_few_mb_free(tmpfs, service_on, caplog):
    """The user's case: 61 photos of 5.9 kB and 44 MB free, yet 19 'did not fit' (1 MiB was reserved per file).
    Here 60 of them and 3 MiB free: before, two were copied and 58 waited 'until there is space'."""
    at = tmpfs(3 * MiB)
    svc, src, target = service_on(at)
    photos = {f"img{i}.png": png_bytes(i) + bytes(5_900 - len(png_bytes(i))) for i in range(60)}
    for name, data in photos.items():
        (src / name).write_bytes(data)
    svc.scan()
    with caplog.at_level(logging.INFO):
        r = svc.drain(target)
    assert "not enough space" not in caplog.text
    assert (r.copied, r.deferred, r.failed) == (60, 0, 0), r
    assert {p.name: p.read_bytes() for p in (at / "USBSync").iterdir()} == photos
    assert svc.db.counts().get("pending", 0) == 0
    d = summarize(svc.db, svc.config, {target.drive.id: _live(at)}).drive(target.drive.id)
    assert d.state is DriveState.UP_TO_DATE and d.shortfall_bytes == 0


def test_files_that_truly_do_not_fit_wait_and_the_summary_says_how_much_more_is_needed(tmpfs, service_on):
    size = 3 * MiB
    at = tmpfs(size)
    svc, src, target = service_on(at)
    page = allocation_unit(at)
    rng = random.Random(7)
    videos = {f"v{i}.png": png_bytes(i) + rng.randbytes(600_000) for i in range(5)}  # 5 x 600 kB, 3 fit
    for name, data in videos.items():
        (src / name).write_bytes(data)
    svc.scan()
    r = svc.drain(target)
    assert (r.copied, r.deferred) == (3, 2), r
    waiting = svc.db.list_jobs(["pending"])
    assert [j.last_error for j in waiting] == [no_space("Photos")] * 2

    live = _live(at)
    s = summarize(svc.db, svc.config, {target.drive.id: live})
    d = s.drive(target.drive.id)
    assert d.state is DriveState.DOES_NOT_FIT and s.state.value == "attention"
    # each waiting file in whole pages, its directory entries, and the volume's one reserve, less what is free
    per_file = -(-waiting[0].size // page) * page
    expected = 2 * (per_file + ENTRY_ALLOWANCE) + VOLUME_RESERVE - live.free_bytes
    assert d.shortfall_bytes == expected > 0
    assert d.headline.endswith(f"do not fit on Photos: {human_bytes(expected)} more space needed")

    # A page less than the shortfall is not enough for both (the copier agrees with the summary): one goes...
    enough = -(-expected // page) * page  # tmpfs grows by whole pages
    _resize(at, size + enough - page)
    assert (
        summarize(svc.db, svc.config, {target.drive.id: _live(at)}).drive(target.drive.id).shortfall_bytes > 0
    )
    r = svc.drain(target)
    assert (r.copied, r.deferred) == (1, 1), r
    # ... and as much more space as it said lets everything go.
    _resize(at, size + enough)
    r = svc.drain(target)
    assert not svc.db.list_jobs(["pending"]), r
    assert {p.name: p.read_bytes() for p in (at / "USBSync").iterdir()} == videos
    d = summarize(svc.db, svc.config, {target.drive.id: _live(at)}).drive(target.drive.id)
    assert d.state is DriveState.UP_TO_DATE and d.shortfall_bytes == 0


def test_a_file_bigger_than_the_whole_volume_fails_at_once(tmpfs, service_on):
    at = tmpfs(2 * MiB)
    svc, src, target = service_on(at)
    (src / "huge.png").write_bytes(png_bytes(1) + bytes(3 * MiB))
    (src / "small.png").write_bytes(png_bytes(2))
    svc.scan()
    r = svc.drain(target)
    assert (r.copied, r.failed, r.deferred) == (1, 1, 0), r
    [failed] = svc.db.list_jobs(["failed"])
    assert failed.last_error.startswith("too big for Photos: ")


def test_a_file_being_copied_that_fits_is_not_said_not_to_fit(tmpfs, service_on):
    """The status window showed 'does not fit: 144.8 kB more needed' for a 6 MB file that fits, while it was
    being copied: the file counted as still needing its space, against a free figure its partial write had
    already shrunk. Held mid-copy (the progress callback runs on the copying thread, between chunks), the
    summary the engine's feed computes must not say it does not fit."""
    from usbsync_gui.engine.summary_feed import LiveState, compute_summary
    from usbsync_gui.views.status_window import bar_look

    at = tmpfs(8 * MiB)
    svc, src, target = service_on(at)
    big = png_bytes(1) + random.Random(1).randbytes(6_000_000)
    (src / "film.png").write_bytes(big)
    (src / "small.png").write_bytes(png_bytes(2) + bytes(100_000))  # in the same batch: fits after it
    svc.scan()
    seen = []

    def progress(job, done, total):
        if job.size == len(big) and 0 < done < total and not seen:
            live = LiveState(svc.config, {target.drive.id: LiveVolume(str(at), 0, 0)}, paused=False)
            s = compute_summary(svc.paths.state_db, live)  # what the engine's feed computes, on a real mount
            seen.append((done, s.drive(target.drive.id)))

    r = svc.drain(target, progress=progress)
    assert r.copied == 2, r
    [(done, d)] = seen
    # the case that failed: the free figure already lacks the part written, and is less than the whole file
    # plus the old 1 MiB margin
    assert d.free_bytes < len(big) + MiB and d.free_bytes <= 8 * MiB - done
    assert d.state is DriveState.COPYING and d.shortfall_bytes == 0
    assert d.free_bytes is not None and not bar_look(d).warning
    assert "does not fit" not in bar_look(d).text and "not fit" not in d.headline
