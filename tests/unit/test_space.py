"""How much space files need on a volume (core/space.py), and the copier and the summary agreeing on it, on real
volumes: a tmpfs of a given size (as root) is a real filesystem with little free space, mounted in a moment."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
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
    allocated,
    allocation_unit,
    space_needed,
    space_needed_at_most,
)

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


# -- real volumes ---------------------------------------------------------------------------------------------


@pytest.fixture
def tmpfs(tmp_path):
    """``mount(size)``: a tmpfs of ``size`` bytes at ``tmp_path/drive`` (where make_service puts its drive);
    unmounted afterwards."""
    mounted: list[Path] = []

    def mount(size: int) -> Path:
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
