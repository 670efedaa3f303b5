#!/usr/bin/env python3
"""Benchmark: usbsync against doing the same work by hand, on a loop-mounted ext4 volume. Needs root.

Work: (a) one 1 GiB file, (b) 10,000 files of 1-256 KiB (random sizes, fixed seed).
  ours      `usbsync sync-once` with a fresh state: scan (classify + BLAKE3), copy, make durable, verify
            every copy by reading it back from the device, rename into place, record.
  baseline  `cp -r`, `sync`, drop the copies from the page cache (posix_fadvise DONTNEED, what usbsync does),
            `b3sum` of the copies read back from the volume.
Runs alternate REPEAT times (baseline first on even repetitions, ours first on odd ones); medians are printed with the ratio ours/baseline. Page-cache
write speed varies between runs on these machines, so compare only figures from one run of this script.

    sudo .venv/bin/python bench/bench_sync.py [--repeat 3] [--only big|small] [--direct-io] [--content random]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

USBSYNC = str(Path(sys.executable).with_name("usbsync"))


def sh(*cmd: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def drop_cache(root: Path) -> None:
    for p in root.rglob("*"):
        if p.is_file():
            fd = os.open(p, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def warm(root: Path) -> None:
    for p in root.rglob("*"):
        if p.is_file():
            with open(p, "rb") as fh:
                while fh.read(1 << 20):
                    pass


def make_big(src: Path) -> int:
    src.mkdir(parents=True)
    rnd = random.Random(1)
    with open(src / "big.mp4", "wb") as fh:
        block = rnd.randbytes(1 << 20)
        for i in range(1024):
            fh.write(block[i % 7 :] + block[: i % 7])  # distinct blocks, cheap to make
    return 1 << 30


# What an outbox holds: camera JPEGs, PNG screenshots, PDF scans, MP4 clips. The bodies are random; the headers
# are what libmagic reads. (--content random: no header at all, libmagic's worst case, ~5x its cost per file.)
HEADERS = (
    ("jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"),
    ("png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00\x00\x00\x01\x00\x08\x02\x00\x00\x00"),
    ("pdf", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"),
    ("mp4", b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"),
)


def make_small(src: Path, n: int = 10_000, content: str = "real") -> int:
    rnd = random.Random(2)
    pool = rnd.randbytes(256 << 10)
    total = 0
    for i in range(n):
        d = src / f"d{i // 500:02d}"
        if i % 500 == 0:
            d.mkdir(parents=True)
        size = rnd.randint(1 << 10, 256 << 10)
        off = rnd.randint(0, 16)
        ext, head = HEADERS[i % len(HEADERS)] if content == "real" else ("mp4", b"")
        body = head + i.to_bytes(4, "little")
        with open(d / f"f{i:05d}.{ext}", "wb") as fh:
            fh.write(body + pool[off : off + size - len(body)])
        total += size
    return total


def baseline(src: Path, dest: Path) -> float:
    t0 = time.perf_counter()
    sh("cp", "-r", str(src), str(dest))
    sh("sync")
    drop_cache(dest)
    files = [str(p) for p in dest.rglob("*") if p.is_file()]
    for i in range(0, len(files), 2000):  # argv limits
        subprocess.run(["b3sum", *files[i : i + 2000]], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def ours(src: Path, mount: Path, work: Path) -> float:
    home = work / "home"
    shutil.rmtree(home, ignore_errors=True)
    env = {**os.environ, "USBSYNC_HOME": str(home)}
    sh(USBSYNC, "init", "--source", str(src), env=env)
    cfg = home / "config.toml"
    cfg.write_text(
        cfg.read_text().replace("stability_window_seconds = 2.0", "stability_window_seconds = 0.0")
    )
    cats = ("--category", "videos", "--category", "images", "--category", "documents")
    # --take-over: the volume still carries the marker of the previous repetition's (deleted) installation.
    sh(USBSYNC, "register-drive", str(mount), "--name", "Bench", *cats, "--take-over", env=env)
    t0 = time.perf_counter()
    p = sh(USBSYNC, "sync-once", env=env)
    took = time.perf_counter() - t0
    if "0 waiting, 0 failed" not in p.stdout:
        raise SystemExit(f"usbsync did not finish the work: {p.stdout}")
    return took


def clean(dest: Path) -> None:
    shutil.rmtree(dest, ignore_errors=True)
    sh("sync")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", choices=["big", "small"])
    ap.add_argument(
        "--direct-io",
        action="store_true",
        help="loop device with direct I/O: writes and read-back reach the disk, as with a real drive",
    )
    ap.add_argument(
        "--content",
        choices=["real", "random"],
        default="real",
        help="small files with real format headers (default) or random bytes (libmagic's worst case)",
    )
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench_sync: needs root to mount a loop image", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="usbsync-bench-"))
    img, mount = work / "vol.img", work / "mnt"
    mount.mkdir()
    sh("truncate", "-s", "4G", str(img))
    sh("mkfs.ext4", "-q", "-L", "BENCH", str(img))
    if args.direct_io:
        # The loop device bypasses the host page cache: sync and the read-back reach the disk, as with a stick.
        loop = sh("losetup", "--direct-io=on", "-f", "--show", str(img)).stdout.strip()
        sh("mount", loop, str(mount))
    else:
        loop = None
        sh("mount", "-o", "loop", str(img), str(mount))
    try:
        small_title = f"10,000 files of 1-256 KiB ({args.content} content)"
        cases = [("big", "one 1 GiB file", make_big), ("small", small_title, make_small)]
        for key, title, make in cases:
            if args.only and args.only != key:
                continue
            src = work / f"src-{key}"
            total = make(src) if key == "big" else make(src, content=args.content)
            rows: dict[str, list[float]] = {"baseline": [], "usbsync": []}
            for rep in range(args.repeat):
                # Alternate which goes first: writeback left by the previous run slows whatever follows it.
                for side in ("baseline", "usbsync") if rep % 2 == 0 else ("usbsync", "baseline"):
                    warm(src)
                    if side == "baseline":
                        rows[side].append(baseline(src, mount / "by-hand"))
                        clean(mount / "by-hand")
                    else:
                        rows[side].append(ours(src, mount, work))
                        clean(mount / "USBSync")
            b, o = statistics.median(rows["baseline"]), statistics.median(rows["usbsync"])
            mib = total / (1 << 20)
            print(f"\n({key}) {title}: {mib:.0f} MiB, median of {args.repeat}")
            print(
                f"  baseline cp -r + sync + drop cache + b3sum: {b:6.2f} s  {mib / b:7.0f} MiB/s  "
                f"runs {', '.join(f'{x:.2f}' for x in rows['baseline'])}"
            )
            print(
                f"  usbsync sync-once (scan, copy, verify):     {o:6.2f} s  {mib / o:7.0f} MiB/s  "
                f"runs {', '.join(f'{x:.2f}' for x in rows['usbsync'])}"
            )
            print(f"  ratio usbsync/baseline: {o / b:.2f}")
            shutil.rmtree(src)
    finally:
        subprocess.run(["umount", str(mount)], check=False)
        if loop:
            subprocess.run(["losetup", "-d", loop], check=False)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
