#!/usr/bin/env python3
"""Benchmark: usbsync against its nearest peer, lsyncd (inotify + rsync), in one run. Needs root (loop mounts).

Each tool watches an outbox of its own on the host disk and copies into a fresh loop-mounted ext4 volume of its
own (a new image, ``mkfs.ext4``, ``losetup``, mount, for every measurement; all undone in ``finally`` and at
exit, Ctrl-C and SIGTERM included):

  usbsync   ``usbsync init --source OUT``, ``usbsync register-drive MNT --name Bench --category images``,
            ``usbsync run`` in the background with the configuration ``init`` wrote (a file closed after
            writing goes at once; the stability window is only for files never closed). Each file is copied
            into a temp file, made durable (``syncfs``), read back from the device and verified, then renamed
            into place as ``MNT/USBSync/NAME``: its appearance there means verified on the drive.
  lsyncd    ``lsyncd CONFIG`` with ``default.rsync``, ``delay = 0``, ``maxDelays = 1`` (sync as soon as one
            event is waiting), ``inotifyMode = "CloseWrite"`` (the default: what usbsync reacts to),
            ``maxProcesses = 1`` (default.rsync's own), ``rsync = { archive = true }``, target ``MNT/LSyncd/``.
            rsync writes a temp file and renames it into place: appearance there means the bytes are in the
            page cache, **not** on the device (no sync, no read-back). That is the baseline: the fastest a
            watcher can deliver, with none of usbsync's guarantees.

Two measurements, each tool on a fresh volume and with a fresh process:

  latency   ``--files`` (50) files of 50 KiB (a PNG header, random bytes: the ``images`` category), written
            into the outbox one at a time, ``--gap`` (0.3 s) apart on a fixed schedule. Each file's latency is
            from its ``close()`` returning to its arrival at its final path on the volume with its full size.
  flood     ``--flood-files`` (20,000) files of 1 KiB (PNG header) written as fast as a Python loop can. Time
            from the first write to the last file's arrival at its final path; files still missing after
            ``--timeout`` (120 s).

Arrival is seen with inotify on the destination folder (``IN_MOVED_TO | IN_CLOSE_WRITE``, read by a thread of
this process with ctypes; its time is taken when ``read()`` returns, so it is at most late by a thread wake-up),
and each latency arrival is checked with ``stat`` (full size). Should the inotify queue overflow in a flood,
the bench falls back to listing the folder every 0.1 s (said in the output). Every run is then checked by
listing the destination (name and size). The CPU time each tool used in a measurement (its process, and for
lsyncd the rsync processes it waited for) is printed too. A tool whose process ends during a measurement
without the bench stopping it (on a shared machine another session's clean-up may signal it) has that
measurement repeated, up to three tries, and the output says so. A flood with files missing at the timeout has
no time: its median is of the passes that completed.

Passes (``--passes``, 2) alternate which tool goes first: pass 1 usbsync then lsyncd, pass 2 lsyncd then
usbsync, and so on. Latency percentiles pool all passes' files; flood times are medians of the passes. Ratios
are lsyncd/usbsync (below 1: lsyncd faster). The machine is shared: the load average is printed before and
after, and at the start of every measurement; compare only figures from one run of this script.

    sudo .venv/bin/python bench/bench_peer.py [--files 50] [--gap 0.3] [--flood-files 20000] [--passes 2]
        [--only latency|flood] [--timeout 120] [--direct-io] [--json OUT] [--usbsync PATH]

``--usbsync`` (default: the ``usbsync`` beside this Python) can be a wrapper that runs another checkout, e.g.
``PYTHONPATH=/other/checkout exec python -m usbsync_gui "$@"``. Needs ``lsyncd`` and ``rsync``
(``apt-get install lsyncd``). Results: docs/performance.md.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import ctypes
import json
import math
import os
import platform
import random
import select
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import ClassVar

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00\x00\x00\x01\x00\x08\x02\x00\x00\x00"
TOOLS = ("usbsync", "lsyncd")
CLK = os.sysconf("SC_CLK_TCK")

IN_CLOSE_WRITE, IN_MOVED_TO, IN_Q_OVERFLOW = 0x8, 0x80, 0x4000
_EVENT = struct.Struct("iIII")


def sh(*cmd: str, **kw) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout.strip()


# -- clean-up: every mount, loop device and process this bench made, whatever way it ends ---------------------

_mounts: list[tuple[Path, str]] = []  # (mount point, loop device)
_procs: list[subprocess.Popen[bytes]] = []


def _stop(p: subprocess.Popen[bytes], wait: float = 60) -> None:
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(wait)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(10)
    with contextlib.suppress(ValueError):
        _procs.remove(p)


def _unmount(mnt: Path, loop: str) -> None:
    if subprocess.run(["umount", str(mnt)], check=False, capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", str(mnt)], check=False, capture_output=True)
    subprocess.run(["losetup", "-d", loop], check=False, capture_output=True)
    with contextlib.suppress(ValueError):
        _mounts.remove((mnt, loop))


def cleanup() -> None:
    for p in list(_procs):
        _stop(p, wait=30)
    for mnt, loop in list(_mounts):
        _unmount(mnt, loop)


def _on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally blocks


def make_volume(work: Path, name: str, files: int, direct_io: bool) -> Path:
    """A fresh ext4 volume, loop-mounted at WORK/NAME-mnt, with room and inodes for ``files`` small files."""
    img, mnt = work / f"{name}.img", work / f"{name}-mnt"
    mnt.mkdir()
    size = max(256 << 20, files * (16 << 10) + (128 << 20))
    sh("truncate", "-s", str(size), str(img))
    sh("mkfs.ext4", "-q", "-N", str(2 * files + 4096), "-L", "BENCH", str(img))
    loop = sh("losetup", *(["--direct-io=on"] if direct_io else []), "-f", "--show", str(img))
    _mounts.append((mnt, loop))
    sh("mount", loop, str(mnt))
    return mnt


def drop_volume(mnt: Path) -> None:
    for m, loop in list(_mounts):
        if m == mnt:
            _unmount(m, loop)


# -- arrivals at the destination: inotify through ctypes ---------------------------------------------------------


class Arrivals:
    """Records, for each expected name, the monotonic time it first appeared in ``folder`` (renamed into place
    or closed after writing) with ``size`` bytes (checked with stat when ``check_size``)."""

    def __init__(self, folder: Path, names: set[str], size: int, check_size: bool) -> None:
        self.folder, self.names, self.size, self.check_size = folder, names, size, check_size
        self.seen: dict[str, float] = {}
        self.overflowed = False
        self.all_seen = threading.Event()
        libc = ctypes.CDLL(None, use_errno=True)
        self.fd = libc.inotify_init1(os.O_CLOEXEC | os.O_NONBLOCK)
        if self.fd < 0 or libc.inotify_add_watch(self.fd, bytes(folder), IN_MOVED_TO | IN_CLOSE_WRITE) < 0:
            raise OSError(ctypes.get_errno(), f"inotify on {folder}")
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        poller = select.poll()
        poller.register(self.fd, select.POLLIN)
        while not self._stop:
            if not poller.poll(100):
                continue
            try:
                data = os.read(self.fd, 1 << 20)
            except BlockingIOError:
                continue
            now = time.monotonic()
            off = 0
            while off < len(data):
                _wd, mask, _cookie, n = _EVENT.unpack_from(data, off)
                name = data[off + 16 : off + 16 + n].rstrip(b"\0").decode("utf-8", "surrogateescape")
                off += 16 + n
                if mask & IN_Q_OVERFLOW:
                    self.overflowed = True
                    self.all_seen.set()  # the waiter falls back to listing the folder
                if name in self.names and name not in self.seen:
                    if self.check_size:
                        try:
                            if os.stat(self.folder / name).st_size != self.size:
                                continue
                        except FileNotFoundError:
                            continue
                    self.seen[name] = now
            if len(self.seen) >= len(self.names):
                self.all_seen.set()

    def close(self) -> None:
        self._stop = True
        self._thread.join()
        os.close(self.fd)


class ToolDied(RuntimeError):
    """The tool's process ended during a measurement, not stopped by the bench (on a shared machine, another
    session's clean-up may signal it): the measurement is repeated."""


