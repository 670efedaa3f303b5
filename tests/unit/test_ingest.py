import csv
import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import byte_names, needs_fifos, needs_symlinks, pdf_bytes, png_bytes
from tests.unit.helpers import make_service
from usbsync_gui.core.audit import AUDIT_FILE
from usbsync_gui.core.ingest import IngestStats


def test_scan_queues_by_category_and_skips_unchanged(tmp_path):
    svc, src, _ = make_service(tmp_path)
    (src / "sub").mkdir()
    (src / "sub" / "a.txt").write_bytes(png_bytes(1))
    (src / "doc.pdf").write_bytes(pdf_bytes())
    (src / "half.part").write_bytes(png_bytes(2))  # excluded by default
    s1 = svc.scan()
    assert (s1.seen, s1.jobs_queued) == (2, 1)
    s2 = svc.scan()
    assert (s2.unchanged, s2.new_or_changed, s2.jobs_queued) == (2, 0, 0)
    row = svc.db.file_by_path(str(src / "sub" / "a.txt"))
    assert (row.relpath, row.category, row.mime) == ("sub/a.txt", "images", "image/png")
    svc.close()


def test_changed_file_is_rehashed_and_requeued(tmp_path):
    svc, src, _ = make_service(tmp_path)
    p = src / "a.png"
    p.write_bytes(png_bytes(1))
    svc.scan()
    p.write_bytes(png_bytes(2))
    os.utime(p, ns=(1, 2_000_000_000))
    s = svc.scan()
    assert s.new_or_changed == 1
    jobs = svc.db.next_jobs(svc.config.drives[0].id, 10)
    assert len(jobs) == 1 and jobs[0].blake3 == svc.db.file_by_path(str(p)).blake3
    svc.close()


def test_fresh_files_wait_for_the_stability_window(tmp_path):
    svc, src, _ = make_service(tmp_path)
    (src / "new.png").write_bytes(png_bytes())
    s = svc.scan(min_age_s=60)
    assert s.jobs_queued == 0 and [p.name for p in s.fresh] == ["new.png"]
    svc.close()


def test_manifest_entries_refused_outside_and_missing_reported(tmp_path, caplog):
    svc, src, _ = make_service(tmp_path)
    outside = tmp_path / "secret.png"
    outside.write_bytes(png_bytes(9))
    (src / "keep.tmp").write_bytes(png_bytes(3))  # excluded by pattern, but listed: synced
    (src / "abs.png").write_bytes(png_bytes(4))
    (src / "list.lst").write_text(
        f"# files for the stick\nkeep.tmp\n{src / 'abs.png'}\n../secret.png\nnot-there.png\n"
    )
    s = svc.scan()
    assert s.refused == 1 and s.missing == 1
    queued = {j.relpath for j in svc.db.next_jobs(svc.config.drives[0].id, 10)}
    assert queued == {"keep.tmp", "abs.png"}
    assert "list.lst:4: refused ../secret.png: outside the source folders" in caplog.text
    assert svc.db.file_by_path(str(outside)) is None
    svc.close()


# -- issue 7, item 2: a file is read only if its real path is inside a source folder's real path ---------------


def _queued(svc) -> set[str]:
    return {j.relpath for j in svc.db.next_jobs(svc.config.drives[0].id, 100)}


def _refusal_lines(caplog, name: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.getMessage().startswith("refused") and name in r.getMessage()
    ]


