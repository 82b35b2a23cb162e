"""The same store on a real PostgreSQL (a throwaway cluster): dedup, attachment, gaps, dead letters, lifecycle."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, make_url, text

from compound import wire
from compound.config import Compound
from hub.alarms.service import AlarmService
from hub.db import Database
from hub.ingest import Inbound, MessagePipeline
from tests.hub.helpers import event_topic, make_event
from tests.servers import postgres_server

pytestmark = pytest.mark.slow


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
