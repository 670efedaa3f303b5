"""The one summary of what waits where and why (core/summary.py), on a real state database."""

from __future__ import annotations

from dataclasses import replace

from usbsync_gui.core.config import DriveConfig, new_config
from usbsync_gui.core.state import StateDB
from usbsync_gui.core.summary import PAUSED, DriveState, LiveVolume, Overall, summarize
from usbsync_gui.core.wait_reasons import WaitKind, no_space, read_only

MB = 1_000_000


def _setup(tmp_path, n=3, size=10 * MB, category="images"):
    src = tmp_path / "outbox"
    src.mkdir()
    config = new_config([src])
    config = config.with_drive(DriveConfig("Photos", "d-photos", ("images",)))
    config = config.with_drive(DriveConfig("Docs", "d-docs", ("documents",)))
    db = StateDB(tmp_path / "state.db")
    ids = []
    with db.transaction():
        for i in range(n):
            fid, _ = db.upsert_file(
                f"{src}/Holiday/IMG_{i}.jpg",
                str(src),
                f"Holiday/IMG_{i}.jpg",
                size,
                1,
                f"h{i}",
                "image/jpeg",
                category,
            )
            db.enqueue(fid, ["d-photos"], f"h{i}", size)
        db.drive_seen("d-photos", "Photos", "/media/u/PHOTOS", "vfat", 64 * MB, 19_400_000)
    ids = [j.id for j in db.list_jobs(["pending"])]
    return config, db, ids


def test_files_for_an_absent_drive_wait_for_it(tmp_path):
    config, db, _ = _setup(tmp_path)
    s = summarize(db, config, {})
    photos = s.drive("d-photos")
    assert (
        photos.state is DriveState.WAITING and photos.waiting_files == 3 and photos.waiting_bytes == 30 * MB
    )
    assert photos.wait(WaitKind.DRIVE_ABSENT).files == 3
    assert s.state is Overall.WAITING and s.waiting_files == 3
    assert s.headline == "plug in Photos: 3 files (30.0 MB) waiting"
    # 30 MB waiting against 19.4 MB free when last seen: the shortfall is known before it is plugged in. Away,
    # the drive's allocation unit is not known: each file is rounded up to 128 KiB clusters (77 of them for
    # 10 MB), plus 256 bytes of directory entries each, plus one 1 MiB reserve for the volume (core/space.py)
    assert photos.shortfall_bytes == 3 * (77 * 128 * 1024 + 256) + (1 << 20) - 19_400_000 == 11_926_976
    assert s.drive("d-docs").state is DriveState.ABSENT


def test_a_connected_drive_with_work_is_syncing_and_without_is_up_to_date(tmp_path):
    config, db, ids = _setup(tmp_path)
    live = {"d-photos": LiveVolume("/media/u/PHOTOS", 900 * MB, 1000 * MB)}
    s = summarize(db, config, live)
    assert s.state is Overall.SYNCING and s.drive("d-photos").state is DriveState.COPYING
    with db.transaction():
        for i in ids:
            db.start_job(i, "USBSync/x", None, db.job(i).blake3)
            db.finish_job(i, "copied", f"USBSync/{i}.jpg", db.job(i).blake3)
    s = summarize(db, config, live)
    assert s.state is Overall.IDLE and s.headline == "everything is copied"
    assert s.drive("d-photos").state is DriveState.UP_TO_DATE and s.done_files == 3


def test_a_file_that_does_not_fit_needs_attention_even_when_the_drive_is_away(tmp_path):
    config, db, ids = _setup(tmp_path)
    with db.transaction():
        db.set_reason(ids[0], no_space("Photos"))
    for live in ({"d-photos": LiveVolume("/media/u/PHOTOS", 19_400_000, 64 * MB)}, {}):
        s = summarize(db, config, live)
        assert s.state is Overall.ATTENTION, live  # the tray must not say "everything is copied"
        d = s.drive("d-photos")
        assert d.state is DriveState.DOES_NOT_FIT and d.wait(WaitKind.NO_SPACE).files == 1
        assert "do not fit on Photos" in s.headline and "more space needed" in s.headline


def test_read_only_and_failed_need_attention(tmp_path):
    config, db, ids = _setup(tmp_path)
    live = {"d-photos": LiveVolume("/media/u/PHOTOS", 900 * MB, 1000 * MB, read_only=True)}
    with db.transaction():
        for i in ids:
            db.set_reason(i, read_only("Photos"))
    s = summarize(db, config, live)
    assert s.state is Overall.ATTENTION and s.drive("d-photos").state is DriveState.READ_ONLY
    assert "read-only" in s.headline
    # away, a read-only mount is no longer the reason: it may come back writable
    assert summarize(db, config, {}).state is Overall.WAITING
    with db.transaction():
        db.start_job(ids[0], "USBSync/a", None, db.job(ids[0]).blake3)
        db.fail_job(ids[0], "Input/output error", db.job(ids[0]).blake3)
    s = summarize(db, config, {})
    assert s.state is Overall.ATTENTION and s.failed_files == 1 and s.waiting_files == 2
    assert s.drive("d-photos").state is DriveState.FAILED
    assert "1 file could not be copied to Photos" in s.attention


