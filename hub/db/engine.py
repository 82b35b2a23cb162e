"""Opening the store: the default URL, the engine and session factory, SQLite pragmas, dialect-aware insert-ignore."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Table,
    create_engine,
    event,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.dml import Insert

if TYPE_CHECKING:
    pass
from hub.db.base import Base

__all__ = ["Database", "default_url", "insert_ignore"]


def default_url(data_dir: str | Path) -> str:
    """The embedded default: ``sqlite:///<data-dir>/hub.db``."""
    return f"sqlite:///{Path(data_dir).resolve() / 'hub.db'}"


def insert_ignore(session: Session, model: type[Base] | Table) -> Insert:
    """``INSERT .. ON CONFLICT DO NOTHING`` for the session's dialect (SQLite or PostgreSQL)."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(model).on_conflict_do_nothing()
    if name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(model).on_conflict_do_nothing()
    raise ValueError(f"database dialect {name!r} is not supported (use SQLite or PostgreSQL)")


class Database:
    """An engine and session factory for one database URL; ``upgrade()`` migrates the schema (``hub.db.migrate``)."""

    def __init__(self, url: str, *, echo: bool = False, busy_timeout_ms: int = 10_000) -> None:
        self.url = url
        if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = create_engine(url, echo=echo)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas(busy_timeout_ms))
        self.sessions: sessionmaker[Session] = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        """Backend name: ``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    def upgrade(self) -> str | None:
        """Bring the schema to the newest migration (``hub.db.migrate.upgrade``; idempotent, what the hub does on
        start): an empty database is created from the models and stamped; returns the revision."""
        from hub.db import migrate  # alembic is only imported by what opens a schema

        return migrate.upgrade(self.engine)

    def create(self) -> None:
        """``upgrade()`` (the name scripts and tests have used since before migrations)."""
        self.upgrade()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on error."""
        with self.sessions.begin() as session:
            yield session

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def _sqlite_pragmas(busy_timeout_ms: int) -> Any:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        # WAL lets the console read while ingest writes; NORMAL sync is durable across process
        # crashes (SIGKILL) in WAL mode, only a power loss can drop the last commits.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return on_connect
