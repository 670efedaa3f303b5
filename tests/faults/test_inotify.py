"""The inotify watch limit: ``usbsync run`` in a user namespace whose ``max_inotify_watches`` is below the number
of folders in the outbox. Files then created in unwatched folders must still be synced (and SIGTERM still
exits 0).

As root, ``unshare --user --map-root-user`` gives a namespace in which ``/proc/sys/user/max_inotify_watches`` is
writable and applies only there (the user namespace's own ucount limit; the machine's limit is left alone).
Checked on this machine (Debian 12, kernel 6.x): with 5, the 6th ``inotify_add_watch`` fails with ENOSPC, and
the host's value is unchanged. The test probes this first and skips with the reason where it does not hold.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from tests.faults.conftest import assert_clean
from tests.faults.harness import Scenario, make_content

pytestmark = pytest.mark.faults

LIMIT_FILE = "/proc/sys/user/max_inotify_watches"


def _probe_namespace_limit() -> str | None:
    """None when lowering the limit inside a user namespace works here and leaves the host's alone."""
    try:
        host_before = Path(LIMIT_FILE).read_text().strip()
        r = subprocess.run(
            [
                "unshare",
                "--user",
                "--map-root-user",
                "sh",
                "-c",
                f"echo 3 > {LIMIT_FILE} && cat {LIMIT_FILE}",
            ],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unshare failed: {exc}"
    if r.returncode != 0 or r.stdout.strip() != "3":
        return f"cannot lower {LIMIT_FILE} in a user namespace: {r.stderr.strip() or r.stdout.strip()}"
    if Path(LIMIT_FILE).read_text().strip() != host_before:
        return "lowering the limit in the namespace changed the host's limit"
    return None


def test_inotify_limit(scenario: Scenario):
    why = _probe_namespace_limit()
    if why:
        pytest.skip(why)
    sc = scenario
    sc.init()
    sc.standard_drives()
    n_folders = sc.rng.randrange(30, 60)
    folders = []
    for i in range(n_folders):
        depth = sc.rng.randrange(1, 4)
        folders.append("/".join(f"f{i}-{j}" for j in range(depth)))
    for f in folders:
        (sc.outbox / f).mkdir(parents=True, exist_ok=True)
    sc.write("first.png", make_content("png", sc.rng, 2000))
    sc.plant_canaries()
    sc.freeze_sources()
    limit = sc.rng.randrange(2, 12)
    sc.notes.update(folders=n_folders, limit=limit)
    sc.usb.prefix = [
        "unshare",
        "--user",
        "--map-root-user",
        "sh",
        "-c",
        f'echo {limit} > {LIMIT_FILE} && exec "$0" "$@"',
    ]
    engine = sc.start_engine()
    sc.usb.prefix = []
    time.sleep(sc.rng.uniform(0.2, 1.0))
    for i in range(sc.rng.randrange(3, 8)):  # files in folders past the limit (and some before it)
        f = sc.rng.choice(folders)
        k = sc.rng.choice(["png", "pdf", "mp4"])
        sc.write(f"{f}/late-{i}.{k}", make_content(k, sc.rng, 3000))
    sc.add_new_sources()
    sc.notes["limit_logged"] = "inotify" in sc.usb.log().lower() or "watch limit" in sc.usb.log().lower()
    sc.finish(engine=engine)
    assert_clean(sc)
