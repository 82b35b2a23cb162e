"""The same store on a real PostgreSQL (a throwaway cluster): dedup, attachment, gaps, dead letters, lifecycle."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text

from compound import wire
from compound.config import Compound
from hub.alarms.service import AlarmService
from hub.db import Database
from hub.ingest import Inbound, MessagePipeline
from tests.hub.helpers import event_topic, make_event
from tests.support import free_port, wait_port

pytestmark = pytest.mark.slow

PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)), None)


@contextmanager
def postgres_server() -> Iterator[str]:
    """A PostgreSQL cluster on a free port, run as the 'postgres' user (initdb refuses root); its URL."""
    assert PG_BIN is not None and (PG_BIN / "initdb").exists(), (
        "PostgreSQL server binaries are missing: `make test` installs the Debian package 'postgresql'"
    )
    # Not under pytest's tmp_path: its parents are private to root and the 'postgres' user must reach it.
    root = Path(tempfile.mkdtemp(prefix="hub-pg-"))
    root.chmod(0o755)
    data = root / "pg"
    data.mkdir()
    as_postgres: list[str] = []
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(data, user.pw_uid, user.pw_gid)
        as_postgres = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    subprocess.run(
        [*as_postgres, str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"],
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off"
    pg_ctl = [*as_postgres, str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(data / "log"), "-o", options]
    subprocess.run([*pg_ctl, "start", "-w"], check=True, capture_output=True)
    try:
        wait_port(port)
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*pg_ctl, "stop", "-m", "fast", "-w"], check=False, capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL cluster of its own for one test."""
    with postgres_server() as url:
        yield url


@pytest.fixture(scope="module")
def postgres_cluster() -> Iterator[str]:
    """One PostgreSQL cluster for a module's tests (each takes a database of its own: ``fresh_postgres_url``)."""
    with postgres_server() as url:
        yield url


@pytest.fixture
def fresh_postgres_url(postgres_cluster: str) -> str:
    """A new, empty database in the module's cluster: isolation without an initdb per test."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    engine = create_engine(postgres_cluster, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return str(make_url(postgres_cluster).set(database=name).render_as_string(hide_password=False))


def test_pipeline_and_service_on_postgresql(postgres_url: str, compound: Compound) -> None:
    """Test that dedup (ON CONFLICT DO NOTHING RETURNING), alarm attachment, seq gaps, dead letters and the
    lifecycle work unchanged on PostgreSQL."""
    db = Database(postgres_url)
    db.create()
    try:
        pipeline = MessagePipeline(db, compound)
        service = AlarmService(db, compound)
        now = datetime.now(UTC)
        raised = make_event(compound, "b2-u1-1502-smoke", seq=1)
        cleared = make_event(compound, "b2-u1-1502-smoke", seq=4, state="cleared")
        items = [Inbound(event_topic(compound, e), wire.dump(e), now) for e in (raised, raised, cleared)]
        items.append(Inbound(event_topic(compound, raised), b"\x00\xffnot json", now))
        pipeline.process(items)
        stats = service.stats()
        assert (stats["events"], stats["duplicates"], stats["gaps"], stats["missing_seq"]) == (2, 1, 1, 2)
        assert stats["dead_letters_by_reason"] == {"not_utf8": 1}
        [alarm] = service.list_alarms(state="cleared")
        assert alarm.assignees == ["p-li-qiang", "p-song-kai"] and alarm.raised_at == raised.occurred_at
        service.acknowledge(alarm.id, "p-li-qiang")
        done = service.resolve(alarm.id, "p-li-qiang", "kitchen checked")
        assert [h.action for h in done.history] == ["raise", "route", "clear", "acknowledge", "resolve"]
        assert [e.id for e in done.events] == [raised.id, cleared.id]
        assert service.dead_letters()[0].preview.startswith("·")
    finally:
        db.dispose()
