"""A rule or category edit reclassifies files not yet copied (Ingestor.reclassify, IngestWorker.reclassify).

Real StateDB, real files in tmp_path, real libmagic, real copies to a folder standing in for the drive. The
configuration change is made as the engine makes it: a new SyncService (IngestWorker.set_config) over the same
state database, then reclassify.
"""

from __future__ import annotations

import csv
import logging
import time
from dataclasses import replace

import pytest

from tests.conftest import byte_names, pdf_bytes, png_bytes
from tests.unit.helpers import make_service
from usbsync_gui.core.audit import AUDIT_FILE
from usbsync_gui.core.classify import Classifier
from usbsync_gui.core.config import Config, DriveConfig, Rule
from usbsync_gui.core.ingest import COMMIT_EVERY
from usbsync_gui.core.service import SyncService
from usbsync_gui.core.state import StateDB
from usbsync_gui.core.volumes import write_marker


class Setup:
    """Photos (drive A) holds images, Docs (drive B) documents; ``svc`` ingests with the original rules."""

    def __init__(self, tmp_path):
        self.svc, self.src, self.target = make_service(tmp_path)
        docs_dir = tmp_path / "docs-drive"
        docs_dir.mkdir()
        self.docs = DriveConfig("Docs", write_marker(docs_dir, "Docs").drive_id, ("documents",))
        self.config: Config = self.svc.config.with_drive(self.docs)
        self.svc.close()
        self.svc = SyncService(self.svc.paths, self.config)
        self.photos = self.config.drives[0]
        self.later: SyncService | None = None

    @property
    def db(self) -> StateDB:
        return self.svc.db

    def apply(self, config: Config) -> SyncService:
        """The configuration changes: a new service for it (as IngestWorker.set_config makes), as the engine."""
        if self.later is not None:
            self.later.close()
        self.later = SyncService(self.svc.paths, config, self.svc.audit)
        return self.later

    def with_rule(self, *rules: Rule) -> Config:
        return replace(self.config, rules=rules)

    def jobs(self, name: str) -> list[tuple[str, str]]:
        """(drive name, state) of every job of the file ``name``, by job id."""
        by_id = {d.id: d.name for d in self.config.drives}
        row = self.db.file_by_path(str(self.src / name))
        assert row is not None
        return [
            (by_id.get(d, d), s)
            for d, s in self.db.conn.execute(
                "SELECT drive_id, state FROM jobs WHERE file_id=? ORDER BY id", (row.id,)
            )
        ]

    def category(self, name: str) -> str | None:
        row = self.db.file_by_path(str(self.src / name))
        assert row is not None
        return row.category

    def close(self) -> None:
        if self.later is not None:
            self.later.close()
        self.svc.close()


@pytest.fixture
def s(tmp_path):
    setup = Setup(tmp_path)
    yield setup
    setup.close()


def test_a_pending_file_moves_to_the_drive_of_its_new_category(s, caplog):
    for i in range(3):
        (s.src / f"scan{i}.png").write_bytes(png_bytes(i))
    (s.src / "photo.png").write_bytes(png_bytes(9))
    s.svc.scan()
    assert s.jobs("scan0.png") == [("Photos", "pending")]

    caplog.set_level(logging.INFO, logger="usbsync_gui")
    stats = s.apply(s.with_rule(Rule("scan*", "documents"))).ingestor.reclassify()

    for i in range(3):
        name = f"scan{i}.png"
        assert s.category(name) == "documents"
        assert s.jobs(name) == [("Docs", "pending")]  # Photos' job withdrawn, Docs' queued
    assert s.jobs("photo.png") == [("Photos", "pending")]  # the rule does not match it: untouched
    assert s.category("photo.png") == "images"
    assert stats.checked == 4 and stats.reclassified == 3
    assert dict(stats.moved) == {("images", "documents"): 3}
    assert (stats.withdrawn, stats.jobs_queued, stats.left_copying, stats.errors) == (3, 3, 0, 0)
    assert stats.drives_with_work == {s.docs.id}
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("reclassified")]
    assert lines == ["reclassified 3 files: 3 images -> documents; 3 jobs withdrawn, 3 queued"]
    # The copier takes the new job: the file is delivered to Docs.
    assert sorted(j.relpath for j in s.db.next_jobs(s.docs.id, 10)) == ["scan0.png", "scan1.png", "scan2.png"]
    assert s.db.next_jobs(s.photos.id, 10)[0].relpath == "photo.png"


def test_a_failed_job_is_withdrawn_too(s):
    (s.src / "a.png").write_bytes(png_bytes(1))
    s.svc.scan()
    job = s.db.next_jobs(s.photos.id, 1)[0]
    with s.db.transaction():
        assert s.db.fail_job(job.id, "too big for the drive", job.blake3)
    stats = s.apply(s.with_rule(Rule("a.png", "documents"))).ingestor.reclassify()
    assert s.jobs("a.png") == [("Docs", "pending")]
    assert stats.withdrawn == 1