def test_a_forgotten_drives_files_say_no_drive_holds_them(tmp_path):
    config, db, _ = _setup(tmp_path)
    config = replace(config, drives=tuple(d for d in config.drives if d.id != "d-photos"))
    s = summarize(db, config, {})
    assert s.drive("d-photos") is None
    assert [(u.category, u.files) for u in s.unrouted] == [("images", 3)]
    assert s.state is Overall.ATTENTION
    assert "no drive holds images: 3 files (30.0 MB) wait" in s.attention
    assert "images" in s.uncovered and s.waiting_files == 3


def test_backing_off_is_retrying_not_idle(tmp_path):
    config, db, ids = _setup(tmp_path, n=1)
    with db.transaction():
        db.start_job(ids[0], "USBSync/a", None, db.job(ids[0]).blake3)
        db.retry_or_fail(ids[0], "Input/output error")
    s = summarize(db, config, {"d-photos": LiveVolume("/m", 900 * MB, 1000 * MB)})
    d = s.drive("d-photos")
    assert d.state is DriveState.RETRYING and d.wait(WaitKind.RETRYING).reason == "Input/output error"
    assert s.state is Overall.SYNCING and "tried again" in d.headline


def test_paused_comes_from_the_caller_or_the_engines_notice(tmp_path):
    config, db, _ = _setup(tmp_path)
    assert summarize(db, config, {}, paused=True).state is Overall.PAUSED
    with db.transaction():
        db.set_notice(PAUSED, "syncing is paused")
    s = summarize(db, config, {})
    assert s.paused and s.state is Overall.PAUSED and s.notices == ()  # paused is a state, not a notice


def test_notices_missing_sources_and_a_broken_config(tmp_path):
    config, db, _ = _setup(tmp_path)
    with db.transaction():
        db.set_notice("keyring_locked", "keyring locked: unlock your keyring")
        db.set_notice("database_rebuilt", "the state database was rebuilt")
    config = replace(config, sources=(*config.sources, tmp_path / "gone"))
    s = summarize(db, config, {}, config_problem="config.toml line 3: expected '='")
    assert s.state is Overall.ATTENTION
    assert s.attention[0] == "config.toml line 3: expected '='"
    assert "keyring locked: unlock your keyring" in s.attention
    assert f"source folder missing: {tmp_path / 'gone'}" in s.attention
    assert "the state database was rebuilt" not in s.attention  # told once, not a lasting problem
    assert s.to_json()["config_problem"] == "config.toml line 3: expected '='"


def test_without_a_config_the_drives_come_from_the_database(tmp_path):
    _, db, _ = _setup(tmp_path)
    s = summarize(db, None, {}, config_problem="broken")
    assert [d.name for d in s.drives] == ["Photos"] and s.drives[0].waiting_files == 3
    assert s.unrouted == ()


def test_a_plugged_in_drive_while_paused_is_paused_not_copying(tmp_path):
    config, db, _ = _setup(tmp_path)
    s = summarize(db, config, {"d-photos": LiveVolume("/m", 900 * MB, 1000 * MB)}, paused=True)
    d = s.drive("d-photos")
    assert s.state is Overall.PAUSED and d.state is DriveState.PAUSED
    assert d.headline == "paused: 3 files (30.0 MB) waiting for Photos"


def test_grammar_and_nothing_yet(tmp_path):
    config, db, ids = _setup(tmp_path, n=1)
    with db.transaction():
        db.set_reason(ids[0], no_space("Photos"))
    assert "1 file (10.0 MB) does not fit on Photos" in summarize(db, config, {}).headline
    with db.transaction():
        db.remove_jobs(ids)
    s = summarize(db, config, {"d-photos": LiveVolume("/m", 900 * MB, 1000 * MB)})
    assert s.state is Overall.IDLE and s.headline.startswith("nothing to copy yet")


def test_a_removed_job_can_be_put_back(tmp_path):
    config, db, ids = _setup(tmp_path, n=2)
    with db.transaction():
        db.remove_jobs(ids)
    assert summarize(db, config, {}).waiting_files == 0
    with db.transaction():
        assert db.retry_jobs(ids[:1]) == 1
    assert summarize(db, config, {}).waiting_files == 1