@needs_symlinks
def test_links_leading_outside_are_refused_once_and_never_read(tmp_path, caplog):
    svc, src, _ = make_service(tmp_path, categories=("images", "documents"))
    secret = tmp_path / "home" / ".ssh" / "id_ed25519"
    secret.parent.mkdir(parents=True)
    secret.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nnot for the stick\n")
    outside_png = tmp_path / "elsewhere.png"
    outside_png.write_bytes(png_bytes(7))
    (src / "real.png").write_bytes(png_bytes(1))
    (src / "notes.txt").symlink_to(secret)
    (src / "passwd").symlink_to("/etc/passwd")
    (src / "pic.png").symlink_to(outside_png)
    (src / "alias.png").symlink_to(src / "real.png")  # stays inside: read under its own name
    (src / "linked-dir").symlink_to(tmp_path / "home" / ".ssh")  # a folder link leading out
    s = svc.scan()
    assert _queued(svc) == {"real.png", "alias.png"}
    for leak in ("notes.txt", "passwd", "pic.png"):
        assert svc.db.file_by_path(str(src / leak)) is None, leak
    assert svc.db.file_by_path(str(src / "alias.png")).relpath == "alias.png"
    assert s.refused == 4
    assert svc.db.refusal_count() == 4
    for name in ("notes.txt", "passwd", "pic.png", "linked-dir"):
        assert len(_refusal_lines(caplog, name)) == 1, name
    assert "leads outside the source folders" in caplog.text

    # Seen again by a rescan and by the watcher: still refused, not logged again.
    caplog.clear()
    s2 = svc.scan()
    s3 = svc.ingest_paths([src / "notes.txt", src / "passwd"])
    assert (s2.refused, s3.refused) == (4, 2) and not _refusal_lines(caplog, "")
    assert svc.db.refusal_count() == 4

    # The link replaced by a regular file: read, and off the list; a removed link is forgotten by the scan.
    (src / "pic.png").unlink()
    (src / "pic.png").write_bytes(png_bytes(8))
    (src / "passwd").unlink()
    svc.scan()
    assert "pic.png" in _queued(svc)
    assert svc.db.refusal_count() == 2
    svc.close()


@needs_symlinks
def test_a_file_swapped_for_a_link_after_the_check_is_not_read(tmp_path):
    svc, src, _ = make_service(tmp_path)
    outside = tmp_path / "elsewhere.png"
    outside.write_bytes(png_bytes(7))
    p = src / "a.png"
    p.write_bytes(png_bytes(1))
    stats = IngestStats()
    todo = svc.ingestor._needs_work(str(p), stats, False, 0.0, False)
    assert todo is not None
    p.unlink()
    p.symlink_to(outside)  # between the cheap check and the read
    with svc.db.transaction():
        svc.ingestor._record(todo, svc.ingestor._analyse(todo), stats)
    assert svc.db.file_by_path(str(p)) is None and stats.refused == 1
    svc.close()


@needs_symlinks
def test_source_folder_reached_through_a_link_keeps_manifest_entries_inside(tmp_path, caplog):
    """Fedora Silverblue: /home -> /var/home. The source as configured goes through a link."""
    real_home = tmp_path / "var" / "home"
    (real_home / "out").mkdir(parents=True)
    (tmp_path / "home-link").symlink_to(real_home)
    src = tmp_path / "home-link" / "out"
    svc, _, _ = make_service(tmp_path, sources=(src,))
    (src / "a.png").write_bytes(png_bytes(1))
    (src / "keep.tmp").write_bytes(png_bytes(2))
    (src / "b.tmp").write_bytes(png_bytes(3))
    (src / "list.lst").write_text(f"keep.tmp\n{real_home / 'out' / 'b.tmp'}\n")
    s = svc.scan()
    assert s.refused == 0, caplog.text
    assert _queued(svc) == {"a.png", "keep.tmp", "b.tmp"}
    assert svc.db.file_by_path(str(src / "b.tmp")) is not None  # recorded under the folder as configured
    svc.close()


# -- issue 7, item 4: one bad input never stops the others -------------------------------------------------------


@byte_names
def test_a_name_that_is_not_utf8_does_not_stop_its_batch(tmp_path, caplog, capsys):
    svc, src, _ = make_service(tmp_path)
    bad = os.fsdecode(b"caf\xe9-\xff.png")  # Latin-1 bytes: not valid UTF-8
    for name in ("a.png", bad, "z.png"):
        (src / name).write_bytes(png_bytes(len(name)))
    s = svc.scan()
    assert _queued(svc) == {"a.png", bad, "z.png"}
    assert s.errors == 0
    assert svc.db.file_by_path(str(src / bad)).relpath == bad  # the original name, losslessly
    assert svc.scan().unchanged == 3  # and every rescan is fine too
    assert "Logging error" not in capsys.readouterr().err
    csv_text = (svc.paths.log_dir / "file_operations.csv").read_text(encoding="utf-8")
    assert "caf\ufffd-\ufffd.png" in csv_text
    svc.close()