def test_a_delivered_file_is_left_alone(s):
    (s.src / "done.png").write_bytes(png_bytes(1))
    s.svc.scan()
    assert s.svc.drain(s.target).copied == 1
    assert s.jobs("done.png") == [("Photos", "done")]
    stats = s.apply(s.with_rule(Rule("*.png", "documents"))).ingestor.reclassify()
    assert s.jobs("done.png") == [("Photos", "done")]  # not re-routed, not copied to Docs
    assert s.category("done.png") == "images"  # the past is not rewritten
    assert (stats.checked, stats.reclassified) == (0, 0)


def test_a_job_being_copied_is_left_to_its_copier(s):
    (s.src / "busy.png").write_bytes(png_bytes(1))
    s.svc.scan()
    job = s.db.next_jobs(s.photos.id, 1)[0]
    with s.db.transaction():
        assert s.db.start_job(job.id, "USBSync/busy.png", "USBSync/.usbsync-x.part", job.blake3)
    row = "SELECT * FROM jobs WHERE id=?"
    before = s.db.conn.execute(row, (job.id,)).fetchone()
    stats = s.apply(s.with_rule(Rule("busy.png", "documents"))).ingestor.reclassify()
    assert s.db.conn.execute(row, (job.id,)).fetchone() == before  # the very same row, untouched
    assert s.jobs("busy.png") == [("Photos", "copying"), ("Docs", "pending")]
    assert s.category("busy.png") == "documents"
    assert (stats.left_copying, stats.withdrawn, stats.jobs_queued) == (1, 0, 1)
    # The copier finishes it as usual: its compare-and-set still holds.
    with s.db.transaction():
        assert s.db.finish_job(job.id, "copied", "USBSync/busy.png", job.blake3)
    assert s.jobs("busy.png") == [("Photos", "done"), ("Docs", "pending")]


def test_a_file_delivered_to_one_drive_and_pending_for_another(tmp_path):
    """Done jobs stay done; the pending one is re-routed."""
    s = Setup(tmp_path)
    try:
        both = DriveConfig("Both", write_marker(tmp_path / "docs-drive", "Both").drive_id, ("images",))
        s.config = s.config.with_drive(both)
        s.svc.close()
        s.svc = SyncService(s.svc.paths, s.config)
        (s.src / "a.png").write_bytes(png_bytes(1))
        s.svc.scan()
        assert s.svc.drain(s.target).copied == 1  # delivered to Photos; Both is not plugged in
        assert s.jobs("a.png") == [("Photos", "done"), ("Both", "pending")]
        s.apply(replace(s.config, rules=(Rule("a.png", "documents"),))).ingestor.reclassify()
        assert s.jobs("a.png") == [("Photos", "done"), ("Docs", "pending")]
    finally:
        s.close()


def test_a_file_without_category_gets_one_and_a_job(s):
    (s.src / "scan.xyz").write_bytes(b"\x00\x01usbsync" * 100)  # content and extension say nothing
    s.svc.scan()
    assert s.category("scan.xyz") is None and s.jobs("scan.xyz") == []
    stats = s.apply(s.with_rule(Rule("*.xyz", "documents"))).ingestor.reclassify()
    assert s.category("scan.xyz") == "documents"
    assert s.jobs("scan.xyz") == [("Docs", "pending")]
    assert dict(stats.moved) == {(None, "documents"): 1}


def test_a_category_edit_reclassifies_by_the_recorded_mime(s):
    """Editing a category's MIME patterns (not a rule) moves the files: classified on files.mime, no read."""
    (s.src / "a.png").write_bytes(png_bytes(1))
    s.svc.scan()
    (s.src / "a.png").unlink()  # nothing is read again: the recorded MIME type is what ingest classified on
    cats = tuple(
        replace(c, mime=(*c.mime, "image/png"))
        if c.name == "documents"
        else replace(c, mime=tuple(m for m in c.mime if m != "image/png" and m != "image/*"))
        for c in s.config.categories
    )
    later = replace(s.config, categories=cats)
    assert Classifier(later.categories).by_mime("image/png") == "documents"
    stats = s.apply(later).ingestor.reclassify()
    assert s.jobs("a.png") == [("Docs", "pending")]
    assert stats.reclassified == 1


