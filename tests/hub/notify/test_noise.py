"""Less noise, never a hidden fire: silences, incidents, flapping, fallback, rate-limited digests."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from compound.config import Compound
from hub.db import Alarm, Database, Incident
from hub.notify.channels.base import DeliveryResult, RateLimit
from hub.notify.records import SilenceCreate, create_silence
from tests.hub.notify.helpers import Bench, RecordingChannel, RecordingConfig

SMOKE = "b2-u1-1502-smoke"
DOOR = "b2-u1-door"


def _alarms(bench: Bench) -> list[Alarm]:
    with bench.db.session() as session:
        alarms = list(session.scalars(select(Alarm).order_by(Alarm.id)))
        session.expunge_all()
        return alarms


def _silence(bench: Bench, **match: str) -> None:
    now = bench.clock.now()
    body = SilenceCreate(starts_at=now, ends_at=now + timedelta(hours=1), reason="检修", **match)  # type: ignore[arg-type]
    create_silence(bench.db, body, "p-han-mei", now)


def test_a_silence_keeps_a_door_alarm_quiet_but_never_a_fire(hub_db: Database, compound: Compound) -> None:
    """Test that a building-wide silence stores the door alarm unpushed, and that the smoke alarm in the same
    building is pushed all the same, its history saying why."""
    bench = Bench(hub_db, compound)
    door = next(d for d in compound.devices.values() if d.building == "b2" and d.type == "door_contact")
    _silence(bench, building="b2")
    bench.raise_event(door.id, kind="door_held_open", severity="warning")
    bench.raise_event(SMOKE)
    bench.tick()
    door_alarm, smoke_alarm = _alarms(bench)
    assert door_alarm.silenced_by is not None and bench.jobs(door_alarm.id) == []
    assert bench.jobs(smoke_alarm.id) and smoke_alarm.state == "notified"
    detail = bench.service.get_alarm(smoke_alarm.id)
    assert detail is not None and any("从不静默" in (h.note or "") for h in detail.history)


def test_two_smoke_detectors_in_one_unit_are_one_major_incident(hub_db: Database, compound: Compound) -> None:
    """Test that a second smoke detector in the same unit joins the first one's incident, raises it to major,
    sends one update to those already told, and starts no second escalation chain."""
    bench = Bench(hub_db, compound)
    smokes = [
        d.id for d in compound.devices.values() if (d.building, d.unit) == ("b2", "u1") and d.type == "smoke_detector"
    ]
    first, second = smokes[0], smokes[1]
    bench.raise_event(first)
    bench.tick()
    bench.raise_event(second)
    bench.tick()
    lead, joined = _alarms(bench)
    assert lead.incident_id == joined.incident_id and joined.policy is None and bench.jobs(joined.id) == []
    with hub_db.session() as session:
        incident = session.get(Incident, lead.incident_id)
        assert incident is not None and incident.severity == "major" and incident.alarms == 2
    updates = [j for j in bench.jobs(lead.id) if j.purpose == "update"]
    assert {j.person_id for j in updates} == {"p-li-qiang", "p-song-kai"}
    assert joined.state == "notified"  # told through the lead's stream
    bench.service.acknowledge(joined.id, "p-li-qiang")
    assert {a.state for a in _alarms(bench)} == {"acknowledged"}


def test_a_flapping_detector_keeps_one_alarm_marked_flapping(hub_db: Database, compound: Compound) -> None:
    """Test that raising again after clearing three times within ten minutes keeps one open alarm, marked
    flapping, with no new notification."""
    bench = Bench(hub_db, compound)
    bench.raise_event(SMOKE)
    bench.tick()
    jobs_before = len(bench.jobs())
    for _ in range(3):
        bench.clock.advance(5)
        bench.clear_event(SMOKE)
        bench.clock.advance(5)
        bench.raise_event(SMOKE)
    [alarm] = _alarms(bench)
    assert alarm.flapping and len(bench.jobs()) == jobs_before


def test_failed_channel_falls_back_and_is_recorded(hub_db: Database, compound: Compound) -> None:
    """Test that a permanent failure on Web Push is recorded with the platform's code and the person's fallback
    channel gets the message, and that the alarm is notified by the one delivery that worked."""
    bench = Bench(hub_db, compound)
    bench.channels["webpush"].answer = lambda m: DeliveryResult(ok=False, code="no_subscription", retryable=False)
    bench.channels["webpush"].sent.clear()
    bench.dispatcher.channels["webpush"] = bench.channels["webpush"]
    bench.raise_event(SMOKE)
    bench.tick()
    [alarm] = _alarms(bench)
    failed = [j for j in bench.jobs(alarm.id) if j.channel == "webpush"]
    assert {j.state for j in failed} == {"failed"} and {j.last_code for j in failed} == {"no_subscription"}
    record = bench.service.get_alarm(alarm.id)
    assert record is not None and record.state == "notified"


def test_over_the_rate_limit_alarms_go_as_one_digest(hub_db: Database, compound: Compound) -> None:
    """Test that a group robot limited to 2 messages a minute gets five alarms due at once as one digest listing
    all five, the next alarm alone, and the two after that only once the minute has passed."""
    bench = Bench(hub_db, compound, groups=("duty-desk",))
    robot = RecordingChannel(RecordingConfig(id="duty-desk", rate=RateLimit(per_minute=2)))
    bench.dispatcher.channels["duty-desk"] = robot
    doors = [d.id for d in compound.devices.values() if d.type == "door_contact"][:8]

    def raise_to_desk(devices: list[str]) -> None:
        for door in devices:
            bench.raise_event(door, kind="door_forced", severity="warning")
        with hub_db.session() as session:  # the group job a level with `groups: [duty-desk]` writes
            for alarm in session.scalars(select(Alarm)):
                bench.service.escalation._job(
                    session, alarm, 0, 0, "alert", None, "duty-desk", bench.clock.now(), "test", ""
                )

    raise_to_desk(doors[:5])
    bench.tick()
    assert [len(m.cards) for m in robot.sent] == [5]
    raise_to_desk(doors[5:6])
    bench.tick(1)
    raise_to_desk(doors[6:8])
    report = bench.tick(1)
    assert [len(m.cards) for m in robot.sent] == [5, 1] and report.waiting == 2
    bench.tick(60)
    assert [len(m.cards) for m in robot.sent] == [5, 1, 1, 1]
    assert sorted(c.alarm_id for m in robot.sent for c in m.cards) == sorted(a.id for a in _alarms(bench))


def test_a_drill_is_pushed_marked_as_one(hub_db: Database, compound: Compound) -> None:
    """Test that during a drill (`compound hub --drill`) a fire alarm is still pushed, to the same people, with
    every card marked 演练, and the alarm is stored as a drill."""
    from hub.notify.records import start_drill

    bench = Bench(hub_db, compound)
    start_drill(hub_db, "演练：消防演习", bench.clock.now())
    bench.raise_event(SMOKE)
    bench.tick()
    [alarm] = _alarms(bench)
    assert alarm.drill and alarm.silenced_by is None
    sent = bench.channels["inbox"].sent
    assert {m.recipient.person for m in sent if m.recipient} == {"p-li-qiang", "p-song-kai"}
    assert all(card.drill and card.title.startswith("【演练】") for m in sent for card in m.cards)
