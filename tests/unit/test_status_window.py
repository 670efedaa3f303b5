"""The status window shows the one state summary in plain words, never counts on the GUI thread, and keeps its
size when long names arrive.

Real widgets (pytest-qt, offscreen), a real state database, summaries from the real :func:`summarize` pushed
through the real :class:`SummaryFeed` (or emitted on it, as the engine's feed would)."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest
from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from usbsync_gui.core.audit import AUDIT_FILE, AuditLog
from usbsync_gui.core.config import DriveConfig, new_config
from usbsync_gui.core.paths import app_paths
from usbsync_gui.core.state import StateDB
from usbsync_gui.core.summary import LiveVolume, summarize
from usbsync_gui.core.wait_reasons import no_space, read_only
from usbsync_gui.engine.summary_feed import LiveState, SummaryFeed
from usbsync_gui.engine.tasks import TaskRunner
from usbsync_gui.views.context import ViewContext
from usbsync_gui.views.status_window import StatusWindow, Tone, tone_color

MB = 1_000_000
FREE = 19_400_000


@pytest.fixture
def ctx(tmp_path):
    paths = app_paths({"USBSYNC_HOME": str(tmp_path / "home")})
    paths.ensure()
    paths.default_outbox.mkdir(parents=True, exist_ok=True)
    config = (
        new_config([paths.default_outbox])
        .with_drive(DriveConfig("Photos", "d-photos", ("images",)))
        .with_drive(DriveConfig("Docs", "d-docs", ("documents",)))
    )
    db = StateDB(paths.state_db)
    ctx = ViewContext(paths, config, db)
    yield ctx
    ctx.tasks.shutdown()
    db.close()


def _queue(ctx, n=3, size=10 * MB, drive="d-photos", category="images", stem="IMG") -> list[int]:
    """``n`` files of ``size`` bytes waiting for ``drive``; the drive was last seen with 19.4 MB free."""
    db, src = ctx.db, ctx.paths.default_outbox
    with db.transaction():
        for i in range(n):
            path = f"{src}/Holiday/{stem}_{i}.jpg"
            fid, _ = db.upsert_file(
                path, str(src), f"Holiday/{stem}_{i}.jpg", size, 1, f"{stem}{i}", "", category
            )
            db.enqueue(fid, [drive], f"{stem}{i}", size)
        db.drive_seen("d-photos", "Photos", "/media/u/PHOTOS", "vfat", 64 * MB, FREE)
    return [j.id for j in db.list_jobs(["pending"]) if j.drive_id == drive]


def _window(qtbot, ctx) -> StatusWindow:
    w = StatusWindow(ctx)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    qtbot.waitUntil(lambda: w.latest is not None)  # showing it asked the feed for a summary
    return w


def _push(ctx, **live) -> None:
    """What the engine's feed does: a summary computed elsewhere, delivered by the signal."""
    ctx.summary.changed.emit(summarize(ctx.db, ctx.config, live.pop("connected", {}), **live))


def _pixel(widget, fx: float) -> QColor:
    """The colour drawn at ``fx`` of the widget's width, just inside its top edge (clear of any text)."""
    QApplication.processEvents()  # new rows are shown and laid out by queued events
    assert widget.isVisible() and widget.width() > 100
    img = widget.grab().toImage()
    return img.pixelColor(int(img.width() * fx), 3)


def _near(a: QColor, b: QColor, tol: int = 24) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a.getRgb()[:3], b.getRgb()[:3], strict=True))


