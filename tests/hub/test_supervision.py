"""Supervised links on a manual hub clock: an edge that goes silent, says offline (last will) or leaves a seq gap
unfilled raises one ``edge_offline`` alarm (routed, notified, escalated in its transaction), cleared when the edge
is back; the patrol lists devices that stopped reporting."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from compound import wire
from compound.clock import ManualClock
from compound.config import Compound
from hub.alarm_states import AlarmState
from hub.db import Alarm, Database, DeadLetter, EscalationStep, Incident, NotificationJob
from hub.ingest import Inbound, IngestSettings
from hub.ingest.pipeline import MessagePipeline
from hub.ingest.supervision import EDGE_OFFLINE
from tests.hub.helpers import NIGHT, event_topic, make_event
from tests.hub.test_postgres import postgres_url  # noqa: F401 - the throwaway PostgreSQL fixture

EDGE = "b2"
SMOKE = "b2-u1-1502-smoke"
BOUND_S = 90.0  # 3 heartbeat intervals of configs/compound.yaml (30 s)
GAP_S = 120.0
MAINTENANCE_AT_NIGHT = "p-cao-lei"
MANAGER_AT_NIGHT = "p-feng-yu"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NIGHT)


def make_pipeline(db: Database, compound: Compound, clock: ManualClock) -> MessagePipeline:
    return MessagePipeline(db, compound, settings=IngestSettings(edge_gap_after_s=GAP_S), clock=clock)


@pytest.fixture
def pipeline(hub_db: Database, compound: Compound, clock: ManualClock) -> MessagePipeline:
    return make_pipeline(hub_db, compound, clock)


def heartbeat(pipeline: MessagePipeline, compound: Compound, edge: str = EDGE, seq: int = 0) -> None:
    now = pipeline.clock.now()
    beat = wire.Heartbeat(compound=compound.id, edge=edge, at=now, uptime_s=5, seq=seq, outbox_depth=0)
    pipeline.process([Inbound(wire.topic(compound.id, edge, "heartbeat"), wire.dump(beat), now)])


def status(pipeline: MessagePipeline, compound: Compound, state: wire.EdgeState, edge: str = EDGE) -> None:
    now = pipeline.clock.now()
    msg = wire.Status(compound=compound.id, edge=edge, state=state, at=now)
    pipeline.process([Inbound(wire.topic(compound.id, edge, "status"), wire.dump(msg), now)])


def events(pipeline: MessagePipeline, compound: Compound, *msgs: wire.Event) -> None:
    now = pipeline.clock.now()
    pipeline.process([Inbound(event_topic(compound, m), wire.dump(m), now) for m in msgs])


def edge_alarms(db: Database) -> list[Alarm]:
    with db.session() as session:
        alarms = list(session.scalars(select(Alarm).where(Alarm.kind == EDGE_OFFLINE).order_by(Alarm.id)))
        for alarm in alarms:
            _ = alarm.assignees
        session.expunge_all()
    return alarms


def test_silence_past_the_bound_raises_one_routed_alarm_with_its_jobs(
    pipeline: MessagePipeline, compound: Compound, hub_db: Database, clock: ManualClock
) -> None:
    """Test that heartbeats stopping raise nothing within the bound and, past it, exactly one edge_offline alarm
    at the edge's building, routed to maintenance and the manager on duty, with its level-0 jobs and next step
    written in the same transaction; more rounds add nothing."""
    heartbeat(pipeline, compound)
    clock.advance(BOUND_S - 1)
    pipeline.supervise()
    assert edge_alarms(hub_db) == []
    clock.advance(2)
    outcome = pipeline.supervise()
    assert [t.change.change for t in outcome.transitions] == ["raised"]
    clock.advance(30)
    assert pipeline.supervise().transitions == []
    (alarm,) = edge_alarms(hub_db)
    assert (alarm.device, alarm.edge, alarm.building, alarm.state) == (EDGE, EDGE, "b2", AlarmState.RAISED)
    assert alarm.raised_at == NIGHT + timedelta(seconds=BOUND_S + 1)
    assert alarm.routing is not None and alarm.routing["rule"] == "edge_link"
    assert [(a.person_id, a.role) for a in alarm.assignees] == [
        (MAINTENANCE_AT_NIGHT, "maintenance"),
        (MANAGER_AT_NIGHT, "property_manager"),
    ]
    assert alarm.policy == "edge-link" and alarm.escalation_level == 0
    with hub_db.session() as session:
        jobs = session.execute(
            select(NotificationJob.person_id, NotificationJob.channel).where(NotificationJob.alarm_id == alarm.id)
        ).all()
        steps = session.scalars(select(EscalationStep.level).where(EscalationStep.alarm_id == alarm.id)).all()
    assert sorted(jobs) == sorted(
        (p, c) for p in (MAINTENANCE_AT_NIGHT, MANAGER_AT_NIGHT) for c in ("webpush", "inbox")
    )
    assert steps == [0]  # the level-0 reminder (repeats: 1), then the manager's level


def test_a_heartbeat_back_clears_the_alarm(
    pipeline: MessagePipeline, compound: Compound, hub_db: Database, clock: ManualClock
) -> None:
    """Test that the edge's next heartbeat clears the alarm (cleared_at, still open for a person to resolve),
    and that going silent again re-raises the same open alarm rather than opening another."""
    heartbeat(pipeline, compound)
    clock.advance(BOUND_S + 5)
    pipeline.supervise()
    back = clock.advance(10)
    heartbeat(pipeline, compound)
    (alarm,) = edge_alarms(hub_db)
    assert alarm.cleared_at == back and alarm.state is AlarmState.RAISED
    clock.advance(BOUND_S + 5)
    assert [t.change.change for t in pipeline.supervise().transitions] == ["updated"]
    (again,) = edge_alarms(hub_db)
    assert again.id == alarm.id and again.cleared_at is None and again.reraised


def test_a_last_will_raises_at_once_and_online_clears(
    pipeline: MessagePipeline, compound: Compound, hub_db: Database, clock: ManualClock
) -> None:
    """Test that the broker's last will (status offline) raises the alarm in the batch that carries it, with
    no supervision round, and the retained online status of the reconnected edge clears it."""
    status(pipeline, compound, wire.EdgeState.ONLINE)
    heartbeat(pipeline, compound)
    clock.advance(3)
    status(pipeline, compound, wire.EdgeState.OFFLINE)
    (alarm,) = edge_alarms(hub_db)
    assert alarm.raised_at == NIGHT + timedelta(seconds=3)
    assert alarm.message is not None and "离线" in alarm.message
    clock.advance(5)
    heartbeat(pipeline, compound)  # a heartbeat does not undo an offline status: online comes first on reconnect
    assert edge_alarms(hub_db)[0].cleared_at is None
    status(pipeline, compound, wire.EdgeState.ONLINE)
    assert edge_alarms(hub_db)[0].cleared_at == NIGHT + timedelta(seconds=8)


def test_a_resolved_outage_is_not_raised_again(
    pipeline: MessagePipeline, compound: Compound, hub_db: Database, clock: ManualClock
) -> None:
    """Test that once a person resolves the alarm of an outage still going on, later rounds do not raise it
    again; the next outage (heard from, then silent again) does."""
    heartbeat(pipeline, compound)
    clock.advance(BOUND_S + 1)
    pipeline.supervise()
    with hub_db.session() as session:
        alarm = session.scalars(select(Alarm).where(Alarm.kind == EDGE_OFFLINE)).one()
        alarm.state, alarm.resolved_at = AlarmState.RESOLVED, clock.now()
    clock.advance(BOUND_S)
    pipeline.supervise()
    assert len(edge_alarms(hub_db)) == 1
    heartbeat(pipeline, compound)
    clock.advance(BOUND_S + 1)
    pipeline.supervise()
    assert [a.state for a in edge_alarms(hub_db)] == [AlarmState.RESOLVED, AlarmState.RAISED]


def test_an_unfilled_gap_past_its_bound_raises_and_a_filled_one_does_not(
    pipeline: MessagePipeline, compound: Compound, hub_db: Database, clock: ManualClock
) -> None:
    """Test that a seq gap filled by a resend within the bound raises nothing, and one still open past
    ``edge_gap_after_s`` raises edge_offline on an edge that is otherwise alive."""
    clear = wire.EventState.CLEARED
    events(pipeline, compound, make_event(compound, SMOKE, seq=1), make_event(compound, SMOKE, seq=3, state=clear))
    clock.advance(GAP_S - 10)
    events(pipeline, compound, make_event(compound, SMOKE, seq=2, state=wire.EventState.UPDATED))  # the resend
    heartbeat(pipeline, compound, seq=3)
    clock.advance(20)
    pipeline.supervise()
    assert edge_alarms(hub_db) == []
    events(pipeline, compound, make_event(compound, SMOKE, seq=6, state=clear))  # 4..5 missing
    for _ in range(int(GAP_S // 30)):
        clock.advance(30)
        heartbeat(pipeline, compound, seq=6)
        pipeline.supervise()
        assert edge_alarms(hub_db) == []
    clock.advance(1)
    pipeline.supervise()
    (alarm,) = edge_alarms(hub_db)
    assert alarm.message is not None and "4–5" in alarm.message


def test_device_faults_join_the_dark_edges_incident(
    pipeline: MessagePipeline, compound: Compound, hub_db: Database, clock: ManualClock
) -> None:
    """Test that while the edge_offline alarm is open, a device_offline of one of the edge's devices joins its
    incident (no jobs of its own) long after the grouping window, and the edge's alarm leads."""
    status(pipeline, compound, wire.EdgeState.OFFLINE)
    clock.advance(compound.escalation.incidents.window_s + 60)
    offline = make_event(
        compound, SMOKE, seq=1, kind=wire.EventKind.DEVICE_OFFLINE, severity=wire.Severity.WARNING, at=clock.now()
    )
    events(pipeline, compound, offline)
    with hub_db.session() as session:
        lead = session.scalars(select(Alarm).where(Alarm.kind == EDGE_OFFLINE)).one()
        fault = session.scalars(select(Alarm).where(Alarm.kind == "device_offline")).one()
        incident = session.get(Incident, lead.incident_id)
        fault_jobs = session.scalar(select(func.count()).where(NotificationJob.alarm_id == fault.id))
    assert incident is not None and incident.lead_alarm_id == lead.id
    assert fault.incident_id == lead.incident_id and fault.policy is None
    assert fault_jobs == 0


