"""Schema migrations: replayed from nothing they give exactly the models' schema (SQLite and PostgreSQL), a
database from before migrations is adopted, and ``compound db upgrade`` migrates a data directory."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, insert, select

from compound.cli import main
from hub.db import Base, Database, DeadLetter, default_url, migrate
from tests.hub.test_postgres import postgres_url  # noqa: F401  (fixture)


def compound(*argv: str) -> int:
    """``compound ARGV`` in this process; its exit status."""
    with pytest.raises(SystemExit) as exited:
        main(list(argv))
    return int(exited.value.code or 0)


WHAT_TO_DO = (
    "the models and the migrations disagree:\n{diff}\nA table or column was changed without a revision. Write "
    "one: `compound db revision -m 'what changed'` (autogenerates hub/db/migrations/versions/<rev>_*.py from "
    "this very difference), read and trim it, commit it with the model. README: 'Schema migrations'."
)


def _replayed_schema_matches_models(url: str) -> None:
    engine = create_engine(url)
    try:
        assert migrate.upgrade(engine, replay=True) == migrate.head()
        diff = migrate.schema_diff(engine)
        assert diff == [], WHAT_TO_DO.format(diff="\n".join(f"  {d}" for d in diff))
    finally:
        engine.dispose()


def test_replayed_migrations_give_the_models_schema_on_sqlite(tmp_path: Path) -> None:
    """Test that running every revision from an empty SQLite database gives exactly the models' tables, columns,
    types, indexes and constraints (the partial unique index on open alarms included)."""
    _replayed_schema_matches_models(f"sqlite:///{tmp_path / 'replayed.db'}")


@pytest.mark.slow
def test_replayed_migrations_give_the_models_schema_on_postgresql(postgres_url: str) -> None:  # noqa: F811
    """Test the same on PostgreSQL, then that a second upgrade finds nothing to do."""
    _replayed_schema_matches_models(postgres_url)
    db = Database(postgres_url)
    try:
        assert db.upgrade() == migrate.head() and migrate.schema_diff(db.engine) == []
    finally:
        db.dispose()


def test_a_database_from_before_migrations_is_adopted(tmp_path: Path) -> None:
    """Test that a database an older hub made with ``create_all`` (no ``alembic_version``, one baseline table
    missing) keeps its rows, gets the missing table and ends at the head revision with the models' schema."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    try:
        old = [t for name, t in Base.metadata.tables.items() if name in migrate.BASELINE_TABLES and name != "silences"]
        Base.metadata.create_all(engine, tables=old)
        with engine.begin() as connection:
            connection.execute(
                insert(DeadLetter).values(
                    received_at=datetime.now(UTC), topic="t", reason="not_json", detail="d", size=1, excerpt=b"x",
                    preview="x",
                )
            )  # fmt: skip
        assert migrate.current(engine) is None
        assert migrate.upgrade(engine) == migrate.head()
        assert migrate.schema_diff(engine) == []
        with engine.connect() as connection:
            assert connection.execute(select(DeadLetter.reason)).scalars().all() == ["not_json"]
    finally:
        engine.dispose()


def test_compound_db_upgrade_migrates_a_data_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Test that ``compound db current`` says a new data directory is not migrated (exit 1), ``compound db
    upgrade`` migrates it to the newest revision, and ``current`` then agrees (exit 0)."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    assert compound("db", "current", "--data-dir", str(data_dir)) == 1
    assert "not migrated" in capsys.readouterr().out
    assert compound("db", "upgrade", "--data-dir", str(data_dir)) == 0
    assert f"at revision {migrate.head()}" in capsys.readouterr().out
    assert compound("db", "current", "--url", default_url(data_dir)) == 0
    engine = create_engine(default_url(data_dir))
    try:
        assert migrate.schema_diff(engine) == []
    finally:
        engine.dispose()


def test_compound_db_upgrade_reports_an_unreachable_database(capsys: pytest.CaptureFixture[str]) -> None:
    """Test that a database that cannot be reached is one clear line on stderr and exit 1, not a traceback."""
    assert compound("db", "upgrade", "--url", "postgresql+psycopg://nobody@127.0.0.1:1/none") == 1
    err = capsys.readouterr().err
    assert "127.0.0.1:1" in err and "Traceback" not in err