def test_an_over_full_drive_is_a_full_warning_bar_not_a_blue_one(ctx, qtbot):
    ids = _queue(ctx)  # 30 MB waiting against 19.4 MB free
    with ctx.db.transaction():
        ctx.db.set_reason(ids[0], no_space("Photos"))
    w = _window(qtbot, ctx)
    row = w.drive_row("d-photos")
    # core/space.py: the drive is away, so each file is rounded up to 128 KiB clusters (77 for 10 MB), with
    # 256 bytes of directory entries each, and the volume keeps one 1 MiB reserve
    shortfall = 3 * (77 * 128 * 1024 + 256) + (1 << 20) - FREE
    assert row.bar.text == "does not fit: 11.9 MB more needed" and shortfall == 11_926_976
    assert row.bar.warning and row.bar.fraction == 1.0
    assert "30.0 MB waiting of 19.4 MB free" in row.bar.toolTip()
    assert "keeps 1.0 MB free on every drive" in row.bar.toolTip()  # why more is needed than waiting - free
    warning = tone_color(w.palette(), Tone.WARNING)
    highlight = w.palette().color(QPalette.ColorRole.Highlight)
    # what is drawn: the warning colour across the whole bar, not the highlight
    for fx in (0.05, 0.95):
        assert _near(_pixel(row.bar, fx), warning) and not _near(_pixel(row.bar, fx), highlight)
    assert row.headline.palette().color(QPalette.ColorRole.WindowText) == warning
    said = (
        "1 file (10.0 MB) does not fit on Photos: 11.9 MB more space needed for all 3 files (30.0 MB) waiting"
    )
    assert row.headline.full_text() == said
    assert w.headline.full_text() == "Needs your attention"
    assert said in w.lines.full_text()

    # plugged in with room to spare: an ordinary bar in the highlight colour, nothing in warning colours
    with ctx.db.transaction():
        ctx.db.set_reason(ids[0], None)
    _push(ctx, connected={"d-photos": LiveVolume("/media/u/PHOTOS", 900 * MB, 1000 * MB)})
    assert w.drive_row("d-photos") is row  # updated in place
    assert not row.bar.warning and row.bar.text == "30.0 MB waiting of 900.0 MB free"
    assert _near(_pixel(row.bar, 0.01), highlight) and _near(
        _pixel(row.bar, 0.9), w.palette().color(QPalette.ColorRole.Base)
    )
    assert row.headline.palette().color(QPalette.ColorRole.WindowText) != warning
    assert w.headline.full_text() == "Copying 3 files to Photos"


def test_paused_is_visible(ctx, qtbot):
    _queue(ctx, n=5, size=MB)
    w = _window(qtbot, ctx)
    _push(ctx, paused=True)
    assert w.headline.full_text() == "Paused: 5 files waiting"
    assert "Resume syncing" in w.lines.full_text() and w.lines.isVisible()


def test_a_failed_file_needs_attention_and_is_named_with_its_reason(ctx, qtbot):
    ids = _queue(ctx)
    with ctx.db.transaction():
        ctx.db.start_job(ids[1], "USBSync/x", None, ctx.db.job(ids[1]).blake3)
        ctx.db.fail_job(ids[1], "Input/output error", ctx.db.job(ids[1]).blake3)
    w = _window(qtbot, ctx)
    assert w.headline.full_text() == "Needs your attention"
    assert "• 1 file could not be copied to Photos" in w.lines.full_text()
    warning = tone_color(w.palette(), Tone.WARNING)
    assert w.headline.palette().color(QPalette.ColorRole.WindowText) == warning
    row = w.drive_row("d-photos")
    assert row.headline.palette().color(QPalette.ColorRole.WindowText) == warning
    assert w.problems_box.isVisible()
    # the file's name is read off the GUI thread; until then the count stands for it
    first = w.errors.item(0).text()
    assert first in (
        "1 file could not be copied: see Pending queue… in the tray menu",
        w.errors.item(0).text(),
    )
    named = "IMG_1.jpg could not be copied to Photos: Input/output error"
    qtbot.waitUntil(lambda: w.errors.count() == 1 and w.errors.item(0).text() == named)


