"""The fault-injection harness: a scenario on real volumes, the processes it runs, and the invariant checker.

One :class:`Scenario` is one fault run. It builds an outbox of files with real content (each file's category is
known from how it was made), a canary folder outside the outbox (a fake ``~/.ssh/id_ed25519`` and a document
with a unique token, with their access times set far in the past) with symlinks to it from inside the outbox,
and real drives (ext4 loop images, exFAT through exfat-fuse). It runs the real ``usbsync`` command, and every
wait and subprocess is bounded: a process that outlives its bound is killed and counted as *hung*.

After the fault, :meth:`Scenario.finish` lets the product recover, stops the engine with SIGTERM and checks:

* lost: a source file whose category has a drive is not on that drive with its newest content;
* duplicated: that content is on the drive more often than there are source paths holding it;
* corrupt: a file under the drive's folder whose content is no source's current content (a partial or mixed
  file, a stale older version, or a file routed to a drive that does not hold its category);
* temp_left: a ``.usbsync-*.part`` file anywhere on a volume;
* leaked: canary bytes on a drive, or a canary read (its access time moved);
* outside_writes: anything written into a bare mount point, or onto a volume outside its folder and marker;
* sources_changed: the source tree differs from before, apart from the fault's own edits;
* hung: a process did not finish or stop within its bound (SIGTERM included);
* crashed: a traceback in any output or log, an unexpected exit status, a process that died on its own;
* other: an expected behaviour missing (e.g. a damaged database not set aside).
"""

from __future__ import annotations

import contextlib
import fnmatch
import grp
import json
import os
import random
import re
import signal
import stat
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import blake3

from tests.conftest import mp3_bytes, pdf_bytes, png_bytes
from tests.e2e.conftest import USBSYNC, Drive, Usbsync
from usbsync_gui.core.config import DEFAULT_EXCLUDE

COUNT_KEYS = (
    "lost",
    "corrupt",
    "duplicated",
    "hung",
    "crashed",
    "temp_left",
    "leaked",
    "outside_writes",
    "sources_changed",
    "other",
)
DEFAULT_EXCLUDES = DEFAULT_EXCLUDE  # the configuration's default: files usbsync is told not to sync
TEMP_RE = re.compile(rb"^\.usbsync-.*\.part$")
FOLDER = "USBSync"
STOP_BOUND_S = 15.0  # SIGTERM to exit
PROC_BOUND_S = 120.0  # any one-shot command
CONVERGE_S = 20.0  # the engine finishing its queue after the fault


def run_tool(cmd: list[str], timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=check, capture_output=True, text=True, timeout=timeout)


def b3(data: bytes) -> str:
    return blake3.blake3(data).hexdigest()


def b3_file(path: bytes | str | Path) -> str:
    h = blake3.blake3()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


# -- content with a known category ------------------------------------------------------------------------------

CATEGORY_OF_KIND = {"png": "images", "pdf": "documents", "mp4": "videos", "mp3": "audio"}


MP4_HEADER = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"


def make_content(kind: str, rng: random.Random, size: int = 0) -> bytes:
    """Bytes libmagic classifies as ``kind`` (png, pdf, mp4: by content; mp3: an ID3 header), unique thanks to
    a random tail, about ``size`` bytes when given. (Random bytes alone are no video: now and then they match
    a signature, e.g. a DOS .COM executable, and usbsync rightly leaves them unclassified.)"""
    tail = rng.randbytes(max(16, size))
    if kind == "png":
        return png_bytes(rng.randrange(1 << 24)) + tail
    if kind == "pdf":
        return pdf_bytes(tail[:8].hex()) + tail
    if kind == "mp3":
        return mp3_bytes() + tail
    return MP4_HEADER + tail  # an ISO base media 'ftyp' box: video/mp4 to libmagic


def category_of(data: bytes, name: bytes) -> str | None:
    if data.startswith(b"\x89PNG"):
        return "images"
    if data.startswith(b"%PDF"):
        return "documents"
    if data.startswith(b"ID3"):
        return "audio"
    if data[4:8] == b"ftyp" or name.lower().endswith(b".mp4"):
        return "videos"
    return None


def excluded(name: bytes) -> bool:
    n = os.fsdecode(name)
    return any(fnmatch.fnmatch(n.lower(), p.lower()) for p in DEFAULT_EXCLUDES)


# -- counts -----------------------------------------------------------------------------------------------------


