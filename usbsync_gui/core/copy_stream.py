"""Stream one source into its temp file on the drive, hashing with BLAKE3 in the same pass.

The two sides fail differently and the copier treats them differently: a read error is the source's
(:class:`SourceError`; ENOENT means it was removed), a write error is the drive's (plain ``OSError``).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import blake3

from usbsync_gui.core.hashing import chunk_buffer

CHUNK = 256 << 10  # files up to this size: one read, hash, write
BIG_CHUNK = 4 << 20  # larger files: 4 MiB chunks, hashing overlapped with writing (measured in bench/)
#: Bytes one read(2) or write(2) moves at most. A kernel built without preemption (CONFIG_PREEMPT_NONE, the
#: default of server kernels and of this project's CI VM) lets a syscall's copy run to its end before any other
#: thread gets that CPU: a 4 MiB write into a fresh page cache was seen taking 15-44 ms there, the window's thread
#: runnable and waiting all that time (`perf sched timehist`, docs/performance.md). 1 MiB bounds that wait at a
#: quarter, for 3 syscalls more per 4 MiB.
SYSCALL_BYTES = 1 << 20


class Cancelled(Exception):
    """The caller asked to stop (shutdown, pause, drive being ejected)."""


class SourceError(OSError):
    """Reading the source failed (``errno`` as the read raised it: ENOENT when it is gone)."""


ChunkFn = Callable[[int], None]  # called after each chunk with the bytes written so far


def stream(
    src: int,
    dst: int,
    size: int,
    cancel: threading.Event,
    hasher: Callable[[], ThreadPoolExecutor],
    on_chunk: ChunkFn | None = None,
    max_rate_bps: float = 0.0,
) -> str:
    """Copy descriptor ``src`` (the source, at offset 0) to ``dst`` (the temp file) and return the BLAKE3 hex of
    the bytes read.

    Args:
        size: the expected size in bytes; it picks the buffer size only (the copy runs to end of file).
        cancel: checked after every chunk; raises :class:`Cancelled` (the temp file is the caller's to remove).
        hasher: the single helper thread. Files larger than :data:`CHUNK` use two 4 MiB buffers: BLAKE3 hashes
            chunk i there (it releases the GIL) while chunk i is written and chunk i+1 read, so hashing costs
            no extra wall time.
        on_chunk: called after each chunk with the bytes written so far.
        max_rate_bps: bandwidth limit in bytes/second (0 = unlimited); waits on ``cancel``.

    Raises:
        SourceError: a read failed (read(2) errno).
        OSError: a write failed (write(2) errno: EIO, ENOSPC, ENOTCONN ...).
        Cancelled: ``cancel`` was set.
    """
    h = blake3.blake3()
    big = size > CHUNK
    bsize = BIG_CHUNK if big else CHUNK
    buffers = [chunk_buffer(bsize, 0), chunk_buffer(bsize, 1)] if big else [chunk_buffer(bsize)]
    done = 0
    t0 = time.monotonic()
    i = 0
    n = _read(src, buffers[0][0])
    while n:
        chunk = buffers[i % len(buffers)][1][:n]
        hashing = hasher().submit(h.update, chunk) if big else None
        if hashing is None:
            h.update(chunk)
        try:
            view = chunk
            while view:
                w = os.write(dst, view[:SYSCALL_BYTES])
                view = view[w:]
            done += n
            i += 1
            n = _read(src, buffers[i % len(buffers)][0])
        finally:
            if hashing is not None:
                hashing.result()
        if cancel.is_set():
            raise Cancelled()
        if on_chunk is not None:
            on_chunk(done)
        if max_rate_bps > 0:
            ahead = done / max_rate_bps - (time.monotonic() - t0)
            if ahead > 0 and cancel.wait(ahead):
                raise Cancelled()
    return h.hexdigest()


def _read(src: int, buf: bytearray) -> int:
    """Fill ``buf`` from ``src`` in reads of at most :data:`SYSCALL_BYTES`; return the bytes read (fewer than
    ``len(buf)`` only at end of file)."""
    view = memoryview(buf)
    got = 0
    try:
        while got < len(buf):
            part = view[got : got + SYSCALL_BYTES]
            if hasattr(os, "readv"):
                n = os.readv(src, [part])
            else:
                data = os.read(src, len(part))
                n = len(data)
                part[:n] = data
            if n == 0:
                break
            got += n
    except OSError as exc:
        raise SourceError(exc.errno, exc.strerror, exc.filename) from exc
    finally:
        view.release()
    return got