def test_a_read_only_drive_says_so_in_the_warning_colour(ctx, qtbot):
    ids = _queue(ctx)
    with ctx.db.transaction():
        for i in ids:
            ctx.db.set_reason(i, read_only("Photos"))
    w = _window(qtbot, ctx)
    _push(ctx, connected={"d-photos": LiveVolume("/media/u/PHOTOS", 900 * MB, 1000 * MB, read_only=True)})
    row = w.drive_row("d-photos")
    assert row.headline.full_text().startswith("Photos is read-only")
    assert row.headline.palette().color(QPalette.ColorRole.WindowText) == tone_color(
        w.palette(), Tone.WARNING
    )


def test_the_headline_follows_the_summary_feed(ctx, qtbot):
    ids = _queue(ctx)
    w = _window(qtbot, ctx)
    assert w.headline.full_text() == "Plug in Photos: 3 files waiting"
    assert w.figures.full_text() == "3 files (30.0 MB) waiting"
    row = w.drive_row("d-photos")
    assert row.where.full_text() == "Not plugged in; last seen " + row.where.full_text().split("seen ")[1]
    with ctx.db.transaction():  # the engine copies them
        for i in ids:
            ctx.db.start_job(i, "USBSync/x", None, ctx.db.job(i).blake3)
            ctx.db.finish_job(i, "copied", f"USBSync/{i}.jpg", ctx.db.job(i).blake3)
    ctx.summary.invalidate()
    qtbot.waitUntil(lambda: w.headline.full_text() == "Everything is copied")
    assert w.figures.full_text() == "Nothing waiting; 3 files copied and checked"
    assert w.drive_row("d-photos") is row and row.headline.full_text() == "Nothing waiting"
    # a drive added: the rows are laid out again, one per drive
    ctx.config = ctx.config.with_drive(DriveConfig("Archive", "d-archive", ("images",)))
    ctx.summary.invalidate()
    qtbot.waitUntil(lambda: ("drive", "d-archive") in w.rows)
    assert [k for k in w.rows] == [("drive", "d-photos"), ("drive", "d-docs"), ("drive", "d-archive")]
    assert w.drive_row("d-archive").where.full_text() == "Not plugged in yet"


def test_a_forgotten_drives_files_say_no_drive_holds_them(ctx, qtbot):
    _queue(ctx)
    ctx.config = replace(ctx.config, drives=tuple(d for d in ctx.config.drives if d.id != "d-photos"))
    w = _window(qtbot, ctx)
    row = w.unrouted_row("images")
    assert row.title.full_text() == "No drive holds images: 3 files wait"
    assert "Drives…" in row.hint.full_text()
    assert (row.marker.tone, row.marker.symbol) == (Tone.WARNING, "alert")  # its drive was forgotten
    assert ("drive", "d-photos") not in w.rows


def test_a_file_no_drive_takes_is_shown_not_everything_is_copied(ctx, qtbot):
    """The walk's song.wav: audio, no drive holds audio. The window said "Everything is copied"."""
    ids = _queue(ctx, n=1)
    with ctx.db.transaction():  # the photo is on Photos
        ctx.db.start_job(ids[0], "USBSync/x", None, ctx.db.job(ids[0]).blake3)
        ctx.db.finish_job(ids[0], "copied", "USBSync/IMG_0.jpg", ctx.db.job(ids[0]).blake3)
        src = ctx.paths.default_outbox
        ctx.db.upsert_file(f"{src}/song.wav", str(src), "song.wav", 30 * MB, 1, "s", "audio/x-wav", "audio")
        ctx.db.upsert_file(f"{src}/blob.bin", str(src), "blob.bin", 5000, 1, "b", "", None)
    w = _window(qtbot, ctx)
    assert w.headline.full_text() == "No drive holds audio: 1 file (30.0 MB) waits"
    assert w.headline.palette().color(QPalette.ColorRole.WindowText) != tone_color(w.palette(), Tone.WARNING)
    row = w.unrouted_row("audio")
    assert row.title.full_text() == "No drive holds audio: 1 file waits"
    assert row.hint.full_text() == "Add a drive for audio in Drives… (in the tray menu) to copy it (30.0 MB)."
    assert (row.marker.tone, row.marker.symbol) == (Tone.CAUTION, "clock")  # it waits; nothing is wrong
    # the file with no category is counted, as recorded and not copied
    assert w.figures.full_text() == (
        "1 file (30.0 MB) waiting; 1 file copied and checked; 1 file without a category (not copied)"
    )


