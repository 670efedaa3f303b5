"""Fault-injection runs on real volumes (issue 7). See tests/faults/README.md.

Every fault test takes a ``fault_seed`` parameter; its timing and targets come from ``random.Random(seed)``,
the seed is printed and named in every failure, and ``USBSYNC_FAULT_SEED=<seed>`` replays exactly that run.

* default (``make test``): a seeded subset, one run per fault kind with a fixed seed, a few hypothesis examples;
* ``USBSYNC_FAULTS=full`` (``make faults``): the full counts (``FULL_RUNS``) with fresh random seeds;
* ``USBSYNC_FAULT_RUNS=N``: N runs of each fault kind; ``USBSYNC_FAULT_SEED=S``: one run, seed S.

Each run appends one JSON line to ``USBSYNC_FAULT_RESULTS`` (default: ``faults-results.jsonl`` in pytest's
base temp folder); ``scripts/reliability_report.py`` turns those into docs/reliability.md.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import tempfile
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.harness import COUNT_KEYS, Scenario, run_tool

FULL_RUNS = {
    "yank_mid_copy": 20,
    "sigkill_run": 20,
    "sigkill_sync_once": 20,
    "power_cut": 10,
}
FULL_RUNS_DEFAULT = 5  # every other fault kind
SUBSET_BASE_SEED = 7_2026  # the seeded subset of `make test`: the same runs every time
HYPOTHESIS_EXAMPLES = {"subset": 2, "full": 25}


def mode() -> str:
    return "full" if os.environ.get("USBSYNC_FAULTS", "").lower() == "full" else "subset"


def hypothesis_examples() -> int:
    if os.environ.get("USBSYNC_FAULT_EXAMPLES"):
        return int(os.environ["USBSYNC_FAULT_EXAMPLES"])
    return HYPOTHESIS_EXAMPLES[mode()]


_session_rng = random.SystemRandom()


def _seeds(kind: str) -> list[int]:
    if os.environ.get("USBSYNC_FAULT_SEED"):
        return [int(os.environ["USBSYNC_FAULT_SEED"])]
    n = FULL_RUNS.get(kind, FULL_RUNS_DEFAULT) if mode() == "full" else 1
    if os.environ.get("USBSYNC_FAULT_RUNS"):
        n = int(os.environ["USBSYNC_FAULT_RUNS"])
    if mode() == "subset" and not os.environ.get("USBSYNC_FAULT_RUNS"):
        base = (SUBSET_BASE_SEED * 1_000_003 + zlib.crc32(kind.encode())) % 1_000_000_000
        return [base + i for i in range(n)]
    return [_session_rng.randrange(1_000_000_000) for _ in range(n)]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "fault_seed" in metafunc.fixturenames:
        kind = metafunc.function.__name__.removeprefix("test_")
        seeds = _seeds(kind)
        metafunc.parametrize("fault_seed", seeds, ids=[f"seed{s}" for s in seeds])


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    rep = yield
    setattr(item, f"rep_{rep.when}", rep)
    return rep


# -- scratch space: an XFS image with reflink (power-cut clones) and strict access times (canaries) -----------


@pytest.fixture(scope="session")
def fault_root(tmp_path_factory) -> Iterator[tuple[Path, bool]]:
    """(folder, reflink_ok). An XFS filesystem (reflink=1, strictatime) on a loop image when mkfs.xfs exists,
    else a plain folder. World-traversable (0755), so a test user can reach its subfolders."""
    if os.geteuid() != 0:
        pytest.skip("the fault suite needs root: loop devices, mounts, FUSE, namespaces")
    for tool in ("mkfs.ext4", "mkfs.exfat", "mount.exfat-fuse", "losetup", "pgrep"):
        if shutil.which(tool) is None:
            pytest.skip(f"missing tool {tool} (make test installs it as root)")
    mnt = Path(tempfile.mkdtemp(prefix="usbsync-faults-"))
    os.chmod(mnt, 0o755)
    xfs = shutil.which("mkfs.xfs") is not None
    if xfs:
        image = tmp_path_factory.getbasetemp() / "faults-scratch.xfs"
        run_tool(["truncate", "-s", "16G", str(image)])
        run_tool(["mkfs.xfs", "-q", "-f", "-m", "reflink=1", str(image)])
        run_tool(["mount", "-o", "loop,strictatime", str(image), str(mnt)])
        os.chmod(mnt, 0o755)
    try:
        yield mnt, xfs
    finally:
        if xfs:
            r = subprocess.run(["umount", str(mnt)], capture_output=True, timeout=60)
            if r.returncode:
                subprocess.run(["umount", "-l", str(mnt)], capture_output=True, timeout=60)
            image.unlink(missing_ok=True)
        shutil.rmtree(mnt, ignore_errors=True)


def results_path(tmp_path_factory) -> Path:
    env = os.environ.get("USBSYNC_FAULT_RESULTS")
    return Path(env) if env else tmp_path_factory.getbasetemp() / "faults-results.jsonl"


_counter = iter(range(1_000_000))


class ScenarioFactory:
    """Makes scenarios (one per fault run, or one per hypothesis example) and tears each one down: every process
    it started killed, every drive unplugged, its folder removed, one JSON line appended to the results."""

    def __init__(self, request, root: Path, results: Path):
        self.request = request
        self.root = root
        self.results = results
        self.open: list[tuple[Scenario, float]] = []

    def __call__(self, seed: int, kind: str | None = None) -> Scenario:
        node = self.request.node
        kind = kind or node.originalname.removeprefix("test_")
        base = self.root / f"{kind}-{seed}-{next(_counter)}"
        base.mkdir()
        os.chmod(base, 0o755)
        sc = Scenario(base, kind, seed, atime_reliable=True)
        try:
            where = node.path.relative_to(Path.cwd())
        except ValueError:
            where = node.path
        sc.notes["replay"] = f"USBSYNC_FAULT_SEED={seed} pytest {where}::{node.originalname}"
        print(f"\nfault {kind} seed={seed}  (replay: {sc.notes['replay']})")
        self.open.append((sc, time.monotonic()))
        return sc

    def close(self, sc: Scenario, passed: bool, error: str | None = None) -> None:
        t0 = next(t for s, t in self.open if s is sc)
        self.open = [(s, t) for s, t in self.open if s is not sc]
        sc.teardown()
        line = {
            "fault": sc.kind,
            "seed": sc.seed,
            "mode": mode(),
            **{k: sc.counts.values[k] for k in COUNT_KEYS},
            "passed": passed and not sc.counts.total,
            "error": None if passed or sc.counts.total else (error or "error")[:300],
            "duration_s": round(time.monotonic() - t0, 2),
            "notes": {k: v for k, v in sc.notes.items() if k != "replay"},
            "details": sc.counts.details[:20],
        }
        self.results.parent.mkdir(parents=True, exist_ok=True)
        with open(self.results, "a") as fh:
            fh.write(json.dumps(line, default=str) + "\n")
        if os.environ.get("USBSYNC_FAULT_KEEP"):
            print(f"kept {sc.base} (USBSYNC_FAULT_KEEP)")
        else:
            shutil.rmtree(sc.base, ignore_errors=True)


@pytest.fixture
def scenarios(request, fault_root, tmp_path_factory) -> Iterator[ScenarioFactory]:
    f = ScenarioFactory(request, fault_root[0], results_path(tmp_path_factory))
    yield f
    rep = getattr(request.node, "rep_call", None)
    for sc, _ in list(f.open):
        if rep is not None and rep.skipped:
            sc.teardown()
            shutil.rmtree(sc.base, ignore_errors=True)
            f.open = [(s, t) for s, t in f.open if s is not sc]
            continue
        err = (
            str(rep.longrepr).strip().splitlines()[-1] if rep is not None and rep.longrepr else "setup failed"
        )
        f.close(sc, bool(rep and rep.passed), err)


@pytest.fixture
def scenario(scenarios, fault_seed) -> Scenario:
    """The one scenario of a fault run (see ScenarioFactory)."""
    return scenarios(fault_seed)


def assert_clean(sc: Scenario) -> None:
    """The verdict of one run: zero violations of every kind, with the seed to replay it."""
    bad = {k: v for k, v in sc.counts.values.items() if v}
    assert not bad, (
        f"fault {sc.kind} seed={sc.seed}: {bad}\n  replay: {sc.notes['replay']}\n  notes: "
        f"{ {k: v for k, v in sc.notes.items() if k != 'replay'} }\n  "
        + "\n  ".join(sc.counts.details)
        + "\n  log tail:\n    "
        + "\n    ".join(sc.usb.log().splitlines()[-25:])
    )
