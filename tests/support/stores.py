"""The metadata store the domain, transport and contract tests run on: the one SQL
store, on SQLite in memory.

Running the Alembic migrations for every test costs ~10 ms each (a third of the
domain suite's extra time over a dict-backed store), so the schema is migrated
once into a template database and copied into each new store with SQLite's
online backup, which takes well under a millisecond."""

from __future__ import annotations

import sqlite3
import threading

from service.stores.sql import SqlMetadataStore

_template: sqlite3.Connection | None = None
_template_lock = threading.Lock()


def _migrated_template() -> sqlite3.Connection:
    global _template
    with _template_lock:
        if _template is None:
            migrated = SqlMetadataStore("sqlite://")  # the production path: Alembic to head
            _template = sqlite3.connect(":memory:", check_same_thread=False)
            with migrated.engine.connect() as conn:
                conn.connection.driver_connection.backup(_template)
            migrated.close()
        return _template


def memory_store() -> SqlMetadataStore:
    """A fresh, empty, migrated store on SQLite in memory (`sqlite://`)."""
    store = SqlMetadataStore("sqlite://", migrate=False)
    template = _migrated_template()
    with _template_lock, store.engine.connect() as conn:
        template.backup(conn.connection.driver_connection)
    return store