def test_two_replicas_raise_one_alarm(hub_db: Database, compound: Compound, clock: ManualClock) -> None:
    """Test that two hub replicas on one database, both running their rounds, raise one alarm between them."""
    first, second = make_pipeline(hub_db, compound, clock), make_pipeline(hub_db, compound, clock)
    heartbeat(first, compound)
    clock.advance(BOUND_S + 1)
    raised = [len(p.supervise().transitions) for p in (first, second, first, second)]
    assert raised == [1, 0, 0, 0]
    assert len(edge_alarms(hub_db)) == 1
    assert first.supervisor.offline == second.supervisor.offline == (EDGE,)


def test_silence_counts_from_the_hubs_subscription(
    pipeline: MessagePipeline, compound: Compound, hub_db: Database, clock: ManualClock
) -> None:
    """Test that a hub just (re)subscribed does not call an edge offline for the time it heard nothing itself."""
    heartbeat(pipeline, compound)
    clock.advance(3600)
    subscribed = clock.now()
    clock.advance(BOUND_S - 1)
    assert pipeline.supervise(heard_since=subscribed).transitions == []
    clock.advance(2)
    assert len(pipeline.supervise(heard_since=subscribed).transitions) == 1


def test_never_heard_edges_are_not_alarmed_and_supervision_can_be_off(
    hub_db: Database, compound: Compound, clock: ManualClock
) -> None:
    """Test that an edge the hub never heard from raises nothing, and ``supervise_edges=False`` raises nothing."""
    on = make_pipeline(hub_db, compound, clock)
    clock.advance(10 * BOUND_S)
    on.supervise()
    off = MessagePipeline(hub_db, compound, settings=IngestSettings(supervise_edges=False), clock=clock)
    heartbeat(off, compound)
    status(off, compound, wire.EdgeState.OFFLINE)
    clock.advance(10 * BOUND_S)
    off.supervise()
    assert edge_alarms(hub_db) == []


