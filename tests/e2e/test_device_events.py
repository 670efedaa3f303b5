"""Device arrival through the OS's signal (mount-table change), not the poll; removal mid-copy."""

import random
import statistics
import time

from tests.conftest import png_bytes
from tests.e2e.conftest import stop, wait_for
from usbsync_gui.core.hashing import hash_file


def _temp_files(drive):
    return list(drive.mountpoint.rglob(".usbsync-*.part"))


def test_plug_to_first_job_under_a_second_through_the_mount_signal(usbsync, make_drive):
    drive = make_drive("VIDEO", fstype="exfat", size_mib=128)
    usbsync("register-drive", str(drive.mountpoint), "--name", "Video", "--category", "videos")
    drive.unplug()
    usbsync.set("volume_poll_seconds", "60")  # the safety-net poll cannot explain a fast start
    usbsync.set("max_copy_rate_mib_s", "4")  # the first job stays in flight long enough to see it start
    (usbsync.source / "clip.mp4").write_bytes(random.Random(1).randbytes(8 << 20))
    proc = usbsync.start()
    latencies = []
    try:
        wait_for(lambda: "OS signals mountinfo" in usbsync.log(), timeout=20)
        wait_for(lambda: len(usbsync.json("pending")["jobs"]) == 1, timeout=20)
        for _ in range(3):
            t0 = time.monotonic()  # before the mount command: includes mounting itself (an upper bound)
            drive.plug()
            wait_for(
                lambda: _temp_files(drive) or (drive.mountpoint / "USBSync" / "clip.mp4").exists(), 5, 0.005
            )
            latencies.append(time.monotonic() - t0)
            time.sleep(0.3)
            drive.unplug()  # interrupts the copy (busy mount: lazily), the job goes back to pending
            wait_for(lambda: "drive Video removed" in usbsync.log(), timeout=10)
            time.sleep(0.5)
    finally:
        code, out = stop(proc)
    assert code == 0, out
    print(f"plug-to-first-job latency (s): {', '.join(f'{x:.3f}' for x in latencies)}")
    assert "noticed by mountinfo" in out
    assert statistics.median(latencies) < 1.0, latencies


def test_yanked_exfat_stick_mid_copy_then_replugged_resumes_with_one_copy(usbsync, make_drive):
    stick = make_drive("STICK", fstype="exfat", size_mib=128)
    usbsync("register-drive", str(stick.mountpoint), "--name", "Stick", "--category", "videos")
    usbsync.set("max_copy_rate_mib_s", "8")
    data = random.Random(2).randbytes(32 << 20)
    (usbsync.source / "film.mp4").write_bytes(data)
    (usbsync.source / "photo.png").write_bytes(png_bytes(1))  # not for this drive: the engine keeps going
    proc = usbsync.start()
    try:
        wait_for(lambda: any(p.stat().st_size > (4 << 20) for p in _temp_files(stick)), timeout=30)
        stick.yank()  # kill -9 the FUSE daemon: writes now fail with ENOTCONN, no mount-table change
        wait_for(lambda: "drive Stick removed" in usbsync.log(), timeout=10)
        jobs = usbsync.json("pending")["jobs"]
        assert [(j["state"], j["reason"], j["attempts"]) for j in jobs] == [("pending", "drive removed", 0)]
        assert proc.poll() is None  # still running
        stick.unplug()  # clean up the stale mount (umount -l) and the loop device
        usbsync.set("max_copy_rate_mib_s", "0")
        time.sleep(2.5)  # the running engine picks up the config change
        stick.plug()
        wait_for(lambda: usbsync.json("status")["synced"] == 1, timeout=30)
    finally:
        code, out = stop(proc)
    assert code == 0, out
    assert list(stick.files()) == ["film.mp4"]
    assert not _temp_files(stick), "the temporary file left by the yank is removed at the next arrival"
    assert hash_file(stick.mountpoint / "USBSync" / "film.mp4") == hash_file(usbsync.source / "film.mp4")
    assert "removed stale temporary file" in out