def wait_all(arr: Arrivals, tool: Tool, deadline: float) -> None:
    """Until every file has arrived (or inotify overflowed), the deadline passed or the tool ended."""
    while not arr.all_seen.wait(0.25) and time.monotonic() < deadline and tool.alive():
        pass


def complete(folder: Path, names: set[str], size: int) -> int:
    """How many of ``names`` are in ``folder`` with ``size`` bytes."""
    n = 0
    with os.scandir(folder) as it:
        for e in it:
            if e.name in names and e.stat(follow_symlinks=False).st_size == size:
                n += 1
    return n


# -- the two tools -----------------------------------------------------------------------------------------------


def proc_cpu(pid: int) -> float:
    """CPU seconds of ``pid`` and of the children it has waited for (utime, stime, cutime, cstime)."""
    try:
        f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return math.nan
    return sum(int(x) for x in f[11:15]) / CLK


class Tool:
    name = ""

    def __init__(self, work: Path, mnt: Path) -> None:
        self.work, self.mnt = work, mnt
        self.out = work / f"{self.name}-out"
        self.out.mkdir()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def dest(self) -> Path:
        raise NotImplementedError

    def start(self) -> None:
        raise NotImplementedError

    def cpu(self) -> float:
        assert self.proc is not None
        return proc_cpu(self.proc.pid)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc)

    def diagnose(self) -> str:
        """What the tool says when files are missing: the end of its log."""
        return ""


