#!/usr/bin/env python3
"""Benchmark: how much usbsync costs when it has nothing to do. Needs root (a loop-mounted drive).

Two cases, each measured over ``--seconds`` (default 20) after a settling time, with a registered drive plugged
in, everything on it, and nothing arriving:

  * ``usbsync run`` (headless);
  * the tray app ``usbsync-gui`` with its engine process, on a virtual screen with a system tray (Xvfb and
    trayer, Qt's xcb platform, as on a desktop): in the tray (no window), then with its status window open (a
    second start brings it forward, as a user's click would). Without Xvfb or trayer it falls back to Qt's
    offscreen platform, which has no tray (the status window is then shown from the start) and says so.

For each process: wake-ups per second (context switches of all its threads, voluntary and not, from
``/proc/PID/task/*/status``: each is a thread waking up or being woken), CPU time (user + system, from
``/proc/PID/stat``, in ms per second) and resident memory (RSS, psutil). The tray app's figures are its own
process and its engine's, shown separately and added. Baselines in the same run: ``sleep`` (a process that does
nothing), measured the same way, so the method's own floor is beside the figures; and the smallest PySide6 tray
app (a QApplication with one QSystemTrayIcon and its menu), the floor for the tray app's memory.
``--threads`` adds the threads that woke most, by name, for each process.

    sudo .venv/bin/python bench/bench_idle.py [--seconds 20] [--settle 5] [--threads]

Results: docs/performance.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
BIN = Path(sys.executable).parent
CLK = os.sysconf("SC_CLK_TCK")


def sh(*cmd: str) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()


def switches(pid: int) -> dict[int, int]:
    """Thread id -> its context switches so far (voluntary and not)."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            n = 0
            for line in (task / "status").read_text().splitlines():
                if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                    n += int(line.split()[1])
            out[int(task.name)] = n
        except OSError:
            continue  # a thread that ended meanwhile
    return out


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime (proc(5) fields 14, 15)


TRAY_BASELINE = """
import sys
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import QApplication, QMenu, QSystemTrayIcon
app = QApplication(sys.argv)
app.setQuitOnLastWindowClosed(False)
pixmap = QPixmap(22, 22)
pixmap.fill()
tray = QSystemTrayIcon(QIcon(pixmap))
menu = QMenu()
menu.addAction("Quit", app.quit)
tray.setContextMenu(menu)
tray.show()
app.exec()
"""

BUSIEST: dict[str, list[str]] = {}  # process name -> its busiest threads (--threads)


def thread_name(pid: int, tid: int) -> str:
    try:
        return Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()
    except OSError:
        return "?"


def measure(
    pids: dict[str, int], seconds: float, case: str = ""
) -> dict[str, tuple[float, float, float, int]]:
    """name -> (wake-ups/s, CPU ms/s, RSS MiB, threads) over ``seconds``; the busiest threads into
    :data:`BUSIEST` under name + ``case``."""
    before = {n: (switches(p), cpu_ticks(p)) for n, p in pids.items()}
    time.sleep(seconds)
    out = {}
    for n, p in pids.items():
        s0, c0 = before[n]
        proc = psutil.Process(p)
        # Threads alive at the end, from their count at the start (0 for those started meanwhile). A thread
        # that ended meanwhile (a pool thread expiring) takes its count with it: under-counted, never negative.
        now = switches(p)
        per_thread = {tid: c - s0.get(tid, 0) for tid, c in now.items()}
        woke = sum(per_thread.values())
        top = sorted(per_thread.items(), key=lambda kv: -kv[1])[:4]
        BUSIEST[n + case] = [f"{thread_name(p, tid)} ({tid}) {c / seconds:.2f}/s" for tid, c in top if c]
        out[n] = (
            woke / seconds,
            (cpu_ticks(p) - c0) * 1000 / CLK / seconds,
            proc.memory_info().rss / (1 << 20),
            proc.num_threads(),
        )
    return out


