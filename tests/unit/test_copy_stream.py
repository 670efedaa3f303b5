"""The copy stream over real files: content and hash, and no read or write syscall larger than SYSCALL_BYTES."""

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import blake3
import pytest

from usbsync_gui.core import copy_stream


@pytest.mark.parametrize("size", [0, 1, copy_stream.CHUNK + 1, 3 * copy_stream.BIG_CHUNK + 12345])
def test_stream_copies_and_hashes_in_syscalls_of_at_most_one_mib(tmp_path, monkeypatch, size):
    data = os.urandom(size)
    (tmp_path / "src").write_bytes(data)
    sizes: list[tuple[str, int]] = []
    real_write, real_readv, real_read = os.write, getattr(os, "readv", None), os.read

    def write(fd, buf):
        sizes.append(("write", len(buf)))
        return real_write(fd, buf)

    def readv(fd, bufs):
        sizes.append(("read", sum(len(b) for b in bufs)))
        return real_readv(fd, bufs)

    def read(fd, n):
        sizes.append(("read", n))
        return real_read(fd, n)

    # Recording wrappers around the real calls: the files and the kernel are real.
    monkeypatch.setattr(copy_stream.os, "write", write)
    monkeypatch.setattr(copy_stream.os, "read", read)
    if real_readv is not None:
        monkeypatch.setattr(copy_stream.os, "readv", readv)
    binary = getattr(os, "O_BINARY", 0)  # Windows: no newline translation (as the copier opens its files)
    src = os.open(tmp_path / "src", os.O_RDONLY | binary)
    dst = os.open(tmp_path / "dst", os.O_WRONLY | os.O_CREAT | binary)
    pool = ThreadPoolExecutor(1)
    try:
        digest = copy_stream.stream(src, dst, size, threading.Event(), lambda: pool)
    finally:
        os.close(src)
        os.close(dst)
        pool.shutdown()
    assert (tmp_path / "dst").read_bytes() == data
    assert digest == blake3.blake3(data).hexdigest()
    assert sizes, "the stream made no syscalls through os"
    assert max(n for _, n in sizes) <= copy_stream.SYSCALL_BYTES
    if size > copy_stream.BIG_CHUNK:
        assert sum(n for kind, n in sizes if kind == "write") == size