def test_a_category_no_drive_held_is_queued_by_queue_for_drives_not_reclassify(s):
    """The file's category is unchanged; the drive's categories changed: SyncService.queue_for_drives (run by
    IngestWorker.set_config) queues it, and reclassify does nothing more."""
    (s.src / "song.mp3").write_bytes(b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(2000))
    s.svc.scan()
    assert s.category("song.mp3") == "audio" and s.jobs("song.mp3") == []
    photos = replace(s.photos, categories=("images", "audio"))
    later = replace(s.config, drives=(photos, s.docs))
    svc = s.apply(later)
    assert svc.queue_for_drives() == 1
    stats = svc.ingestor.reclassify()
    assert s.jobs("song.mp3") == [("Photos", "pending")]
    assert (stats.reclassified, stats.jobs_queued, stats.withdrawn) == (0, 0, 0)


def test_changing_the_rule_back_routes_the_file_back(s):
    """Withdrawn jobs are deleted, not marked 'removed' (the user's decision): a rule changed back, or the
    drive given the category, must route the file there again."""
    (s.src / "a.png").write_bytes(png_bytes(1))
    s.svc.scan()
    s.apply(s.with_rule(Rule("a.png", "documents"))).ingestor.reclassify()
    assert s.jobs("a.png") == [("Docs", "pending")]
    stats = s.apply(s.config).ingestor.reclassify()
    assert s.category("a.png") == "images"
    assert s.jobs("a.png") == [("Photos", "pending")]
    assert dict(stats.moved) == {("documents", "images"): 1}
    assert s.db.counts()["removed"] == 0  # nothing counted as removed by the user


def test_a_withdrawn_job_comes_back_when_the_drive_takes_the_category(s):
    (s.src / "a.png").write_bytes(png_bytes(1))
    s.svc.scan()
    svc = s.apply(s.with_rule(Rule("a.png", "documents")))
    svc.ingestor.reclassify()
    assert svc.scan().jobs_queued == 0  # a rescan or a config reload does not queue Photos again...
    assert s.jobs("a.png") == [("Docs", "pending")]
    photos = replace(s.photos, categories=("images", "documents"))
    svc = s.apply(replace(s.config, rules=(Rule("a.png", "documents"),), drives=(photos, s.docs)))
    assert svc.queue_for_drives() == 1  # ...until Photos holds documents
    assert s.jobs("a.png") == [("Docs", "pending"), ("Photos", "pending")]


def test_the_users_removal_holds(s):
    """A job the user removed from the queue stays removed; a file with nothing left to copy is not routed."""
    (s.src / "a.png").write_bytes(png_bytes(1))
    (s.src / "b.png").write_bytes(png_bytes(2))
    s.svc.scan()
    with s.db.transaction():
        s.db.remove_jobs(j.id for j in s.db.next_jobs(s.photos.id, 10))
    stats = s.apply(s.with_rule(Rule("*.png", "documents"))).ingestor.reclassify()
    assert s.jobs("a.png") == [("Photos", "removed")] and s.jobs("b.png") == [("Photos", "removed")]
    assert stats.checked == 0


def test_same_configuration_changes_nothing(s):
    (s.src / "a.png").write_bytes(png_bytes(1))
    (s.src / "b.pdf").write_bytes(pdf_bytes())
    (s.src / "c.xyz").write_bytes(b"\x00\x01usbsync" * 100)
    (s.src / "large.png").write_bytes(png_bytes(3) + bytes(2 << 20))  # classified from a descriptor at ingest
    s.svc.scan()
    before = s.db.conn.execute("SELECT * FROM jobs ORDER BY id").fetchall()
    stats = s.apply(s.config).ingestor.reclassify()
    assert (stats.checked, stats.reclassified) == (4, 0)
    assert s.db.conn.execute("SELECT * FROM jobs ORDER BY id").fetchall() == before


def test_a_file_gone_from_the_sources_is_still_routed(s):
    """Nothing is read: a pending file deleted meanwhile moves like the others (the copier drops its job)."""
    (s.src / "a.png").write_bytes(png_bytes(1))
    s.svc.scan()
    (s.src / "a.png").unlink()
    s.apply(s.with_rule(Rule("a.png", "documents"))).ingestor.reclassify()
    assert s.jobs("a.png") == [("Docs", "pending")]


def test_a_file_that_cannot_be_handled_does_not_stop_the_others(s, monkeypatch, caplog):
    for name in ("a.png", "bad.png", "c.png"):
        (s.src / name).write_bytes(png_bytes(len(name) + ord(name[0])))
    s.svc.scan()
    by_rule = Classifier.by_rule

    def failing(self, relpath):
        if relpath == "bad.png":
            raise ValueError("boom")
        return by_rule(self, relpath)

    monkeypatch.setattr(Classifier, "by_rule", failing)
    stats = s.apply(s.with_rule(Rule("*.png", "documents"))).ingestor.reclassify()
    assert (stats.reclassified, stats.errors) == (2, 1)
    assert s.jobs("bad.png") == [("Photos", "pending")] and s.category("bad.png") == "images"
    assert s.jobs("a.png") == [("Docs", "pending")] and s.jobs("c.png") == [("Docs", "pending")]
    assert "cannot reclassify" in caplog.text and "bad.png" in caplog.text


