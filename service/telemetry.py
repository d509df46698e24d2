"""Prometheus metrics of one API process: its HTTP and gRPC requests, and the state
of the work read from the metadata store at scrape time.

Request series are this process's own (counters since it started). The work
series (runs by state and device class, queue depth, finished runs' durations,
worker heartbeats, evaluations by verdict) are totals read from the store, so
they are the same on every API replica and count work done on any worker.

Each `Telemetry` owns its registry (tests build many apps in one process).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from service.domain.ports import MetadataStore, OperationalStats

log = structlog.get_logger(__name__)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
# A run lasts from seconds (tests, a smoke run) to an hour (a long budget).
RUN_SECONDS_BUCKETS = (5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0)
HEARTBEAT_WINDOW = timedelta(hours=1)  # workers silent for longer drop out of the series
STORE_CACHE_S = 1.0  # scrapes within this share one read of the store (several scrapers)


class Telemetry:
    def __init__(self, store: MetadataStore | None = None) -> None:
        self.registry = CollectorRegistry()
        self.http_requests = Counter(
            "loopy_http_requests",
            "HTTP requests by operation and status code",
            ["operation", "status"],
            registry=self.registry,
        )
        self.http_latency = Histogram(
            "loopy_http_request_seconds",
            "HTTP request latency by operation (until the response starts)",
            ["operation"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.grpc_requests = Counter(
            "loopy_grpc_requests",
            "gRPC requests (LoopyService) by method and status code",
            ["method", "code"],
            registry=self.registry,
        )
        self.grpc_latency = Histogram(
            "loopy_grpc_request_seconds",
            "gRPC request latency by method (a stream: until it ends)",
            ["method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        if store is not None:
            self.registry.register(StoreCollector(store))
        self._lock = threading.Lock()

    # Kept for callers of the HTTP-only version.
    @property
    def requests(self) -> Counter:
        return self.http_requests

    @property
    def latency(self) -> Histogram:
        return self.http_latency

    def exposition(self) -> bytes:
        """The text format; reads the store, so call it off the event loop."""
        with self._lock:
            return bytes(generate_latest(self.registry))


class StoreCollector(Collector):
    """The work, as the metadata store knows it."""

    def __init__(self, store: MetadataStore) -> None:
        self.store = store
        self._cached: tuple[float, OperationalStats] | None = None

    def _stats(self) -> OperationalStats | None:
        now = time.monotonic()
        if self._cached is not None and now - self._cached[0] < STORE_CACHE_S:
            return self._cached[1]
        try:
            stats = self.store.operational_stats(
                RUN_SECONDS_BUCKETS, datetime.now(UTC) - HEARTBEAT_WINDOW
            )
        except Exception as exc:  # a store outage must not break the request series
            log.warning("metrics.store_unreadable", error=str(exc))
            return None
        self._cached = (now, stats)
        return stats

    def describe(self) -> Iterator[Any]:
        return iter(())  # computed at scrape time; nothing to check at registration

    def collect(self) -> Iterator[Any]:
        up = GaugeMetricFamily(
            "loopy_store_up", "1 when the metadata store answered this scrape, else 0"
        )
        stats = self._stats()
        up.add_metric([], 1.0 if stats is not None else 0.0)
        yield up
        if stats is None:
            return
        runs = GaugeMetricFamily(
            "loopy_runs",
            "Runs by state and device class (all time)",
            labels=["state", "device_class"],
        )
        queued = GaugeMetricFamily(
            "loopy_queue_depth",
            "Runs waiting for a worker, by device class",
            labels=["device_class"],
        )
        depth: dict[str, int] = {}  # every device class ever used, 0 when none waits
        for (state, device_class), count in sorted(stats.runs.items()):
            runs.add_metric([state, device_class], float(count))
            depth[device_class] = depth.get(device_class, 0) + (count if state == "QUEUED" else 0)
        for device_class, count in sorted(depth.items()):
            queued.add_metric([device_class], float(count))
        yield runs
        yield queued

        seconds = HistogramMetricFamily(
            "loopy_run_seconds",
            "Finished runs' total seconds (trusted summary: start-up, training, evaluation), "
            "by final state",
            labels=["state"],
        )
        for state, histogram in sorted(stats.run_seconds.items()):
            buckets = [
                (f"{bound:g}", float(count))
                for bound, count in zip(histogram.bounds, histogram.counts, strict=True)
            ]
            buckets.append(("+Inf", float(histogram.count)))
            seconds.add_metric([state], buckets, histogram.total)
        yield seconds

        heartbeats = GaugeMetricFamily(
            "loopy_worker_last_heartbeat_timestamp_seconds",
            "Unix time of each worker's latest run heartbeat (workers heard from in the last hour)",
            labels=["worker"],
        )
        for worker, when in sorted(stats.worker_heartbeats.items()):
            heartbeats.add_metric([worker], when)
        yield heartbeats

        evaluations = GaugeMetricFamily(
            "loopy_evaluations",
            "Evaluations by state and verdict (all time; verdict empty while pending)",
            labels=["state", "verdict"],
        )
        for (state, verdict), count in sorted(stats.evaluations.items()):
            evaluations.add_metric([state, verdict], float(count))
        yield evaluations
