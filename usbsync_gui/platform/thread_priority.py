"""Background priority for the engine's threads, so that the window's thread gets the CPU first.

The tray app runs the engine in the same process as its window. In a flood of new files the engine's
threads (the watcher, watchdog's readers, the analysis and copy threads) keep both cores of a small machine
busy; at the OS's normal fairness the GUI thread then waits its turn for a core (and, once on one, for
Python's GIL), and the window stalls for 100 ms and more. A desktop's background work runs below the
foreground's priority for this reason (file indexers, backup agents); so do the engine's threads.

* Linux: the nice value is a per-thread attribute (``sched(7)``; ``setpriority(2)`` with ``PRIO_PROCESS``
  and ``who`` 0 changes the calling thread only), and a thread starts with its creator's: so lowering an
  engine thread lowers every thread it starts later (thread pools, watchdog's observer and readers). Raising
  one's own nice value needs no privilege; lowering it back would (``RLIMIT_NICE``), so this is one-way.
* Windows: ``SetThreadPriority(GetCurrentThread(), THREAD_PRIORITY_BELOW_NORMAL)``; a new thread starts at
  normal priority whoever created it, so thread pools pass :func:`pool_initializer` to set theirs. (watchdog's
  own threads are started inside watchdog and stay at normal priority there.)

What it changed in a 20,000-file flood is in ``docs/performance.md`` (bench/bench_ui_responsiveness.py).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable

log = logging.getLogger(__name__)

BACKGROUND_NICE = 10
"""How much an engine thread's nice value is raised on Linux (from its creator's; capped at 19, the lowest
priority). At +10 a CPU-bound thread gets about a tenth of the CPU a nice-0 thread gets when both want it
(the kernel's weights: 1024 for nice 0, 110 for nice 10), and all of it when the other is idle."""

THREAD_PRIORITY_BELOW_NORMAL = -1  # WinBase.h


if sys.platform == "win32":
    import ctypes
    from ctypes import wintypes as w

    def _kernel32() -> ctypes.WinDLL:
        k32 = ctypes.WinDLL("kernel32", use_last_error=True)
        k32.GetCurrentThread.restype = w.HANDLE
        k32.GetThreadPriority.argtypes = [w.HANDLE]
        k32.GetThreadPriority.restype = ctypes.c_int
        k32.SetThreadPriority.argtypes = [w.HANDLE, ctypes.c_int]
        k32.SetThreadPriority.restype = w.BOOL
        return k32

    def lower_this_thread() -> None:
        """Run the calling thread at background priority from now on (see the module's doc). A failure is
        logged at debug level and otherwise ignored: a thread at normal priority still works."""
        k32 = _kernel32()
        if not k32.SetThreadPriority(k32.GetCurrentThread(), THREAD_PRIORITY_BELOW_NORMAL):
            log.debug("SetThreadPriority failed: error %d", ctypes.get_last_error())

    def pool_initializer() -> Callable[[], None] | None:
        """For ``ThreadPoolExecutor(initializer=...)``: runs the pool's threads at the priority of the thread
        that calls this, as Linux does by itself. Windows starts every new thread at normal priority, so this
        is a function that lowers each pool thread when the caller runs below normal (None otherwise)."""
        k32 = _kernel32()
        return lower_this_thread if k32.GetThreadPriority(k32.GetCurrentThread()) < 0 else None

else:

    def lower_this_thread() -> None:
        """Run the calling thread, and the threads it starts from now on, at background priority: nice
        +:data:`BACKGROUND_NICE` (see the module's doc). A failure is logged at debug level and otherwise
        ignored: a thread at normal priority still works."""
        try:
            now = os.getpriority(os.PRIO_PROCESS, 0)
            os.setpriority(os.PRIO_PROCESS, 0, min(19, now + BACKGROUND_NICE))
        except OSError as exc:
            log.debug("cannot lower this thread's priority: %s", exc)

    def pool_initializer() -> Callable[[], None] | None:
        """For ``ThreadPoolExecutor(initializer=...)``: runs the pool's threads at the priority of the thread
        that calls this. None: a new thread starts with its creator's nice value."""
        return None
