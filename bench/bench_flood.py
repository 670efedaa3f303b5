#!/usr/bin/env python3
"""Benchmark: `usbsync run` through two floods of 20,000 new files each. Reports how long until every file is
recorded, files lost (must be 0), and the engine's memory (RSS) before, at the peak of and after each flood,
so growth per flood is visible. Baseline in the same run: the RSS of an idle `usbsync run`, and the time the
writer itself took to write the files.

With ``--absent-drive`` (root: it makes a loop volume to register, then unmounts it) a drive for the files'
category is registered and absent, and the figure is how long until every file is *queued* for it (a job
pending, ``usbsync status --json``'s ``pending``): issue 10's "100,000 files queued in under 10 s".

While a flood runs the bench counts from the state database itself (read-only, one ``COUNT(*)`` every 0.1 s,
what ``status`` reports as ``files_seen`` and ``pending``), and asks ``usbsync status --json`` once at the end to
confirm. It polled ``status`` before: each call is a Python process of about 0.4 s of CPU, so the poller took
about half a core from the engine it was timing.

``--content photos`` writes small distinct PNG images (the product's everyday case; libmagic tells a PNG in
about 25 us) instead of the default one-line text files (the slowest case for libmagic: about 500 us each, since
every binary test fails before the text tests run).

``--arrive moved`` writes each flood's files into a staging folder on the same file system first, then renames
that folder into the outbox at once: pure ingest throughput, without the writer (10-25 s of Python for 100,000
files) competing for the cores. Printed beside it, as a by-hand baseline over the same files in the same run:
``file --mime-type`` and ``b3sum`` over them, two processes at a time (``xargs -P2``), and the ratio.

    .venv/bin/python bench/bench_flood.py [--files 20000] [--floods 2] [--absent-drive] [--content text|photos]
        [--arrive written|moved]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sqlite3
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path

import psutil


def png(seed: int) -> bytes:
    """A valid 1x1 PNG whose pixel (and so content) depends on ``seed``."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    pixel = b"\x00" + seed.to_bytes(3, "little")
    head = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", head)
        + chunk(b"IDAT", zlib.compress(pixel))
        + chunk(b"IEND", b"")
    )


USBSYNC = str(Path(sys.executable).with_name("usbsync"))


def count_in_db(db: Path, absent_drive: bool) -> int:
    """What ``usbsync status --json`` reports as ``pending`` (one drive: pending jobs) or ``files_seen``
    (files recorded), read from the state database directly (read-only; 0 before it exists)."""
    if not db.exists():
        return 0
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        q = (
            "SELECT COUNT(*) FROM jobs WHERE state='pending'"
            if absent_drive
            else "SELECT COUNT(*) FROM files"
        )
        return int(con.execute(q).fetchone()[0])
    except sqlite3.OperationalError:  # the schema not made yet
        return 0
    finally:
        con.close()


def write_files(d: Path, flood: int, files: int, content: str) -> None:
    """Write ``files`` new files into the new folder ``d`` (PNGs for ``photos``, one-line texts otherwise)."""
    d.mkdir(parents=True)
    for i in range(files):
        if content == "photos":
            with open(d / f"p{i:05d}.png", "wb") as fh:
                fh.write(png(flood * files + i))
        else:
            with open(d / f"f{i:05d}.txt", "wb") as fh:
                fh.write(b"flood %d file %d\n" % (flood, i))


