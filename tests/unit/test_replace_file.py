"""A small file replaced while another thread keeps reading it: every replace lands and every read sees a
whole file, old or new. On Windows (under Wine: 48 of 300 plain os.replace calls failed with WinError 5, and
the reader's opens with errno 13) only because replace_file tries again; on Linux rename(2) never fails so."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from usbsync_gui.core import replace_file
from usbsync_gui.core.config import load_config, new_config, save_config


@contextmanager
def reading_in_a_loop(read: Callable[[], Any], name: str) -> Iterator[list[Any]]:
    """Another thread calls ``read`` every 2 ms (a busy reader, not one that never lets go) while the block
    runs. Yields what it read; raises what a read raised."""
    stop = threading.Event()
    got: list[Any] = []
    failed: list[BaseException] = []

    def loop() -> None:
        while not stop.is_set():
            try:
                got.append(read())
            except BaseException as exc:  # reported below, whatever it is
                failed.append(exc)
                return
            stop.wait(0.002)

    t = threading.Thread(target=loop, name=name)
    t.start()
    try:
        yield got
    finally:
        stop.set()
        t.join()
    assert not failed, failed


def test_replacing_a_file_another_thread_keeps_reading(tmp_path):
    path = tmp_path / "config.toml"
    path.write_bytes(b"0" * 100)
    with reading_in_a_loop(lambda: replace_file.read_bytes(path), "reader") as got:
        for i in range(300):
            tmp = tmp_path / f"new.{i}.tmp"
            tmp.write_bytes(str(i % 10).encode() * 100)
            replace_file.replace(tmp, path)
    assert path.read_bytes() == b"9" * 100
    assert len(set(got)) > 1  # the reader did read while files were replaced
    assert {len(b) for b in got} == {100}  # whole files, old or new
    assert not list(tmp_path.glob("*.tmp"))


def test_the_configuration_saved_while_read_in_a_loop(tmp_path):
    """What the Settings window and the engine do at once: one saves config.toml, the other loads it."""
    path = tmp_path / "config.toml"
    config = new_config([tmp_path / "out"])
    save_config(config, path)
    with reading_in_a_loop(lambda: load_config(path), "engine"):
        for i in range(100):
            save_config(replace(config, stability_window_s=1.0 + i), path)
    assert load_config(path).stability_window_s == 100.0
