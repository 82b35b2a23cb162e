"""Hub ingest on one injected clock: receipt times, gap stamps, resend sweeps and rate limits, no sleeps."""

from __future__ import annotations

from datetime import timedelta

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode
from sqlalchemy import select

from compound import wire
from compound.clock import ManualClock
from compound.config import Compound
from hub.db import Database, SeqGap
from hub.ingest import Inbound, Ingestor, IngestSettings
from hub.ingest.sequence import SweepSchedule
from tests.hub.helpers import NIGHT, event_topic, make_event, received

SMOKE = "b2-u1-1502-smoke"
T0 = NIGHT + timedelta(minutes=1)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def ingestor(hub_db: Database, compound: Compound, clock: ManualClock) -> Ingestor:
    settings = IngestSettings(resend_sweep_s=5.0, resend_settle_s=3.0, resend_min_interval_s=10.0)
    return Ingestor(hub_db, compound, settings=settings, clock=clock)


def test_receipt_time_and_gap_stamps_come_from_the_clock(
    ingestor: Ingestor, compound: Compound, hub_db: Database, clock: ManualClock
) -> None:
    """Test that a message is stamped with the hub clock at receipt, a seq gap with its receipt time, and a
    heartbeat's lost tail with the clock's time when it is stored."""
    first, fifth = make_event(compound, SMOKE, seq=1), make_event(compound, SMOKE, seq=5)
    items = [received(ingestor, event_topic(compound, e), wire.dump(e)) for e in (first, fifth)]
    assert [i.received_at for i in items] == [T0, T0]
    ingestor.pipeline.process(items)
    later = clock.advance(90)
    beat = wire.Heartbeat(compound=compound.id, edge="b2", at=later, uptime_s=9, seq=8, outbox_depth=0)
    ingestor.pipeline.process([Inbound(wire.topic(compound.id, "b2", "heartbeat"), wire.dump(beat), later)])
    with hub_db.session() as session:
        stamps = [(g.from_seq, g.to_seq, g.detected_at) for g in session.scalars(select(SeqGap).order_by(SeqGap.id))]
    assert stamps == [(2, 4, T0), (6, 8, later)]


def test_sweeps_follow_the_fake_clock(ingestor: Ingestor, clock: ManualClock) -> None:
    """Test that once subscribed a sweep runs at once, the next only after resend_sweep_s on the hub clock, and
    the open-ended one resend_settle_s after the subscription."""
    sweeps: list[bool] = []

    def sweep(*, open_ended: bool) -> int:
        sweeps.append(open_ended)
        return 0

    ingestor.sweep = sweep  # type: ignore[method-assign]
    ingestor._maybe_sweep()
    assert sweeps == []  # not subscribed: nothing could be asked for
    ingestor._on_subscribe(None, None, 1, [ReasonCode(PacketTypes.SUBACK, identifier=1)], None)  # type: ignore[arg-type]
    ingestor._maybe_sweep()
    assert sweeps == [False]
    clock.advance(2.9)
    ingestor._maybe_sweep()
    assert sweeps == [False]
    clock.advance(0.2)  # 3.1 s: past the settle time
    ingestor._maybe_sweep()
    ingestor._maybe_sweep()
    assert sweeps == [False, True]
    clock.advance(4.9)
    ingestor._maybe_sweep()
    assert sweeps == [False, True]
    clock.advance(0.2)  # 5.1 s after the last sweep
    ingestor._maybe_sweep()
    assert sweeps == [False, True, False]


def test_resend_rate_limit_runs_on_the_hub_clock(ingestor: Ingestor, clock: ManualClock) -> None:
    """Test that the same range is asked of an edge again only once resend_min_interval_s passed on the clock."""
    sent: list[bytes] = []

    def publish(_topic: str, payload: bytes) -> bool:
        sent.append(payload)
        return True

    ingestor.resends.publish = publish
    assert ingestor.resends.request("b2", 2, 4) == 1
    clock.advance(9.9)
    assert ingestor.resends.request("b2", 2, 4) == 0
    clock.advance(0.2)
    assert ingestor.resends.request("b2", 2, 4) == 1
    assert len(sent) == 2


def test_sweep_schedule_alone(clock: ManualClock) -> None:
    """Test the schedule: due at once, then every ``every_s``; a subscription makes the next due one open-ended."""
    schedule = SweepSchedule(clock, settle_s=3, every_s=5)
    assert schedule.due() is False
    assert schedule.due() is None
    schedule.subscribed()
    clock.advance(3)
    assert schedule.due() is True
    assert schedule.due() is None
    clock.advance(5)
    assert schedule.due() is False
