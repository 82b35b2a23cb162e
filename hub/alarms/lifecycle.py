"""The alarm state machine: raised → notified → acknowledged → on my way → on site → resolved, plus the device's clear.

``notified`` means a delivery to a person succeeded (the dispatcher sets it, ``mark_notified``), not that the
alarm was routed. On my way and on site are optional steps after acknowledging; resolve is open from any open
state.

A device clear sets ``cleared_at`` but never closes an alarm: a person resolves it, with a note.
Events for a device and kind attach to that device's open alarm (a raise while one is open too);
every step lands in the alarm's history with who did it, when, and a note.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session, object_session, selectinload

from compound import wire
from compound.config.loader import Device
from hub.alarm_states import ACKNOWLEDGEABLE, OPEN_STATES, AlarmState
from hub.alarms.schemas import AlarmChange, AlarmPublic, Location
from hub.db import Alarm, AlarmAssignee, AlarmHistory
from hub.errors import InvalidTransition, NoteRequired
from hub.routing.place import alarm_place
from hub.routing.router import Router, RoutingDecision

__all__ = [
    "ACKNOWLEDGEABLE",
    "SYSTEM",
    "Transition",
    "acknowledge",
    "apply_event",
    "clear",
    "mark_notified",
    "on_my_way",
    "on_site",
    "open_alarm",
    "open_alarms",
    "raise_routed",
    "reraise",
    "resolve",
    "to_public",
]

log = logging.getLogger(__name__)

SYSTEM: Final = "system"
"""Actor of steps the hub takes by itself (routing, notification)."""

RESOLVABLE: Final = frozenset(OPEN_STATES)


@dataclass(frozen=True, slots=True)
class Transition:
    """What one event or action did to an alarm, ready to publish once committed."""

    alarm: Alarm
    change: AlarmChange
    decision: RoutingDecision | None = None
    reraised: bool = False
    """The condition came back after the device had cleared it (flap detection counts these)."""


def to_public(alarm: Alarm) -> AlarmPublic:
    """The public shape of an alarm row."""
    return AlarmPublic(
        id=alarm.id,
        kind=alarm.kind,
        severity=alarm.severity,
        state=alarm.state,  # only lifecycle functions write it
        device=alarm.device,
        location=Location(
            building=alarm.building, unit=alarm.unit, floor=alarm.floor, flat=alarm.flat, place=alarm.place
        ),
        grid=alarm.grid,
        assignees=[a.person_id for a in alarm.assignees],
        raised_at=alarm.raised_at,
        notified_at=alarm.notified_at,
        acknowledged_at=alarm.acknowledged_at,
        resolved_at=alarm.resolved_at,
        on_my_way_at=alarm.on_my_way_at,
        on_site_at=alarm.on_site_at,
        incident_id=alarm.incident_id,
        escalation_level=alarm.escalation_level,
        policy=alarm.policy,
        next_step_at=alarm.next_step_at,
        flapping=bool(alarm.flapping),
        silenced_by=alarm.silenced_by,
        drill=bool(alarm.drill),
        cleared_at=alarm.cleared_at,
        value=alarm.value,
        unit=alarm.value_unit,
        threshold=alarm.threshold,
        message=alarm.message,
        edge=alarm.edge,
        updated_at=alarm.updated_at,
    )


def open_alarm(session: Session, device: str, kind: str) -> Alarm | None:
    """The open (not resolved) alarm for a device and kind, if any."""
    # A cached Core lookup of the id, then the identity map: ingest calls this for every event.
    alarm_id = session.connection().execute(_OPEN_ALARM_ID, {"device": device, "kind": kind}).scalar()
    if alarm_id is None:
        return None
    return session.get(Alarm, alarm_id, options=[selectinload(Alarm.assignees)])


def open_alarms(session: Session, keys: set[tuple[str, str]]) -> dict[tuple[str, str], Alarm]:
    """The open alarms for several (device, kind) pairs, with their assignees. A cached Core lookup of the ids first:
    a batch that only raises new alarms (nothing open) costs one light query, not an ORM load."""
    if not keys:
        return {}
    devices = sorted({device for device, _ in keys})
    rows = session.connection().execute(_OPEN_ALARM_KEYS, {"devices": devices})
    ids = [alarm_id for alarm_id, device, kind in rows if (device, kind) in keys]
    if not ids:
        return {}
    stmt = select(Alarm).options(selectinload(Alarm.assignees)).where(Alarm.id.in_(ids))
    return {(a.device, a.kind): a for a in session.scalars(stmt)}


_OPEN_ALARM_KEYS = select(Alarm.id, Alarm.device, Alarm.kind).where(
    Alarm.device.in_(bindparam("devices", expanding=True)), Alarm.state.in_(OPEN_STATES)
)
_OPEN_ALARM_ID = (
    select(Alarm.id)
    .where(Alarm.device == bindparam("device"), Alarm.kind == bindparam("kind"), Alarm.state.in_(OPEN_STATES))
    .limit(1)
)


def _history(
    alarm: Alarm,
    at: datetime,
    actor: str,
    action: str,
    to_state: AlarmState,
    note: str | None,
    data: dict[str, Any] | None = None,
) -> None:
    entry = AlarmHistory(
        at=at, actor=actor, action=action, from_state=alarm.state, to_state=to_state, note=note, note_data=data
    )
    session = object_session(alarm)
    if alarm.id is None or session is None:
        alarm.history.append(entry)
    else:  # append without loading the whole trail (ingest touches busy alarms often)
        entry.alarm_id = alarm.id
        session.add(entry)
    alarm.state = to_state
    alarm.updated_at = at


def _event_data(key: str, msg: wire.Event, **more: Any) -> dict[str, Any]:
    """A history note about an event as data (``AlarmHistory.note_data``): the console words it."""
    return {"key": key, "state": msg.state.value, "seq": msg.seq, "value": msg.value, "unit": msg.unit, **more}


def _describe(msg: wire.Event) -> str:
    value = f" {msg.value:g}{' ' + msg.unit if msg.unit else ''}" if msg.value is not None else ""
    return f"event {msg.id} seq {msg.seq}: {msg.kind.value} {msg.state.value}{value}"


def apply_event(
    session: Session,
    msg: wire.Event,
    device: Device,
    grid: str,
    router: Router,
    now: datetime,
    alarm: Alarm | None,
) -> Transition | None:
    """Apply a new (deduplicated) event to the alarms; return the change to publish, if any.

    ``alarm`` is the device's open alarm for the event's kind (``open_alarm``/``open_alarms``); the caller
    links the stored event row to ``Transition.alarm``.
    """
    actor = f"edge:{msg.edge}"
    if alarm is None:
        if msg.state is wire.EventState.CLEARED:
            log.info("clear without an open alarm for %s/%s (event_id=%s)", msg.device, msg.kind.value, msg.id)
            return None
        return _raise(session, msg, device, grid, router, now, actor)

    change = "updated"
    reraised = False
    if msg.state is wire.EventState.CLEARED:
        if alarm.cleared_at is None:
            alarm.cleared_at = msg.occurred_at.astimezone(UTC)
            note = f"device cleared the condition ({_describe(msg)})"
            _history(alarm, now, actor, "clear", alarm.state, note, _event_data("device_cleared", msg))
            change = "cleared"
        if msg.value is not None:
            alarm.value = msg.value
    elif alarm.cleared_at is not None and msg.occurred_at.astimezone(UTC) < alarm.cleared_at:
        # An update from before the clear that arrives after it (resent when a restarted hub asked for the seqs it
        # missed, while the clear came live): it neither reopens the alarm nor overwrites what the clear reported.
        note = f"late, from before the clear ({_describe(msg)})"
        _history(alarm, now, actor, "update", alarm.state, note, _event_data("late", msg))
    else:
        notes = []
        data = _event_data("update", msg, back=False)
        if alarm.cleared_at is not None:
            alarm.cleared_at = None
            reraised = True
            notes.append("condition back after a clear")
            data["back"] = True
        if msg.severity != alarm.severity:
            notes.append(f"severity {alarm.severity} → {msg.severity.value}")
            data.update(severity_from=alarm.severity, severity_to=msg.severity.value)
            alarm.severity = msg.severity.value
        if notes:
            _history(alarm, now, actor, "update", alarm.state, f"{'; '.join(notes)} ({_describe(msg)})", data)
        if msg.value is not None:
            alarm.value = msg.value
        alarm.value_unit = msg.unit or alarm.value_unit
        alarm.threshold = msg.threshold if msg.threshold is not None else alarm.threshold
        alarm.message = msg.message or alarm.message
    alarm.updated_at = now
    return Transition(alarm, AlarmChange(alarm=to_public(alarm), change=change), reraised=reraised)


def _raise(
    session: Session,
    msg: wire.Event,
    device: Device,
    grid: str,
    router: Router,
    now: datetime,
    actor: str,
) -> Transition:
    placed = alarm_place(router.compound, device, msg)  # a thrown object's estimated flat (hub/routing/place.py)
    if placed is not device:
        device, grid = placed, router.compound.grid_of(placed)
    alarm = Alarm.from_event(msg, device, grid, now)
    note = _describe(msg)
    if msg.state is wire.EventState.UPDATED:
        note += " (opened by an update: no open alarm for this device and kind)"
    data = _event_data("raised_by_update" if msg.state is wire.EventState.UPDATED else "raised_by", msg)
    alarm.history.append(
        AlarmHistory(
            at=now, actor=actor, action="raise", from_state=None, to_state=AlarmState.RAISED, note=note, note_data=data
        )
    )
    decision = router.route(msg.kind, device, msg.occurred_at)
    return raise_routed(session, alarm, decision, now, f"event_id={msg.id}")


def raise_routed(session: Session, alarm: Alarm, decision: RoutingDecision, now: datetime, cause: str) -> Transition:
    """Route a new alarm (its ``raise`` history written) to the people ``decision`` picked, add it and flush it;
    ``cause`` names what raised it in the log (an event id, or the hub's own check)."""
    alarm.routing = decision.as_dict()
    for position, routed in enumerate(decision.people):
        alarm.assignees.append(
            AlarmAssignee(person_id=routed.person, role=routed.role, position=position, reason=routed.reason[:300])
        )
    if decision.people:
        who = ", ".join(f"{p.person} ({p.role})" for p in decision.people)
        people = [[p.person, p.role] for p in decision.people]
        data = {"key": "routed", "rule": decision.rule, "people": people}
        _history(alarm, now, SYSTEM, "route", AlarmState.RAISED, f"routed by rule {decision.rule} to {who}", data)
    else:
        note = "; ".join(decision.reasons) or "nobody to notify"
        _history(alarm, now, SYSTEM, "route", AlarmState.RAISED, note, {"key": "routed_nobody"})
    session.add(alarm)
    session.flush()
    log.info(
        "alarm %d raised: %s at %s, routed to %s (%s)",
        alarm.id,
        alarm.kind,
        alarm.device,
        decision.person_ids,
        cause,
    )
    return Transition(alarm, AlarmChange(alarm=to_public(alarm), change="raised"), decision)


def clear(alarm: Alarm, actor: str, note: str, now: datetime, data: dict[str, Any] | None = None) -> Transition:
    """The condition is gone (a device's clear, or the hub's own check): ``cleared_at`` set, the alarm stays open.
    ``data``: the note as data for the console (``AlarmHistory.note_data``)."""
    alarm.cleared_at = now
    _history(alarm, now, actor, "clear", alarm.state, note, data)
    return Transition(alarm, AlarmChange(alarm=to_public(alarm), change="cleared"))


def reraise(alarm: Alarm, actor: str, note: str, now: datetime, data: dict[str, Any] | None = None) -> Transition:
    """The condition came back while its alarm is still open after a clear (flap detection counts these)."""
    alarm.cleared_at = None
    _history(alarm, now, actor, "update", alarm.state, f"condition back after a clear ({note})", data)
    return Transition(alarm, AlarmChange(alarm=to_public(alarm), change="updated"), reraised=True)


def mark_notified(alarm: Alarm, person_id: str | None, channel: str, now: datetime) -> Transition | None:
    """A delivery succeeded: a raised alarm becomes notified (later deliveries only add to the jobs' records)."""
    if alarm.state is not AlarmState.RAISED:
        return None
    alarm.notified_at = now
    note, data = _delivered(person_id, channel)
    _history(alarm, now, SYSTEM, "notify", AlarmState.NOTIFIED, note, data)
    return Transition(alarm, AlarmChange(alarm=to_public(alarm), change="notified"))


def mark_incident_notified(
    session: Session, incident_id: int, lead_id: int, person_id: str | None, channel: str, now: datetime
) -> list[int]:
    """``mark_notified`` for every other raised alarm of an incident, whose lead's delivery carries them: one UPDATE
    and one bulk history insert however many there are (a fire's incident gathers hundreds, and this runs in the
    dispatcher's write transaction, which ingest waits for). Returns their ids; the caller publishes them."""
    ids = list(
        session.scalars(
            update(Alarm)
            .where(Alarm.incident_id == incident_id, Alarm.id != lead_id, Alarm.state == AlarmState.RAISED)
            .values(state=AlarmState.NOTIFIED, notified_at=now, updated_at=now)
            .returning(Alarm.id),
            execution_options={"synchronize_session": "fetch"},
        )
    )
    if ids:
        note, data = _delivered(person_id, channel)
        row = {"at": now, "actor": SYSTEM, "action": "notify", "from_state": AlarmState.RAISED}
        row |= {"to_state": AlarmState.NOTIFIED, "note": note, "note_data": data}
        session.execute(insert(AlarmHistory), [{"alarm_id": alarm_id, **row} for alarm_id in ids])
    return ids


def _delivered(person_id: str | None, channel: str) -> tuple[str, dict[str, Any]]:
    """The history note of a delivery, as a sentence and as data."""
    who = f"{person_id} via {channel}" if person_id else f"group {channel}"
    return f"delivered to {who}", {"key": "delivered", "person": person_id, "channel": channel}


def acknowledge(
    alarm: Alarm, person_id: str, note: str | None, now: datetime, data: dict[str, Any] | None = None
) -> Transition:
    """A person takes the alarm on; only from raised or notified."""
    if alarm.state not in ACKNOWLEDGEABLE:
        raise InvalidTransition(alarm.id, alarm.state, "acknowledge")
    alarm.acknowledged_at = now
    _history(alarm, now, person_id, "acknowledge", AlarmState.ACKNOWLEDGED, (note or "").strip() or None, data)
    return Transition(alarm, AlarmChange(alarm=to_public(alarm), change="acknowledged"))


def on_my_way(
    alarm: Alarm, person_id: str, note: str | None, now: datetime, data: dict[str, Any] | None = None
) -> Transition:
    """The person who took the alarm is going there; from acknowledged (or straight from raised/notified,
    which acknowledges first)."""
    if alarm.state in ACKNOWLEDGEABLE:
        acknowledge(alarm, person_id, note, now, data)
    if alarm.state is not AlarmState.ACKNOWLEDGED:
        raise InvalidTransition(alarm.id, alarm.state, "on_my_way")
    alarm.on_my_way_at = now
    _history(alarm, now, person_id, "on_my_way", AlarmState.ON_MY_WAY, (note or "").strip() or None, data)
    return Transition(alarm, AlarmChange(alarm=to_public(alarm), change="on_my_way"))


def on_site(
    alarm: Alarm, person_id: str, note: str | None, now: datetime, data: dict[str, Any] | None = None
) -> Transition:
    """Someone is at the place (with an optional photo, stored by the caller); from any open state but resolved."""
    if alarm.state in ACKNOWLEDGEABLE:
        acknowledge(alarm, person_id, note, now, data)
    if alarm.state not in (AlarmState.ACKNOWLEDGED, AlarmState.ON_MY_WAY):
        raise InvalidTransition(alarm.id, alarm.state, "on_site")
    alarm.on_site_at = now
    _history(alarm, now, person_id, "on_site", AlarmState.ON_SITE, (note or "").strip() or None, data)
    return Transition(alarm, AlarmChange(alarm=to_public(alarm), change="on_site"))


def resolve(
    alarm: Alarm, person_id: str, note: str | None, now: datetime, data: dict[str, Any] | None = None
) -> Transition:
    """A person closes the alarm with a note; from any open state."""
    if alarm.state not in RESOLVABLE:
        raise InvalidTransition(alarm.id, alarm.state, "resolve")
    text = (note or "").strip()
    if not text:
        raise NoteRequired(alarm.id)
    alarm.resolved_at = now
    _history(alarm, now, person_id, "resolve", AlarmState.RESOLVED, text, data)
    return Transition(alarm, AlarmChange(alarm=to_public(alarm), change="resolved"))