class Usbsync(Tool):
    name = "usbsync"
    exe = ""
    commands: ClassVar[list[str]] = []

    @property
    def dest(self) -> Path:
        return self.mnt / "USBSync"

    def start(self) -> None:
        home = self.work / "usbsync-home"
        env = {**os.environ, "USBSYNC_HOME": str(home)}
        cmds = [
            [self.exe, "init", "--source", str(self.out)],
            [self.exe, "register-drive", str(self.mnt), "--name", "Bench", "--category", "images"],
        ]
        for c in cmds:
            subprocess.run(c, env=env, check=True, capture_output=True)
        self.dest.mkdir()  # usbsync would make it at its first copy; made here so that inotify can watch it
        log = open(self.work / "usbsync-run.out", "wb")  # noqa: SIM115 (the child's, closed with the work dir)
        self.proc = subprocess.Popen([self.exe, "run"], env=env, stdout=log, stderr=subprocess.STDOUT)
        _procs.append(self.proc)
        Usbsync.commands = [f"USBSYNC_HOME={home} " + " ".join(c) for c in [*cmds, [self.exe, "run"]]]
        deadline = time.monotonic() + 60
        while not self._ready(env, home / "logs"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"usbsync run did not get ready: {(self.work / 'usbsync-run.out').read_text()}"
                )
            time.sleep(0.1)

    def diagnose(self) -> str:
        env = {**os.environ, "USBSYNC_HOME": str(self.work / "usbsync-home")}
        out = subprocess.run([self.exe, "status", "--json"], env=env, capture_output=True, text=True)
        try:
            st = json.loads(out.stdout)
            counts = {k: st.get(k) for k in ("files_seen", "pending", "copying", "failed", "synced", "state")}
        except ValueError:
            counts = {"status": out.stdout[-500:] + out.stderr[-500:]}
        logs = sorted((self.work / "usbsync-home" / "logs").glob("*.log"))
        tail = "\n".join(ln for p in logs for ln in p.read_text(errors="replace").splitlines()[-15:])
        return f"status {counts}\n{tail}"

    def _ready(self, env: dict[str, str], logs: Path) -> bool:
        """Watching the outbox and the drive connected: from ``status --json``, else from its log."""
        out = subprocess.run([self.exe, "status", "--json"], env=env, capture_output=True, text=True)
        with contextlib.suppress(ValueError, KeyError, TypeError):
            st = json.loads(out.stdout)
            watching = st.get("watching") == "complete" or st["health"]["watcher"] == "watching"
            # "running" first: with no engine, status reports the drives it sees itself, and "complete".
            if st.get("running") and watching and any(d["connected"] for d in st["drives"]):
                return True
        text = "".join(p.read_text(errors="replace") for p in logs.glob("*.log")) if logs.is_dir() else ""
        return f"watching {self.out}" in text and "drive Bench plugged in" in text


