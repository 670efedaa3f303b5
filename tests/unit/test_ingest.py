import os

from tests.conftest import pdf_bytes, png_bytes
from tests.unit.helpers import make_service


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