def test_an_exception_on_one_file_is_logged_and_the_batch_goes_on(tmp_path, caplog, monkeypatch):
    svc, src, _ = make_service(tmp_path)
    for name in ("a.png", "boom.png", "z.png"):
        (src / name).write_bytes(png_bytes(len(name)))
    real = svc.classifier.classify

    def classify(path, *a, **kw):
        if os.path.basename(path) == "boom.png":
            raise RuntimeError("libmagic fell over")
        return real(path, *a, **kw)

    monkeypatch.setattr(svc.classifier, "classify", classify)
    s = svc.scan()
    assert _queued(svc) == {"a.png", "z.png"}
    assert s.errors == 1
    lines = [r.getMessage() for r in caplog.records if "boom.png" in r.getMessage()]
    assert len(lines) == 1 and "libmagic fell over" in lines[0]
    svc.close()


@byte_names
def test_manifest_lines_with_nul_or_odd_bytes_are_refused_alone(tmp_path, caplog):
    svc, src, _ = make_service(tmp_path)
    latin = os.fsdecode(b"caf\xe9.tmp")
    for name in ("one.tmp", latin, "three.tmp"):
        (src / name).write_bytes(png_bytes(len(name)))
    (src / "list.lst").write_bytes(
        b"one.tmp\r\nbad\x00name.tmp\ncaf\xe9.tmp\n\xff\xfe\x00\x01\n../outside.png\nthree.tmp"
    )
    s = svc.scan()
    assert _queued(svc) == {"one.tmp", latin, "three.tmp"}
    assert s.refused == 3
    assert "list.lst:2: refused" in caplog.text and "list.lst:4: refused" in caplog.text
    assert "list.lst:5: refused ../outside.png: outside the source folders" in caplog.text
    svc.close()


@needs_fifos
def test_fifos_and_sockets_are_skipped_with_one_line_and_never_block(tmp_path, caplog):
    import socket
    import threading
    import time

    svc, src, _ = make_service(tmp_path)
    fifo = src / "pipe.png"
    os.mkfifo(fifo)
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(src / "sock.png"))
    (src / "a.png").write_bytes(png_bytes(1))
    (src / "list.lst").write_text("pipe.png\n")
    finished = threading.Event()

    def unblock() -> None:  # should a reader block on the FIFO, open it as a writer so the test ends
        if not finished.wait(15):
            fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
            os.close(fd)

    guard = threading.Thread(target=unblock)
    guard.start()
    t0 = time.monotonic()
    try:
        svc.scan()
        svc.ingest_paths([fifo])
    finally:
        finished.set()
        guard.join()
        sock.close()
    assert time.monotonic() - t0 < 10, "ingest blocked on a FIFO"
    assert _queued(svc) == {"a.png"}
    assert len(_refusal_lines(caplog, "pipe.png")) == 1
    assert len(_refusal_lines(caplog, "sock.png")) == 1
    svc.close()


_name_bytes = st.binary(min_size=1, max_size=40).filter(
    lambda b: b"/" not in b and b"\0" not in b and b not in (b".", b"..") and not b.endswith(b".lst")
)


@byte_names
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(_name_bytes, min_size=1, max_size=6, unique=True))
def test_any_name_linux_allows_is_ingested(tmp_path_factory, names):
    tmp = tmp_path_factory.mktemp("names")
    svc, src, _ = make_service(tmp, include=("*",), exclude=())
    for i, raw in enumerate(names):
        with open(os.path.join(os.fsencode(src), raw), "wb") as fh:
            fh.write(png_bytes(i))
    s = svc.scan()
    assert s.errors == 0 and s.seen == len(names)
    assert {os.fsencode(r) for r in _queued(svc)} == set(names)
    svc.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.binary(max_size=300))
