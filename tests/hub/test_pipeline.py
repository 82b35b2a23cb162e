"""The ingest pipeline on a real SQLite file, fed directly: dedup, seq gaps, alarm attachment, edge state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from compound import wire
from compound.config import Compound
from hub.alarms.changes import AlarmChanges
from hub.alarms.service import AlarmService
from hub.db import Database, EdgeRecord, EventRecord, NotificationJob, SeqGap
from hub.ingest import Inbound, MessagePipeline
from tests.hub.helpers import NIGHT, event_topic, make_event

SMOKE = "b2-u1-1502-smoke"
GAS = "b2-u1-1502-gas"


class RecordingSink:
    """A SeriesSink that keeps what it is given."""

    def __init__(self) -> None:
        self.got: list[object] = []

    def reading(self, msg: wire.Reading) -> None:
        self.got.append(msg)

    def event(self, msg: wire.Event) -> None:
        self.got.append(msg)

    def heartbeat(self, msg: wire.Heartbeat) -> None:
        self.got.append(msg)

    def status(self, msg: wire.Status) -> None:
        self.got.append(msg)


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
def pipeline(hub_db: Database, compound: Compound, sink: RecordingSink) -> MessagePipeline:
    return MessagePipeline(hub_db, compound, series=sink)


def feed(pipeline: MessagePipeline, compound: Compound, *events: wire.Event) -> None:
    now = datetime.now(UTC)
    pipeline.process([Inbound(event_topic(compound, e), wire.dump(e), now) for e in events])


def gaps(db: Database, edge: str = "b2") -> list[tuple[int, int]]:
    with db.session() as session:
        rows = session.scalars(select(SeqGap).where(SeqGap.edge == edge).order_by(SeqGap.from_seq))
        return [(g.from_seq, g.to_seq) for g in rows]


def test_replayed_event_is_counted_not_stored(
    pipeline: MessagePipeline, compound: Compound, alarm_service: AlarmService, sink: RecordingSink
) -> None:
    """Test that an event id seen before (same batch or a later one) is counted as a duplicate and stored once."""
    raised = make_event(compound, SMOKE, seq=1)
    feed(pipeline, compound, raised, raised)
    feed(pipeline, compound, raised)
    stats = alarm_service.stats()
    assert stats["events"] == 1
    assert stats["duplicates"] == 2
    assert stats["edges"]["b2"]["duplicates"] == 2
    assert len(alarm_service.list_alarms()) == 1
    assert [m for m in sink.got if isinstance(m, wire.Event)] == [raised]  # duplicates are not re-sent to series


def test_seq_gaps_are_recorded_and_late_arrivals_fill_them(
    pipeline: MessagePipeline, compound: Compound, hub_db: Database, alarm_service: AlarmService
) -> None:
    """Test that skipped seqs are recorded per edge and that late arrivals shrink, split and close the gap."""

    def ev(seq: int) -> wire.Event:
        return make_event(compound, SMOKE, seq=seq, state="updated")

    feed(pipeline, compound, ev(10), ev(11), ev(17))
    assert gaps(hub_db) == [(12, 16)]
    feed(pipeline, compound, ev(14))
    assert gaps(hub_db) == [(12, 13), (15, 16)]
    feed(pipeline, compound, ev(12), ev(16))
    assert gaps(hub_db) == [(13, 13), (15, 15)]
    assert alarm_service.stats()["missing_seq"] == 2
    feed(pipeline, compound, ev(13), ev(15))
    assert gaps(hub_db) == []
    feed(pipeline, compound, ev(7))  # older than anything seen: extends the range downwards, 8..9 missing
    assert gaps(hub_db) == [(8, 9)]
    feed(pipeline, compound, make_event(compound, "b1-u1-101-smoke", seq=3, state="updated"))
    assert gaps(hub_db, "b1") == []  # per edge
    feed(pipeline, compound, ev(11))  # a seq reused with a new event id: an anomaly, not a gap fill
    with hub_db.session() as session:
        edge = session.get(EdgeRecord, "b2")
        assert edge is not None and edge.seq_anomalies == 1 and edge.max_seq == 17 and edge.min_seq == 7


def test_updates_and_clears_attach_to_the_open_alarm(
    pipeline: MessagePipeline, compound: Compound, alarm_service: AlarmService
) -> None:
    """Test that updates, clears and a second raise attach to the open alarm of the same device and kind,
    that severity and value follow the events, and that a clear does not close the alarm."""
    feed(pipeline, compound, make_event(compound, SMOKE, seq=1, severity="warning", value=0.2))
    feed(pipeline, compound, make_event(compound, SMOKE, seq=2, state="updated", severity="critical", value=0.6))
    feed(pipeline, compound, make_event(compound, GAS, seq=3, kind="gas", value=30))  # other kind: its own alarm
    [smoke] = alarm_service.list_alarms(kind="smoke")
    assert smoke.severity == "critical" and smoke.value == 0.6
    feed(
        pipeline,
        compound,
        make_event(compound, SMOKE, seq=4, state="cleared", value=0.02, at=NIGHT + timedelta(minutes=5)),
    )
    [smoke] = alarm_service.list_alarms(kind="smoke")
    assert smoke.state == "raised" and smoke.cleared_at == NIGHT + timedelta(minutes=5)
    assert [a.id for a in alarm_service.list_alarms(state="cleared")] == [smoke.id]
    feed(
        pipeline, compound, make_event(compound, SMOKE, seq=5, value=0.4, at=NIGHT + timedelta(minutes=9))
    )  # back again
    detail = alarm_service.get_alarm(smoke.id)
    assert detail is not None
    assert detail.cleared_at is None and detail.value == 0.4
    assert [e.seq for e in detail.events] == [1, 2, 4, 5]
    # the gas alarm of the same flat joins the smoke alarm's incident: a note on the lead ("escalation")
    assert [h.action for h in detail.history] == ["raise", "route", "update", "escalation", "clear", "update"]
    assert len(alarm_service.list_alarms()) == 2
    assert alarm_service.list_alarms(state="cleared") == []


def test_clear_without_alarm_and_update_without_alarm(
    pipeline: MessagePipeline, compound: Compound, alarm_service: AlarmService
) -> None:
    """Test that a clear with no open alarm opens nothing, while an update with none opens an alarm
    (the condition is live and nobody has it), and that after a resolve the next raise opens a new alarm."""
    feed(pipeline, compound, make_event(compound, SMOKE, seq=1, state="cleared"))
    assert alarm_service.list_alarms() == []
    feed(pipeline, compound, make_event(compound, SMOKE, seq=2, state="updated"))
    [alarm] = alarm_service.list_alarms()
    alarm_service.resolve(alarm.id, "p-han-mei", "checked, cooking smoke")
    feed(pipeline, compound, make_event(compound, SMOKE, seq=3))
    assert [a.state for a in alarm_service.list_alarms()] == ["raised", "resolved"]
    assert alarm_service.stats()["events"] == 3


def test_edge_status_heartbeat_and_readings_reach_db_and_series(
    pipeline: MessagePipeline, compound: Compound, alarm_service: AlarmService, hub_db: Database, sink: RecordingSink
) -> None:
    """Test that status, heartbeat and readings update the edge record and go to the series sink."""
    now = datetime.now(UTC)
    status = wire.Status(compound=compound.id, edge="b2", state=wire.EdgeState.ONLINE, version="0.1.0")
    beat = wire.Heartbeat(compound=compound.id, edge="b2", uptime_s=12, seq=4, outbox_depth=0)
    reading = wire.Reading(
        compound=compound.id, edge="b2", device=SMOKE, quantity="smoke", value=0.01, unit="dB/m", at=NIGHT
    )
    pipeline.process(
        [
            Inbound(wire.topic(compound.id, "b2", "status"), wire.dump(status), now),
            Inbound(wire.topic(compound.id, "b2", "heartbeat"), wire.dump(beat), now),
            Inbound(wire.topic(compound.id, "b2", "reading", SMOKE), wire.dump(reading), now),
            # a camera snapshot is stored apart (tests/hub/test_snapshots.py): not a series message
            Inbound(wire.topic(compound.id, "b2", "snapshot", "abc12345"), b"\xff\xd8\xffjpeg\xff\xd9", now),
        ]
    )
    assert sink.got == [status, beat, reading]
    with hub_db.session() as session:
        edge = session.get(EdgeRecord, "b2")
        assert edge is not None
        assert (edge.status, edge.version, edge.readings, edge.heartbeats) == ("online", "0.1.0", 1, 1)
        assert edge.heartbeat is not None and edge.heartbeat["outbox_depth"] == 0
    assert alarm_service.dead_letters() == []


def test_reasons_checked_by_the_pipeline(
    pipeline: MessagePipeline, compound: Compound, alarm_service: AlarmService
) -> None:
    """Test the reasons a subscription filter hides from the broker test: another compound, an unknown edge,
    a naive timestamp."""
    now = datetime.now(UTC)
    good = make_event(compound, SMOKE, seq=1)
    beat = wire.Heartbeat(compound=compound.id, edge="b9", uptime_s=1, seq=0, outbox_depth=0)
    naive = wire.dump(good).replace(b'"occurred_at":"2026-11-20T18:00:00Z"', b'"occurred_at":"2026-11-20T18:00:00"')
    pipeline.process(
        [
            Inbound(wire.topic("other-compound", "b2", "event", SMOKE), wire.dump(good), now),
            Inbound(wire.topic(compound.id, "b9", "heartbeat"), wire.dump(beat), now),
            Inbound(event_topic(compound, good), naive, now),
            Inbound("compound/v2/x/y/event/z", b"{}", now),
        ]
    )
    reasons = [d.reason for d in reversed(alarm_service.dead_letters())]
    assert reasons == ["unknown_compound", "unknown_edge", "invalid", "unknown_api_version"]
    assert "no timezone" in alarm_service.dead_letters(reason="invalid")[0].detail


def test_an_edge_clock_a_month_ahead_still_raises_its_alarm_at_receipt_time(
    pipeline: MessagePipeline, compound: Compound, alarm_service: AlarmService, hub_db: Database
) -> None:
    """Test that a fire from an edge whose clock is a month fast is not dead-lettered: the event and its alarm are
    stored at the hub's receipt time (a future stamp would sort ahead of real events), and the event keeps the
    edge's own stamp as sent."""
    now = datetime.now(UTC)
    far = make_event(compound, SMOKE, seq=1, at=now + timedelta(days=30))
    pipeline.process([Inbound(event_topic(compound, far), wire.dump(far), now)])
    assert alarm_service.dead_letters() == []
    (alarm,) = alarm_service.list_alarms()
    assert (alarm.device, alarm.state) == (SMOKE, "raised")
    with hub_db.session() as session:
        (record,) = session.scalars(select(EventRecord)).all()
        assert record.occurred_at.replace(tzinfo=UTC) == now
        assert record.raw["occurred_at"] == far.occurred_at.isoformat()