@dataclass
class Counts:
    values: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNT_KEYS, 0))
    details: list[str] = field(default_factory=list)

    def add(self, key: str, detail: str, n: int = 1) -> None:
        self.values[key] += n
        if len(self.details) < 60:
            self.details.append(f"{key}: {detail}")

    @property
    def total(self) -> int:
        return sum(self.values.values())


# -- drives -----------------------------------------------------------------------------------------------------


class FaultDrive(Drive):
    """A drive whose loop device is always ours (ext4 too), so it can be made read-only, aborted or cloned."""

    label: str = ""

    def plug(self, at: Path | None = None, ro: bool = False) -> Path:
        if at is not None:
            self.mountpoint = at
        self.mountpoint.mkdir(parents=True, exist_ok=True)
        self.loop = run_tool(["losetup", "-f", "--show", str(self.image)]).stdout.strip()
        self._loops.append(self.loop)
        if self.device_group is not None:
            os.chown(self.loop, 0, self.device_group)
            os.chmod(self.loop, 0o660)
        if self.fstype == "ext4":
            run_tool(["mount", "-o", "ro" if ro else "rw", self.loop, str(self.mountpoint)])
        else:
            opts = ["-o", "ro"] if ro else []
            run_tool(["mount.exfat-fuse", self.loop, str(self.mountpoint), *opts])
            out = run_tool(["pgrep", "-f", f"mount.exfat-fuse {self.loop} {self.mountpoint}"]).stdout.split()
            self.fuse_pid = int(out[0])
        self.mounted = True
        return self.mountpoint

    def _detach(self) -> None:
        if self.device_group is not None:
            for loop in self._loops:  # back to root-only before the device is reused
                with contextlib.suppress(OSError):
                    os.chown(loop, 0, 0)
                    os.chmod(loop, 0o600)
        super()._detach()

    def unplug(self) -> None:
        if not self.mounted:
            return
        for args in (["umount"], ["umount", "-l"]):
            if not os.path.ismount(self.mountpoint) and self.fstype == "ext4":
                break
            subprocess.run([*args, str(self.mountpoint)], check=False, capture_output=True, timeout=30)
        if self.fuse_pid is not None:
            try:
                os.kill(self.fuse_pid, 0)
            except ProcessLookupError:
                pass
            else:  # exfat-fuse flushes and exits after the unmount; wait a little for it
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline and _alive(self.fuse_pid):
                    time.sleep(0.05)
                if _alive(self.fuse_pid):
                    os.kill(self.fuse_pid, signal.SIGKILL)
            self.fuse_pid = None
        self._detach()
        self.mounted = False

    device_group: int | None = None  # give the loop device to this group (0660): blkid -p as a test user

    def fsck(self) -> None:
        tool = ["e2fsck", "-fy"] if self.fstype == "ext4" else ["fsck.exfat", "-y"]
        run_tool([*tool, str(self.image)], check=False)

    def inventory(self) -> list[tuple[bytes, int]]:
        """Every regular file on the volume: (path relative to the mount, size)."""
        out = []
        root = os.fsencode(self.mountpoint)
        for dirpath, dirnames, filenames in os.walk(root):
            if dirpath == root and b"lost+found" in dirnames:
                dirnames.remove(b"lost+found")
            for n in filenames:
                p = os.path.join(dirpath, n)
                try:
                    st = os.lstat(p)
                except OSError:
                    continue
                if stat.S_ISREG(st.st_mode):
                    out.append((os.path.relpath(p, root), st.st_size))
        return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie child of ours counts as gone
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ")[-1][:1] != "Z"
    except OSError:
        return False


# -- the product as processes -----------------------------------------------------------------------------------


