"""Alembic environment: runs on the connection ``hub.db.migrate`` hands over (never opens one of its own)."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from hub.db.base import Base
from hub.db.migrate import render_item

# Every table module registers on Base.metadata when hub.db is imported.
import hub.db  # noqa: F401  isort: skip

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError("run migrations through hub.db.migrate (compound db upgrade), which passes a connection")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters a table by copying it
    render_item=render_item,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