def test_changes_are_published_after_commit(hub_db: Database, compound: Compound) -> None:
    """Test that ingest publishes one change per alarm step to AlarmChanges subscribers."""
    import asyncio

    async def main() -> list[tuple[str, str]]:
        changes = AlarmChanges()
        queue = changes.subscribe()
        pipeline = MessagePipeline(hub_db, compound, changes=changes)
        await asyncio.to_thread(feed, pipeline, compound, make_event(compound, SMOKE, seq=1))
        await asyncio.to_thread(feed, pipeline, compound, make_event(compound, SMOKE, seq=2, state="cleared"))
        got = [await asyncio.wait_for(queue.get(), 5) for _ in range(2)]
        changes.unsubscribe(queue)
        return [(c.change, c.alarm.state) for c in got]

    assert asyncio.run(main()) == [("raised", "raised"), ("cleared", "raised")]


class BrokenSeries:
    """A series sink that fails on every call."""

    def reading(self, msg: wire.Reading) -> None:
        raise RuntimeError("series down")

    def event(self, msg: wire.Event) -> None:
        raise RuntimeError("series down")

    def heartbeat(self, msg: wire.Heartbeat) -> None:
        raise RuntimeError("series down")

    def status(self, msg: wire.Status) -> None:
        raise RuntimeError("series down")