def test_no_drives_yet(ctx, qtbot):
    ctx.config = replace(ctx.config, drives=())
    w = _window(qtbot, ctx)
    assert w.headline.full_text() == "No drives yet"
    assert w.no_drives.isVisible() and not w.rows


def test_long_names_do_not_widen_the_window(ctx, qtbot):
    ids = _queue(ctx)
    with ctx.db.transaction():  # being copied (the summaries below say so: "Now copying" stays)
        ctx.db.start_job(ids[0], "USBSync/x", None, ctx.db.job(ids[0]).blake3)
    w = _window(qtbot, ctx)
    assert w.width() <= 1366 * 0.9 and w.height() <= 768 * 0.9
    width, hint, minimum = w.width(), w.sizeHint().width(), w.minimumSizeHint().width()
    long_name = "x" * 500 + ".jpg"
    w.on_progress("d-photos", f"/home/anna/outbox/{long_name}", 10, 100)
    audit = AuditLog(ctx.paths.log_dir / AUDIT_FILE)
    audit.record("copy", f"/home/anna/outbox/{long_name}", "/m/x", "Photos", 10, "h", 1.0)
    audit.close()
    # The feed's own summary (computed on a pool thread, nothing connected) must be in before the push below,
    # which it would otherwise overwrite when it lands late (under Wine it did).
    with qtbot.waitSignal(ctx.summary.changed):
        w.refresh()
    qtbot.waitUntil(lambda: w.recent.count() == 1 and long_name in w.recent.item(0).text())
    mount = "/media/anna/" + "VERY_LONG_LABEL_" * 30
    _push(ctx, connected={"d-photos": LiveVolume(mount, 900 * MB, 1000 * MB)})
    QApplication.processEvents()
    assert w.width() == width
    assert w.sizeHint().width() <= hint and w.minimumSizeHint().width() <= minimum
    assert "…" in w.current.text() and long_name in w.current.toolTip()
    where = w.drive_row("d-photos").where
    assert "…" in where.text() and where.toolTip() == f"Plugged in at {mount}"
    assert where.width() < width


def test_it_renders_from_the_signal_alone_and_reads_nothing_on_the_gui_thread(ctx, qtbot, monkeypatch):
    _queue(ctx)
    summary = summarize(ctx.db, ctx.config, {})
    ctx.db.close()  # any query on the window's behalf through the GUI thread's connection would raise
    opened: list[str] = []
    real_init = StateDB.__init__

    def init(self, *a, **kw):
        opened.append(threading.current_thread().name)
        real_init(self, *a, **kw)

    monkeypatch.setattr(StateDB, "__init__", init)
    w = StatusWindow(ctx)
    qtbot.addWidget(w)
    ctx.summary.changed.emit(summary)
    assert w.headline.full_text() == "Plug in Photos: 3 files waiting"
    assert w.drive_row("d-photos").bar.text == "does not fit: 11.9 MB more needed"
    w.show()
    qtbot.waitUntil(lambda: w.details is not None and ctx.tasks.pending() == 0)
    assert threading.main_thread().name not in opened


