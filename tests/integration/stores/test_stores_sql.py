"""What only the SQL store has: migrations, connection set-up, query plans, and
sequence numbers handed out to two separate processes."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, text

from service.domain.errors import InvalidArgument
from service.domain.models import MetricPoint, RunEventType, utcnow
from service.stores import open_metadata_store
from service.stores.schema import metadata
from service.stores.sql import MIGRATIONS_DIR, SqlMetadataStore

HEAD = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()


def open_sql(url: str) -> SqlMetadataStore:
    store = open_metadata_store(url)
    assert isinstance(store, SqlMetadataStore)
    return store


def assert_schema_is_head(store: SqlMetadataStore) -> None:
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == HEAD
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == [], "migrations and schema.py disagree"


def test_fresh_sqlite_file_migrates_to_head_and_reopens(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'nested' / 'dir' / 'loopy.db'}"
    first = open_sql(url)
    assert_schema_is_head(first)
    first.append_event("run-a", RunEventType.LOG, {"text": "kept"}, utcnow())
    first.close()
    second = open_sql(url)  # the upgrade is a no-op now
    assert_schema_is_head(second)
    assert [e.data for e in second.list_events("run-a", 0, 10)] == [{"text": "kept"}]
    second.close()


def test_fresh_postgres_database_migrates_once_under_concurrent_opens(
    new_pg_database: Callable[[], AbstractContextManager[str]],
) -> None:
    with new_pg_database() as url:
        stores: list[SqlMetadataStore] = []
        errors: list[BaseException] = []
        barrier = threading.Barrier(3)

        def open_one() -> None:
            barrier.wait()
            try:
                stores.append(open_sql(url))
            except BaseException as error:  # reported below
                errors.append(error)

        threads = [threading.Thread(target=open_one) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert_schema_is_head(stores[0])
        for store in stores:
            store.close()


def test_sqlite_connection_settings(tmp_path: Path) -> None:
    store = open_sql(f"sqlite:///{tmp_path / 'loopy.db'}")
    with store.engine.connect() as conn:
        pragma = {
            name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")
        }
    assert pragma == {
        "journal_mode": "wal",
        "foreign_keys": 1,
        "busy_timeout": 30000,
        "synchronous": 1,
    }
    store.close()


def test_in_memory_sqlite_is_shared_across_threads() -> None:
    store = open_sql("sqlite://")
    barrier = threading.Barrier(4)

    def append(i: int) -> None:
        barrier.wait()
        for k in range(10):
            store.append_metrics(
                "run-a", [MetricPoint(step=k, name=f"m{i}", value=k, wall_seconds=0.0)]
            )

    threads = [threading.Thread(target=append, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(store.get_metrics("run-a", None, None, 1000)) == 40
    store.close()


@pytest.mark.parametrize(
    "url", ["mysql://root@localhost/db", "file:///tmp/x.db", "", "postgresqlx://h/db"]
)
def test_unsupported_database_url(url: str) -> None:
    with pytest.raises(InvalidArgument, match="database URL"):
        open_metadata_store(url)


def test_postgresql_url_uses_psycopg3(pg_url: str) -> None:
    store = open_sql(pg_url)
    assert store.engine.dialect.driver == "psycopg"
    assert store.engine.pool._pre_ping  # type: ignore[attr-defined]
    store.close()


# --- metric points: one indexed query ----------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def sql_store(request: pytest.FixtureRequest, tmp_path: Path) -> SqlMetadataStore:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'loopy.db'}"
    else:
        url = str(request.getfixturevalue("pg_url"))
    store = open_sql(url)
    request.addfinalizer(store.close)
    if request.param == "postgresql":

        def clear() -> None:
            with store.engine.begin() as conn:
                conn.execute(text("TRUNCATE metric_points, run_events, event_counters"))

        request.addfinalizer(clear)
    return store


def _points(run_id: str, n_steps: int) -> list[MetricPoint]:
    return [
        MetricPoint(step=s, name=name, value=float(s), wall_seconds=s / 10)
        for s in range(n_steps)
        for name in ("loss", "lr", "tokens_per_s", "val_bpb")
    ]


def test_ten_thousand_points_are_one_statement_each_way(sql_store: SqlMetadataStore) -> None:
    statements: list[tuple[str, bool]] = []

    def record(_conn, _cursor, statement, _params, _context, executemany) -> None:  # type: ignore[no-untyped-def]
        if "metric_points" in statement:
            statements.append((statement.split()[0].upper(), executemany))

    event.listen(sql_store.engine, "before_cursor_execute", record)
    try:
        sql_store.append_metrics("run-a", _points("run-a", 2500))
        assert statements == [("INSERT", True)]  # one executemany for the whole batch
        statements.clear()
        assert len(sql_store.get_metrics("run-a", None, None, 10_000)) == 10_000
        assert len(sql_store.get_metrics("run-a", 2000, ["loss"], 10_000)) == 500
        assert statements == [("SELECT", False), ("SELECT", False)]
    finally:
        event.remove(sql_store.engine, "before_cursor_execute", record)


def test_metrics_query_plan_uses_the_primary_key(sql_store: SqlMetadataStore) -> None:
    sql_store.append_metrics("run-a", _points("run-a", 2500))
    sql_store.append_metrics("run-b", _points("run-b", 2500))
    with sql_store.engine.connect() as conn:
        for args in [("run-a", None, None, 10_000), ("run-a", 2400, ["loss", "lr"], 10_000)]:
            query = sql_store.metrics_query(*args)
            compiled = query.compile(conn, compile_kwargs={"literal_binds": True})
            if sql_store.dialect == "sqlite":
                plan = " ".join(
                    str(row[-1]) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}")
                )
                assert "SEARCH metric_points USING INDEX" in plan, plan
                assert "TEMP B-TREE" not in plan, plan  # the index gives the order
            else:
                conn.execute(text("ANALYZE metric_points"))
                conn.execute(text("SET enable_seqscan = off"))  # small test tables tempt a scan
                plan = "\n".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {compiled}"))
                conn.execute(text("RESET enable_seqscan"))
                # The planner may still sort a few hundred rows after a bitmap scan.
                assert "metric_points_pkey" in plan and "Seq Scan" not in plan, plan


# --- events from two processes --------------------------------------------------------------

_APPENDER = """
import sys
from datetime import UTC, datetime
from service.domain.models import RunEventType
from service.stores import open_metadata_store
store = open_metadata_store(sys.argv[1])
print("ready", flush=True)
sys.stdin.readline()  # start together
for k in range(40):
    store.append_event("run-shared", RunEventType.LOG, {"text": sys.argv[2] + str(k)}, datetime.now(UTC))
store.close()
"""


def test_two_processes_append_events_without_duplicate_seqs(sql_store: SqlMetadataStore) -> None:
    url = str(sql_store.engine.url.render_as_string(hide_password=False))
    root = Path(__file__).resolve().parents[3]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _APPENDER, url, name],
            cwd=root,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for name in ("a", "b")
    ]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    for proc in procs:
        assert proc.wait(timeout=60) == 0
    events = sql_store.list_events("run-shared", 0, 1000)
    assert [e.seq for e in events] == list(range(1, 81))
    texts = sorted(str(e.data["text"]) for e in events)
    assert texts == sorted([f"a{k}" for k in range(40)] + [f"b{k}" for k in range(40)])
