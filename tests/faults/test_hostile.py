"""Hostile inputs generated with hypothesis: names, ``.lst`` content, symlink trees, FIFOs, unreadable files.

Each hypothesis example is a fresh scenario (its own drive, outbox, state) checked with the same invariants
as every fault, then ``usbsync run`` must start and stop on SIGTERM with exit 0. The hypothesis run is seeded
with the fault seed (``USBSYNC_FAULT_SEED`` replays it); the number of examples is ``USBSYNC_FAULT_EXAMPLES``
or 2 (subset) / 25 (``USBSYNC_FAULTS=full``), plus one explicit example per test that holds every hostile
case at once, so the subset always covers them. Shrinking is off: every example costs real mounts.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, example, given, seed, settings
from hypothesis import strategies as st

from tests.e2e.conftest import system_user
from tests.faults.conftest import assert_clean, hypothesis_examples
from tests.faults.harness import Scenario, make_content

pytestmark = pytest.mark.faults

TEST_USER = "usbsync-fault"


def _settings():
    return settings(
        max_examples=hypothesis_examples(),
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        database=None,
        suppress_health_check=list(HealthCheck),
    )


def _one_drive(sc: Scenario, fstype: str, owner=None) -> None:
    sc.add_drive("All", ["images", "videos", "documents"], fstype, size_mib=48, owner=owner)


def _run_example(scenarios, fault_seed: int, kind: str, body) -> None:
    sc = scenarios(fault_seed, kind)
    passed, err = False, None
    try:
        body(sc)
        assert_clean(sc)
        passed = True
    except BaseException as exc:
        err = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        raise
    finally:
        scenarios.close(sc, passed, err)


def _settle(sc: Scenario) -> None:
    """sync-once (exit 0, bounded), then finish: run + SIGTERM + every check."""
    sc.freeze_sources()
    sc.usb("sync-once", timeout=60)
    sc.finish(converge_s=10)


# -- names ------------------------------------------------------------------------------------------------------

SPECIAL_NAMES = [
    b"CON",
    b"nul.png",
    b"COM1.pdf",
    b"aux",
    b"a\\b.png",
    b"x:y.pdf",
    b'q"uote*?<>|.png',
    b" leading space.png",
    b"trailing dot.",
    b"trailing space ",
    b"...",
    b".hidden.png",
    b"new\nline.pdf",
    b"tab\there.png",
    b"\xff\xfeinvalid-utf8.png",
    b"caf\xe9-latin1.pdf",
    b"\x01\x1fcontrol.png",
    "写真".encode() * 40 + b".png",  # 243 bytes of UTF-8
    b"n" * 251 + b".pdf",  # 255 bytes
    b"Same.png",
    b"same.PNG",
    "e\u0301-nfd.png".encode(),
    "\u00e9-nfc.png".encode(),
]

name_bytes = st.one_of(
    st.sampled_from(SPECIAL_NAMES),
    st.binary(min_size=1, max_size=255).filter(
        lambda b: b"/" not in b and b"\0" not in b and b not in (b".", b"..")
    ),
)


def test_hostile_names(scenarios, fault_seed):
    @_settings()
    @seed(fault_seed)
    @given(
        names=st.lists(name_bytes, min_size=1, max_size=8, unique=True),
        dirs=st.lists(
            st.sampled_from([b"", b"sub", b"\xff dir", b"CON", b"dot.", b"a:b"]), min_size=8, max_size=8
        ),
        kinds=st.lists(st.sampled_from(["png", "pdf"]), min_size=8, max_size=8),
        fstype=st.sampled_from(["exfat", "exfat", "ext4"]),
    )
    @example(  # every special name at once, on exFAT: always part of the run
        names=SPECIAL_NAMES,
        dirs=[b"", b"sub", b"\xff dir", b"CON", b"dot.", b"a:b"] * 4,
        kinds=["png", "pdf"] * 12,
        fstype="exfat",
    )
    def example_(names, dirs, kinds, fstype):
        def body(sc: Scenario):
            sc.init()
            _one_drive(sc, fstype)
            for i, n in enumerate(names):
                rel = os.path.join(dirs[i], n) if dirs[i] else n
                try:
                    sc.write(rel, make_content(kinds[i], sc.rng, 3000))
                except (IsADirectoryError, NotADirectoryError, FileExistsError):
                    continue  # a name drawn twice as a file and a folder
            sc.plant_canaries()
            sc.notes["names"] = [repr(n) for n in names]
            _settle(sc)

        _run_example(scenarios, fault_seed, "hostile_names", body)

    example_()


# -- manifests --------------------------------------------------------------------------------------------------

lst_line = st.one_of(
    st.sampled_from(["#comment", "", "   ", "keep.tmp", "./keep.tmp", "missing.png", "sub/../keep.tmp"]),
    st.sampled_from(["OUTSIDE_KEY", "OUTSIDE_DOC", "../outside/secret.pdf", "../../../../etc/hostname"]),
    st.sampled_from(["/", "/etc/passwd", "//", "..", ".", "sub", "~/.ssh/id_ed25519"]),
    st.binary(min_size=1, max_size=300).filter(lambda b: b"\n" not in b),
    st.text(max_size=80)
    .filter(lambda t: "\n" not in t and "\r" not in t)
    .map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.just(b"with\0nul.png"),
    st.just(b"keep.tmp\0"),
    st.just(b"\xff\xfe"),
)


def test_hostile_lst(scenarios, fault_seed):
    @_settings()
    @seed(fault_seed)
    @given(
        lines=st.lists(lst_line, min_size=1, max_size=12),
        where=st.integers(0, 12),
        crlf=st.booleans(),
        fstype=st.sampled_from(["exfat", "ext4"]),
    )
    @example(
        lines=[
            "#comment",
            "OUTSIDE_KEY",
            "OUTSIDE_DOC",
            "../outside/secret.pdf",
            "/etc/passwd",
            "..",
            "sub",
            b"with\0nul.png",
            b"keep.tmp\0",
            b"\xff\xfe",
            "~/.ssh/id_ed25519",
            "missing.png",
        ],
        where=5,
        crlf=True,
        fstype="exfat",
    )
    def example_(lines, where, crlf, fstype):
        def body(sc: Scenario):
            sc.init()
            _one_drive(sc, fstype)
            sc.plant_canaries()
            key, doc = sc.canaries[0], sc.canaries[1]
            sc.write("keep.tmp", make_content("pdf", sc.rng, 2000))  # excluded by a pattern, listed: it goes
            sc.write("sub/normal.png", make_content("png", sc.rng, 2000))
            out = []
            for ln in lines:
                if isinstance(ln, str):
                    ln = {"OUTSIDE_KEY": str(key), "OUTSIDE_DOC": str(doc)}.get(ln, ln).encode()
                out.append(ln)
            out.insert(min(where, len(out)), b"keep.tmp")  # one good line among the bad ones
            sep = b"\r\n" if crlf else b"\n"
            sc.write("list.lst", sep.join(out) + sep)
            sc.write("sub/nested.lst", b"../keep.tmp\n" + str(doc).encode() + b"\n\0\n")
            sc.notes["lines"] = [repr(x) for x in out][:20]
            sc.listed.add(b"keep.tmp")
            _settle(sc)

        _run_example(scenarios, fault_seed, "hostile_lst", body)

    example_()


# -- symlink trees ----------------------------------------------------------------------------------------------

link_op = st.tuples(
    st.sampled_from(
        [
            "file",
            "dir",
            "link_in_file",
            "link_in_dir",
            "link_out_file",
            "link_out_dir",
            "loop",
            "self",
            "parent",
            "root",
            "dangling",
            "rel_escape",
            "abs_in",
        ]
    ),
    st.integers(0, 50),
    st.integers(0, 50),
)


def test_hostile_symlinks(scenarios, fault_seed):
    @_settings()
    @seed(fault_seed)
    @given(ops=st.lists(link_op, min_size=2, max_size=14), fstype=st.sampled_from(["exfat", "ext4"]))
    @example(
        ops=[("file", 0, 1), ("dir", 0, 0), ("file", 1, 0)]
        + [(op, 1, 1) for op in ["link_in_file", "link_in_dir", "link_out_file", "link_out_dir", "loop"]]
        + [(op, 1, 0) for op in ["self", "parent", "root", "dangling", "rel_escape", "abs_in"]],
        fstype="ext4",
    )
    def example_(ops, fstype):
        def body(sc: Scenario):
            sc.init()
            _one_drive(sc, fstype)
            sc.plant_canaries()
            dirs: list[Path] = [sc.outbox]
            files: list[Path] = []
            for i, (op, a, b) in enumerate(ops):
                parent = dirs[a % len(dirs)]
                p = parent / f"e{i}"
                if op == "file":
                    p = p.with_suffix(".png" if b % 2 else ".pdf")
                    p.write_bytes(make_content("png" if b % 2 else "pdf", sc.rng, 2000))
                    files.append(p)
                elif op == "dir":
                    p.mkdir()
                    dirs.append(p)
                elif op == "link_in_file" and files:
                    os.symlink(os.path.relpath(files[b % len(files)], parent), p.with_suffix(".png"))
                elif op == "link_in_dir":
                    os.symlink(os.path.relpath(dirs[b % len(dirs)], parent), p)
                elif op == "link_out_file":
                    os.symlink(sc.canaries[b % 3], p.with_suffix(".pdf"))
                elif op == "link_out_dir":
                    os.symlink(sc.canaries[3 + b % 2], p)
                elif op == "loop":
                    os.symlink(f"e{i}b", p)
                    os.symlink(f"e{i}", parent / f"e{i}b")
                elif op == "self":
                    os.symlink(f"e{i}", p)
                elif op == "parent":
                    os.symlink("..", p)
                elif op == "root":
                    os.symlink("/", p)
                elif op == "dangling":
                    os.symlink("does/not/exist.png", p.with_suffix(".png"))
                elif op == "rel_escape":
                    os.symlink(os.path.relpath(sc.canaries[1], parent), p.with_suffix(".pdf"))
                elif op == "abs_in" and files:
                    os.symlink(files[b % len(files)], p.with_suffix(".pdf"))
            sc.notes["ops"] = [o for o, _, _ in ops]
            _settle(sc)

        _run_example(scenarios, fault_seed, "hostile_symlinks", body)

    example_()


# -- FIFOs ------------------------------------------------------------------------------------------------------


def test_hostile_fifos(scenarios, fault_seed):
    @_settings()
    @seed(fault_seed)
    @given(
        fifos=st.lists(
            st.tuples(
                st.sampled_from(["", "sub", "deep/er"]), st.sampled_from(["a.png", "b.pdf", "c.mp4", "d"])
            ),
            min_size=1,
            max_size=5,
            unique=True,
        ),
        listed=st.booleans(),
        during_run=st.booleans(),
        fstype=st.sampled_from(["exfat", "ext4"]),
    )
    @example(
        fifos=[("", "a.png"), ("sub", "b.pdf"), ("deep/er", "d")], listed=True, during_run=True, fstype="ext4"
    )
    def example_(fifos, listed, during_run, fstype):
        def body(sc: Scenario):
            sc.init()
            _one_drive(sc, fstype)
            sc.plant_canaries()
            sc.write("sub/ok.png", make_content("png", sc.rng, 2000))
            sc.write("ok.pdf", make_content("pdf", sc.rng, 2000))

            def make_fifos(tag: str) -> list[str]:
                made = []
                for d, n in fifos:
                    rel = os.path.join(d, f"{tag}{n}")
                    (sc.outbox / d).mkdir(parents=True, exist_ok=True)
                    os.mkfifo(sc.outbox / rel)
                    made.append(rel)
                return made

            made = make_fifos("fifo-")
            if listed:
                sc.write("fifos.lst", "\n".join(made).encode() + b"\n")
            sc.notes.update(fifos=made, listed=listed, during_run=during_run)
            sc.freeze_sources()
            sc.usb("sync-once", timeout=60)
            if during_run:
                engine = sc.start_engine()
                make_fifos("live-")
                sc.write("sub/after.png", make_content("png", sc.rng, 2000))
                sc.add_new_sources()
                sc.finish(converge_s=10, engine=engine)
            else:
                sc.finish(converge_s=10)

        _run_example(scenarios, fault_seed, "hostile_fifos", body)

    example_()


# -- unreadable files (as an unprivileged user: root reads everything) -------------------------------------------


def _test_user() -> tuple[int, int]:
    # in group disk: blkid -p on the loop device needs it
    return system_user(TEST_USER, groups=("disk",))


unreadable_op = st.tuples(
    st.sampled_from(["file000", "file200", "dir000", "dir100", "dir300", "ok"]),
    st.sampled_from(["", "sub", "deep/er"]),
    st.sampled_from(["png", "pdf"]),
)


def test_hostile_unreadable(scenarios, fault_seed):
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is needed to run usbsync as an unprivileged user")
    uid, gid = _test_user()

    @_settings()
    @seed(fault_seed)
    @given(ops=st.lists(unreadable_op, min_size=1, max_size=8))
    @example(
        ops=[
            ("file000", "", "png"),
            ("file200", "sub", "pdf"),
            ("dir000", "", "png"),
            ("dir100", "sub", "pdf"),
            ("dir300", "deep/er", "png"),
            ("ok", "", "png"),
            ("ok", "sub", "pdf"),
        ]
    )
    def example_(ops):
        def body(sc: Scenario):
            sc.usb.prefix = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--init-groups"]
            sc.usb.extra_env = {"HOME": str(sc.home), "USER": TEST_USER, "LOGNAME": TEST_USER}
            for p in (sc.home, sc.outbox, sc.base / "out"):
                p.mkdir(parents=True, exist_ok=True)
                os.chown(p, uid, gid)
            sc.init()
            _one_drive(sc, "ext4", owner=(uid, gid))
            sc.plant_canaries()
            locks = []
            for i, (op, d, k) in enumerate(ops):
                data = make_content(k, sc.rng, 2000)
                if op.startswith("file"):
                    p = sc.write(os.path.join(d, f"u{i}.{k}"), data)
                    os.chmod(p, 0o000 if op == "file000" else 0o200)
                    sc.not_expected.add(os.fsencode(os.path.relpath(p, sc.outbox)))
                elif op.startswith("dir"):
                    p = sc.write(os.path.join(d, f"locked{i}", f"inside.{k}"), data)
                    sc.not_expected.add(os.fsencode(os.path.relpath(p, sc.outbox)))
                    locks.append((p.parent, int(op[3:], 8)))
                else:
                    sc.write(os.path.join(d, f"ok{i}.{k}"), data)
            for root, dirnames, filenames in os.walk(sc.outbox):
                for n in dirnames + filenames:
                    os.lchown(os.path.join(root, n), uid, gid)
            for p, mode in locks:
                os.chmod(p, mode)
            sc.notes["ops"] = [o for o, _, _ in ops]
            _settle(sc)

        _run_example(scenarios, fault_seed, "hostile_unreadable", body)

    example_()