def test_recent_activity_is_in_plain_words(ctx, qtbot):
    src = ctx.paths.default_outbox
    audit = AuditLog(ctx.paths.log_dir / AUDIT_FILE)
    audit.record("queued", f"{src}/a.jpg", "", "Photos,Docs", 10, "h", status="pending")
    audit.record("copy", f"{src}/b.jpg", "/media/u/PHOTOS/b.jpg", "Photos", 10, "h", 12.0)
    audit.record("adopt", f"{src}/c.jpg", "/m/c.jpg", "Photos", 10, "h", status="skipped", error="identical")
    audit.record("copy", f"{src}/d.jpg", "", "Photos", 10, "h", status="deferred", error=no_space("Photos"))
    audit.record("copy", f"{src}/e.jpg", "", "Photos", 10, "h", status="pending", error="Input/output error")
    audit.close()
    w = _window(qtbot, ctx)
    qtbot.waitUntil(lambda: w.recent.count() == 5)
    lines = [w.recent.item(i).text().split("  ", 1)[1] for i in range(5)]
    assert lines == [
        "e.jpg will be tried again: Input/output error",
        "d.jpg waits for Photos: not enough space on Photos",
        "c.jpg was already on Photos",
        "Copied b.jpg to Photos",
        "New file a.jpg, to copy to Photos and Docs",
    ]
    text = " ".join(lines).lower()
    assert not any(word in text for word in ("adopt", "deferred", "queued", "pending"))


def test_copy_progress_and_the_speed_clock_only_while_copying(ctx, qtbot):
    _queue(ctx)
    w = _window(qtbot, ctx)
    assert not [t for t in w.findChildren(QTimer) if t.isActive()]  # nothing runs on a clock while idle
    w.on_progress("d-photos", "/out/big.mp4", 50, 200)
    assert w.progress.value() == 250 and w.current.full_text() == "big.mp4  →  Photos"  # per-mille
    assert w.progress.isVisible() and "50 bytes of 200 bytes" in w.progress.text()
    # Real sizes overflow QProgressBar's 32-bit range if fed in bytes: a 5 GiB file.
    w.on_progress("d-photos", "/out/huge.mov", 4 << 30, 5 << 30)
    assert w.progress.value() == 800
    w.on_progress("d-photos", "/out/huge.mov", 5 << 30, 5 << 30)  # written: now flushed and read back
    assert w.progress.text() == "verifying on the drive  (5.4 GB)"
    assert w._speed_timer.isActive()
    w._last_progress -= 60  # a minute without progress, and the summary says nothing is copying
    w._tick()
    assert not w._speed_timer.isActive() and w.current.full_text() == "Nothing is being copied right now"
    assert w.progress.value() == 0 and w.progress.isHidden() and w.throughput.text() == ""


def test_heartbeat_shows_how_long_it_has_run(ctx, qtbot):
    w = _window(qtbot, ctx)
    w.on_heartbeat({"pending": 3, "uptime_s": 7800, "bytes_copied": 1_234_000_000})
    assert (
        w.heartbeat.full_text() == "usbsync has been running for 2 h 10 min; 1.2 GB copied since it started"
    )


def _contrast(a: QColor, b: QColor) -> float:
    def lum(c: QColor) -> float:
        def ch(v: float) -> float:
            return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

        return 0.2126 * ch(c.redF()) + 0.7152 * ch(c.greenF()) + 0.0722 * ch(c.blueF())

    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_colours_follow_a_light_or_dark_palette(ctx, qtbot):
    ids = _queue(ctx)
    with ctx.db.transaction():
        ctx.db.set_reason(ids[0], no_space("Photos"))
    w = _window(qtbot, ctx)
    for window, text in (("#f5f5f5", "#111111"), ("#232323", "#eeeeee")):
        pal = QPalette(w.palette())
        pal.setColor(QPalette.ColorRole.Window, QColor(window))
        pal.setColor(QPalette.ColorRole.WindowText, QColor(text))
        pal.setColor(QPalette.ColorRole.Base, QColor(window))
        w.setPalette(pal)
        QApplication.processEvents()
        warning = tone_color(w.palette(), Tone.WARNING)
        assert _contrast(warning, QColor(window)) >= 4.5, (window, warning.name())
        assert w.headline.palette().color(QPalette.ColorRole.WindowText) == warning  # re-toned on the switch
        assert _near(_pixel(w.drive_row("d-photos").bar, 0.5), warning, tol=40)
        for tone in (Tone.CAUTION, Tone.OK):
            assert _contrast(tone_color(w.palette(), tone), QColor(window)) >= 4.5, (window, tone)