def test_an_edge_cannot_send_edge_offline(pipeline: MessagePipeline, compound: Compound, hub_db: Database) -> None:
    """Test that an event of kind edge_offline from an edge is dead-lettered: only the hub raises it."""
    forged = make_event(compound, SMOKE, seq=1, kind=wire.EventKind.EDGE_OFFLINE)
    events(pipeline, compound, forged)
    with hub_db.session() as session:
        reasons = session.scalars(select(DeadLetter.detail)).all()
    assert edge_alarms(hub_db) == [] and len(reasons) == 1 and "hub only" in reasons[0]


def test_patrol_lists_devices_silent_past_their_interval(
    pipeline: MessagePipeline, compound: Compound, clock: ManualClock
) -> None:
    """Test that the patrol lists every sensor not heard within ``fault.offline_after_s`` (never heard too),
    drops one once it reports, and lists it again when it falls silent; cameras are not patrolled."""
    interval = compound.rules.fault.offline_after_s
    sensors = [d.id for d in compound.devices.values() if not d.is_camera]
    pipeline.supervise()
    assert [s.device for s in pipeline.supervisor.stale] == sensors
    reading = wire.Reading(
        compound=compound.id, edge=EDGE, device=SMOKE, quantity="smoke", value=0.01, unit="dB/m", at=clock.now()
    )
    pipeline.process([Inbound(wire.topic(compound.id, EDGE, "reading", SMOKE), wire.dump(reading), clock.now())])
    pipeline.supervise()
    assert SMOKE not in {s.device for s in pipeline.supervisor.stale}
    assert len(pipeline.supervisor.stale) == len(sensors) - 1
    clock.advance(interval + 1)
    pipeline.supervise()
    (smoke,) = [s for s in pipeline.supervisor.stale if s.device == SMOKE]
    assert (smoke.edge, smoke.last_at) == (EDGE, NIGHT)