def test_any_manifest_content_never_aborts_the_scan(tmp_path_factory, content):
    tmp = tmp_path_factory.mktemp("lst")
    svc, src, _ = make_service(tmp)
    (src / "a.png").write_bytes(png_bytes(1))
    (src / "x.lst").write_bytes(content)
    s = svc.scan()
    assert "a.png" in _queued(svc) and s.errors == 0
    svc.close()


@byte_names
def test_logging_and_audit_never_raise_on_undecodable_names(tmp_path, capsys):
    import logging

    from usbsync_gui.core.audit import AuditLog, setup_logging

    bad = os.fsdecode(b"/out/\xff\xfe.png")
    setup_logging(tmp_path / "logs")
    try:
        logging.getLogger("usbsync_gui.test").warning("cannot read %s", bad)
        audit = AuditLog(tmp_path / "logs" / "ops.csv")
        audit.record("queued", bad, bad, "Photos", 1, "", error=f"about {bad}")
        audit.close()
    finally:
        for h in list(logging.getLogger("usbsync_gui").handlers):
            logging.getLogger("usbsync_gui").removeHandler(h)
            h.close()
    err = capsys.readouterr().err
    assert "Logging error" not in err and "Traceback" not in err
    assert "cannot read /out/" in (tmp_path / "logs" / "file_watcher.log").read_text(encoding="utf-8")
    assert (tmp_path / "logs" / "ops.csv").read_text(encoding="utf-8").count("\ufffd\ufffd.png") == 3


def test_files_no_drive_takes_are_logged_once_per_batch_not_once_per_file(tmp_path, caplog):
    """make_service's drive holds images only: PDFs are documents, which no drive holds; random bytes have no
    category. One INFO line each for the batch, naming one file and how many others; each file at DEBUG."""
    import logging

    svc, src, _ = make_service(tmp_path)
    for i in range(5):
        (src / f"doc{i}.pdf").write_bytes(pdf_bytes(f"page {i}"))
    (src / "blob.bin").write_bytes(os.urandom(4096))
    with caplog.at_level(logging.DEBUG, logger="usbsync_gui.core.ingest"):
        svc.scan()
    info = [
        r.getMessage() for r in caplog.records if r.levelno == logging.INFO and "not synced" in r.getMessage()
    ]
    info += [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.INFO and "no drive holds" in r.getMessage()
    ]
    assert len(info) == 2, info
    assert "blob.bin: no category, not synced" in info
    [docs] = [m for m in info if "documents" in m]
    assert docs.startswith("doc") and "and 4 others: documents, but no drive holds that category yet" in docs
    per_file = [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.DEBUG and "no drive holds" in r.getMessage()
    ]
    assert len(per_file) == 5
    # One file on its own (a re-check) says so at once too, not with some later batch.
    caplog.clear()
    (src / "late.pdf").write_bytes(pdf_bytes("late"))
    with caplog.at_level(logging.DEBUG, logger="usbsync_gui.core.ingest"):
        svc.ingestor.ingest_file(src / "late.pdf", IngestStats(), forced=True, recheck=True)
    said = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert said == ["late.pdf: documents, but no drive holds that category yet"]
    svc.close()


def test_a_manifest_line_that_is_not_utf8_is_passed_over_alone(tmp_path):
    """On POSIX such a line may name a file (none here: missing); on Windows no file name can be it (refused).
    Either way the other lines go, and the manifest is no error (Windows' strict decoding made it one)."""
    svc, src, _ = make_service(tmp_path)
    (src / "a.png").write_bytes(png_bytes(1))
    (src / "x.lst").write_bytes(b"caf\xe9.png\na.png\n")
    s = svc.scan()
    assert "a.png" in _queued(svc)
    assert s.errors == 0 and s.refused + s.missing == 1
    assert (s.refused if sys.platform == "win32" else s.missing) == 1
    svc.close()