class Lsyncd(Tool):
    name = "lsyncd"
    commands: ClassVar[list[str]] = []
    config = ""

    @property
    def dest(self) -> Path:
        return self.mnt / "LSyncd"

    def start(self) -> None:
        self.dest.mkdir()
        log = self.work / "lsyncd.log"
        Lsyncd.config = (
            "settings {\n"
            "    nodaemon = true,\n"
            '    inotifyMode = "CloseWrite",\n'
            f'    logfile = "{log}",\n'
            "}\n"
            "sync {\n"
            "    default.rsync,\n"
            f'    source = "{self.out}/",\n'
            f'    target = "{self.dest}/",\n'
            "    delay = 0,\n"
            "    maxDelays = 1,\n"
            "    maxProcesses = 1,\n"
            "    rsync = { archive = true },\n"
            "}\n"
        )
        conf = self.work / "lsyncd.conf.lua"
        conf.write_text(Lsyncd.config)
        out = open(self.work / "lsyncd.out", "wb")  # noqa: SIM115 (the child's, closed with the work dir)
        self.proc = subprocess.Popen(["lsyncd", str(conf)], stdout=out, stderr=subprocess.STDOUT)
        _procs.append(self.proc)
        Lsyncd.commands = [f"lsyncd {conf}"]
        deadline = time.monotonic() + 60
        while not (log.exists() and "finished." in log.read_text(errors="replace")):  # its startup rsync
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"lsyncd did not start: {(self.work / 'lsyncd.out').read_text()}")
            time.sleep(0.05)


# -- the measurements ---------------------------------------------------------------------------------------------


def measure_latency(tool: Tool, files: int, gap: float, timeout: float) -> dict:
    size = 50 << 10
    rnd = random.Random(10)
    names = [f"lat{i:04d}.png" for i in range(files)]
    arr = Arrivals(tool.dest, set(names), size, check_size=True)
    closed: dict[str, float] = {}
    cpu0 = tool.cpu()
    try:
        start = time.monotonic()
        for i, name in enumerate(names):
            delay = start + i * gap - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            body = PNG + rnd.randbytes(size - len(PNG))
            with open(tool.out / name, "wb") as fh:
                fh.write(body)
            closed[name] = time.monotonic()
        wait_all(arr, tool, time.monotonic() + timeout)
        time.sleep(0.2)  # let the last reads land
    finally:
        arr.close()
    cpu = tool.cpu() - cpu0
    lat = [arr.seen[n] - closed[n] for n in names if n in arr.seen]
    return {
        "latency_s": lat,
        "missing": files - complete(tool.dest, set(names), size),
        "cpu_s": cpu,
    }


def measure_flood(tool: Tool, files: int, timeout: float) -> dict:
    size = 1 << 10
    rnd = random.Random(20)
    pool = rnd.randbytes(size + 64)
    names = [f"fl{i:06d}.png" for i in range(files)]
    want = set(names)
    arr = Arrivals(tool.dest, want, size, check_size=False)
    cpu0 = tool.cpu()
    polled = False
    try:
        t0 = time.monotonic()
        for i, name in enumerate(names):
            with open(tool.out / name, "wb") as fh:
                # Distinct contents: usbsync copies a content once per drive (a duplicate is not copied again).
                fh.write(PNG + i.to_bytes(4, "little") + pool[i % 64 : i % 64 + size - len(PNG) - 4])
        written = time.monotonic() - t0
        wait_all(arr, tool, t0 + timeout)
        if arr.overflowed:  # inotify lost events: list the folder until all are there
            polled = True
            while (
                complete(tool.dest, want, size) < files and time.monotonic() - t0 < timeout and tool.alive()
            ):
                time.sleep(0.1)
            end = time.monotonic()
        else:
            end = max(arr.seen.values(), default=math.nan)
    finally:
        arr.close()
    cpu = tool.cpu() - cpu0
    missing = files - complete(tool.dest, want, size)
    if missing and tool.alive():
        print(f"  {tool.name}: {missing} of {files} files missing; it says:\n{tool.diagnose()}", flush=True)
    return {
        "time_s": end - t0 if missing == 0 else math.nan,
        "written_s": written,
        "missing": missing,
        "polled": polled,
        "cpu_s": cpu,
    }


