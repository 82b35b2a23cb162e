"""Schema migrations (Alembic, ``hub/db/migrations``): bring any hub database to the head revision.

``upgrade`` is what the hub runs on start and ``compound db upgrade`` runs by hand. It takes a PostgreSQL
advisory lock first, so N replicas starting at once migrate once (the others wait, then find nothing to do).
A database made by an older hub with ``create_all`` and no ``alembic_version`` is adopted: missing tables are
created as that hub would have, the baseline revision is stamped, and later revisions run from there.

Adding a table or column: change the model, then ``compound db revision -m "what changed"`` (autogenerate
against a migrated scratch database) and read the file it writes; ``tests/hub/test_migrations.py`` fails while
the models and the migrations disagree.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Final, Literal

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text
from sqlalchemy.engine import Engine

from hub.db.base import Base, UTCDateTime

__all__ = [
    "BASELINE",
    "MIGRATIONS_DIR",
    "alembic_config",
    "current",
    "head",
    "render_item",
    "schema_diff",
    "upgrade",
]

log = logging.getLogger(__name__)

MIGRATIONS_DIR: Final = Path(__file__).resolve().parent / "migrations"
BASELINE: Final = "0001"
"""The first revision: the schema as ``create_all`` made it before migrations existed."""
BASELINE_TABLES: Final = (
    "alarms", "audit_log", "dead_letters", "device_seen", "edges", "incidents", "push_subscriptions",
    "revoked_tokens", "seq_gaps", "silences", "snapshots", "used_login_tokens", "alarm_assignees", "alarm_history",
    "alarm_photos", "escalation_steps", "events", "notification_jobs", "delivery_attempts",
)  # fmt: skip
"""The tables of ``BASELINE``: what a hub from before migrations may lack (it is created on adoption)."""
LOCK_NAME: Final = "compound-hub-migrate"


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's config for the hub's migrations; ``connection``: the one ``env.py`` runs on."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("revision_environment", "false")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head() -> str:
    """The newest revision in ``hub/db/migrations/versions``."""
    found = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert found is not None, "no migration revisions"
    return found


def current(engine: Engine) -> str | None:
    """The revision the database is at (``None``: never migrated)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head", *, replay: bool = False) -> str | None:
    """Bring the database to ``revision`` under a cluster-wide lock; returns the revision it is at after.

    An empty database gets the schema straight from the models, stamped at the head revision (Alembic's
    "building an up to date database from scratch"; ``tests/hub/test_migrations.py`` checks that replaying the
    revisions gives the same schema); ``replay``: run every revision from the first instead.
    """
    with engine.begin() as connection:
        _lock(connection)
        config = alembic_config(connection)
        at = MigrationContext.configure(connection).get_current_revision()
        if at is None and not replay and revision == "head" and not _has_hub_tables(connection):
            Base.metadata.create_all(connection)
            command.stamp(config, "head")
        else:
            if at is None and _has_hub_tables(connection):
                log.warning("database made before migrations (create_all): adopting it at revision %s", BASELINE)
                # A hub older still may lack a baseline table: create it as that hub would have; nothing newer.
                baseline = [Base.metadata.tables[name] for name in BASELINE_TABLES]
                Base.metadata.create_all(connection, tables=baseline)
                command.stamp(config, BASELINE)
            command.upgrade(config, revision)
        reached = MigrationContext.configure(connection).get_current_revision()
    if reached != at:
        log.info("database migrated from %s to %s", at or "empty", reached)
    return reached


def _lock(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        # Held to the end of the transaction; PostgreSQL DDL is transactional, so a replica killed midway leaves
        # the database as it was, and N replicas starting at once migrate once.
        connection.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:name, 0))"), {"name": LOCK_NAME})


def _has_hub_tables(connection: Connection) -> bool:
    return "events" in inspect(connection).get_table_names()


def schema_diff(engine: Engine) -> list[Any]:
    """What differs between the database and the models (alembic's ``compare_metadata``); empty: they agree."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True, "render_item": render_item})
        return list(compare_metadata(context, Base.metadata))


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    """Autogenerate writes the hub's column types as plain SQLAlchemy ones, so a revision never imports hub code."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False