def test_a_file_the_database_refuses_costs_only_itself_in_a_batch(tmp_path):
    """A batch is first recorded in one savepoint; when one file's insert fails, that is rolled back and the
    files are recorded one by one: every other file is queued, and audited, exactly once."""
    svc, src, _ = make_service(tmp_path)
    names = [f"p{i:03d}.png" for i in range(40)]
    for i, name in enumerate(names):
        (src / name).write_bytes(png_bytes(i))
    # A real constraint of the database, not a stand-in: SQLite refuses this one row.
    svc.db.conn.execute(
        "CREATE TEMP TRIGGER no_p017 BEFORE INSERT ON files WHEN NEW.path LIKE '%p017.png'"
        " BEGIN SELECT RAISE(ABORT, 'refused by a trigger'); END"
    )
    s = svc.scan()
    assert _queued(svc) == set(names) - {"p017.png"}
    assert (s.errors, s.files_queued, s.jobs_queued) == (1, 39, 39)
    svc.audit.close()
    with open(svc.paths.log_dir / AUDIT_FILE, newline="") as fh:
        queued = sorted(Path(r["source"]).name for r in csv.DictReader(fh) if r["operation"] == "queued")
    assert queued == sorted(set(names) - {"p017.png"})
    svc.close()


def test_files_of_a_batch_recorded_already_are_not_queued_again(tmp_path):
    """The batch's recorded sizes and times are read in one query: unchanged files cost no work, and a file
    recorded meanwhile by another path (the same file named twice) is queued once."""
    svc, src, _ = make_service(tmp_path)
    for i in range(30):
        (src / f"p{i:02d}.png").write_bytes(png_bytes(i))
    first = svc.ingest_paths([src / "p00.png", src / "p00.png", *sorted(src.iterdir())])
    assert first.files_queued == 30 and first.jobs_queued == 30
    again = svc.scan()
    assert (again.unchanged, again.new_or_changed, again.jobs_queued) == (30, 0, 0)
    assert len(svc.db.next_jobs(svc.config.drives[0].id, 100)) == 30
    svc.close()


def test_a_stop_ends_an_ingest_at_the_next_file_and_the_next_scan_finds_the_rest(tmp_path):
    """The stop event ends an ingest under way at its next file (:class:`Stopped`, past the per-file handlers):
    what was committed stays, nothing is half-recorded, and a scan afterwards records every file once."""
    import threading

    from usbsync_gui.core.ingest import COMMIT_EVERY, Stopped
    from usbsync_gui.core.service import SyncService

    plain, src, _ = make_service(tmp_path)
    plain.close()
    stop = threading.Event()
    svc = SyncService(plain.paths, plain.config, stop=stop)
    n = 3 * COMMIT_EVERY
    paths = []
    for i in range(n):
        (src / f"p{i:04d}.png").write_bytes(png_bytes(i))
        paths.append(src / f"p{i:04d}.png")
    batches = []

    def committed() -> None:
        batches.append(svc.db.counts()["files"])
        stop.set()  # as the engine does from its own thread, while the next batch is being analysed

    svc.ingestor.on_batch = committed
    with pytest.raises(Stopped):
        svc.ingest_paths(paths)
    assert batches == [COMMIT_EVERY]  # the first batch, committed; the one analysed meanwhile, not recorded
    assert svc.db.counts()["files"] == COMMIT_EVERY
    with pytest.raises(Stopped):  # a scan, too, stops before its first file
        svc.scan()
    assert svc.db.counts()["files"] == COMMIT_EVERY
    svc.close()

    again = SyncService(plain.paths, plain.config)
    s = again.scan()
    assert (s.files_queued, again.db.counts()["files"]) == (n - COMMIT_EVERY, n)
    assert again.db.counts()["pending"] == n  # one job each, none twice
    again.close()


