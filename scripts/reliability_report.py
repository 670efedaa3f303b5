#!/usr/bin/env python3
"""Turn the fault suite's results (JSON lines written by tests/faults) into docs/reliability.md.

    python scripts/reliability_report.py build/faults/results.jsonl [--out docs/reliability.md]
        [--command "make faults"]

One table row per fault kind: runs, failed runs and the sum of every violation count over its runs; the seeds
of failed runs (to replay them with USBSYNC_FAULT_SEED) follow the table. Without --out the Markdown goes to
stdout.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import re
import sys
from collections import defaultdict
from pathlib import Path

COLUMNS = [
    ("lost", "lost"),
    ("corrupt", "corrupt"),
    ("duplicated", "duplicated"),
    ("hung", "hung"),
    ("crashed", "crashed"),
    ("temp_left", "temp files left"),
    ("leaked", "read/copied from outside"),
    ("outside_writes", "written outside"),
    ("sources_changed", "sources changed"),
    ("other", "other"),
]

ORDER = [
    "yank_mid_copy",
    "sigkill_run",
    "sigkill_sync_once",
    "power_cut",
    "source_modified_mid_copy",
    "source_rewritten_mid_copy",
    "source_deleted_mid_copy",
    "source_moved_out_mid_copy",
    "db_truncated",
    "db_garbage_header",
    "db_garbage_page",
    "readonly_drive_before",
    "readonly_drive_mid_file",
    "full_drive_before",
    "full_drive_mid_file",
    "inotify_limit",
    "hostile_names",
    "hostile_lst",
    "hostile_symlinks",
    "hostile_fifos",
    "hostile_unreadable",
]

DESCRIPTION = {
    "yank_mid_copy": "exFAT stick yanked (exfat-fuse killed) mid-copy under `usbsync run`, unmounted, plugged again",
    "sigkill_run": "SIGKILL of `usbsync run` early or mid-copy; restart with run or sync-once",
    "sigkill_sync_once": "SIGKILL of `usbsync sync-once` early or mid-copy; restart",
    "power_cut": "process frozen, drive images and the state's image cloned with `cp --reflink` (XFS), "
    "killed; the run continues on the clones",
    "source_modified_mid_copy": "source overwritten in place or appended to while it is copied",
    "source_rewritten_mid_copy": "source replaced (rename over, or truncate and write) while it is copied",
    "source_deleted_mid_copy": "source deleted while it is copied",
    "source_moved_out_mid_copy": "source moved out of the outbox while it is copied",
    "db_truncated": "state.db truncated, at start or while running",
    "db_garbage_header": "state.db header overwritten with random bytes, at start or while running",
    "db_garbage_page": "one in-use page of state.db overwritten with random bytes, at start or while running",
    "readonly_drive_before": "drive mounted read-only before the run; made writable (remount or re-plug)",
    "readonly_drive_mid_file": "drive goes read-only mid-file (remount,ro / ext4 abort / blockdev --setro "
    "under exfat-fuse); repaired and plugged again",
    "full_drive_before": "drive too full for its files before the run; space freed",
    "full_drive_mid_file": "drive filled up while a file is being written; space freed, plugged again",
    "inotify_limit": "`usbsync run` in a user namespace with max_inotify_watches below the folder count",
    "hostile_names": "hypothesis: invalid UTF-8, control characters, `\\ : * ?`, reserved and 255-byte names, "
    "case collisions",
    "hostile_lst": "hypothesis: `.lst` lines with NUL bytes, invalid UTF-8, paths outside, `..`, CRLF",
    "hostile_symlinks": "hypothesis: symlink loops, links to outside files and folders, to `/`, to `..`, dangling",
    "hostile_fifos": "hypothesis: FIFOs with media names, listed in a `.lst`, created while running",
    "hostile_unreadable": "hypothesis: chmod 000/200 files and 000/100/300 folders, usbsync as an unprivileged user",
}


def _short(detail: str) -> str:
    """One line: for a traceback, where in usbsync_gui it was raised (the deepest frame the detail holds)."""
    if "Traceback" in detail:
        frames = re.findall(r'File "[^"]*?(usbsync_gui/[^"]+)", line (\d+), in (\w+)', detail)
        if frames:
            f, line, fn = frames[-1]
            return f"{detail.split(':')[0]}: traceback through {f}:{line} ({fn})"
    return detail.split("\\n")[0].split("\n")[0][:200]


def load(paths: list[Path]) -> list[dict]:
    rows = []
    for p in paths:
        for line in p.read_text().splitlines():
            line = line.strip()
            if line:
                rows.append(json.loads(line))
    return rows


def render(rows: list[dict], command: str, when: dt.datetime) -> str:
    by_kind: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_kind[r["fault"]].append(r)
    kinds = [k for k in ORDER if k in by_kind] + sorted(k for k in by_kind if k not in ORDER)
    modes = sorted({r.get("mode", "?") for r in rows})
    total_runs = len(rows)
    failed_runs = sum(1 for r in rows if not r.get("passed"))
    seconds = sum(r.get("duration_s", 0) for r in rows)

    out = ["# Reliability under faults", ""]
    out.append(
        f"Produced by `scripts/reliability_report.py` from the results of `{command}` "
        f"({', '.join(modes)} counts) on {when:%Y-%m-%d %H:%M} UTC, {platform.system()} {platform.release()}: "
        f"{total_runs} runs, {failed_runs} failed, {seconds / 60:.1f} minutes of runs."
    )
    out.append("")
    out.append(
        "Each run injects one fault at a random point drawn from its seed on real volumes (ext4 loop images, "
        "exFAT through exfat-fuse) with the real `usbsync` command, lets usbsync recover, stops it with SIGTERM "
        "and checks: every source file whose category has a drive is on it exactly once with its newest "
        "content, no `.usbsync-*.part` temp file remains, the sources are unchanged, canary files outside the "
        "outbox (reachable through symlinks and manifest lines) were neither read nor copied, nothing was "
        "written into a bare mount point, no traceback, and SIGTERM exits 0 within 15 s. The numbers are the "
        "violations summed over the runs; hypothesis rows count one run per example. Definitions: "
        "`tests/faults/harness.py`."
    )
    out.append("")
    head = ["fault", "runs", "failed runs", *(title for _, title in COLUMNS)]
    out.append("| " + " | ".join(head) + " |")
    out.append("| " + " | ".join(["---"] + ["---:"] * (len(head) - 1)) + " |")
    totals = defaultdict(int)
    for k in kinds:
        rs = by_kind[k]
        failed = sum(1 for r in rs if not r.get("passed"))
        cells = [f"`{k}`", str(len(rs)), str(failed)]
        for key, _ in COLUMNS:
            v = sum(int(r.get(key, 0)) for r in rs)
            totals[key] += v
            cells.append(str(v))
        out.append("| " + " | ".join(cells) + " |")
    out.append(
        "| **all** | "
        + " | ".join([str(total_runs), str(failed_runs), *(str(totals[key]) for key, _ in COLUMNS)])
        + " |"
    )
    out.append("")
    out.append("## The faults")
    out.append("")
    for k in kinds:
        out.append(f"- `{k}`: {DESCRIPTION.get(k, '')}")
    out.append("")
    bad = [r for r in rows if not r.get("passed")]
    out.append("## Failed runs")
    out.append("")
    if not bad:
        out.append("None.")
    else:
        out.append(
            "Replay one with `USBSYNC_FAULT_SEED=<seed> .venv/bin/python -m pytest tests/faults -k <fault>`."
        )
        out.append("")
        for k in kinds:
            rs = [r for r in bad if r["fault"] == k]
            if not rs:
                continue
            seeds = sorted({r["seed"] for r in rs})
            out.append(
                f"- `{k}` (seeds {', '.join(str(s) for s in seeds[:10])}{' …' if len(seeds) > 10 else ''}):"
            )
            seen = set()
            for r in rs:
                for d in r.get("details") or [r.get("error") or "error"]:
                    short = _short(d)
                    if short not in seen and len(seen) < 4:
                        seen.add(short)
                        out.append(f"  - {short}")
    out.append("")
    out.append("## How to run")
    out.append("")
    out.append("```")
    out.append(
        "make faults        # full counts (yank, SIGKILL x20 ...), writes build/faults/results.jsonl and this file"
    )
    out.append(
        "make test          # includes the seeded subset: one run per fault, 2 examples per hypothesis test"
    )
    out.append(
        "USBSYNC_FAULT_SEED=<seed> .venv/bin/python -m pytest tests/faults -k <fault>   # replay one run"
    )
    out.append("```")
    out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="+", type=Path, help="JSON-lines result files")
    ap.add_argument("--out", type=Path, help="write here instead of stdout")
    ap.add_argument("--command", default="make faults", help="the command that produced the results")
    args = ap.parse_args(argv)
    rows = load(args.results)
    if not rows:
        print("no results", file=sys.stderr)
        return 1
    text = render(rows, args.command, dt.datetime.now(dt.UTC))
    if args.out:
        args.out.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
