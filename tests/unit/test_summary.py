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
        # the file the copier found too big is counted; the shortfall is for all three waiting
        assert "1 file (10.0 MB) does not fit on Photos: " in s.headline
        assert s.headline.endswith("more space needed for all 3 files (30.0 MB) waiting")


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


# -- files of a category no drive holds -------------------------------------------------------------------------


def _record(db, src, name, category, size=1 * MB, blake3=None):
    with db.transaction():
        fid, _ = db.upsert_file(f"{src}/{name}", str(src), name, size, 1, blake3 or f"b-{name}", "", category)
    return fid


def test_a_file_no_drive_takes_is_counted_and_waits_without_alarm(tmp_path):
    """The walk's song.wav: audio, and no drive holds audio. It has no job (none was made: no drive to make it
    for), yet it waits; the summary must say so, but not as a red alarm the user can never clear."""
    config, db, ids = _setup(tmp_path, n=1)
    src = config.sources[0]
    with db.transaction():  # the photo is on Photos: before the song, everything was copied
        db.start_job(ids[0], "USBSync/x", None, db.job(ids[0]).blake3)
        db.finish_job(ids[0], "copied", "USBSync/IMG_0.jpg", db.job(ids[0]).blake3)
    _record(db, src, "song.wav", "audio", size=30 * MB)
    _record(db, src, "blob.bin", None)  # no category at all: recorded, counted, not waiting
    s = summarize(db, config, {})
    assert [(u.category, u.files, u.bytes, u.needs_attention) for u in s.unrouted] == [
        ("audio", 1, 30 * MB, False)
    ]
    assert s.state is Overall.WAITING and s.attention == ()
    assert s.headline == "no drive holds audio: 1 file (30.0 MB) waits"
    assert (s.waiting_files, s.waiting_bytes) == (1, 30 * MB)
    assert (s.unclassified, s.files_seen) == (1, 3)
    data = s.to_json()
    assert data["unrouted"] == [{"category": "audio", "files": 1, "bytes": 30 * MB, "forgotten": 0}]
    assert data["pending"] == 1 and data["state"] == "waiting"
    # Paused still says paused: the song does not hide it.
    assert summarize(db, config, {}, paused=True).state is Overall.PAUSED


def test_only_undelivered_files_of_an_uncovered_category_count(tmp_path):
    config, db, _ = _setup(tmp_path, n=0)
    src = config.sources[0]
    for name in ("a.wav", "b.wav", "c.wav", "d.wav"):
        _record(db, src, name, "audio")
    # b.wav went to an audio drive since forgotten; c.wav the user removed from that drive's queue; d.wav was
    # delivered, then changed: its new content is on no drive.
    with db.transaction():
        for name in ("b.wav", "c.wav", "d.wav"):
            f = db.file_by_path(f"{src}/{name}")
            db.enqueue(f.id, ["d-old-audio"], f.blake3, f.size)
        for j in db.list_jobs(["pending"]):
            if j.path.endswith("b.wav") or j.path.endswith("d.wav"):
                db.start_job(j.id, "USBSync/x", None, j.blake3)
                db.finish_job(j.id, "copied", f"USBSync/{j.relpath}", j.blake3)
            else:
                db.remove_jobs([j.id])
    _record(db, src, "d.wav", "audio", blake3="b-d.wav-v2")
    s = summarize(db, config, {})
    assert [(u.category, u.files) for u in s.unrouted] == [("audio", 2)]  # a.wav and d.wav (its new content)
    assert [f.relpath for f in db.unrouted_files({"images", "documents"})] == ["a.wav", "d.wav"]
    # A drive holding audio takes them all in: then nothing is unrouted.
    config = config.with_drive(DriveConfig("Music", "d-music", ("audio",)))
    s = summarize(db, config, {})
    assert s.unrouted == () and s.drive("d-music").waiting_files == 0  # (jobs come from queue_for_drives)


def test_a_forgotten_drive_and_files_no_drive_took_make_one_row_that_needs_attention(tmp_path):
    config, db, _ = _setup(tmp_path)  # 3 images waiting for Photos
    _record(db, config.sources[0], "new.jpg", "images")  # seen after Photos was forgotten: no job
    config = replace(config, drives=tuple(d for d in config.drives if d.id != "d-photos"))
    s = summarize(db, config, {})
    assert [(u.category, u.files, u.forgotten) for u in s.unrouted] == [("images", 4, 3)]
    assert s.state is Overall.ATTENTION and s.attention == ("no drive holds images: 4 files (31.0 MB) wait",)


def test_registering_a_drive_for_the_category_sends_the_waiting_files(tmp_path):
    """The promise the wizard makes: the files wait until a drive holds their category, then go to it."""
    from tests.conftest import mp3_bytes
    from tests.unit.helpers import make_service
    from usbsync_gui.core.copier import Target
    from usbsync_gui.core.service import SyncService
    from usbsync_gui.core.volumes import write_marker

    svc, src, _photos = make_service(tmp_path)  # Photos holds images only
    (src / "song.mp3").write_bytes(mp3_bytes())
    svc.scan()
    s = summarize(svc.db, svc.config, {})
    assert [(u.category, u.files) for u in s.unrouted] == [("audio", 1)] and s.state is Overall.WAITING
    svc.close()

    music_dir = tmp_path / "music-drive"
    music_dir.mkdir()
    music = DriveConfig("Music", write_marker(music_dir, "Music").drive_id, ("audio",))
    later = svc.config.with_drive(music)
    svc = SyncService(svc.paths, later)  # what the engine does on a configuration change (IngestWorker)
    try:
        assert svc.queue_for_drives() == 1
        s = summarize(svc.db, later, {})
        assert s.unrouted == () and s.drive(music.id).waiting_files == 1
        assert svc.drain(Target(music, music_dir, require_mount=False)).copied == 1
        assert (music_dir / "USBSync" / "song.mp3").read_bytes() == mp3_bytes()
        s = summarize(svc.db, later, {})
        assert s.unrouted == () and s.waiting_files == 0 and s.drive(music.id).done_files == 1
    finally:
        svc.close()


def test_the_reason_facts_are_the_summarys(tmp_path):
    config, db, ids = _setup(tmp_path)
    live = {"d-photos": LiveVolume("/m", 900 * MB, 1000 * MB)}
    facts = summarize(db, config, live, paused=True).reason_facts
    assert facts.paused and facts.connected == {"d-photos"} and facts.registered == {"d-photos", "d-docs"}
    j = db.job(ids[0])
    # Photos is plugged in and syncing is paused: the job waits for the resume, not for its drive.
    assert facts.reason(j.state, j.last_error, j.category, j.drive_id) == "syncing is paused"
    assert summarize(db, config, {}).reason_facts.reason(j.state, None, "images", j.drive_id) == (
        "waiting for the drive"
    )
    assert summarize(db, None, {}).reason_facts.registered is None  # without a config, none is forgotten