def test_failing_series_never_stops_alarms(
    hub_db: Database, compound: Compound, alarm_service: AlarmService, caplog: pytest.LogCaptureFixture
) -> None:
    """Test that a series sink that raises is logged, and the alarm is still stored, routed and its notification
    jobs written (delivery failures are the dispatcher's: tests/hub/notify)."""
    broken = BrokenSeries()
    pipeline = MessagePipeline(hub_db, compound, series=broken)
    feed(pipeline, compound, make_event(compound, SMOKE, seq=1))
    [alarm] = alarm_service.list_alarms()
    assert alarm.assignees == ["p-li-qiang", "p-song-kai"]
    with hub_db.session() as session:
        assert session.scalar(select(func.count()).select_from(NotificationJob)) == 4
    assert "series sink failed" in caplog.text


def test_heartbeat_reveals_events_lost_at_the_end(
    pipeline: MessagePipeline, compound: Compound, hub_db: Database
) -> None:
    """Test that a heartbeat with an empty outbox and a last seq past the hub's records the tail as a gap,
    that a heartbeat with a non-empty outbox does not, that one in the same batch as its events does not,
    and that a late event fills the tail gap."""
    now = datetime.now(UTC)

    def beat(seq: int, depth: int = 0) -> Inbound:
        msg = wire.Heartbeat(compound=compound.id, edge="b2", uptime_s=5, seq=seq, outbox_depth=depth)
        return Inbound(wire.topic(compound.id, "b2", "heartbeat"), wire.dump(msg), now)

    def ev(seq: int) -> Inbound:
        msg = make_event(compound, SMOKE, seq=seq, state="updated")
        return Inbound(event_topic(compound, msg), wire.dump(msg), now)

    pipeline.process([ev(1), ev(2), beat(3), ev(3)])  # the heartbeat's events arrive in the same batch
    assert gaps(hub_db) == []
    pipeline.process([beat(9, depth=4)])  # still sending: nothing to conclude
    assert gaps(hub_db) == []
    pipeline.process([beat(5)])
    assert gaps(hub_db) == [(4, 5)]
    pipeline.process([ev(5)])
    assert gaps(hub_db) == [(4, 4)]
