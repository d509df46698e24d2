"""`MetadataStore` on SQLAlchemy 2 Core: SQLite (embedded default) and PostgreSQL.

One code path serves both engines; the few dialect differences (upsert syntax,
SQLite's connection pragmas and write locking) are confined to `_Engine`-level
helpers below. Every method is one short transaction; conditional writes are
single `UPDATE ... WHERE <condition>` statements whose row count says who won.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import msgspec
from alembic import command
from alembic.config import Config
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Float,
    Select,
    Table,
    and_,
    case,
    cast,
    create_engine,
    event,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import (
    DataError,
    IntegrityError,
    InterfaceError,
    OperationalError,
)
from sqlalchemy.exc import TimeoutError as SqlTimeoutError
from sqlalchemy.pool import StaticPool

from service.domain.errors import AlreadyExists, InvalidArgument, Unavailable
from service.domain.models import (
    Agent,
    Evaluation,
    EvaluationState,
    Harness,
    HeadChange,
    MetricPoint,
    Proposal,
    Revision,
    Run,
    RunEvent,
    RunEventType,
    RunState,
    Track,
    utcnow,
)
from service.domain.ports import DurationHistogram, MetadataStore, OperationalStats
from service.stores import schema as t

S = TypeVar("S", bound=msgspec.Struct)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Any constant works: it only has to be the same in every process migrating this database.
_MIGRATION_LOCK_KEY = 0x6C6F6F7079  # "loopy"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ACTIVE_STATES = (RunState.QUEUED.value, RunState.RUNNING.value)


# --- conversions ---------------------------------------------------------------


def _to_us(when: datetime) -> int:
    if when.tzinfo is None:  # the domain only makes aware times; treat naive as UTC
        when = when.replace(tzinfo=UTC)
    return (when - _EPOCH) // timedelta(microseconds=1)


def _from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def _opt_us(when: datetime | None) -> int | None:
    return None if when is None else _to_us(when)


_encoder = msgspec.json.Encoder()
_decoders: dict[type, msgspec.json.Decoder[Any]] = {}


def _encode(value: Any) -> str:
    return _encoder.encode(value).decode()


def _decode(kind: type[S], doc: str) -> S:
    decoder = _decoders.get(kind)
    if decoder is None:
        decoder = _decoders[kind] = msgspec.json.Decoder(kind)
    result: S = decoder.decode(doc)
    return result


_event_data_decoder = msgspec.json.Decoder(dict[str, Any])


# --- page tokens -----------------------------------------------------------------
# A token is base64url(JSON [scope, create_time_us, id]): the keyset cursor of the
# last item served. `scope` names the listing and its filters, so a token is
# refused by any other listing (or the same listing with other filters).


class _Cursor(msgspec.Struct, array_like=True):
    scope: str
    time_us: int
    id: str


def _scope(listing: str, *filters: object) -> str:
    digest = hashlib.sha256(_encoder.encode([listing, *filters])).hexdigest()
    return f"{listing}:{digest[:12]}"


def _make_token(scope: str, time_us: int, item_id: str) -> str:
    raw = _encoder.encode(_Cursor(scope, time_us, item_id))
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _read_token(scope: str, token: str) -> _Cursor | None:
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        cursor = msgspec.json.decode(raw, type=_Cursor)
    except (ValueError, msgspec.DecodeError):
        raise InvalidArgument("invalid page_token", details={"page_token": token}) from None
    if cursor.scope != scope:
        raise InvalidArgument(
            "invalid page_token: it belongs to another listing",
            details={"page_token": token},
        )
    return cursor


# --- URLs and engines --------------------------------------------------------------


def normalize_database_url(url: str) -> str:
    """Map the documented URL forms onto SQLAlchemy URLs (psycopg 3 for PostgreSQL)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    if url.startswith(("postgresql+psycopg://", "sqlite://")):
        return url
    raise InvalidArgument(
        "unsupported database URL: use sqlite:///path, sqlite:// or postgresql://...",
        details={"database_url": url.split("@")[-1]},  # never echo a password
    )


