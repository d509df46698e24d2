"""Fetching a run's metric history from the metadata store: SQLite vs PostgreSQL.

    python -m bench.store_metrics [--runs 10] [--points 10000] [--repeats 30]   # from the repo root

Fills each store with `--runs` runs of `--points` points (4 series), then times
`get_metrics` for one whole run (10 000 points) and for the tail since a step
(the polling pattern of GetMetrics / WatchRun). PostgreSQL gets a fresh
database on 127.0.0.1:5432 that is dropped afterwards; SQLite a temp file.
Reports medians and p90 in milliseconds and the PostgreSQL / SQLite ratio.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg

from service.domain.models import MetricPoint
from service.stores.sql import SqlMetadataStore

NAMES = ("loss", "lr", "tokens_per_s", "val_bpb")


def fill(store: SqlMetadataStore, runs: int, points: int) -> float:
    steps = points // len(NAMES)
    started = time.perf_counter()
    for r in range(runs):
        batch = [
            MetricPoint(step=s, name=n, value=1.0 / (s + 1), wall_seconds=s * 0.1)
            for s in range(steps)
            for n in NAMES
        ]
        for start in range(0, len(batch), 1000):  # workers flush about this many at once
            store.append_metrics(f"run-{r}", batch[start : start + 1000])
    return time.perf_counter() - started


def timed(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    fn()  # warm caches and the connection pool
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(0.9 * (len(samples) - 1))]


def measure(store: SqlMetadataStore, args: argparse.Namespace) -> dict[str, tuple[float, float]]:
    fill_s = fill(store, args.runs, args.points)
    run = f"run-{args.runs // 2}"
    tail_step = args.points // len(NAMES) - 100
    assert len(store.get_metrics(run, None, None, args.points)) == args.points
    return {
        f"append {args.runs * args.points} points (s)": (fill_s, fill_s),
        f"get {args.points} points (ms)": timed(
            lambda: store.get_metrics(run, None, None, args.points), args.repeats
        ),
        "get since step, last 100 steps (ms)": timed(
            lambda: store.get_metrics(run, tail_step, None, args.points), args.repeats
        ),
        "get one series, 2 500 points (ms)": timed(
            lambda: store.get_metrics(run, None, ["loss"], args.points), args.repeats
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--pg", default="host=127.0.0.1 port=5432 user=postgres dbname=postgres")
    args = parser.parse_args()

    results: dict[str, dict[str, tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        store = SqlMetadataStore(f"sqlite:///{Path(tmp) / 'bench.db'}")
        results["sqlite"] = measure(store, args)
        store.close()

    name = f"loopy_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.pg, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            host = admin.info.host
            store = SqlMetadataStore(f"postgresql://postgres@{host}:{admin.info.port}/{name}")
            results["postgresql"] = measure(store, args)
            store.close()
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    print(f"{'measure':40} {'sqlite p50/p90':>18} {'postgresql p50/p90':>20} {'pg/sqlite':>10}")
    for label, (lite_p50, lite_p90) in results["sqlite"].items():
        pg_p50, pg_p90 = results["postgresql"][label]
        print(
            f"{label:40} {lite_p50:8.2f}/{lite_p90:<9.2f} {pg_p50:9.2f}/{pg_p90:<10.2f}"
            f" {pg_p50 / lite_p50:9.2f}x"
        )


if __name__ == "__main__":
    main()