def table(rows: list[tuple[str, tuple[float, float, float, int]]]) -> None:
    print("| process | wake-ups/s | CPU ms/s | RSS MiB | threads |")
    print("| --- | --- | --- | --- | --- |")
    for name, (w, c, r, t) in rows:
        print(f"| {name} | {w:.1f} | {c:.1f} | {r:.0f} | {t} |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--settle", type=float, default=5.0)
    ap.add_argument("--threads", action="store_true", help="print the threads that woke most")
    ap.add_argument(
        "--private-mounts",
        action="store_true",
        help="run in a mount namespace of its own (unshare -m): on a shared machine, other people's mounts "
        "change the mount table usbsync listens to and wake it; this measures usbsync's own wake-ups",
    )
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench_idle: needs root to mount a loop image", file=sys.stderr)
        return 2
    if args.private_mounts and os.environ.get("USBSYNC_BENCH_UNSHARED") != "1":
        argv = [a for a in sys.argv if a != "--private-mounts"]
        env = {**os.environ, "USBSYNC_BENCH_UNSHARED": "1"}
        cmd = ["unshare", "--mount", "--propagation", "private", sys.executable, *argv]
        print("in a private mount namespace: " + " ".join(cmd), flush=True)
        return subprocess.run(cmd, env=env, check=False).returncode
    work = Path(tempfile.mkdtemp(prefix="usbsync-idle-"))
    img, mnt, out, home = work / "d.img", work / "mnt", work / "out", work / "home"
    mnt.mkdir()
    out.mkdir()
    env = {**os.environ, "USBSYNC_HOME": str(home), "QT_QPA_PLATFORM": "offscreen"}
    procs: list[subprocess.Popen[bytes]] = []
    screen = ""
    try:
        gui_env = dict(env)
        if shutil.which("Xvfb") and shutil.which("trayer"):
            display = next(f":{n}" for n in range(60, 99) if not Path(f"/tmp/.X11-unix/X{n}").exists())
            procs.append(
                subprocess.Popen(["Xvfb", display, "-screen", "0", "1280x800x24", "-nolisten", "tcp"])
            )
            while not Path(f"/tmp/.X11-unix/X{display[1:]}").exists():
                time.sleep(0.05)
            procs.append(
                subprocess.Popen(
                    ["trayer", "--edge", "top", "--align", "right", "--widthtype", "request"],
                    env={**os.environ, "DISPLAY": display},
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            time.sleep(1)
            gui_env.update(QT_QPA_PLATFORM="xcb", DISPLAY=display)
            screen = f"Xvfb {display} with trayer (Qt's xcb platform)"
        else:
            screen = "offscreen (no Xvfb/trayer: no system tray, the status window shows from the start)"
        sh("truncate", "-s", "64M", str(img))
        sh("mkfs.ext4", "-q", str(img))
        sh("mount", "-o", "loop", str(img), str(mnt))
        subprocess.run(
            [BIN / "usbsync", "init", "--source", str(out)], env=env, check=True, capture_output=True
        )
        subprocess.run(
            [BIN / "usbsync", "register-drive", str(mnt), "--name", "Photos", "--category", "images"],
            env=env,
            check=True,
            capture_output=True,
        )
        print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')}; nproc {os.cpu_count()}; {os.getloadavg()[0]:.2f} load")
        print(f"screen: {screen}")
        rows: list[tuple[str, tuple[float, float, float, int]]] = []
        base = subprocess.Popen(["sleep", "3600"])
        procs.append(base)

        run = subprocess.Popen(
            [BIN / "usbsync", "run"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        procs.append(run)
        time.sleep(args.settle)
        m = measure({"sleep (baseline)": base.pid, "usbsync run": run.pid}, args.seconds)
        rows += list(m.items())
        run.send_signal(signal.SIGTERM)
        run.wait(30)

        floor = subprocess.Popen([sys.executable, "-c", TRAY_BASELINE], env=gui_env)
        procs.append(floor)
        time.sleep(args.settle)
        m = measure({"smallest PySide6 tray app (baseline)": floor.pid}, args.seconds / 2)
        rows += list(m.items())
        floor.terminate()
        floor.wait(30)

        gui = subprocess.Popen(
            [BIN / "usbsync-gui"], env=gui_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        procs.append(gui)
        deadline = time.monotonic() + 30
        engine = None
        while time.monotonic() < deadline and engine is None:
            kids = psutil.Process(gui.pid).children()
            engine = next((k for k in kids if "run" in k.cmdline()), None)
            time.sleep(0.2)
        if engine is None:
            raise RuntimeError("the tray app started no engine within 30 s")
        time.sleep(args.settle)
        m = measure({"tray app": gui.pid, "its engine": engine.pid}, args.seconds, ", in the tray")
        rows += [(f"{n}, in the tray", v) for n, v in m.items()]
        total = tuple(a + b for a, b in zip(m["tray app"], m["its engine"], strict=True))
        rows.append(("tray app + engine, in the tray", total))  # type: ignore[arg-type]
        subprocess.run(
            [BIN / "usbsync-gui"], env=gui_env, timeout=30, capture_output=True
        )  # brings the window forward
        time.sleep(args.settle)
        m = measure({"tray app": gui.pid, "its engine": engine.pid}, args.seconds, ", status window open")
        rows += [(f"{n}, status window open", v) for n, v in m.items()]
        total = tuple(a + b for a, b in zip(m["tray app"], m["its engine"], strict=True))
        rows.append(("tray app + engine, status window open", total))  # type: ignore[arg-type]
        table(rows)
        if args.threads:
            for name, threads in BUSIEST.items():
                print(f"{name}: {', '.join(threads) or 'none woke'}")
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
        subprocess.run(["umount", str(mnt)], check=False, capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
