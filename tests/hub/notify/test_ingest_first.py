"""Ingest goes first in a hub process: the dispatcher is woken only by a commit that wrote jobs, starts its write
transactions once the messages received are stored (within a bound), and marks an incident's alarms notified in bulk,
each alarm once."""

from __future__ import annotations

import threading

from sqlalchemy import delete, select

from compound.config import Compound
from hub.alarms.changes import AlarmChanges
from hub.alarms.schemas import AlarmChange
from hub.db import Alarm, AlarmHistory, Database, EdgeRecord
from hub.ingest.backlog import Backlog
from hub.notify.channels.base import DeliveryResult, Message
from tests.hub.notify.helpers import Bench


class RecordedChanges(AlarmChanges):
    """The live change hub, keeping what it was asked to publish (no console attached)."""

    def __init__(self) -> None:
        super().__init__()
        self.published: list[AlarmChange] = []

    def publish(self, change: AlarmChange) -> None:
        self.published.append(change)
        super().publish(change)


def _unit_smokes(compound: Compound) -> list[str]:
    return [
        d.id for d in compound.devices.values() if (d.building, d.unit) == ("b2", "u1") and d.type == "smoke_detector"
    ]


def test_one_delivery_marks_every_raised_alarm_of_the_incident_notified_each_once(
    hub_db: Database, compound: Compound
) -> None:
    """Test that when the lead's first job is delivered, the lead and the four alarms that joined its incident before
    are notified, each with one ``notify`` history entry and one published ``notified`` change, however many of the
    lead's jobs are delivered after it."""
    bench = Bench(hub_db, compound)
    changes = bench.dispatcher.changes = RecordedChanges()
    smokes = _unit_smokes(compound)[:5]
    for device in smokes:
        bench.raise_event(device)
    report = bench.tick()
    assert report.delivered >= 2  # inbox and webpush of the lead's people: the second finds nothing left to mark
    with hub_db.session() as session:
        alarms = list(session.scalars(select(Alarm).order_by(Alarm.id)))
        assert [a.device for a in alarms] == smokes
        assert {a.state for a in alarms} == {"notified"} and len({a.incident_id for a in alarms}) == 1
        notes = list(session.scalars(select(AlarmHistory).where(AlarmHistory.action == "notify")))
    assert sorted(h.alarm_id for h in notes) == sorted(a.id for a in alarms)
    assert all(h.note_data is not None and h.note_data["key"] == "delivered" for h in notes)
    notified = [c.alarm.id for c in changes.published if c.change == "notified"]
    assert sorted(notified) == sorted(a.id for a in alarms)
    assert all(c.alarm.state == "notified" for c in changes.published if c.change == "notified")


def test_only_a_commit_that_wrote_jobs_wakes_the_dispatcher(hub_db: Database, compound: Compound) -> None:
    """Test that ingest wakes the dispatcher after the alarm that opened an incident (level-0 jobs) and after the one
    that made it major (an update to those told), but not after a third that only joined it (no job)."""
    bench = Bench(hub_db, compound)
    woken: list[int] = []
    bench.pipeline.on_raised = lambda: woken.append(len(bench.jobs()))
    first, second, third = _unit_smokes(compound)[:3]
    bench.raise_event(first)
    bench.tick()
    bench.raise_event(second)
    bench.tick()
    bench.raise_event(third)
    assert len(woken) == 2 and woken[0] > 0 and woken[1] > woken[0]
    assert len(bench.jobs()) == woken[1]  # the third wrote no job: nothing to wake for


def test_the_dispatcher_waits_for_the_messages_being_stored(hub_db: Database, compound: Compound) -> None:
    """Test that a tick whose foreground has messages pending sends nothing until they are stored."""
    bench = Bench(hub_db, compound)
    order: list[str] = []

    class Stored(Backlog):
        def done(self, count: int) -> None:
            order.append("stored")
            super().done(count)

    for channel in bench.channels.values():
        send = channel.send

        def recorded(message: Message, send: type[object] = send) -> DeliveryResult:  # type: ignore[assignment]
            order.append("sent")
            return send(message)  # type: ignore[operator, no-any-return]

        channel.send = recorded  # type: ignore[method-assign]
    backlog = Stored()
    bench.dispatcher.foreground = backlog
    bench.raise_event(_unit_smokes(compound)[0])
    backlog.arrived()  # a message received and not yet stored
    threading.Timer(0.05, backlog.done, args=(1,)).start()
    report = bench.tick()
    assert report.delivered >= 1
    assert order[0] == "stored" and "sent" in order


def test_a_backlog_that_never_clears_delays_a_tick_but_never_stops_it(hub_db: Database, compound: Compound) -> None:
    """Test that a steady stream of messages (a backlog that never empties) cannot hold notifications back: the tick
    waits at most its allowance, then delivers."""
    bench = Bench(hub_db, compound)
    backlog = Backlog()
    backlog.arrived()
    bench.dispatcher.foreground = backlog
    bench.raise_event(_unit_smokes(compound)[0])
    report = bench.tick()
    assert report.delivered >= 1 and backlog.pending == 1


def test_backlog_counts_what_is_received_and_not_yet_stored() -> None:
    """Test the backlog's count: it is clear at start, pending while messages wait, clear again once stored."""
    backlog = Backlog()
    assert backlog.wait_clear(0.0)
    backlog.arrived()
    backlog.arrived()
    assert backlog.pending == 2 and not backlog.wait_clear(0.0)
    backlog.done(2)
    assert backlog.pending == 0 and backlog.wait_clear(0.0)
    backlog.done(1)  # more done than arrived (a batch retried) never goes negative
    assert backlog.pending == 0


def test_an_edge_row_gone_under_a_running_pipeline_is_created_again(hub_db: Database, compound: Compound) -> None:
    """Test that the pipeline's memory of stored edges (it skips their insert-if-missing) heals when a row is gone."""
    bench = Bench(hub_db, compound)
    first, second = _unit_smokes(compound)[:2]
    bench.raise_event(first)
    with hub_db.session() as session:
        session.execute(delete(EdgeRecord))
    bench.raise_event(second)
    with hub_db.session() as session:
        edge = session.get(EdgeRecord, "b2")
        assert edge is not None and edge.events == 1