def test_healthz_reports_the_broker_and_the_offline_edges(
    hub_db: Database, compound: Compound, clock: ManualClock
) -> None:
    """Test that the ingest part of /healthz says whether the hub has its broker, which edges are offline and
    how many devices are stale (what the console's banner reads)."""
    from hub.ingest import Ingestor
    from hub.web.context import IngestHealth

    ingestor = Ingestor(hub_db, compound, clock=clock)
    heartbeat(ingestor.pipeline, compound)
    clock.advance(BOUND_S + 1)
    ingestor.pipeline.supervise()
    report = IngestHealth(ingestor).health()
    assert report["subscribed"] is False and report["ok"] is False
    assert report["edges_offline"] == [EDGE]
    assert report["stale_devices"] == len([d for d in compound.devices.values() if not d.is_camera])


def test_a_retained_will_delivered_again_does_not_page_twice(
    pipeline: MessagePipeline, compound: Compound, hub_db: Database, clock: ManualClock
) -> None:
    """Test that the retained offline status, handed again to a hub that (re)subscribes after the outage's alarm
    was resolved, raises nothing new; the edge's next outage (a new will after it reconnected) does."""
    heartbeat(pipeline, compound)
    will_at = clock.now()
    will = wire.Status(compound=compound.id, edge=EDGE, state=wire.EdgeState.OFFLINE, at=will_at)
    topic = wire.topic(compound.id, EDGE, "status")
    clock.advance(60)
    pipeline.process([Inbound(topic, wire.dump(will), clock.now())])
    with hub_db.session() as session:
        alarm = session.scalars(select(Alarm).where(Alarm.kind == EDGE_OFFLINE)).one()
        alarm.state, alarm.resolved_at = AlarmState.RESOLVED, clock.now()
    clock.advance(3600)
    pipeline.process([Inbound(topic, wire.dump(will), clock.now())])  # the retained copy, to a new subscription
    pipeline.supervise()
    assert len(edge_alarms(hub_db)) == 1
    status(pipeline, compound, wire.EdgeState.ONLINE)
    clock.advance(60)
    status(pipeline, compound, wire.EdgeState.OFFLINE)
    assert [a.state for a in edge_alarms(hub_db)] == [AlarmState.RESOLVED, AlarmState.RAISED]


