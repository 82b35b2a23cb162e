"""The database holds the dedup and one-open-alarm rules when several hub replicas write at once (PostgreSQL):
the unique event id and the partial unique index on open alarms per device and kind, and the code that meets
them (insert-ignore on events; a raise that loses the race retries alone and joins the winner's alarm)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from compound import wire
from compound.config import Compound
from hub.alarm_states import AlarmState
from hub.db import Alarm, Database, EventRecord
from hub.ingest import Inbound, MessagePipeline
from tests.hub.helpers import event_topic, make_event
from tests.hub.test_postgres import fresh_postgres_url, postgres_cluster  # noqa: F401  (fixtures)

pytestmark = pytest.mark.slow

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


def _inbound(compound: Compound, events: list[wire.Event]) -> list[Inbound]:
    now = datetime.now(UTC)
    return [Inbound(event_topic(compound, e), wire.dump(e), now) for e in events]


def test_the_index_refuses_a_second_open_alarm_for_a_device_and_kind(pg: Database, compound: Compound) -> None:
    """Test that PostgreSQL itself refuses a second open alarm for the same device and kind, and takes one once
    the first is resolved."""
    device = compound.devices[SMOKE]
    now = datetime.now(UTC)

    def alarm(seq: int) -> Alarm:
        return Alarm.from_event(make_event(compound, SMOKE, seq=seq), device, "g", now)

    with pg.session() as session:
        session.add(alarm(1))
    with pytest.raises(IntegrityError, match="uq_alarms_open_device_kind"), pg.session() as session:
        session.add(alarm(2))
    with pg.session() as session:
        first = session.scalars(select(Alarm)).one()
        first.state = AlarmState.RESOLVED
    with pg.session() as session:
        session.add(alarm(3))
    with pg.session() as session:
        assert Counter(a.state for a in session.scalars(select(Alarm))) == {
            AlarmState.RESOLVED: 1,
            AlarmState.RAISED: 1,
        }


def test_a_raise_that_loses_the_race_joins_the_winners_alarm(pg: Database, compound: Compound) -> None:
    """Test that when another replica's uncommitted transaction holds the open alarm for a device, a pipeline
    raising for the same device waits on the index, fails, stores the message again on its own and attaches
    the event to the other replica's alarm: one open alarm, both events on it."""
    device = compound.devices[SMOKE]
    winner_event = make_event(compound, SMOKE, seq=1)
    flushed, commit = threading.Event(), threading.Event()

    def other_replica() -> None:
        with pg.session() as session:
            session.add(Alarm.from_event(winner_event, device, compound.grid_of(device), datetime.now(UTC)))
            session.flush()  # the index entry is taken; the pipeline's insert will wait on it
            flushed.set()
            commit.wait(30)

    writer = threading.Thread(target=other_replica)
    writer.start()
    assert flushed.wait(30)
    pipeline = MessagePipeline(pg, compound)
    late = make_event(compound, SMOKE, seq=2, value=0.5)
    storing = threading.Thread(target=pipeline.process, args=(_inbound(compound, [late]),))
    storing.start()
    storing.join(1.0)
    assert storing.is_alive(), "the pipeline should be waiting on the other replica's open alarm"
    commit.set()
    writer.join(30)
    storing.join(60)
    with pg.session() as session:
        alarms = list(session.scalars(select(Alarm)))
        stored = {e.event_id: e.alarm_id for e in session.scalars(select(EventRecord))}
    assert len(alarms) == 1 and alarms[0].raised_event_id == winner_event.id
    assert stored == {late.id: alarms[0].id}


def test_four_replicas_storing_the_same_stream_at_once_store_it_once(pg: Database, compound: Compound) -> None:
    """Test that four pipelines (as four replicas) storing overlapping batches of the same events at the same time
    (a broker redelivering to several) store each event once and raise one alarm per device."""
    smoke = [d.id for d in compound.devices_of_edge("b2") if d.id.endswith("-smoke")][:20]
    events = [make_event(compound, device, seq=i + 1) for i, device in enumerate(smoke)]
    events += [make_event(compound, device, seq=len(smoke) + i + 1, value=0.6) for i, device in enumerate(smoke)]
    pipelines = [MessagePipeline(pg, compound) for _ in range(4)]
    start = threading.Barrier(len(pipelines))

    def replica(index: int) -> None:
        start.wait(30)
        mine = events[index::2] + events  # its own share first, then everything again (redeliveries)
        for at in range(0, len(mine), 10):
            pipelines[index].process(_inbound(compound, mine[at : at + 10]))

    threads = [threading.Thread(target=replica, args=(i,)) for i in range(len(pipelines))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    with pg.session() as session:
        stored = Counter(session.scalars(select(EventRecord.event_id)))
        per_device = Counter(session.scalars(select(Alarm.device)))
        unattached = list(session.scalars(select(EventRecord.event_id).where(EventRecord.alarm_id.is_(None))))
    assert set(stored) == {e.id for e in events} and max(stored.values()) == 1
    assert set(per_device) == set(smoke) and max(per_device.values()) == 1
    assert unattached == []