class FakeEngine(QObject):
    """The engine as the status window hears it: its signals (the real ones' signatures), its runner and feed."""

    copy_progress = Signal(str, str, int, int)
    heartbeat = Signal(dict)
    drive_connected = Signal(str, str, str)
    drive_disconnected = Signal(str)
    drive_ejected = Signal(str)

    def __init__(self, paths, config):
        super().__init__()
        self.runner = TaskRunner()
        self.summary = SummaryFeed(paths, self.runner, lambda: LiveState(config, {}, False))


@pytest.fixture
def engine_ctx(ctx):
    engine = FakeEngine(ctx.paths, ctx.config)
    ectx = ViewContext(ctx.paths, ctx.config, ctx.db, engine=engine)  # type: ignore[arg-type]
    yield ectx
    engine.runner.shutdown()


def _start(ctx, job_id: int) -> None:
    with ctx.db.transaction():
        ctx.db.start_job(job_id, "USBSync/x", None, ctx.db.job(job_id).blake3)


def _idle(w: StatusWindow) -> bool:
    return (
        w.current.full_text() == "Nothing is being copied right now"
        and w.progress.isHidden()
        and w.progress.value() == 0
        and w.throughput.text() == ""
        and not w._speed_timer.isActive()
    )


def test_now_copying_goes_idle_as_soon_as_a_summary_says_nothing_is_copying(ctx, qtbot):
    ids = _queue(ctx, n=2)
    stale = summarize(ctx.db, ctx.config, {})  # read before the copy started: nothing copying
    _start(ctx, ids[0])
    w = _window(qtbot, ctx)
    assert w.latest.copying_files == 1 and stale.copying_files == 0
    w.on_progress("d-photos", "/out/IMG_0.jpg", 10 * MB, 10 * MB)  # the last bytes of the file
    assert w.progress.value() == 1000 and w.progress.isVisible()
    _push(ctx)  # still copying (the file is being checked): it stays
    assert w.progress.isVisible() and w.current.full_text() == "IMG_0.jpg  →  Photos"
    ctx.summary.changed.emit(stale)  # delivered late, after the progress
    assert w.progress.isVisible()  # read before this copy's progress: it says nothing about this copy
    with ctx.db.transaction():  # copied and checked: nothing is copying now
        ctx.db.finish_job(ids[0], "copied", "USBSync/IMG_0.jpg", ctx.db.job(ids[0]).blake3)
    _push(ctx)
    assert w.latest.copying_files == 0
    assert _idle(w)  # at once, not IDLE_AFTER_S later

    # The next file: shown again from its first progress.
    _start(ctx, ids[1])
    w.on_progress("d-photos", "/out/IMG_1.jpg", 3 * MB, 10 * MB)
    assert w.progress.isVisible() and w.progress.value() == 300