def test_the_audit_log_records_each_reclassified_file(s):
    (s.src / "a.png").write_bytes(png_bytes(1))
    s.svc.scan()
    s.apply(s.with_rule(Rule("a.png", "documents"))).ingestor.reclassify()
    s.svc.audit.close()
    with open(s.svc.paths.log_dir / AUDIT_FILE, newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["operation"] == "reclassified"]
    assert len(rows) == 1
    assert rows[0]["source"] == str(s.src / "a.png") and rows[0]["drive"] == "Docs"
    assert rows[0]["status"] == "pending"
    assert rows[0]["error"] == "images -> documents (by rule); withdrawn from Photos"


@byte_names
def test_a_non_utf8_name_is_reclassified(s):
    name = b"caf\xe9.png".decode("utf-8", "surrogateescape")
    (s.src / name).write_bytes(png_bytes(1))
    s.svc.scan()
    s.apply(s.with_rule(Rule("caf*", "documents"))).ingestor.reclassify()
    assert s.jobs(name) == [("Docs", "pending")]


def test_many_delivered_files_are_cheap(s, monkeypatch):
    """100,000 recorded files, most delivered: only the candidates are selected and classified, in batches that
    each start where the one before ended, by an index (its time is the benchmark's business, not this test's)."""
    now = time.time()
    n, waiting = 100_000, 1_000
    with s.db.transaction() as c:
        c.executemany(
            "INSERT INTO files (id, path, source_root, relpath, size, mtime_ns, blake3, mime, category, seen_at)"
            " VALUES (?,?,?,?,1,1,?,'image/png','images',?)",
            ((i, f"{s.src}/f{i}.png", str(s.src), f"f{i}.png", f"{i:064x}", now) for i in range(1, n + 1)),
        )
        c.executemany(
            "INSERT INTO jobs (file_id, drive_id, state, blake3, size, queued_at, updated_at)"
            " VALUES (?,?,?,?,1,?,?)",
            (
                (i, s.photos.id, "pending" if i % (n // waiting) == 0 else "done", f"{i:064x}", now, now)
                for i in range(1, n + 1)
            ),
        )
    svc = s.apply(s.with_rule(Rule("f*", "documents")))
    reads: list[tuple[int, int]] = []  # (after id, files returned) of each batch read
    real = svc.db.unsettled_files

    def counted(after_id: int = 0, limit: int = 500):
        out = real(after_id, limit)
        reads.append((after_id, len(out)))
        return out

    monkeypatch.setattr(svc.db, "unsettled_files", counted)
    ran: list[str] = []  # the statements SQLite ran, with their values bound
    svc.db.conn.set_trace_callback(ran.append)
    stats = svc.ingestor.reclassify()
    svc.db.conn.set_trace_callback(None)
    assert (stats.checked, stats.reclassified, stats.withdrawn, stats.jobs_queued) == (waiting,) * 4
    per_batch = COMMIT_EVERY
    assert [r for _, r in reads] == [per_batch] * (waiting // per_batch) + [0]  # only the candidates
    afters = [a for a, _ in reads]
    assert afters[0] == 0 and afters == sorted(set(afters))  # each batch goes on from the last: no re-reading
    selects = [q for q in ran if q.startswith("WITH c AS")]
    assert len(selects) == len(reads)
    plan = " | ".join(str(r[3]) for r in svc.db.conn.execute("EXPLAIN QUERY PLAN " + selects[1]))
    # Files from the last id on by the primary key; their jobs by index: no full scan of either table.
    assert "SEARCH f USING INTEGER PRIMARY KEY (rowid>?)" in plan and "SCAN j" not in plan, plan
    assert "SCAN f" not in plan, plan
    reads.clear()
    assert svc.ingestor.reclassify().reclassified == 0  # and again: nothing to do
    assert [r for _, r in reads] == [per_batch] * (waiting // per_batch) + [0]


def test_the_worker_slot_reclassifies_and_wakes_the_copiers(s, qtbot):
    from usbsync_gui.engine.workers import IngestWorker

    (s.src / "a.png").write_bytes(png_bytes(1))
    s.svc.scan()
    worker = IngestWorker(s.svc.paths, s.config, s.svc.audit)
    try:
        emitted: list[list[str]] = []
        worker.jobs_queued.connect(emitted.append)
        worker.set_config(s.with_rule(Rule("a.png", "documents")))
        worker.reclassify()
        assert emitted == [[s.docs.id]]
        assert s.jobs("a.png") == [("Docs", "pending")]
        worker.reclassify()  # nothing more to do: nobody is woken
        assert emitted == [[s.docs.id]]
    finally:
        worker.close()
