"""``compound db upgrade|current|revision``: the hub database's schema migrations (Alembic, ``hub/db/migrations``)."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from compound.cli.options import add_data_dir_option


def register(sub: Any) -> None:
    """Add the ``db`` subcommand and its actions."""
    parser = sub.add_parser(
        "db",
        help="migrate the hub database (SQLite or PostgreSQL) to the newest schema; show its revision",
        description="Schema migrations of the hub database. `compound hub` upgrades on start (under a "
        "PostgreSQL advisory lock, so N replicas migrate once); run `compound db upgrade` first to migrate "
        "before starting replicas. A database made by a hub from before migrations is adopted as is.",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, text in (
        ("upgrade", "migrate the database to the newest revision (idempotent)"),
        ("current", "print the database's revision and the newest one; exit 1 if they differ"),
    ):
        action = actions.add_parser(name, help=text, description=text)
        add_data_dir_option(action)
        action.add_argument(
            "--url",
            default=None,
            help="database URL (default: sqlite:///<data-dir>/hub.db; postgresql+psycopg://user@host/db)",
        )
        action.set_defaults(func=run)
    revision = actions.add_parser(
        "revision",
        help="write a new revision from what the models changed (for developers)",
        description="Autogenerate a revision in hub/db/migrations/versions: the models compared with a scratch "
        "SQLite database migrated to the newest revision. Read and edit the file it writes.",
    )
    revision.add_argument("-m", "--message", required=True, help="what changed, e.g. 'camera marks table'")
    revision.set_defaults(func=run)


def _url(args: argparse.Namespace) -> str:
    from hub.db import default_url

    return str(args.url or default_url(args.data_dir))


def run(args: argparse.Namespace) -> int:
    """Run one action; a database that cannot be reached is a clear error, not a traceback."""
    from sqlalchemy.exc import SQLAlchemyError

    from hub.db import Database, migrate

    if args.action == "revision":
        return _revision(args.message)
    try:
        db = Database(_url(args))
    except (ValueError, SQLAlchemyError) as exc:
        print(f"bad database URL {_url(args)!r}: {exc}", file=sys.stderr)
        return 2
    try:
        if args.action == "upgrade":
            reached = db.upgrade()
            print(f"{db.engine.url.render_as_string(hide_password=True)}: at revision {reached}")
            return 0
        at, newest = migrate.current(db.engine), migrate.head()
        where = db.engine.url.render_as_string(hide_password=True)
        print(f"{where}: at {at or 'none (not migrated)'}, newest {newest}")
        return 0 if at == newest else 1
    except SQLAlchemyError as exc:
        print(f"database {db.engine.url.render_as_string(hide_password=True)}: {exc.__class__.__name__}: {exc}",
              file=sys.stderr)  # fmt: skip
        return 1
    finally:
        db.dispose()


def _revision(message: str) -> int:
    from alembic import command
    from sqlalchemy import create_engine

    from hub.db import migrate

    with tempfile.TemporaryDirectory(prefix="compound-revision-") as scratch:
        engine = create_engine(f"sqlite:///{Path(scratch) / 'scratch.db'}")
        try:
            migrate.upgrade(engine, replay=True)
            if not migrate.schema_diff(engine):
                print("the models and the migrations agree: nothing to write", file=sys.stderr)
                return 1
            with engine.begin() as connection:
                script = command.revision(migrate.alembic_config(connection), message=message, autogenerate=True)
        finally:
            engine.dispose()
    path = getattr(script, "path", None)
    print(f"wrote {path}; read it (names, data moves, SQLite batch ops) before committing")
    return 0