def run_one(kind: str, tool_name: str, args: argparse.Namespace) -> dict:
    work = Path(tempfile.mkdtemp(prefix=f"usbsync-peer-{tool_name}-"))
    tool: Tool | None = None
    try:
        mnt = make_volume(work, "vol", args.flood_files if kind == "flood" else args.files, args.direct_io)
        tool = (Usbsync if tool_name == "usbsync" else Lsyncd)(work, mnt)
        tool.start()
        time.sleep(1.0)  # let start-up work (scans, the drive's arrival) settle
        load = os.getloadavg()[0]
        if kind == "latency":
            r = measure_latency(tool, args.files, args.gap, args.timeout)
        else:
            r = measure_flood(tool, args.flood_files, args.timeout)
        r["load_before"] = load
        if not tool.alive():
            assert tool.proc is not None
            # Its own last words (the work folder, with its output, is deleted below).
            said = work / ("usbsync-run.out" if tool_name == "usbsync" else "lsyncd.out")
            last = said.read_text(errors="replace").strip().splitlines()[-2:] if said.is_file() else []
            raise ToolDied(
                f"{tool_name} ended (exit status {tool.proc.returncode}) during the {kind} measurement"
                + (f": {' | '.join(last)}" if last else "")
            )
        return r
    finally:
        if tool is not None:
            tool.stop()
        for m, loop in list(_mounts):
            _unmount(m, loop)
        shutil.rmtree(work, ignore_errors=True)


# -- report --------------------------------------------------------------------------------------------------------


def pct(xs: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    if not xs:
        return math.nan
    s = sorted(xs)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]


def machine() -> dict:
    model = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "load_before": os.getloadavg(),
        "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def versions(usbsync: str) -> dict:
    def first(cmd: list[str]) -> str:
        p = subprocess.run(cmd, capture_output=True, text=True, check=False)
        lines = (p.stdout + p.stderr).strip().splitlines()
        return next(
            (ln for ln in lines if "ersion" in ln or ln.startswith("usbsync")), lines[0] if lines else "?"
        )

    return {
        "lsyncd": first(["lsyncd", "--version"]),
        "rsync": first(["rsync", "--version"]),
        "usbsync": first([usbsync, "--version"]),
    }


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b and not math.isnan(a) and not math.isnan(b) else "n/a"


def row(label: str, a: float, b: float, fmt: str = ".2f") -> None:
    print(f"| {label} | {a:{fmt}} | {b:{fmt}} | {ratio(a, b)} |")


