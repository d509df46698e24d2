"""Alembic environment: always runs on the connection the store hands over.

There is no alembic.ini: `service.stores.sql.upgrade_to_head` builds the config
in code and passes its open connection as `config.attributes["connection"]`.
"""

from __future__ import annotations

from alembic import context

from service.stores.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through service.stores.sql.upgrade_to_head")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
