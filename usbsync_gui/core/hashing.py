"""BLAKE3 content hashes (hex, 64 characters) of files and byte streams."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import BinaryIO

import blake3

CHUNK = 1 << 20  # 1 MiB: large enough to amortise syscalls, small enough to stay in CPU cache
MMAP_THRESHOLD = 4 << 20  # files from 4 MiB are hashed through mmap with blake3's own threads
_local = threading.local()


def chunk_buffer(size: int = CHUNK, slot: int = 0) -> tuple[bytearray, memoryview]:
    """A per-thread reusable buffer of ``size`` bytes (``slot`` tells apart buffers used together):
    allocating, and so zeroing, one per file costs more than hashing a small file."""
    key = f"buf{size}.{slot}"
    pair = getattr(_local, key, None)
    if pair is None:
        buf = bytearray(size)
        pair = (buf, memoryview(buf))
        setattr(_local, key, pair)
    return pair


def hash_file(path: Path | str, drop_cache: bool = False) -> str:
    """BLAKE3 hex digest of the file at ``path``.

    With ``drop_cache`` (Linux), the file's pages are first evicted from the page cache with
    ``posix_fadvise(POSIX_FADV_DONTNEED)`` so that the bytes are read back from the device; the caller must
    have made them durable (fsync/syncfs) first, or dirty pages stay cached. Raises OSError.
    """
    with open(path, "rb", buffering=0) as fh:
        fd = fh.fileno()
        if drop_cache and hasattr(os, "posix_fadvise"):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        size = os.fstat(fd).st_size
        if size >= MMAP_THRESHOLD:
            h = blake3.blake3(max_threads=blake3.blake3.AUTO)
            h.update_mmap(path)
            return h.hexdigest()
        return _hash_stream(fh, blake3.blake3(), CHUNK, slot=0)


BIG_CHUNK = 8 << 20  # large files: blake3's threads need big updates to help


def hash_fd(fd: int) -> str:
    """BLAKE3 hex digest of the whole file open at descriptor ``fd`` (read from offset 0; the offset is left
    at the end). The caller keeps and closes ``fd``. Raises OSError.

    Reads with ``read`` rather than ``mmap``: a source file truncated while it is hashed then reads short
    instead of killing the process with SIGBUS.
    """
    os.lseek(fd, 0, os.SEEK_SET)
    size = os.fstat(fd).st_size
    big = size >= MMAP_THRESHOLD
    h = blake3.blake3(max_threads=blake3.blake3.AUTO) if big else blake3.blake3()
    with open(fd, "rb", buffering=0, closefd=False) as fh:
        return _hash_stream(fh, h, BIG_CHUNK if big else CHUNK, slot=7)


def _hash_stream(fh: BinaryIO, h: blake3.blake3, size: int, slot: int) -> str:
    """Feed ``fh`` to ``h`` in reads of ``size`` bytes (a reused per-thread buffer) and return the hex digest."""
    buf, view = chunk_buffer(size, slot)
    while True:
        n = fh.readinto(buf)  # type: ignore[attr-defined]
        if not n:
            break
        h.update(view[:n])
    return h.hexdigest()
