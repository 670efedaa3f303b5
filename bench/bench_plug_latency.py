#!/usr/bin/env python3
"""Benchmark: from mounting a registered drive to its first pending job starting, with `usbsync run` waiting.
The safety-net poll is set to 60 s, so the figure is the OS-signal path (mountinfo). Needs root.

    sudo .venv/bin/python bench/bench_plug_latency.py [--plugs 20]

Clock: starts before the mount command (so it includes mounting), stops when the first job's temporary file
appears on the volume.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

USBSYNC = str(Path(sys.executable).with_name("usbsync"))


def sh(*cmd: str) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()


def measure(fstype: str, plugs: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="usbsync-plug-"))
    env = {**os.environ, "USBSYNC_HOME": str(work / "home")}
    img, mnt, src = work / "d.img", work / "mnt", work / "out"
    mnt.mkdir()
    sh("truncate", "-s", "128M", str(img))
    sh("mkfs.ext4" if fstype == "ext4" else "mkfs.exfat", *(["-q"] if fstype == "ext4" else []), str(img))
    loop = ""

    def plug() -> None:
        nonlocal loop
        if fstype == "ext4":
            sh("mount", "-o", "loop", str(img), str(mnt))
        else:
            loop = sh("losetup", "-f", "--show", str(img))
            sh("mount.exfat-fuse", loop, str(mnt))

    def unplug() -> None:
        subprocess.run(["umount", "-l", str(mnt)], check=False)
        if loop:
            subprocess.run(["losetup", "-d", loop], check=False)

    subprocess.run([USBSYNC, "init", "--source", str(src)], env=env, check=True, capture_output=True)
    cfg = work / "home" / "config.toml"
    text = cfg.read_text().replace("volume_poll_seconds = 5.0", "volume_poll_seconds = 60.0")
    cfg.write_text(text.replace("max_copy_rate_mib_s = 0.0", "max_copy_rate_mib_s = 4.0"))
    plug()
    subprocess.run(
        [USBSYNC, "register-drive", str(mnt), "--name", "D", "--category", "videos"],
        env=env,
        check=True,
        capture_output=True,
    )
    unplug()
    (src / "clip.mp4").write_bytes(random.Random(1).randbytes(8 << 20))
    proc = subprocess.Popen([USBSYNC, "run"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = work / "home" / "logs" / "file_watcher.log"
    while not (log.exists() and "queued 1 file for D" in log.read_text()):
        time.sleep(0.05)
    times = []
    for _ in range(plugs):
        t0 = time.monotonic()
        plug()
        while not any(mnt.rglob(".usbsync-*.part")):
            time.sleep(0.001)
        times.append(time.monotonic() - t0)
        if times[-1] > 1.0 and os.environ.get("BENCH_DEBUG"):
            print(f"slow plug {len(times)}: {times[-1]:.2f} s; engine log:")
            print("\n".join(log.read_text().splitlines()[-12:]))
        unplug()
        time.sleep(0.7)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    subprocess.run(["rm", "-rf", str(work)], check=False)
    ms = sorted(t * 1000 for t in times)
    print(
        f"{fstype}: mount -> first job started, {len(ms)} plugs: median {statistics.median(ms):.0f} ms, "
        f"min {ms[0]:.0f} ms, max {ms[-1]:.0f} ms (poll at 60 s: the OS signal path)"
    )


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--plugs", type=int, default=20)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench_plug_latency: needs root to mount loop images", file=sys.stderr)
        return 2
    for fstype in ("ext4", "exfat"):
        measure(fstype, args.plugs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
