"""Prometheus metrics (``[metrics]`` in config.toml, off by default), served by ``prometheus_client``.

An organisation that runs usbsync on many desktops points its existing Prometheus at them; nothing fleet-like is
built here. With metrics off nothing is imported from prometheus_client and no socket is opened.

Served at ``http://ADDRESS:PORT/metrics`` (text exposition format 0.0.4) by prometheus_client's own HTTP server,
on a daemon thread of its own (it wakes every 0.5 s to check for shutdown: ``socketserver``'s poll interval).
The figures are read at scrape time from what the engine keeps: the one summary it computes for its views
(``core/summary.py``) for what waits and which drives are plugged in, and counters it adds each drain's result
to. Metric names follow Prometheus' naming conventions (``_total`` for counters, base units: bytes, seconds):

* ``usbsync_pending_files{drive}``, ``usbsync_pending_bytes{drive}``: waiting for the drive (pending, copying)
* ``usbsync_drive_connected{drive}``: 1 while plugged in
* ``usbsync_files_copied_total{drive}``, ``usbsync_bytes_copied_total{drive}``: verified copies since start
* ``usbsync_copy_failures_total{drive,reason}``: failed attempts, ``reason`` one of
  :data:`usbsync_gui.core.wait_reasons.FAILURE_KINDS`
* ``usbsync_events_total``: file system events (paths) the watcher reported
* ``usbsync_watcher_up``: 1 while every source folder is watched
* ``usbsync_verify_seconds``: histogram of the time to read one copy back from the device
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from usbsync_gui.core.config import MetricsConfig
from usbsync_gui.core.summary import StateSummary

log = logging.getLogger(__name__)

#: Buckets of ``usbsync_verify_seconds``: a small file on a fast stick reads back in milliseconds, a 4 GiB
#: video on a USB 2 stick in minutes.
VERIFY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


@dataclass
class MetricsState:
    """What the engine tells the metrics, on its own thread; read by the server's thread at scrape time (whole
    values replaced or incremented under :attr:`lock`)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    summary: StateSummary | None = None
    copied: dict[str, int] = field(default_factory=dict)  # drive name -> files
    copied_bytes: dict[str, int] = field(default_factory=dict)
    failures: dict[tuple[str, str], int] = field(default_factory=dict)  # (drive name, kind) -> attempts
    events: int = 0
    watcher_up: bool = True
    verified: int = 0  # copies read back from the device since start

    def add_drain(
        self, drive: str, copied: int, copied_bytes: int, failures: dict[str, int], verified: int = 0
    ) -> None:
        with self.lock:
            self.verified += verified
            self.copied[drive] = self.copied.get(drive, 0) + copied
            self.copied_bytes[drive] = self.copied_bytes.get(drive, 0) + copied_bytes
            for kind, n in failures.items():
                self.failures[(drive, kind)] = self.failures.get((drive, kind), 0) + n

    def add_events(self, n: int) -> None:
        with self.lock:
            self.events += n


class MetricsServer:
    """The ``/metrics`` endpoint over a :class:`MetricsState`. :meth:`start` binds; :meth:`stop` closes the
    socket and ends the thread."""

    def __init__(self, config: MetricsConfig, state: MetricsState):
        from prometheus_client import CollectorRegistry, Histogram

        self.config = config
        self.state = state
        self.registry = CollectorRegistry(auto_describe=True)
        self.verify_seconds = Histogram(
            "usbsync_verify_seconds",
            "Time to read one copy back from the device and hash it, in seconds",
            buckets=VERIFY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_Collector(state))
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.config.address}]" if ":" in self.config.address else self.config.address
        return f"http://{host}:{self.config.port}/metrics"

    def start(self) -> None:
        """Bind ``address:port`` and serve. Raises OSError (EADDRINUSE, EACCES ...) when it cannot."""
        from prometheus_client import start_http_server

        self._server, self._thread = start_http_server(
            self.config.port, addr=self.config.address, registry=self.registry
        )
        log.info("metrics served at %s", self.url)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()  # returns once serve_forever has (within its 0.5 s poll)
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None


class _Collector:
    """Builds the metric families from :class:`MetricsState` at each scrape (prometheus_client's custom
    collector protocol: ``collect()`` yields families)."""

    def __init__(self, state: MetricsState):
        self.state = state

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        s = self.state
        with s.lock:
            summary, copied, copied_bytes = s.summary, dict(s.copied), dict(s.copied_bytes)
            failures, events, up = dict(s.failures), s.events, s.watcher_up
        pending = GaugeMetricFamily("usbsync_pending_files", "Files waiting for the drive", labels=["drive"])
        pending_b = GaugeMetricFamily(
            "usbsync_pending_bytes", "Bytes waiting for the drive", labels=["drive"]
        )
        connected = GaugeMetricFamily(
            "usbsync_drive_connected", "1 while the drive is plugged in", labels=["drive"]
        )
        names = set(copied) | {d for d, _k in failures}
        for d in summary.drives if summary is not None else ():
            names.add(d.name)
            pending.add_metric([d.name], d.waiting_files)
            pending_b.add_metric([d.name], d.waiting_bytes)
            connected.add_metric([d.name], 1 if d.connected else 0)
        files = CounterMetricFamily(
            "usbsync_files_copied", "Files copied and verified since start", labels=["drive"]
        )
        nbytes = CounterMetricFamily(
            "usbsync_bytes_copied", "Bytes copied and verified since start", labels=["drive"]
        )
        for name in sorted(names):
            files.add_metric([name], copied.get(name, 0))
            nbytes.add_metric([name], copied_bytes.get(name, 0))
        fails = CounterMetricFamily(
            "usbsync_copy_failures", "Failed copy attempts since start", labels=["drive", "reason"]
        )
        for (name, kind), n in sorted(failures.items()):
            fails.add_metric([name, kind], n)
        yield from (pending, pending_b, connected, files, nbytes, fails)
        yield CounterMetricFamily("usbsync_events", "File system events the watcher reported", value=events)
        yield GaugeMetricFamily("usbsync_watcher_up", "1 while every source folder is watched", value=int(up))