def report(res: dict, args: argparse.Namespace) -> None:
    print()
    print("| measure | lsyncd + rsync (unverified) | usbsync (verified) | ratio lsyncd/usbsync |")
    print("| --- | --- | --- | --- |")
    for kind in ("latency", "flood"):
        if kind not in res:
            continue
        runs = res[kind]
        if kind == "latency":
            lat = {t: [x * 1000 for r in runs[t] for x in r["latency_s"]] for t in TOOLS}
            for label, p in (("p50", 50), ("p99", 99), ("max", 100)):
                what = f"latency {label}, ms ({args.files} x 50 KiB, {args.gap} s apart, all passes)"
                row(what, pct(lat["lsyncd"], p), pct(lat["usbsync"], p), ".1f")
        else:
            done = {t: [r["time_s"] for r in runs[t] if not math.isnan(r["time_s"])] for t in TOOLS}
            fl = {t: statistics.median(done[t]) if done[t] else math.nan for t in TOOLS}
            row(f"flood: all {args.flood_files} x 1 KiB there, s (median)", fl["lsyncd"], fl["usbsync"])
        miss = {t: sum(r["missing"] for r in runs[t]) for t in TOOLS}
        print(
            f"| {kind}: files missing after {args.timeout:.0f} s | {miss['lsyncd']} | {miss['usbsync']} | |"
        )
        cpu = {t: statistics.median(r["cpu_s"] for r in runs[t]) for t in TOOLS}
        row(f"{kind}: CPU s used by the tool (median)", cpu["lsyncd"], cpu["usbsync"])
    print("\nRuns, in order (pass, tool, load average at the start):")
    for kind in ("latency", "flood"):
        for e in res.get("order", []):
            if e["kind"] != kind:
                continue
            r = res[kind][e["tool"]][e["index"]]
            head = f"  {kind:7} pass {e['pass'] + 1} {e['tool']:7} load {r['load_before']:.2f}:"
            if kind == "latency":
                ms = [x * 1000 for x in r["latency_s"]]
                print(
                    f"{head} p50 {pct(ms, 50):.1f} ms, p99 {pct(ms, 99):.1f} ms, max {pct(ms, 100):.1f} ms, "
                    f"min {pct(ms, 0):.1f} ms, missing {r['missing']}, CPU {r['cpu_s']:.2f} s"
                )
            else:
                how = " (inotify overflowed: folder listed every 0.1 s)" if r["polled"] else ""
                print(
                    f"{head} {r['time_s']:.2f} s (written in {r['written_s']:.2f} s), missing {r['missing']}, "
                    f"CPU {r['cpu_s']:.2f} s{how}"
                )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--files", type=int, default=50, help="latency: files of 50 KiB")
    ap.add_argument("--gap", type=float, default=0.3, help="latency: seconds between writes")
    ap.add_argument("--flood-files", type=int, default=20_000, help="flood: files of 1 KiB")
    ap.add_argument("--passes", type=int, default=2, help="passes, alternating which tool goes first")
    ap.add_argument("--only", choices=["latency", "flood"])
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the last file")
    ap.add_argument("--direct-io", action="store_true", help="loop devices with direct I/O (as a real drive)")
    ap.add_argument("--json", type=Path, help="write the raw numbers here")
    ap.add_argument(
        "--usbsync",
        default=str(Path(sys.executable).with_name("usbsync")),
        help="the usbsync command to measure (default: the one beside this Python)",
    )
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench_peer: needs root to mount loop images", file=sys.stderr)
        return 2
    if not shutil.which("lsyncd") or not shutil.which("rsync"):
        print("bench_peer: needs lsyncd and rsync (apt-get install lsyncd)", file=sys.stderr)
        return 2
    Usbsync.exe = args.usbsync
    atexit.register(cleanup)
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, _on_signal)

    m, v = machine(), versions(args.usbsync)
    print(f"{m['at']}; {m['cpu']}, {m['cores']} cores; kernel {m['kernel']}")
    print(
        f"load average before: {', '.join(f'{x:.2f}' for x in m['load_before'])} (1, 5, 15 min; machine shared)"
    )
    print(f"versions: {v['lsyncd']}; {v['rsync']}; {v['usbsync']}")
    print(f"bench: {' '.join([sys.executable, *sys.argv])}")
    kinds = [args.only] if args.only else ["latency", "flood"]
    res: dict = {
        "machine": m,
        "versions": v,
        "args": {k: str(x) for k, x in vars(args).items()},
        "order": [],
        "repeated": [],
    }
    try:
        for p in range(args.passes):
            order = TOOLS if p % 2 == 0 else TOOLS[::-1]
            for kind in kinds:
                for t in order:
                    for attempt in range(3):
                        try:
                            r = run_one(kind, t, args)
                            break
                        except ToolDied as exc:
                            note = f"{exc}; not stopped by the bench, repeated (try {attempt + 1} of 3)"
                            print(f"  {note}", flush=True)
                            res["repeated"].append(note)
                    else:
                        raise SystemExit(f"bench_peer: {t} kept ending during the {kind} measurement")
                    runs = res.setdefault(kind, {x: [] for x in TOOLS})[t]
                    runs.append(r)
                    res["order"].append({"kind": kind, "pass": p, "tool": t, "index": len(runs) - 1})
                    print(f"  done: {kind} pass {p + 1} {t}", flush=True)
    finally:
        cleanup()
    res["load_after"] = os.getloadavg()
    report(res, args)
    for note in res["repeated"]:
        print(f"repeated: {note}")
    print(f"\nload average after: {', '.join(f'{x:.2f}' for x in res['load_after'])}")
    print("\ncommands (per measurement, in a fresh temp dir, volume and home):")
    for c in Usbsync.commands + Lsyncd.commands:
        print(f"  {c}")
    print("lsyncd config:")
    print("\n".join(f"  {ln}" for ln in Lsyncd.config.splitlines()))
    if args.json:
        res["commands"] = Usbsync.commands + Lsyncd.commands
        res["lsyncd_config"] = Lsyncd.config
        args.json.write_text(json.dumps(res, indent=1, default=str))
        print(f"raw numbers: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
