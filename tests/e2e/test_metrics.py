"""[metrics] against the real `usbsync run`: with it on, /metrics answers (read with curl, as Prometheus or a
person would) during a copy to a real ext4 volume and after it; with it off, the engine listens on no TCP
port at all."""

from __future__ import annotations

import random
import re
import shutil
import socket
import subprocess

import psutil
import pytest

from tests.e2e.conftest import stop, wait_for

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _listening(pid: int) -> list[tuple[str, int]]:
    return [
        (c.laddr.ip, c.laddr.port)
        for c in psutil.Process(pid).net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN
    ]


def _metric(text: str, name: str, labels: str = "") -> float | None:
    m = re.search(rf"^{re.escape(name)}{re.escape(labels)} (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


def test_metrics_during_a_copy_and_nothing_listening_when_off(usbsync, make_drive):
    if shutil.which("curl") is None:
        pytest.skip("curl is missing (Debian package curl)")
    video = make_drive("VIDEO", size_mib=96)
    usbsync("register-drive", str(video.mountpoint), "--name", "Video", "--category", "videos")
    usbsync.set("max_copy_rate_mib_s", "8")  # 32 MiB: 4 s of copying to look at

    # Off (the default): no socket.
    proc = usbsync.start()
    try:
        wait_for(lambda: f"watching {usbsync.source}" in usbsync.log(), timeout=20)
        assert _listening(proc.pid) == []
    finally:
        code, out = stop(proc)
    assert code == 0, out

    port = _free_port()
    with (usbsync.home / "config.toml").open("a") as f:
        f.write(f'\n[metrics]\nenabled = true\nport = {port}\naddress = "127.0.0.1"\n')
    proc = usbsync.start()
    url = f"http://127.0.0.1:{port}/metrics"

    def scrape() -> str:
        return subprocess.run(["curl", "-sf", url], capture_output=True, text=True, timeout=10).stdout

    try:
        wait_for(lambda: "metrics served at" in usbsync.log(), timeout=20)
        assert _listening(proc.pid) == [("127.0.0.1", port)]
        (usbsync.source / "film.mp4").write_bytes(
            b"\x00\x00\x00\x18ftypmp42" + random.Random(3).randbytes(32 << 20)
        )
        wait_for(
            lambda: (_metric(scrape(), "usbsync_pending_files", '{drive="Video"}') or 0) == 1, timeout=20
        )
        during = scrape()
        assert _metric(during, "usbsync_drive_connected", '{drive="Video"}') == 1
        assert _metric(during, "usbsync_pending_bytes", '{drive="Video"}') == (32 << 20) + 12
        assert _metric(during, "usbsync_watcher_up") == 1
        assert (_metric(during, "usbsync_events_total") or 0) >= 1
        wait_for(lambda: _metric(scrape(), "usbsync_files_copied_total", '{drive="Video"}') == 1, timeout=60)
        after = scrape()
        assert _metric(after, "usbsync_bytes_copied_total", '{drive="Video"}') == (32 << 20) + 12
        assert _metric(after, "usbsync_pending_files", '{drive="Video"}') == 0
        assert _metric(after, "usbsync_verify_seconds_count") == 1
        assert _metric(after, "usbsync_verify_seconds_sum") > 0
        (usbsync.home / "metrics-during.txt").write_text(during)  # for the closing note
        print(during)
    finally:
        code, out = stop(proc)
    assert code == 0, out
