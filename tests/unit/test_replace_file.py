"""A small file replaced while another thread keeps reading it: every replace lands and every read sees a
whole file, old or new. On Windows (under Wine: 48 of 300 plain os.replace calls failed with WinError 5, and
the reader's opens with errno 13) only because replace_file tries again; on Linux rename(2) never fails so."""

from __future__ import annotations

import threading
from dataclasses import replace

from usbsync_gui.core import replace_file
from usbsync_gui.core.config import load_config, new_config, save_config


def test_replacing_a_file_another_thread_keeps_reading(tmp_path):
    path = tmp_path / "config.toml"
    path.write_bytes(b"0" * 100)
    stop = threading.Event()
    seen: set[bytes] = set()
    failed: list[BaseException] = []

    def reader() -> None:
        while not stop.is_set():
            try:
                seen.add(replace_file.read_bytes(path)[:1])
                stop.wait(0.002)  # a busy reader, not one that never lets go
            except BaseException as exc:  # reported by the test, whatever it is
                failed.append(exc)
                return

    t = threading.Thread(target=reader, name="reader")
    t.start()
    try:
        for i in range(300):
            tmp = tmp_path / f"new.{i}.tmp"
            tmp.write_bytes(str(i % 10).encode() * 100)
            replace_file.replace(tmp, path)
    finally:
        stop.set()
        t.join()
    assert not failed, failed
    assert path.read_bytes() == b"9" * 100
    assert len(seen) > 1  # the reader did read while files were replaced
    assert not list(tmp_path.glob("*.tmp"))


def test_the_configuration_saved_while_read_in_a_loop(tmp_path):
    """What the Settings window and the engine do at once: one saves config.toml, the other loads it."""
    path = tmp_path / "config.toml"
    config = new_config([tmp_path / "out"])
    save_config(config, path)
    stop = threading.Event()
    failed: list[BaseException] = []

    def engine() -> None:
        while not stop.is_set():
            try:
                load_config(path)
                stop.wait(0.002)
            except BaseException as exc:  # reported by the test, whatever it is
                failed.append(exc)
                return

    t = threading.Thread(target=engine, name="engine")
    t.start()
    try:
        for i in range(100):
            save_config(replace(config, stability_window_s=1.0 + i), path)
    finally:
        stop.set()
        t.join()
    assert not failed, failed
    assert load_config(path).stability_window_s == 100.0