@pytest.mark.parametrize("signal", ["drive_disconnected", "drive_ejected"])
def test_now_copying_goes_idle_when_the_drive_is_unplugged_or_ejected(engine_ctx, qtbot, signal):
    ctx = engine_ctx
    ids = _queue(ctx, n=2)
    _queue(ctx, n=1, drive="d-docs", category="documents", stem="DOC")
    _start(ctx, ids[0])
    w = _window(qtbot, ctx)
    engine = ctx.engine
    engine.copy_progress.emit("d-photos", "/out/IMG_0.jpg", 87 * MB // 10, 10 * MB)
    assert w.progress.value() == 870 and w.progress.isVisible() and w._speed_timer.isActive()
    getattr(engine, signal).emit("d-docs")  # another drive: this copy goes on
    assert w.progress.isVisible() and w.progress.value() == 870
    getattr(engine, signal).emit("d-photos")  # the copy to it stopped (and rolled back)
    assert _idle(w)  # at once: the summary still says a file is copying (its job is rolled back later)
    assert w.latest.copying_files == 1
    # A progress its copy sent before it was stopped, delivered after: the copy is over all the same.
    engine.copy_progress.emit("d-photos", "/out/IMG_0.jpg", 88 * MB // 10, 10 * MB)
    assert _idle(w)
    _push(ctx)
    assert _idle(w)
    # Plugged in again: its copies are shown again.
    engine.drive_connected.emit("d-photos", "Photos", "/media/u/PHOTOS")
    engine.copy_progress.emit("d-photos", "/out/IMG_0.jpg", MB, 10 * MB)
    assert w.progress.isVisible() and w.progress.value() == 100


def test_the_drives_box_is_as_tall_as_its_drives_up_to_a_limit_then_scrolls(ctx, qtbot):
    from usbsync_gui.views.status_window import DRIVES_MAX_HEIGHT

    w = _window(qtbot, ctx)
    _push(ctx)
    qtbot.waitUntil(lambda: w.drives_scroll.isVisible())
    grid = w.drives_scroll.widget()
    qtbot.waitUntil(lambda: w.drives_scroll.height() == grid.sizeHint().height())  # two drives: all shown
    two = w.drives_scroll.height()
    assert 0 < two < DRIVES_MAX_HEIGHT and w.drives_scroll.verticalScrollBar().maximum() == 0
    many = ctx.config
    for i in range(12):
        many = many.with_drive(DriveConfig(f"Stick {i}", f"d-{i}", ("audio",)))
    ctx.config = many
    _push(ctx)
    qtbot.waitUntil(lambda: w.drives_scroll.height() == DRIVES_MAX_HEIGHT)  # fourteen: capped, and it scrolls
    qtbot.waitUntil(lambda: w.drives_scroll.verticalScrollBar().maximum() > 0)
    ctx.config = new_config([ctx.paths.default_outbox]).with_drive(
        DriveConfig("Photos", "d-photos", ("images",))
    )
    _push(ctx)
    qtbot.waitUntil(lambda: 0 < w.drives_scroll.height() < two)  # one: shrinks back to fit


def test_progress_never_repaints_synchronously_and_touches_only_what_changed(ctx, qtbot):
    """QProgressBar.setValue repaints at once whenever the percentage moves; ten times a second, with the GIL
    let go and taken back around each Qt call, that was most of the GUI thread's time at a drive's re-plug in
    bench/bench_ui_responsiveness.py. The bar is painted in the next paint pass instead, with the new value."""
    from PySide6.QtCore import QEvent, QObject

    _queue(ctx)
    w = _window(qtbot, ctx)

    class Paints(QObject):
        n = 0

        def eventFilter(self, obj, event):
            if event.type() == QEvent.Type.Paint:
                Paints.n += 1
            return False

    paints = Paints()
    w.progress.installEventFilter(paints)
    w.on_progress("d-photos", "/out/big.mp4", 50, 200)
    qtbot.waitUntil(lambda: Paints.n > 0)  # shown: painted in the paint pass
    for done in (60, 90, 120, 150):  # each moves the percentage: setValue alone would repaint there and then
        before = Paints.n
        w.on_progress("d-photos", "/out/big.mp4", done, 200)
        assert Paints.n == before, "painted synchronously inside on_progress"
        assert w.progress.value() == done * 5
        qtbot.waitUntil(lambda b=before: Paints.n > b)  # and painted soon after, by the event loop
    # Nothing changed: no Qt call that would change what is shown.
    calls: list[str] = []
    w.current.set_full_text = lambda *a: calls.append("text")  # type: ignore[method-assign]
    w.progress.setFormat = lambda *a: calls.append("format")  # type: ignore[method-assign]
    w.on_progress("d-photos", "/out/big.mp4", 150, 200)
    assert calls == []
    w.progress.removeEventFilter(paints)