class FaultUsbsync(Usbsync):
    """The e2e ``Usbsync`` with every call bounded and every output kept for the traceback check (its prefix:
    ``setpriv`` to run as another user, ``unshare`` for a user namespace)."""

    def __init__(self, home: Path, source: Path, counts: Counts, outdir: Path):
        super().__init__(home, source)
        self.counts = counts
        self.outdir = outdir
        self.outputs: list[tuple[str, Path]] = []  # (what, file holding its output)
        self._n = 0

    def _outfile(self, what: str) -> Path:
        self._n += 1
        p = self.outdir / f"{self._n:03d}-{what.replace(' ', '_')}.out"
        self.outputs.append((what, p))
        return p

    def __call__(  # type: ignore[override]
        self, *args: str, check: int | None = 0, timeout: float = PROC_BOUND_S, ok: Iterable[int] = (0,)
    ) -> subprocess.CompletedProcess[str]:
        """Run a one-shot command. A timeout counts as hung, an exit status outside ``ok`` as crashed (when
        ``check`` is not None). Never raises for those: the run goes on and the counts tell."""
        what = " ".join(args[:1])
        out = self._outfile(what)
        with open(out, "w") as fh:
            proc = subprocess.Popen(
                [*self.prefix, USBSYNC, *args],
                env=self.env,
                stdout=fh,
                stderr=subprocess.PIPE,
                text=True,
                start_new_session=True,
            )
            try:
                _, err = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                _, err = proc.communicate()
                self.counts.add("hung", f"usbsync {' '.join(args)} still running after {timeout:.0f} s")
                err = (err or "") + "\n[killed by the harness: timeout]"
            else:
                allowed = set(ok) if check is not None else None
                if allowed is not None and proc.returncode not in allowed:
                    # 1 is "a job failed in this run": a wrong outcome, not a crash
                    self.counts.add(
                        "other" if proc.returncode == 1 else "crashed",
                        f"usbsync {' '.join(args)} exited {proc.returncode}: {(err or '').strip()[-300:]}",
                    )
            fh.write("\n--- stderr ---\n" + (err or ""))
        stdout = out.read_text(errors="replace").split("\n--- stderr ---\n")[0]
        return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, err)

    def json(self, *args: str) -> dict:  # type: ignore[override]
        p = self(*args, "--json")
        try:
            return json.loads(p.stdout)
        except ValueError:
            return {}

    def start(self, *args: str, cmd: str = "run") -> subprocess.Popen[str]:  # type: ignore[override]
        out = self._outfile(cmd)
        fh = open(out, "w")  # noqa: SIM115 (closed by the Popen's owner below)
        proc = subprocess.Popen(
            [*self.prefix, USBSYNC, cmd, *args],
            env=self.env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        fh.close()
        proc.output_file = out  # type: ignore[attr-defined]  (its output, for a crash report)
        return proc


def _tail(proc: subprocess.Popen, n: int = 800) -> str:
    """The last ``n`` characters ``proc`` wrote (its output file), for a crash report."""
    path = getattr(proc, "output_file", None)
    try:
        return path.read_text(errors="replace")[-n:] if path is not None else ""
    except OSError:
        return ""


def _kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()


# -- the scenario -----------------------------------------------------------------------------------------------


@dataclass
class SourceEntry:
    kind: str  # "f" file, "l" symlink, "d" dir, "p" fifo, "o" other
    digest: str = ""  # file: blake3; link: target
    mode: int = 0


class Scenario:
    """One fault run: its folders, drives, processes, the model of what must end up where, and the checker."""

    def __init__(self, base: Path, kind: str, seed: int, atime_reliable: bool):
        self.base = base
        self.kind = kind
        self.seed = seed
        self.rng = random.Random(seed)
        self.counts = Counts()
        self.notes: dict[str, object] = {}
        self.atime_reliable = atime_reliable
        self.home = base / "home"
        self.outbox = base / "outbox"
        self.outside = base / "outside"  # canaries; never under a source folder
        self.moved_out = base / "moved-out"
        for d in (self.outbox, self.outside, self.moved_out, base / "out"):
            d.mkdir(parents=True, exist_ok=True)
        self.usb = FaultUsbsync(self.home, self.outbox, self.counts, base / "out")
        self.drives: dict[str, FaultDrive] = {}
        self.categories: dict[str, str] = {}  # category -> drive name
        self.engines: list[subprocess.Popen[str]] = []
        self.old_hashes: set[str] = set()  # earlier versions of files the fault edited
        self.optional: Counter[str] = Counter()  # content that may be on its drive once (deleted/moved files)
        self.optional_cat: dict[str, str] = {}
        self.not_expected: set[bytes] = set()  # relpaths that must not be copied (unreadable, FIFOs, ...)
        self.listed: set[bytes] = (
            set()
        )  # relpaths a manifest lists: required even when a pattern excludes them
        self.canary_token = b""
        self.canaries: list[Path] = []
        self.before: dict[bytes, SourceEntry] = {}
        self.damage_expected = False
        self.cleanups: list[Callable[[], None]] = []  # run at teardown, last first
        self._reported: set[int] = set()  # pids whose unexpected exit is already counted
        self._cache: dict[tuple[str, bytes, int, int, int, int], str] = {}

    # -- setup ----------------------------------------------------------------------------------------------

    def init(self, owner: tuple[int, int] | None = None) -> None:
        self.usb("init", "--source", str(self.outbox))
        self.usb.set("stability_window_seconds", "0.3")
        self.usb.set("volume_poll_seconds", "1.0")

    def add_drive(
        self, name: str, categories: list[str], fstype: str = "ext4", size_mib: int = 64, owner=None
    ) -> FaultDrive:
        image = self.base / f"{name}.img"
        run_tool(["truncate", "-s", f"{size_mib}M", str(image)])
        if fstype == "ext4":
            extra = ["-E", f"root_owner={owner[0]}:{owner[1]}"] if owner else []
            run_tool(["mkfs.ext4", "-q", "-L", name.upper(), *extra, str(image)])
        else:
            run_tool(["mkfs.exfat", "-L", name.upper(), str(image)])
        d = FaultDrive(image, self.base / "media" / name, fstype)
        d.label = name
        if owner:
            d.device_group = grp.getgrnam("disk").gr_gid
        self.drives[name] = d
        self.notes.setdefault("fs", {})[name] = fstype  # type: ignore[index]
        d.plug()
        args = []
        for c in categories:
            args += ["--category", c]
            self.categories[c] = name
        self.usb("register-drive", str(d.mountpoint), "--name", name, *args)
        return d

    def standard_drives(self, media_fs: str | None = None, size_mib: int = 64) -> None:
        """Media (images, videos) and Docs (documents); audio has no drive. The filesystems come from the seed
        unless given."""
        self.add_drive(
            "Media", ["images", "videos"], media_fs or self.rng.choice(["ext4", "exfat"]), size_mib
        )
        self.add_drive("Docs", ["documents"], self.rng.choice(["ext4", "exfat"]), size_mib)

    def write(self, rel: str | bytes, data: bytes) -> Path:
        p = Path(os.fsdecode(os.path.join(os.fsencode(self.outbox), os.fsencode(rel))))
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        return p

    def populate(
        self,
        n_small: int = 8,
        big: int = 2,
        big_mib: tuple[float, float] = (2.0, 4.0),
        big_kinds: Iterable[str] = ("png", "pdf", "mp4"),
    ) -> list[Path]:
        """Small files of every kind in a few folders, and ``big`` large ones (returned) to be caught mid-copy."""
        folders = ["", "2024", "2024/trip", "scans", "deep/er/still"]
        kinds = ["png", "pdf", "mp4", "mp3"]
        for i in range(n_small):
            k = self.rng.choice(kinds)
            self.write(
                f"{self.rng.choice(folders)}/small-{i}.{k}".lstrip("/"), make_content(k, self.rng, 2000)
            )
        bigs = []
        for i in range(big):
            k = self.rng.choice(list(big_kinds))
            size = int(self.rng.uniform(*big_mib) * (1 << 20))
            bigs.append(
                self.write(
                    f"{self.rng.choice(folders)}/big-{i}.{k}".lstrip("/"), make_content(k, self.rng, size)
                )
            )
        return bigs

    def standard(
        self, media_fs: str | None = None, rate: float = 4.0, big: int = 2, big_kinds=("png", "pdf", "mp4")
    ) -> list[Path]:
        """The usual run: config, the two drives, files (``big`` large ones returned), canaries, the source
        snapshot, and copies slowed to ``rate`` MiB/s so that a fault can land mid-copy."""
        self.init()
        self.standard_drives(media_fs)
        bigs = self.populate(big=big, big_kinds=big_kinds)
        self.plant_canaries()
        self.freeze_sources()
        self.usb.set("max_copy_rate_mib_s", str(rate))
        return bigs

    def wait_exit(self, proc: subprocess.Popen[str], bound: float = PROC_BOUND_S) -> int | None:
        """Wait for a one-shot command started with :meth:`start_engine` (e.g. sync-once). Exit 0 expected;
        1 (a job failed in this run) counts as other, anything else as crashed, a timeout as hung."""
        try:
            rc = proc.wait(timeout=bound)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            proc.wait(timeout=10)
            self.counts.add("hung", f"usbsync {proc.args[-1]} did not finish within {bound:.0f} s")
            return None
        if rc == 1:
            self.counts.add("other", f"usbsync {proc.args[-1]} exited 1: a job failed")
        elif rc != 0:
            self.counts.add("crashed", f"usbsync {proc.args[-1]} exited {rc}")
        return rc

    def plant_canaries(self) -> None:
        """A fake private key and a document outside the outbox, and symlinks to them (and to their folder)
        from inside it. Their bytes must never reach a drive, and they must never be read."""
        self.canary_token = f"CANARY-{self.rng.getrandbits(64):016x}".encode()
        ssh = self.outside / ".ssh"
        ssh.mkdir(exist_ok=True)
        key = ssh / "id_ed25519"
        key.write_bytes(b"-----BEGIN OPENSSH PRIVATE KEY-----\n" + self.canary_token + b"\n-----END-----\n")
        doc = self.outside / "secret.pdf"
        doc.write_bytes(pdf_bytes(self.canary_token.decode()) + self.canary_token)
        img = self.outside / "private.png"
        img.write_bytes(png_bytes(99) + self.canary_token)
        self.canaries = [key, doc, img, ssh, self.outside]
        os.symlink(key, self.outbox / "id_ed25519.pdf")
        os.symlink(doc, self.outbox / "secret-link.pdf")
        os.symlink("../outside/private.png", self.outbox / "relative-escape.png")
        os.symlink(self.outside, self.outbox / "outside-dir")
        os.symlink(ssh, self.outbox / ".ssh-link")
        self.arm_canaries()

    def arm_canaries(self) -> None:
        for p in self.canaries:
            os.utime(p, (1_000_000, os.stat(p).st_mtime))

    def snapshot(self) -> dict[bytes, SourceEntry]:
        """The source tree (no links followed): kinds, content hashes, modes, link targets."""
        snap: dict[bytes, SourceEntry] = {}
        root = os.fsencode(self.outbox)
        for dirpath, dirnames, filenames in os.walk(root):
            for n in dirnames + filenames:
                p = os.path.join(dirpath, n)
                rel = os.path.relpath(p, root)
                st = os.lstat(p)
                if stat.S_ISLNK(st.st_mode):
                    snap[rel] = SourceEntry("l", os.fsdecode(os.readlink(p)))
                elif stat.S_ISDIR(st.st_mode):
                    snap[rel] = SourceEntry("d", "", stat.S_IMODE(st.st_mode))
                elif stat.S_ISREG(st.st_mode):
                    snap[rel] = SourceEntry("f", b3_file(p), stat.S_IMODE(st.st_mode))
                elif stat.S_ISFIFO(st.st_mode):
                    snap[rel] = SourceEntry("p", "", stat.S_IMODE(st.st_mode))
                else:
                    snap[rel] = SourceEntry("o", "", stat.S_IMODE(st.st_mode))
        return snap

    def freeze_sources(self) -> None:
        self.before = self.snapshot()

    def add_new_sources(self) -> None:
        """Take files the run itself added since the snapshot into the model (and nothing else)."""
        for rel, e in self.snapshot().items():
            self.before.setdefault(rel, e)

    # -- the fault's own edits to the sources (kept in the model) ---------------------------------------------

    def needed_on(self, drive: str) -> int:
        """Bytes of the source files that must go to ``drive``."""
        total = 0
        for rel, e in self.before.items():
            if e.kind != "f" or excluded(os.path.basename(rel)):
                continue
            p = os.path.join(os.fsencode(self.outbox), rel)
            with open(p, "rb") as fh:
                cat = category_of(fh.read(8), os.path.basename(rel))
            if self.categories.get(cat or "") == drive:
                total += os.path.getsize(p)
        return total

    def _rel(self, p: Path) -> bytes:
        return os.path.relpath(os.fsencode(p), os.fsencode(self.outbox))

    def edit_modify(self, p: Path) -> str:
        """Change bytes in place (same inode): overwrite a random range, or append."""
        old = p.read_bytes()
        self.old_hashes.add(b3(old))
        how = self.rng.choice(["overwrite", "append"])
        with open(p, "r+b") as fh:
            if how == "overwrite":
                off = self.rng.randrange(64, max(65, len(old) - 4096))
                fh.seek(off)
                fh.write(self.rng.randbytes(4096))
            else:
                fh.seek(0, 2)
                fh.write(self.rng.randbytes(self.rng.randrange(1, 1 << 16)))
        self.before[self._rel(p)] = SourceEntry("f", b3_file(p), self.before[self._rel(p)].mode)
        return how

    def edit_rewrite(self, p: Path) -> str:
        """Replace the whole content: atomically (write beside, rename over) or truncate and write again."""
        old = p.read_bytes()
        self.old_hashes.add(b3(old))
        kind = {b"\x89PNG": "png", b"%PDF": "pdf"}.get(old[:4], "mp4")
        new = make_content(kind, self.rng, len(old) + self.rng.randrange(-4096, 4096))
        how = self.rng.choice(["rename-over", "truncate-write"])
        if how == "rename-over":
            tmp = p.with_name(f".{p.name}.{self.rng.getrandbits(32):x}.tmp")
            tmp.write_bytes(new)
            os.replace(tmp, p)
        else:
            with open(p, "r+b") as fh:
                fh.truncate(0)
                fh.write(new)
        self.before[self._rel(p)] = SourceEntry("f", b3(new), self.before[self._rel(p)].mode)
        return how

    def edit_remove(self, p: Path, move: bool) -> None:
        rel = self._rel(p)
        data = p.read_bytes()
        cat = category_of(data, os.fsencode(p.name))
        h = b3(data)
        if move:
            os.replace(p, self.moved_out / f"{self.rng.getrandbits(32):x}-{p.name}")
        else:
            p.unlink()
        del self.before[rel]
        if cat in self.categories:
            self.optional[h] += 1  # it may already be on the drive, complete
            self.optional_cat[h] = cat

    # -- processes ------------------------------------------------------------------------------------------

    def start_engine(self, wait_watching: bool = True, cmd: str = "run") -> subprocess.Popen[str]:
        mark = f"watching {self.outbox}"  # the source watcher is up: the engine has started
        n0 = self.usb.log().count(mark)
        proc = self.usb.start(cmd=cmd)
        self.engines.append(proc)
        if wait_watching and cmd == "run":
            deadline = time.monotonic() + 30
            while self.usb.log().count(mark) <= n0:
                if proc.poll() is not None:
                    self.counts.add("crashed", f"usbsync run exited {proc.returncode} at start")
                    self._reported.add(proc.pid)
                    break
                if time.monotonic() > deadline:
                    self.counts.add("hung", "usbsync run did not start watching within 30 s")
                    break
                time.sleep(0.05)
        return proc

    def stop_engine(
        self, proc: subprocess.Popen[str], sig: int = signal.SIGTERM, expect_zero: bool = True
    ) -> int | None:
        """Signal and wait (bounded). SIGTERM must give exit 0 within STOP_BOUND_S."""
        if proc.poll() is not None:
            if expect_zero and proc.pid not in self._reported:
                self.counts.add("crashed", f"usbsync {proc.args[-1]} had already exited {proc.returncode}")
            self._reported.add(proc.pid)
            return proc.returncode
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        try:
            rc = proc.wait(timeout=STOP_BOUND_S)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            proc.wait(timeout=10)
            self.counts.add(
                "hung", f"usbsync {proc.args[-1]} did not exit within {STOP_BOUND_S:.0f} s of signal {sig}"
            )
            return None
        if expect_zero and sig == signal.SIGTERM and rc != 0:
            self.counts.add(
                "crashed",
                f"usbsync {proc.args[-1]} exited {rc} after SIGTERM (must be 0); last output: {_tail(proc)!r}",
            )
        return rc

    def kill9(self, proc: subprocess.Popen[str]) -> None:
        _kill_group(proc)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.counts.add("hung", "a SIGKILLed usbsync did not go away")

    def cleanup_processes(self) -> None:
        for proc in self.engines:
            if proc.poll() is None:
                _kill_group(proc)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=10)

    # -- waiting for a fault point ---------------------------------------------------------------------------

    def temps(self) -> list[tuple[FaultDrive, bytes, int]]:
        out = []
        for d in self.drives.values():
            if not d.mounted or not os.path.ismount(d.mountpoint):
                continue
            try:
                for rel, size in d.inventory():
                    if TEMP_RE.match(os.path.basename(rel)):
                        out.append((d, rel, size))
            except OSError:
                continue
        return out

    def wait_mid_copy(
        self, min_bytes: int = 64 << 10, timeout: float = 20.0, drive: str | None = None
    ) -> FaultDrive | None:
        """Until a temp file of at least ``min_bytes`` exists (a big file is being copied): its drive, or None
        on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for d, _, size in self.temps():
                if size >= min_bytes and (drive is None or d.label == drive):
                    return d
            time.sleep(0.02)
        return None

    def fill(self, d: FaultDrive, leave: int = 0) -> Path:
        """Write a filler file at the volume's root until at most ``leave`` bytes are free (or it is full)."""
        filler = d.mountpoint / f"filler-{self.rng.getrandbits(32):08x}.bin"
        chunk = bytes(1 << 20)
        with open(filler, "wb") as fh:
            try:
                while True:
                    st = os.statvfs(d.mountpoint)
                    free = st.f_bavail * st.f_frsize
                    if free <= leave:
                        break
                    fh.write(chunk[: max(4096, min(len(chunk), free - leave))])
                    fh.flush()
            except OSError:
                pass  # ENOSPC: full
        return filler

    def fault_delay(self, hi: float) -> float:
        t = self.rng.uniform(0, hi)
        time.sleep(t)
        return round(t, 3)

    # -- the checker ------------------------------------------------------------------------------------------

    def _hash_on(self, d: FaultDrive, rel: bytes, size: int) -> str:
        p = os.path.join(os.fsencode(d.mountpoint), rel)
        st = os.lstat(p)
        # ctime and inode too: a copier may set the mtime, and a replaced file can keep size and mtime
        key = (d.label, rel, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        if key not in self._cache:
            self._cache[key] = b3_file(p)
        return self._cache[key]

    def expected(self) -> tuple[dict[str, Counter[str]], dict[str, Counter[str]], dict[str, str]]:
        """(required, allowed) content counts per drive, from the sources as they are now, and hash -> the
        category it belongs to. Symlinks whose real path stays in the outbox may add one allowed copy each."""
        required: dict[str, Counter[str]] = {n: Counter() for n in self.drives}
        allowed: dict[str, Counter[str]] = {n: Counter() for n in self.drives}
        cat_of: dict[str, str] = {}
        root = os.fsencode(self.outbox)
        real_root = os.path.realpath(root)
        for rel, e in self.before.items():
            p = os.path.join(root, rel)
            name = os.path.basename(rel)
            if e.kind == "f":
                if rel in self.not_expected or name.lower().endswith(b".lst"):
                    continue
                if excluded(name) and rel not in self.listed:
                    continue
                with open(p, "rb") as fh:
                    head = fh.read(8)
                cat = category_of(head, name)
                if cat is None:
                    continue
                cat_of[e.digest] = cat
                drive = self.categories.get(cat)
                if drive:
                    required[drive][e.digest] += 1
                    allowed[drive][e.digest] += 1
            elif e.kind == "l":
                real = os.path.realpath(p)
                if real.startswith(real_root + b"/") and os.path.isfile(real):
                    try:
                        data_head = open(real, "rb").read(8)  # noqa: SIM115 (inside the outbox)
                        h = b3_file(real)
                    except OSError:
                        continue
                    cat = category_of(data_head, os.path.basename(real))
                    if cat in self.categories:
                        allowed[self.categories[cat]][h] += 1
        for h, n in self.optional.items():
            drive = self.categories.get(self.optional_cat[h])
            if drive:
                allowed[drive][h] += n
                cat_of[h] = self.optional_cat[h]
        return required, allowed, cat_of

    def check_drives(self, record: Counts | None = None) -> Counts:
        """The drives against the model. Into ``record`` (default: a fresh Counts, used to poll convergence)."""
        c = record or Counts()
        required, allowed, cat_of = self.expected()
        for name, d in self.drives.items():
            if not d.mounted or not os.path.ismount(d.mountpoint):
                c.add("lost", f"{name} is not mounted at the end")
                continue
            present: Counter[str] = Counter()
            where: dict[str, list[bytes]] = {}
            folder = os.fsencode(FOLDER)
            for rel, size in d.inventory():
                base = os.path.basename(rel)
                if TEMP_RE.match(base):
                    c.add("temp_left", f"{name}: {os.fsdecode(rel)!r} ({size} bytes)")
                    continue
                top = rel.split(b"/", 1)[0]
                if top == b".usbsync":
                    continue
                # the final verdict reads every file; polling for convergence may use the cache
                h = (
                    self._hash_on(d, rel, size)
                    if record is None
                    else b3_file(os.path.join(os.fsencode(d.mountpoint), rel))
                )
                if self.canary_token:
                    with open(os.path.join(os.fsencode(d.mountpoint), rel), "rb") as fh:
                        if self.canary_token in fh.read():
                            c.add(
                                "leaked",
                                f"{name}: {os.fsdecode(rel)!r} holds canary bytes from outside the outbox",
                            )
                            continue
                if top != folder:
                    c.add("outside_writes", f"{name}: {os.fsdecode(rel)!r} is outside {FOLDER}/")
                    continue
                present[h] += 1
                where.setdefault(h, []).append(rel)
            for h, n in required[name].items():
                if present[h] == 0:
                    c.add("lost", f"{name}: content {h[:12]} ({n} source file(s)) missing", n)
            for h, n in present.items():
                label = ", ".join(repr(os.fsdecode(r)) for r in where[h][:3])
                if allowed[name][h]:
                    if n > allowed[name][h]:
                        c.add(
                            "duplicated", f"{name}: {label} {n} copies of one content", n - allowed[name][h]
                        )
                elif h in self.old_hashes:
                    c.add("corrupt", f"{name}: {label} is an older version of an edited source", n)
                elif h in cat_of:
                    c.add("corrupt", f"{name}: {label} is a {cat_of[h]} file routed to the wrong drive", n)
                else:
                    c.add("corrupt", f"{name}: {label} matches no source content (partial or garbage)", n)
        return c

    def converged(self) -> bool:
        try:
            c = self.check_drives()
        except OSError:
            return False
        return all(c.values[k] == 0 for k in ("lost", "duplicated", "corrupt", "temp_left"))

    def wait_converged(self, timeout: float = CONVERGE_S, engine: subprocess.Popen | None = None) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.converged():
                return True
            if engine is not None and engine.poll() is not None:
                return False
            time.sleep(0.25)
        return False

    def check_sources(self) -> None:
        after = self.snapshot()
        for rel in sorted(set(self.before) | set(after)):
            b, a = self.before.get(rel), after.get(rel)
            if b != a:
                self.counts.add("sources_changed", f"{os.fsdecode(rel)!r}: {b} -> {a}")

    def check_canaries(self) -> None:
        if not self.atime_reliable:
            return
        for p in self.canaries:
            if os.stat(p).st_atime > 1_000_000 + 1:
                self.counts.add("leaked", f"{p} (outside the outbox) was read")

    def check_outputs(self) -> None:
        texts = [(w, p.read_text(errors="replace")) for w, p in self.usb.outputs if p.exists()]
        logs = self.home / "logs"
        if logs.is_dir():
            texts += [(f"log {p.name}", p.read_text(errors="replace")) for p in logs.iterdir() if p.is_file()]
        for what, text in texts:
            if "Traceback" in text:
                i = text.index("Traceback")
                self.counts.add("crashed", f"traceback in {what}: {text[i : i + 600]!r}")

    def check_bare_mountpoints(self) -> None:
        for name, d in self.drives.items():
            if d.mounted:
                d.unplug()
            if d.mountpoint.exists() and not os.path.ismount(d.mountpoint):
                left = os.listdir(d.mountpoint)
                if left:
                    self.counts.add(
                        "outside_writes", f"{name}: written into the bare mount point: {left[:5]}"
                    )

    def finish(self, converge_s: float = CONVERGE_S, engine: subprocess.Popen | None = None) -> None:
        """Recover, stop with SIGTERM (exit 0 within the bound), then check everything.

        With ``engine`` (a running ``usbsync run``) the engine itself must finish the queue; without, a fresh
        ``usbsync run`` is started and must."""
        self.usb.set("max_copy_rate_mib_s", "0")
        if engine is None or engine.poll() is not None:
            if engine is not None:
                self.stop_engine(engine)  # counts it as crashed: it died on its own
            engine = self.start_engine()
        ok = self.wait_converged(converge_s, engine)
        self.notes["converged"] = ok
        self.stop_engine(engine)
        self.check_drives(self.counts)
        self.check_bare_mountpoints()
        self.check_sources()
        self.check_canaries()
        self.check_outputs()
        if self.damage_expected:
            aside = list((self.home / "state").glob("state.db.damaged-*"))
            if not aside:
                self.counts.add(
                    "other", "the damaged database was not set aside (no state/state.db.damaged-*)"
                )

    def teardown(self) -> None:
        """Kill what is left, unplug every drive, run the extra cleanups. Never raises."""
        self.cleanup_processes()
        for d in self.drives.values():
            with contextlib.suppress(Exception):  # go on with the others
                d.unplug()
        for fn in reversed(self.cleanups):
            with contextlib.suppress(Exception):
                fn()