def test_analysis_goes_to_the_threads_only_when_it_is_mostly_libmagic_and_blake3(tmp_path):
    """Handing files to the analysis threads pays only for work done without the GIL: a batch with a big file
    goes there; small files go there once the batch before took at least THREADS_FROM_US per file in libmagic
    and BLAKE3, and come back under INLINE_UNDER_US (in between, the batch before's choice holds)."""
    from usbsync_gui.core.ingest import INLINE_UNDER_US, SMALL_FILE, THREADS_FROM_US, _Todo

    svc, src, _ = make_service(tmp_path)
    ing = svc.ingestor
    small = [_Todo(str(src / "a.png"), src, "a.png", 1000, 0)]
    big = [*small, _Todo(str(src / "film.mp4"), src, "film.mp4", SMALL_FILE + 1, 0)]
    assert not ing._threads_pay(small)  # nothing measured yet: the ingest thread
    assert ing._threads_pay(big)
    between = (THREADS_FROM_US + INLINE_UNDER_US) / 2
    for us, want in [
        (THREADS_FROM_US, True),
        (between, True),
        (INLINE_UNDER_US - 1, False),
        (between, False),
    ]:
        ing._released_us = us
        assert ing._threads_pay(small) is want, us
    svc.close()


@pytest.mark.parametrize("where", ["ingest thread", "analysis threads"])
def test_either_thread_records_the_same_and_measures_for_the_next_batch(tmp_path, monkeypatch, where):
    """Whichever thread analyses a batch, every file is recorded with its real MIME type, category and hash and
    queued once; and the batch's time in libmagic and BLAKE3 is measured for the next choice."""
    import threading

    from blake3 import blake3

    import usbsync_gui.core.ingest as ingest_mod

    svc, src, _ = make_service(tmp_path, categories=("images", "documents"))
    want = {}
    for i in range(ingest_mod.COMMIT_EVERY + 50):  # two batches: the second analysed while the first records
        name, data = (f"p{i:03d}.png", png_bytes(i)) if i % 4 else (f"d{i:03d}.pdf", pdf_bytes() + b"%" * i)
        (src / name).write_bytes(data)
        want[name] = (blake3(data).hexdigest(), "image/png" if i % 4 else "application/pdf")
    on_main = set()
    analyse_many = svc.ingestor._analyse_many

    def spy(todos):
        on_main.add(threading.current_thread() is threading.main_thread())
        return analyse_many(todos)

    monkeypatch.setattr(svc.ingestor, "_analyse_many", spy)
    if where == "analysis threads":
        svc.ingestor._on_threads = True
        monkeypatch.setattr(ingest_mod, "INLINE_UNDER_US", -1.0)
    else:
        monkeypatch.setattr(ingest_mod, "THREADS_FROM_US", float("inf"))
    s = svc.scan()
    assert on_main == {where == "ingest thread"}
    got = {r[0]: (r[1], r[2]) for r in svc.db.conn.execute("SELECT relpath, blake3, mime FROM files")}
    assert got == want
    assert s.files_queued == len(want) and svc.db.counts()["pending"] == len(want)
    assert svc.ingestor._released_us is not None
    if sys.platform == "linux":  # Windows counts thread CPU time in scheduler ticks (15.6 ms): a sum may be 0
        assert svc.ingestor._released_us > 0
    svc.close()


def test_a_small_file_that_grew_after_its_check_is_not_taken_from_its_first_read(tmp_path):
    """A small file is read in one read of the size its check saw; a file that grew (or was rewritten) after
    that check is found by the fstat after the read, and waits (still being written): never recorded with only
    its first bytes."""
    svc, src, _ = make_service(tmp_path)
    ing = svc.ingestor
    p = src / "growing.png"
    p.write_bytes(png_bytes(1))
    todo = ing._check(str(p), IngestStats(), False, 0.0, False)
    assert todo is not None and todo.size == len(png_bytes(1))
    # Rewritten with the same size: the one read returns exactly the size seen, and the fstat after it tells.
    p.write_bytes(png_bytes(2))
    os.utime(p, ns=(todo.mtime_ns + 10**9, todo.mtime_ns + 10**9))
    assert len(png_bytes(2)) == todo.size
    assert ing._analyse(todo) is None  # changed since its check: the caller puts it back to wait
    with open(p, "ab") as fh:  # grown: the first read gets more than it saw, and the size tells
        fh.write(b"more")
    assert ing._analyse(todo) is None
    again = ing._check(str(p), IngestStats(), False, 0.0, False)
    klass, digest = ing._analyse(again)
    from blake3 import blake3

    assert digest == blake3(png_bytes(2) + b"more").hexdigest() and klass.mime == "image/png"
    svc.close()