def test_bounds_on_a_scaled_clock_leave_real_time_for_ticks_and_resends(hub_db: Database, compound: Compound) -> None:
    """Test that on a simulated clock at 60× the silence bound is at least 15 real seconds and the gap bound at
    least 60 (an edge ticks, and resends are asked for, in real seconds), and the defaults stand at 1×."""
    from compound.clock import ScaledClock

    fast = MessagePipeline(hub_db, compound, clock=ScaledClock(NIGHT, speed=60)).supervisor
    assert (fast.offline_after, fast.gap_after) == (timedelta(seconds=900), timedelta(seconds=3600))
    real = MessagePipeline(hub_db, compound, clock=ScaledClock(NIGHT, speed=1)).supervisor
    assert (real.offline_after, real.gap_after) == (timedelta(seconds=BOUND_S), timedelta(seconds=300))


def test_the_card_names_the_building_the_reason_and_the_plan(
    pipeline: MessagePipeline, compound: Compound, hub_db: Database
) -> None:
    """Test that an edge_offline job's card reads as one about the edge's building, with the reason and the
    edge_offline response plan of escalation.yaml."""
    from hub.notify.cards import CardMaker

    status(pipeline, compound, wire.EdgeState.OFFLINE)
    with hub_db.session() as session:
        alarm = session.scalars(select(Alarm).where(Alarm.kind == EDGE_OFFLINE)).one()
        job = session.scalars(select(NotificationJob).where(NotificationJob.alarm_id == alarm.id)).first()
        assert job is not None
        card = CardMaker(compound, "https://hub.example").card(session, alarm, job, "zh", personal=True)
    assert card.title == "【告警】2号楼 边缘网关离线"
    assert "离线" in card.measured and card.plan == tuple(compound.escalation.plans["edge_offline"])


def test_the_replica_that_loses_the_race_rolls_back_only_its_savepoint(
    hub_db: Database, compound: Compound, clock: ManualClock
) -> None:
    """Test that a replica raising for an edge another replica raised for an instant before (both saw no open
    alarm) hits the unique index on open alarms, rolls back its savepoint only, and commits the rest."""
    from hub.ingest.fanout import BatchOutcome

    first, second = make_pipeline(hub_db, compound, clock), make_pipeline(hub_db, compound, clock)
    heartbeat(first, compound)
    clock.advance(BOUND_S + 1)
    first.supervise()
    outcome = BatchOutcome()
    with hub_db.session() as session:
        second.supervisor._raise(session, EDGE, "race", clock.now(), outcome)
        alarm_rows = session.scalar(select(func.count()).select_from(Alarm))
    assert outcome.transitions == [] and alarm_rows == 1
    (alarm,) = edge_alarms(hub_db)
    with hub_db.session() as session:
        jobs = session.scalar(select(func.count()).where(NotificationJob.alarm_id == alarm.id))
    assert jobs == 4, "the winner's jobs only"


@pytest.mark.slow
def test_on_postgresql_two_replicas_racing_raise_one_alarm(
    postgres_url: str,  # noqa: F811 - the fixture imported above
    compound: Compound,
    clock: ManualClock,
) -> None:
    """Test on a real PostgreSQL that replicas running their rounds at the same moment raise one alarm with one
    set of jobs, and that the loser of a raise race keeps its transaction."""
    import threading

    from hub.ingest.fanout import BatchOutcome

    dbs = [Database(postgres_url) for _ in range(4)]
    dbs[0].create()
    replicas = [make_pipeline(db, compound, clock) for db in dbs]
    heartbeat(replicas[0], compound)
    clock.advance(BOUND_S + 1)
    start = threading.Barrier(len(replicas))
    raised: list[int] = []

    def round_of(pipeline: MessagePipeline) -> None:
        start.wait()
        raised.append(len(pipeline.supervise().transitions))

    threads = [threading.Thread(target=round_of, args=(p,)) for p in replicas]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(raised) == [0, 0, 0, 1]
    outcome = BatchOutcome()
    with dbs[1].session() as session:
        replicas[1].supervisor._raise(session, EDGE, "race", clock.now(), outcome)
    (alarm,) = edge_alarms(dbs[0])
    with dbs[0].session() as session:
        jobs = session.scalar(select(func.count()).where(NotificationJob.alarm_id == alarm.id))
    assert outcome.transitions == [] and jobs == 4
    for db in dbs:
        db.dispose()