def _sqlite_engine(url: str) -> tuple[Engine, bool]:
    database = make_url(url).database or ""
    in_memory = database in ("", ":memory:")
    if in_memory:
        # One shared connection, or each pooled connection would see its own empty database.
        engine = create_engine(url, connect_args={"check_same_thread": False}, poolclass=StaticPool)
    else:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=8,
            max_overflow=8,
        )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from pysqlite: `_on_begin` emits the BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
        cursor.execute("PRAGMA busy_timeout=30000")  # wait for a lock instead of failing
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")  # durable across crashes in WAL mode
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # A write transaction takes the write lock up front: a deferred one that read
        # first could not upgrade later without SQLITE_BUSY (busy_timeout does not help).
        if conn.get_execution_options().get("loopy_write"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")

    return engine, in_memory


def upgrade_to_head(engine: Engine) -> None:
    """Run the Alembic migrations on `engine` up to head (a no-op when already there)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    with engine.connect() as conn:
        conn.execution_options(loopy_write=True)
        with conn.begin():
            if conn.dialect.name == "postgresql":
                # Two servers starting at once must not both create the tables.
                conn.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
                )
            config.attributes["connection"] = conn
            command.upgrade(config, "head")


# --- errors ------------------------------------------------------------------------

# Seconds a caller should wait before retrying while the database is unreachable.
STORE_RETRY_AFTER_S = 5.0


@contextmanager
def _store_errors() -> Iterator[None]:
    """A database that is down (or a pool that is exhausted) is UNAVAILABLE, never a
    500; a value the database cannot hold (NUL in text, an integer past 64 bits) is
    the caller's INVALID_ARGUMENT."""
    try:
        yield
    except (OperationalError, InterfaceError, SqlTimeoutError) as exc:
        if isinstance(exc, OperationalError) and _is_value_error(exc):
            raise InvalidArgument(
                "a value in the request cannot be stored", details={"reason": _reason(exc)}
            ) from exc
        raise Unavailable(
            "the metadata store is unreachable", retry_after_s=STORE_RETRY_AFTER_S
        ) from exc
    except DataError as exc:
        raise InvalidArgument(
            "a value in the request cannot be stored", details={"reason": _reason(exc)}
        ) from exc
    except OverflowError as exc:  # SQLite: an integer past 64 bits
        raise InvalidArgument(
            "a number in the request is out of range", details={"reason": str(exc)}
        ) from exc


def _reason(exc: Exception) -> str:
    original = getattr(exc, "orig", None) or exc
    return str(original).splitlines()[0][:200]


def _is_value_error(exc: OperationalError) -> bool:
    return "too large" in _reason(exc) or "out of range" in _reason(exc)


# --- the store ---------------------------------------------------------------------


class SqlMetadataStore(MetadataStore):
    def __init__(self, url: str, *, migrate: bool = True) -> None:
        sa_url = normalize_database_url(url)
        self.dialect = "postgresql" if sa_url.startswith("postgresql") else "sqlite"
        self._lock: AbstractContextManager[Any] = nullcontext()
        if self.dialect == "sqlite":
            self.engine, in_memory = _sqlite_engine(sa_url)
            if in_memory:
                # The one shared connection must not carry two threads' transactions.
                self._lock = threading.RLock()
        else:
            self.engine = create_engine(
                sa_url, pool_size=10, max_overflow=20, pool_pre_ping=True, pool_recycle=1800
            )
        if migrate:
            try:
                with self._lock:
                    upgrade_to_head(self.engine)
            except BaseException:
                self.engine.dispose()
                raise

    # --- plumbing
    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with _store_errors(), self._lock, self.engine.connect() as conn:
            yield conn

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with _store_errors(), self._lock, self.engine.connect() as conn:
            conn.execution_options(loopy_write=True)
            with conn.begin():
                yield conn

    def _insert(self, table: Table) -> Any:
        module = pg_dialect if self.dialect == "postgresql" else sqlite_dialect
        return module.insert(table)

    def _page(
        self,
        query: Select[Any],
        table: Table,
        scope: str,
        page_size: int,
        page_token: str,
        *,
        newest_first: bool = False,
    ) -> tuple[list[Any], str]:
        """Keyset paging over (create_time_us, id); returns the rows and the next token."""
        cursor = _read_token(scope, page_token)
        created, ident = table.c.create_time_us, table.c.id
        if cursor is not None:
            if newest_first:
                after: ColumnElement[bool] = or_(
                    created < cursor.time_us, and_(created == cursor.time_us, ident < cursor.id)
                )
            else:
                after = or_(
                    created > cursor.time_us, and_(created == cursor.time_us, ident > cursor.id)
                )
            query = query.where(after)
        order = (created.desc(), ident.desc()) if newest_first else (created, ident)
        if page_size <= 0:
            raise InvalidArgument("page_size must be positive", details={"page_size": page_size})
        size = page_size
        with self._read() as conn:
            rows = conn.execute(query.order_by(*order).limit(size + 1)).all()
        if len(rows) <= size:
            return list(rows), ""
        last = rows[size - 1]
        return list(rows[:size]), _make_token(scope, last.create_time_us, last.id)

    # --- lifecycle
    def close(self) -> None:
        self.engine.dispose()

    def ping(self) -> bool:
        try:
            with self._read() as conn:
                return conn.execute(text("SELECT 1")).scalar() == 1
        except Exception:
            return False

    # --- agents and keys
    @staticmethod
    def _agent(row: Any) -> Agent:
        agent = _decode(Agent, row.doc)
        return msgspec.structs.replace(agent, compute_seconds_used=row.compute_seconds_used)

    def create_agent(self, agent: Agent, key_hash: str) -> None:
        try:
            with self._write() as conn:
                conn.execute(
                    t.agents.insert().values(
                        id=agent.id,
                        key_hash=key_hash,
                        create_time_us=_to_us(agent.create_time),
                        compute_seconds_used=agent.compute_seconds_used,
                        doc=_encode(agent),
                    )
                )
        except IntegrityError:
            raise AlreadyExists(
                f"agent {agent.id!r} or its key already exists", details={"agent_id": agent.id}
            ) from None

    def get_agent(self, agent_id: str) -> Agent | None:
        with self._read() as conn:
            row = conn.execute(select(t.agents).where(t.agents.c.id == agent_id)).first()
        return None if row is None else self._agent(row)

    def get_agent_by_key_hash(self, key_hash: str) -> Agent | None:
        with self._read() as conn:
            row = conn.execute(select(t.agents).where(t.agents.c.key_hash == key_hash)).first()
        return None if row is None else self._agent(row)

    def list_agents(self, page_size: int, page_token: str) -> tuple[list[Agent], str]:
        rows, token = self._page(
            select(t.agents), t.agents, _scope("agents"), page_size, page_token
        )
        return [self._agent(row) for row in rows], token

    def add_compute_seconds(self, agent_id: str, seconds: float) -> None:
        with self._write() as conn:
            conn.execute(
                update(t.agents)
                .where(t.agents.c.id == agent_id)
                .values(compute_seconds_used=t.agents.c.compute_seconds_used + seconds)
            )

    # --- idempotency
    def get_request(self, agent_id: str, kind: str, request_id: str) -> str | None:
        r = t.requests.c
        with self._read() as conn:
            found: str | None = conn.execute(
                select(r.resource_id).where(
                    r.agent_id == agent_id, r.kind == kind, r.request_id == request_id
                )
            ).scalar()
        return found

    def put_request(self, agent_id: str, kind: str, request_id: str, resource_id: str) -> str:
        r = t.requests.c
        with self._write() as conn:
            conn.execute(
                self._insert(t.requests)
                .values(
                    agent_id=agent_id, kind=kind, request_id=request_id, resource_id=resource_id
                )
                .on_conflict_do_nothing()
            )
            winner: str = conn.execute(
                select(r.resource_id).where(
                    r.agent_id == agent_id, r.kind == kind, r.request_id == request_id
                )
            ).scalar_one()
        return winner

    # --- harnesses
    def put_harness(self, harness: Harness) -> bool:
        with self._write() as conn:
            result = conn.execute(
                self._insert(t.harnesses)
                .values(
                    id=harness.id, create_time_us=_to_us(harness.create_time), doc=_encode(harness)
                )
                .on_conflict_do_nothing()
                .returning(t.harnesses.c.id)
            )
            # RETURNING, not rowcount: psycopg reports -1 for an INSERT here.
            return result.first() is not None

    def get_harness(self, harness_id: str) -> Harness | None:
        with self._read() as conn:
            doc = conn.execute(
                select(t.harnesses.c.doc).where(t.harnesses.c.id == harness_id)
            ).scalar()
        return None if doc is None else _decode(Harness, doc)

    def list_harnesses(self, page_size: int, page_token: str) -> tuple[list[Harness], str]:
        rows, token = self._page(
            select(t.harnesses), t.harnesses, _scope("harnesses"), page_size, page_token
        )
        return [_decode(Harness, row.doc) for row in rows], token

    # --- tracks
    @staticmethod
    def _track(row: Any) -> Track:
        return msgspec.structs.replace(
            _decode(Track, row.doc),
            head_revision=row.head_revision,
            head_run_id=row.head_run_id,
            head_version=row.head_version,
            noise_std=row.noise_std,
            noise_samples=row.noise_samples,
            update_time=_from_us(row.update_time_us),
            fdr_tests=row.fdr_tests,
        )

    def create_track(self, track: Track) -> None:
        try:
            with self._write() as conn:
                conn.execute(
                    t.tracks.insert().values(
                        id=track.id,
                        head_revision=track.head_revision,
                        head_run_id=track.head_run_id,
                        head_version=track.head_version,
                        noise_std=track.noise_std,
                        noise_samples=track.noise_samples,
                        create_time_us=_to_us(track.create_time),
                        update_time_us=_to_us(track.update_time),
                        doc=_encode(track),
                        fdr_tests=track.fdr_tests,
                    )
                )
        except IntegrityError:
            raise AlreadyExists(
                f"track {track.id!r} already exists", details={"track_id": track.id}
            ) from None

    def get_track(self, track_id: str) -> Track | None:
        with self._read() as conn:
            row = conn.execute(select(t.tracks).where(t.tracks.c.id == track_id)).first()
        return None if row is None else self._track(row)

    def list_tracks(self, page_size: int, page_token: str) -> tuple[list[Track], str]:
        rows, token = self._page(
            select(t.tracks), t.tracks, _scope("tracks"), page_size, page_token
        )
        return [self._track(row) for row in rows], token

    def update_track_noise(self, track_id: str, noise_std: float | None, samples: int) -> None:
        with self._write() as conn:
            conn.execute(
                update(t.tracks)
                .where(t.tracks.c.id == track_id)
                .values(noise_std=noise_std, noise_samples=samples, update_time_us=_to_us(utcnow()))
            )

    def compare_and_set_head(
        self,
        track_id: str,
        expected_head: str,
        new_head: str,
        new_head_run_id: str | None,
        *,
        change: HeadChange | None = None,
    ) -> Track | None:
        c = t.tracks.c
        with self._write() as conn:
            result = conn.execute(
                update(t.tracks)
                .where(c.id == track_id, c.head_revision == expected_head)
                .values(
                    head_revision=new_head,
                    head_run_id=new_head_run_id,
                    head_version=c.head_version + 1,
                    update_time_us=_to_us(utcnow()),
                )
            )
            if result.rowcount != 1:
                return None
            row = conn.execute(select(t.tracks).where(c.id == track_id)).one()
            if change is not None:
                recorded = msgspec.structs.replace(change, head_version=row.head_version)
                conn.execute(t.head_changes.insert().values(**self._head_change_row(recorded)))
        return self._track(row)

    @staticmethod
    def _head_change_row(change: HeadChange) -> dict[str, Any]:
        return {
            "id": change.id,
            "track_id": change.track_id,
            "create_time_us": _to_us(change.time),
            "doc": _encode(change),
        }

    def put_head_change(self, change: HeadChange) -> None:
        with self._write() as conn:
            conn.execute(t.head_changes.insert().values(**self._head_change_row(change)))

    def list_head_changes(
        self, track_id: str, page_size: int, page_token: str
    ) -> tuple[list[HeadChange], str]:
        query = select(t.head_changes).where(t.head_changes.c.track_id == track_id)
        rows, token = self._page(
            query, t.head_changes, _scope("heads", track_id), page_size, page_token
        )
        return [_decode(HeadChange, row.doc) for row in rows], token

    def allocate_fdr_test(self, track_id: str) -> int:
        c = t.tracks.c
        with self._write() as conn:
            conn.execute(update(t.tracks).where(c.id == track_id).values(fdr_tests=c.fdr_tests + 1))
            return int(conn.execute(select(c.fdr_tests).where(c.id == track_id)).scalar_one())

    # --- revisions and proposals
    def put_revision(self, revision: Revision) -> bool:
        with self._write() as conn:
            result = conn.execute(
                self._insert(t.revisions)
                .values(
                    id=revision.id,
                    track_id=revision.track_id,
                    parent_id=revision.parent_id,
                    author_agent_id=revision.author_agent_id,
                    create_time_us=_to_us(revision.create_time),
                    doc=_encode(revision),
                )
                .on_conflict_do_nothing()
                .returning(t.revisions.c.id)
            )
            return result.first() is not None

    def get_revision(self, revision_id: str) -> Revision | None:
        with self._read() as conn:
            doc = conn.execute(
                select(t.revisions.c.doc).where(t.revisions.c.id == revision_id)
            ).scalar()
        return None if doc is None else _decode(Revision, doc)

    def list_revisions(
        self, track_id: str, author_agent_id: str | None, page_size: int, page_token: str
    ) -> tuple[list[Revision], str]:
        c = t.revisions.c
        query = select(t.revisions).where(c.track_id == track_id)
        if author_agent_id is not None:
            query = query.where(c.author_agent_id == author_agent_id)
        scope = _scope("revisions", track_id, author_agent_id)
        rows, token = self._page(query, t.revisions, scope, page_size, page_token)
        return [_decode(Revision, row.doc) for row in rows], token

    def list_children(self, revision_id: str) -> list[str]:
        c = t.revisions.c
        with self._read() as conn:
            return list(
                conn.execute(
                    select(c.id).where(c.parent_id == revision_id).order_by(c.create_time_us, c.id)
                ).scalars()
            )

    def put_proposal(self, proposal: Proposal) -> None:
        values = {
            "track_id": proposal.track_id,
            "author_agent_id": proposal.author_agent_id,
            "create_time_us": _to_us(proposal.create_time),
            "doc": _encode(proposal),
        }
        with self._write() as conn:
            conn.execute(
                self._insert(t.proposals)
                .values(id=proposal.id, **values)
                .on_conflict_do_update(index_elements=["id"], set_=values)
            )

    def get_proposal(self, proposal_id: str) -> Proposal | None:
        with self._read() as conn:
            doc = conn.execute(
                select(t.proposals.c.doc).where(t.proposals.c.id == proposal_id)
            ).scalar()
        return None if doc is None else _decode(Proposal, doc)

    def list_proposals(
        self, track_id: str, author_agent_id: str | None, page_size: int, page_token: str
    ) -> tuple[list[Proposal], str]:
        c = t.proposals.c
        query = select(t.proposals).where(c.track_id == track_id)
        if author_agent_id is not None:
            query = query.where(c.author_agent_id == author_agent_id)
        scope = _scope("proposals", track_id, author_agent_id)
        rows, token = self._page(query, t.proposals, scope, page_size, page_token)
        return [_decode(Proposal, row.doc) for row in rows], token

    # --- runs
    @staticmethod
    def _run_columns(run: Run) -> dict[str, Any]:
        return {
            "track_id": run.track_id,
            "revision_id": run.revision_id,
            "agent_id": run.agent_id,
            "evaluation_id": run.evaluation_id,
            "state": run.state.value,
            "worker_id": run.worker_id,
            "create_time_us": _to_us(run.create_time),
            "start_time_us": _opt_us(run.start_time),
            "heartbeat_time_us": _opt_us(run.heartbeat_time),
            "doc": _encode(run),
        }

    @staticmethod
    def _run(row: Any) -> Run:
        run = _decode(Run, row.doc)
        if run.state is RunState.QUEUED:  # the column holds the last publish (touch_queued)
            return run
        heartbeat = None if row.heartbeat_time_us is None else _from_us(row.heartbeat_time_us)
        if heartbeat != run.heartbeat_time:  # touched since the document was written
            run = msgspec.structs.replace(run, heartbeat_time=heartbeat)
        return run

    def create_run(self, run: Run) -> None:
        try:
            with self._write() as conn:
                conn.execute(t.runs.insert().values(id=run.id, **self._run_columns(run)))
        except IntegrityError:
            raise AlreadyExists(
                f"run {run.id!r} already exists", details={"run_id": run.id}
            ) from None

    def get_run(self, run_id: str) -> Run | None:
        with self._read() as conn:
            row = conn.execute(select(t.runs).where(t.runs.c.id == run_id)).first()
        return None if row is None else self._run(row)

    def list_runs(
        self,
        *,
        track_id: str | None = None,
        revision_id: str | None = None,
        agent_id: str | None = None,
        states: Iterable[RunState] | None = None,
        evaluation_id: str | None = None,
        page_size: int = 100,
        page_token: str = "",
    ) -> tuple[list[Run], str]:
        c = t.runs.c
        query = select(t.runs)
        # None leaves a field unfiltered; an empty `states` matches nothing.
        state_values = None if states is None else sorted({RunState(s).value for s in states})
        if track_id is not None:
            query = query.where(c.track_id == track_id)
        if revision_id is not None:
            query = query.where(c.revision_id == revision_id)
        if agent_id is not None:
            query = query.where(c.agent_id == agent_id)
        if state_values is not None:
            query = query.where(c.state.in_(state_values))
        if evaluation_id is not None:
            query = query.where(c.evaluation_id == evaluation_id)
        scope = _scope("runs", track_id, revision_id, agent_id, state_values, evaluation_id)
        rows, token = self._page(query, t.runs, scope, page_size, page_token, newest_first=True)
        return [self._run(row) for row in rows], token

    def _json_text(self, column: Any, *path: str) -> ColumnElement[Any]:
        """A field of a JSON document column, as text, on either engine."""
        if self.engine.dialect.name == "postgresql":
            return func.jsonb_extract_path_text(cast(column, pg_dialect.JSONB), *path)
        return func.json_extract(column, "$." + ".".join(path))

    def operational_stats(
        self, duration_bounds: Sequence[float], heartbeat_since: datetime
    ) -> OperationalStats:
        """Aggregated in SQL (GROUP BY over the documents' fields), so a scrape costs
        one scan of the runs, not decoding every run in Python."""
        stats = OperationalStats()
        c = t.runs.c
        device = self._json_text(c.doc, "device_class")
        seconds = cast(self._json_text(c.doc, "summary", "total_seconds"), Float)
        finished = [s.value for s in (RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED)]
        buckets = [
            func.sum(case((seconds <= bound, 1), else_=0)).label(f"le{i}")
            for i, bound in enumerate(duration_bounds)
        ]
        e = t.evaluations.c
        verdict = self._json_text(e.doc, "verdict")
        with self._read() as conn:
            for state, device_class, count in conn.execute(
                select(c.state, device, func.count()).group_by(c.state, device)
            ):
                stats.runs[(state, device_class or "")] = int(count)
            for row in conn.execute(
                select(c.state, func.count(seconds), func.sum(seconds), *buckets)
                .where(c.state.in_(finished), seconds.is_not(None))
                .group_by(c.state)
            ):
                state, count, total, *counts = row
                stats.run_seconds[state] = DurationHistogram(
                    duration_bounds, [int(n or 0) for n in counts], int(count), float(total or 0)
                )
            for worker, beat_us in conn.execute(
                select(c.worker_id, func.max(c.heartbeat_time_us))
                .where(c.worker_id.is_not(None), c.heartbeat_time_us > _to_us(heartbeat_since))
                .group_by(c.worker_id)
            ):
                stats.worker_heartbeats[worker] = beat_us / 1e6
            for state, verdict_value, count in conn.execute(
                select(e.state, verdict, func.count()).group_by(e.state, verdict)
            ):
                stats.evaluations[(state, verdict_value or "")] = int(count)
        return stats

    def count_active_runs(self, agent_id: str) -> int:
        c = t.runs.c
        with self._read() as conn:
            count: int = conn.execute(
                select(func.count()).where(c.agent_id == agent_id, c.state.in_(_ACTIVE_STATES))
            ).scalar_one()
        return count

    def transition_run(self, run_id: str, allowed_from: Iterable[RunState], run: Run) -> bool:
        allowed = sorted({RunState(s).value for s in allowed_from})
        if not allowed:
            return False
        c = t.runs.c
        with self._write() as conn:
            result = conn.execute(
                update(t.runs)
                .where(c.id == run_id, c.state.in_(allowed))
                .values(**self._run_columns(run))
            )
        return bool(result.rowcount == 1)

    def touch_heartbeat(self, run_id: str, worker_id: str, when: datetime) -> bool:
        c = t.runs.c
        with self._write() as conn:
            result = conn.execute(
                update(t.runs)
                .where(c.id == run_id, c.state == RunState.RUNNING.value, c.worker_id == worker_id)
                .values(heartbeat_time_us=_to_us(when))
            )
        return bool(result.rowcount == 1)

    def list_stale_runs(self, older_than: datetime) -> list[Run]:
        c = t.runs.c
        last_sign_of_life = func.coalesce(c.heartbeat_time_us, c.start_time_us)
        silent = or_(last_sign_of_life.is_(None), last_sign_of_life < _to_us(older_than))
        with self._read() as conn:
            rows = conn.execute(
                select(t.runs)
                .where(c.state == RunState.RUNNING.value, silent)
                .order_by(c.create_time_us, c.id)
            ).all()
        return [self._run(row) for row in rows]

    # A QUEUED run has no heartbeat: its heartbeat column records its last publish,
    # the sign of life the sweeper looks at (no schema change for one timestamp).
    def touch_queued(self, run_id: str, when: datetime) -> bool:
        c = t.runs.c
        with self._write() as conn:
            result = conn.execute(
                update(t.runs)
                .where(c.id == run_id, c.state == RunState.QUEUED.value)
                .values(heartbeat_time_us=_to_us(when))
            )
        return bool(result.rowcount == 1)

    def list_unclaimed_runs(self, published_before: datetime) -> list[Run]:
        c = t.runs.c
        silent = or_(c.heartbeat_time_us.is_(None), c.heartbeat_time_us < _to_us(published_before))
        with self._read() as conn:
            rows = conn.execute(
                select(t.runs)
                .where(c.state == RunState.QUEUED.value, silent)
                .order_by(c.create_time_us, c.id)
            ).all()
        return [self._run(row) for row in rows]

    # --- metrics and events
    def append_metrics(self, run_id: str, points: list[MetricPoint]) -> None:
        # Last write wins inside a batch too (PostgreSQL refuses to upsert one row twice).
        latest = {(p.step, p.name): p for p in points}
        if not latest:
            return
        stmt = self._insert(t.metric_points)
        stmt = stmt.on_conflict_do_update(
            index_elements=["run_id", "step", "name"],
            set_={"value": stmt.excluded.value, "wall_seconds": stmt.excluded.wall_seconds},
        )
        rows = [
            {
                "run_id": run_id,
                "step": p.step,
                "name": p.name,
                "value": p.value,
                "wall_seconds": p.wall_seconds,
            }
            for p in latest.values()
        ]
        with self._write() as conn:
            conn.execute(stmt, rows)  # one executemany

    @staticmethod
    def metrics_query(
        run_id: str, since_step: int | None, names: list[str] | None, limit: int
    ) -> Select[Any]:
        """The one query behind get_metrics; the primary key (run_id, step, name) serves
        both the filter and the order, so no sort and no scan beyond the rows returned."""
        c = t.metric_points.c
        query = select(c.step, c.name, c.value, c.wall_seconds).where(c.run_id == run_id)
        if since_step is not None:
            query = query.where(c.step >= since_step)
        if names:
            query = query.where(c.name.in_(sorted(set(names))))
        return query.order_by(c.step, c.name).limit(max(0, limit))

    def get_metrics(
        self, run_id: str, since_step: int | None, names: list[str] | None, limit: int
    ) -> list[MetricPoint]:
        with self._read() as conn:
            rows = conn.execute(self.metrics_query(run_id, since_step, names, limit)).all()
        return [
            MetricPoint(step=step, name=name, value=value, wall_seconds=wall)
            for step, name, value, wall in rows
        ]

    def append_event(self, run_id: str, type: RunEventType, data: dict, when: datetime) -> RunEvent:
        counter = self._insert(t.event_counters).values(run_id=run_id, last_seq=1)
        counter = counter.on_conflict_do_update(
            index_elements=["run_id"], set_={"last_seq": t.event_counters.c.last_seq + 1}
        ).returning(t.event_counters.c.last_seq)
        event_type = RunEventType(type)
        with self._write() as conn:
            # The upsert locks the run's counter row until commit, so concurrent
            # appenders (other threads, other processes) queue up and get distinct seqs.
            seq: int = conn.execute(counter).scalar_one()
            conn.execute(
                t.run_events.insert().values(
                    run_id=run_id,
                    seq=seq,
                    type=event_type.value,
                    time_us=_to_us(when),
                    data=_encode(data),
                )
            )
        return RunEvent(run_id=run_id, seq=seq, type=event_type, data=data, time=when)

    def list_events(self, run_id: str, after_seq: int, limit: int) -> list[RunEvent]:
        c = t.run_events.c
        with self._read() as conn:
            rows = conn.execute(
                select(c.seq, c.type, c.time_us, c.data)
                .where(c.run_id == run_id, c.seq > after_seq)
                .order_by(c.seq)
                .limit(max(0, limit))
            ).all()
        return [
            RunEvent(
                run_id=run_id,
                seq=seq,
                type=RunEventType(kind),
                data=_event_data_decoder.decode(data),
                time=_from_us(time_us),
            )
            for seq, kind, time_us, data in rows
        ]

    # --- evaluations
    def put_evaluation(self, evaluation: Evaluation) -> None:
        values = {
            "run_id": evaluation.run_id,
            "track_id": evaluation.track_id,
            "state": evaluation.state.value,
            "create_time_us": _to_us(evaluation.create_time),
            "doc": _encode(evaluation),
            "version": evaluation.version,
        }
        with self._write() as conn:
            conn.execute(
                self._insert(t.evaluations)
                .values(id=evaluation.id, **values)
                .on_conflict_do_update(index_elements=["id"], set_=values)
            )

    def replace_evaluation(self, evaluation: Evaluation, expected_version: int) -> bool:
        stored = msgspec.structs.replace(evaluation, version=expected_version + 1)
        c = t.evaluations.c
        with self._write() as conn:
            result = conn.execute(
                update(t.evaluations)
                .where(c.id == evaluation.id, c.version == expected_version)
                .values(
                    state=stored.state.value,
                    doc=_encode(stored),
                    version=stored.version,
                )
            )
        return result.rowcount == 1

    def list_evaluations(self, track_id: str) -> list[Evaluation]:
        c = t.evaluations.c
        query = select(c.doc).where(c.track_id == track_id).order_by(c.create_time_us, c.id)
        with self._read() as conn:
            docs: Sequence[str] = conn.execute(query).scalars().all()
        return [_decode(Evaluation, doc) for doc in docs]

    def get_evaluation(self, evaluation_id: str) -> Evaluation | None:
        with self._read() as conn:
            doc = conn.execute(
                select(t.evaluations.c.doc).where(t.evaluations.c.id == evaluation_id)
            ).scalar()
        return None if doc is None else _decode(Evaluation, doc)

    def list_pending_evaluations(self, track_id: str | None = None) -> list[Evaluation]:
        c = t.evaluations.c
        query = select(c.doc).where(c.state == EvaluationState.PENDING.value)
        if track_id:
            query = query.where(c.track_id == track_id)
        with self._read() as conn:
            docs: Sequence[str] = (
                conn.execute(query.order_by(c.create_time_us, c.id)).scalars().all()
            )
        return [_decode(Evaluation, doc) for doc in docs]