def hand_baseline(d: Path) -> float:
    """Seconds for ``file --mime-type`` and ``b3sum`` over every file in ``d``, two processes at a time (the
    same work as ingest's classify and hash, by the standard tools; page cache warm, as for the engine)."""
    t0 = time.monotonic()
    find = subprocess.Popen(["find", str(d), "-type", "f", "-print0"], stdout=subprocess.PIPE)
    script = 'file --mime-type -- "$@" >/dev/null && b3sum -- "$@" >/dev/null'
    subprocess.run(
        ["xargs", "-0", "-P2", "-n", "2000", "sh", "-c", script, "sh"], stdin=find.stdout, check=True
    )
    find.wait()
    return time.monotonic() - t0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=20_000)
    ap.add_argument("--floods", type=int, default=2)
    ap.add_argument(
        "--absent-drive", action="store_true", help="count files queued for an absent drive (root)"
    )
    ap.add_argument("--content", choices=("text", "photos"), default="text")
    ap.add_argument(
        "--arrive",
        choices=("written", "moved"),
        default="written",
        help="files written into the outbox one by one, or written elsewhere and their folder moved in",
    )
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="usbsync-flood-"))
    env = {**os.environ, "USBSYNC_HOME": str(work / "home")}
    src = work / "out"
    subprocess.run([USBSYNC, "init", "--source", str(src)], env=env, check=True, capture_output=True)
    category = "images" if args.content == "photos" else "documents"
    if args.absent_drive:
        img, mnt = work / "drive.img", work / "drive"
        mnt.mkdir()
        subprocess.run(["truncate", "-s", "64M", str(img)], check=True)
        subprocess.run(["mkfs.ext4", "-q", str(img)], check=True)
        subprocess.run(["mount", "-o", "loop", str(img), str(mnt)], check=True)
        try:
            subprocess.run(
                [USBSYNC, "register-drive", str(mnt), "--name", "Drive", "--category", category],
                env=env,
                check=True,
                capture_output=True,
            )
        finally:
            subprocess.run(["umount", str(mnt)], check=True)
    counted = "pending" if args.absent_drive else "files_seen"
    proc = subprocess.Popen([USBSYNC, "run"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        log = work / "home" / "logs" / "file_watcher.log"
        while not (log.exists() and "watching" in log.read_text()):
            time.sleep(0.05)
        p = psutil.Process(proc.pid)
        time.sleep(1)
        idle = p.memory_info().rss
        print(f"idle usbsync run: RSS {idle / 2**20:.1f} MiB")
        total = 0
        for flood in range(args.floods):
            peak = [p.memory_info().rss]
            stop = threading.Event()

            def sample(stop: threading.Event, peak: list[int]) -> None:
                while not stop.is_set():
                    peak[0] = max(peak[0], p.memory_info().rss)
                    time.sleep(0.05)

            t = threading.Thread(target=sample, args=(stop, peak))
            t.start()
            d = src / f"flood{flood}"
            if args.arrive == "moved":
                staged = work / "stage" / d.name
                write_files(staged, flood, args.files, args.content)
                subprocess.run(["sync"], check=True)
                by_hand = hand_baseline(staged)
                print(f"flood {flood + 1}: by hand (file --mime-type + b3sum, xargs -P2): {by_hand:.1f} s")
            before = p.memory_info().rss
            cpu0 = sum(p.cpu_times()[:2])
            t0 = time.monotonic()
            if args.arrive == "moved":
                staged.rename(d)
            else:
                write_files(d, flood, args.files, args.content)
            made = time.monotonic() - t0
            total += args.files
            seen = 0
            db = work / "home" / "state" / "state.db"
            while time.monotonic() - t0 < 600:
                seen = count_in_db(db, args.absent_drive)
                if seen >= total:
                    break
                time.sleep(0.1)
            took = time.monotonic() - t0
            cpu = sum(p.cpu_times()[:2]) - cpu0
            out = subprocess.run([USBSYNC, "status", "--json"], env=env, capture_output=True, text=True)
            said = json.loads(out.stdout)[counted]
            if said != seen:
                print(f"flood {flood + 1}: the database counted {seen}, usbsync status says {said} {counted}")
                seen = min(seen, said)
            time.sleep(1)
            stop.set()
            t.join()
            after = p.memory_info().rss
            how = "moved in" if args.arrive == "moved" else "written"
            ratio = f" ({took / by_hand:.2f}x by hand)" if args.arrive == "moved" else ""
            print(
                f"flood {flood + 1}: {args.files} files {how} ({made:.1f} s), all "
                f"{'queued' if args.absent_drive else 'recorded'} after {took:.1f} s{ratio} (CPU {cpu:.1f} s), "
                f"lost {total - seen}; RSS before {before / 2**20:.1f} MiB, peak {peak[0] / 2**20:.1f} MiB, "
                f"after {after / 2**20:.1f} MiB"
            )
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
