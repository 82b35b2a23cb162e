"""What replicas share through PostgreSQL: alarm changes announced at commit and heard by the other replicas
(``AlarmChanges.announce``, ``ChangeListener``), and one leader per cluster-wide job (``Leadership``); and how a
replica's role and shared-subscription group are chosen."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from compound import wire
from compound.cli.commands.hub import share_group
from compound.config import Compound
from hub.alarms.changes import AlarmChanges
from hub.alarms.relay import ChangeListener
from hub.db import Database, default_url
from hub.db.cluster import Leadership
from hub.ingest import Inbound, Ingestor, MessagePipeline
from hub.web import hub_app
from tests.hub.helpers import event_topic, make_event
from tests.hub.test_postgres import fresh_postgres_url, postgres_cluster  # noqa: F401  (fixtures)

SMOKE = "b2-u1-1502-smoke"


@pytest.fixture
def pg(fresh_postgres_url: str) -> Iterator[Database]:  # noqa: F811
    """The hub database, migrated, on a throwaway PostgreSQL."""
    db = Database(fresh_postgres_url)
    db.upgrade()
    try:
        yield db
    finally:
        db.dispose()


@pytest.mark.slow
async def test_changes_committed_on_one_replica_reach_the_others_consoles(pg: Database, compound: Compound) -> None:
    """Test that an alarm raised by replica A's pipeline reaches a console subscribed on replica B through B's
    listener; that a change announced in a transaction that rolls back, or by B itself, is not delivered; and
    that a change too big for a notification is announced by id and read back from the database."""
    a, b = AlarmChanges(), AlarmChanges()
    listener = ChangeListener(pg, b, poll_s=0.1)
    stop = asyncio.Event()
    task = asyncio.create_task(listener.run(stop))
    console = b.subscribe()
    try:
        for _ in range(100):
            if listener.listening.is_set():
                break
            await asyncio.sleep(0.1)
        assert listener.listening.is_set(), "the listener never connected"
        event = make_event(compound, SMOKE, seq=1)
        pipeline = MessagePipeline(pg, compound, changes=a)
        await asyncio.to_thread(
            pipeline.process, [Inbound(event_topic(compound, event), wire.dump(event), datetime.now(UTC))]
        )
        raised = await asyncio.wait_for(console.get(), 10)
        assert (raised.change, raised.alarm.device) == ("raised", SMOKE)

        with pytest.raises(RuntimeError), pg.session() as session:
            a.announce(session, [raised.model_copy(update={"change": "rolled-back"})])
            raise RuntimeError("the transaction fails after announcing")
        with pg.session() as session:
            b.announce(session, [raised.model_copy(update={"change": "own"})])
        big = raised.model_copy(
            update={"change": "big", "alarm": raised.alarm.model_copy(update={"message": "火" * 3000})}
        )
        with pg.session() as session:
            a.announce(session, [big])
        # Notifications arrive in commit order: had either of the first two been delivered, it would come first.
        got = await asyncio.wait_for(console.get(), 10)
        assert got.change == "big" and got.alarm.id == raised.alarm.id
        assert got.alarm.message == raised.alarm.message, "a change sent by id is read back from the database"
        assert console.empty() and listener.received == 2
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        b.unsubscribe(console)


@pytest.mark.slow
def test_one_replica_leads_a_job_until_it_goes(pg: Database) -> None:
    """Test that of two replicas the first to ask leads a job and the other does not, that leading one job says
    nothing of another, and that the job passes to the other replica once the leader's connection closes."""
    first, second = Leadership(pg.engine), Leadership(pg.engine)
    try:
        assert first.leads("resend-sweep") and first.leads("resend-sweep")
        assert not second.leads("resend-sweep")
        assert second.leads("edge-supervision") and not first.leads("edge-supervision")
        first.close()  # as a replica's death closes its connection
        assert second.leads("resend-sweep")
        assert second.held == {"resend-sweep", "edge-supervision"}
    finally:
        first.close()
        second.close()


def test_on_sqlite_the_one_hub_leads_everything(hub_db: Database) -> None:
    """Test that on SQLite (one hub process) every job is led, with no lock taken."""
    leadership = Leadership(hub_db.engine)
    assert leadership.leads("resend-sweep") and leadership.held == frozenset()


async def test_an_ingest_replica_serves_only_health(compound: Compound, tmp_path: Path) -> None:
    """Test that ``role='ingest'`` leaves only ``/healthz`` over HTTP, ``role='api'`` starts no ingest (its health
    has no ingest entry) and an unknown role is refused by name."""
    data_dir = tmp_path / "data"
    db = Database(default_url(data_dir))
    try:
        ingest_only = hub_app(Ingestor(db, compound), data_dir=data_dir, role="ingest")
        async with _client(ingest_only) as client:  # no lifespan: nothing connects to a broker
            assert (await client.get("/api/v1/alarms")).status_code == 404
            assert (await client.get("/")).status_code == 404
            assert "ingest" in (await client.get("/healthz")).json()["parts"]
        api_only = hub_app(Ingestor(db, compound), data_dir=data_dir, role="api")
        async with _client(api_only) as client:
            assert "ingest" not in (await client.get("/healthz")).json()["parts"]
            assert (await client.get("/login")).status_code == 200
        with pytest.raises(ValueError, match="all, ingest, api"):
            hub_app(Ingestor(db, compound), data_dir=data_dir, role="console")
    finally:
        db.dispose()


def _client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub.test")


@pytest.mark.parametrize("bad", ["", "a/b", "hub+", "#", "x" * 65])
def test_a_bad_share_group_is_refused(bad: str) -> None:
    """Test that ``--share-group`` refuses names MQTT cannot put in ``$share/<group>/``."""
    with pytest.raises(argparse.ArgumentTypeError, match="shared-subscription group"):
        share_group(bad)
    assert share_group("hubs-1") == "hubs-1"
