"""The alarm service the web layer calls: list, read, acknowledge, resolve, dead letters and figures."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session, selectinload

from compound.clock import Clock, WallClock
from compound.config import Compound
from hub.alarm_states import ACKNOWLEDGEABLE, OPEN_STATES, TAKEN_ON, PseudoState
from hub.alarms import lifecycle
from hub.alarms.access import grid_and_descendants
from hub.alarms.changes import AlarmChanges
from hub.alarms.paging import Cursor, ListOrder, segments_for
from hub.alarms.schemas import AlarmDetail, AlarmPublic, Assignee, DeadLetterPublic, EventPublic, HistoryEntry
from hub.db import Alarm, Database, DeadLetter, EdgeRecord, EventRecord, SeqGap
from hub.errors import AlarmNotFound
from hub.notify.escalation import DEFAULT_CHANNELS, ChannelInfo, Escalation
from hub.routing.router import Router

__all__ = ["CLEARED", "OPEN", "ROW_ID_MAX", "AlarmService", "AlarmsPage"]

log = logging.getLogger(__name__)

ROW_ID_MAX: Final = 2**63 - 1
"""Largest row id a table can hold (signed 64-bit on SQLite and PostgreSQL). A larger id names no alarm; handed
to the driver it would raise ``OverflowError`` (a 500 that API fuzzing found), so it is answered as not found."""

CLEARED = PseudoState.CLEARED
"""Pseudo-state filter: open alarms whose device has cleared the condition (``cleared_at`` set)."""

OPEN = PseudoState.OPEN
"""Pseudo-state filter: every alarm not yet resolved."""


_ACTIONS: Final[dict[str, Callable[..., lifecycle.Transition]]] = {
    "acknowledge": lifecycle.acknowledge,
    "on_my_way": lifecycle.on_my_way,
    "on_site": lifecycle.on_site,
    "resolve": lifecycle.resolve,
}


@dataclass(frozen=True, slots=True)
class AlarmsPage:
    """One page of the alarm list and the cursor of the next (``None``: this was the last)."""

    items: list[AlarmPublic]
    next: Cursor | None


class AlarmService:
    """Synchronous alarm operations over a ``Database``; every change is published to ``changes``."""

    def __init__(
        self,
        db: Database,
        compound: Compound,
        *,
        changes: AlarmChanges | None = None,
        clock: Clock | None = None,
        channels: Mapping[str, ChannelInfo] | None = None,
    ) -> None:
        self.db = db
        self.compound = compound
        self.changes = changes if changes is not None else AlarmChanges()
        self.clock: Clock = clock or WallClock()
        self.escalation = Escalation(compound, Router(compound), DEFAULT_CHANNELS if channels is None else channels)

    # ------------------------------------------------------------------ reads

    def list_alarms(
        self,
        *,
        state: str | None = None,
        severity: str | None = None,
        kind: str | None = None,
        grid: str | None = None,
        grids: set[str] | None = None,
        limit: int = 200,
    ) -> list[AlarmPublic]:
        """Alarms, newest first. ``state`` also takes ``open`` and ``cleared``; ``grids`` restricts visibility."""
        stmt = select(Alarm).options(selectinload(Alarm.assignees)).order_by(Alarm.id.desc()).limit(max(1, limit))
        stmt = stmt.where(*self._filters(state=state, severity=severity, kind=kind, grid=grid, grids=grids))
        with self.db.session() as session:
            return [lifecycle.to_public(a) for a in session.scalars(stmt)]

    def page_alarms(
        self,
        *,
        order: ListOrder = ListOrder.NEWEST,
        after: Cursor | None = None,
        limit: int = 200,
        state: str | None = None,
        severity: str | None = None,
        kind: str | None = None,
        grid: str | None = None,
        grids: set[str] | None = None,
    ) -> AlarmsPage:
        """One page of alarms in ``order`` after the cursor ``after`` (keyset, see ``hub.alarms.paging``), with the
        filters of ``list_alarms``; the page's ``next`` cursor is ``None`` once the last alarm has been handed out."""
        limit = max(1, limit)
        filters = self._filters(state=state, severity=severity, kind=kind, grid=grid, grids=grids)
        items: list[AlarmPublic] = []
        last: Cursor | None = None
        with self.db.session() as session:
            for index, segment in enumerate(segments_for(order)):
                if after is not None and index < after.segment:
                    continue
                if severity is not None and segment.severity is not None and segment.severity.value != severity:
                    continue
                stmt = select(Alarm).options(selectinload(Alarm.assignees)).where(*filters)
                if segment.states is not None:
                    stmt = stmt.where(Alarm.state.in_(segment.states))
                if segment.severity is not None:
                    stmt = stmt.where(Alarm.severity == segment.severity.value)
                if after is not None and index == after.segment:
                    stmt = stmt.where(Alarm.id < after.id)
                rows = list(session.scalars(stmt.order_by(Alarm.id.desc()).limit(limit - len(items))))
                items.extend(lifecycle.to_public(a) for a in rows)
                if rows:
                    last = Cursor(index, rows[-1].id)
                if len(items) >= limit:
                    return AlarmsPage(items, last)
        return AlarmsPage(items, None)

    def summary(self, *, grids: set[str] | None = None) -> dict[str, int]:
        """The console's counters over every alarm in ``grids``: open, open critical, not yet acknowledged."""
        visible = [Alarm.state.in_(OPEN_STATES)] + ([Alarm.grid.in_(grids)] if grids is not None else [])
        stmt = select(Alarm.state, Alarm.severity, func.count()).where(*visible).group_by(Alarm.state, Alarm.severity)
        counts = {"open": 0, "critical": 0, "unacknowledged": 0}
        with self.db.session() as session:
            for st, sev, n in session.execute(stmt):
                counts["open"] += n
                counts["critical"] += n if sev == "critical" else 0
                counts["unacknowledged"] += n if st in ACKNOWLEDGEABLE else 0
        return counts

    def _filters(
        self,
        *,
        state: str | None,
        severity: str | None,
        kind: str | None,
        grid: str | None,
        grids: set[str] | None,
    ) -> list[ColumnElement[bool]]:
        """The ``WHERE`` terms of the alarm list's filters."""
        terms: list[ColumnElement[bool]] = []
        if state == CLEARED:
            terms += [Alarm.cleared_at.is_not(None), Alarm.state.in_(OPEN_STATES)]
        elif state == OPEN:
            terms.append(Alarm.state.in_(OPEN_STATES))
        elif state is not None:
            terms.append(Alarm.state == state)
        if severity is not None:
            terms.append(Alarm.severity == severity)
        if kind is not None:
            terms.append(Alarm.kind == kind)
        if grid is not None:
            terms.append(Alarm.grid.in_(grid_and_descendants(self.compound, grid)))
        if grids is not None:
            terms.append(Alarm.grid.in_(grids))
        return terms

    def get_alarm(self, alarm_id: int, *, grids: set[str] | None = None) -> AlarmDetail | None:
        """One alarm with history, events and routing; ``None`` if missing or outside ``grids``."""
        with self.db.session() as session:
            alarm = self._load(session, alarm_id, grids)
            return None if alarm is None else self._detail(session, alarm)

    def dead_letters(self, limit: int = 100, *, reason: str | None = None) -> list[DeadLetterPublic]:
        """Refused messages, newest first."""
        stmt = select(DeadLetter).order_by(DeadLetter.id.desc()).limit(max(1, limit))
        if reason is not None:
            stmt = stmt.where(DeadLetter.reason == reason)
        with self.db.session() as session:
            return [DeadLetterPublic.model_validate(d) for d in session.scalars(stmt)]

    def stats(self) -> dict[str, Any]:
        """Ingest figures: events stored, duplicates, readings, dead letters by reason, seq gaps, alarms by state."""
        with self.db.session() as session:
            edges = list(session.scalars(select(EdgeRecord).order_by(EdgeRecord.edge)))
            dead = {
                r: n for r, n in session.execute(select(DeadLetter.reason, func.count()).group_by(DeadLetter.reason))
            }
            gaps = session.execute(select(func.count(), func.sum(SeqGap.to_seq - SeqGap.from_seq + 1))).one()
            alarms = {st: n for st, n in session.execute(select(Alarm.state, func.count()).group_by(Alarm.state))}
            events = session.scalar(select(func.count()).select_from(EventRecord)) or 0
        return {
            "events": int(events),
            "duplicates": sum(e.duplicates for e in edges),
            "readings": sum(e.readings for e in edges),
            "heartbeats": sum(e.heartbeats for e in edges),
            "dead_letters": sum(dead.values()),
            "dead_letters_by_reason": dead,
            "gaps": int(gaps[0] or 0),
            "missing_seq": int(gaps[1] or 0),
            "alarms": alarms,
            "edges": {
                e.edge: {
                    "events": e.events,
                    "readings": e.readings,
                    "duplicates": e.duplicates,
                    "max_seq": e.max_seq,
                    "seq_anomalies": e.seq_anomalies,
                    "status": e.status,
                    "last_seen_at": e.last_seen_at.isoformat() if e.last_seen_at else None,
                }
                for e in edges
            },
        }

    # ------------------------------------------------------------------ actions

    def acknowledge(
        self,
        alarm_id: int,
        person_id: str,
        note: str | None = None,
        *,
        grids: set[str] | None = None,
        note_data: dict[str, Any] | None = None,
    ) -> AlarmDetail:
        """``person_id`` takes the alarm on: escalation stops (the on-site clock starts for fire and gas), and the
        other open alarms of its incident are taken on with it. Raises ``AlarmNotFound`` or ``InvalidTransition``.
        ``note_data``: a note the hub writes for the person (an action link's), as data for the console."""
        return self._act(alarm_id, person_id, note, grids, "acknowledge", note_data)

    def on_my_way(
        self,
        alarm_id: int,
        person_id: str,
        note: str | None = None,
        *,
        grids: set[str] | None = None,
        note_data: dict[str, Any] | None = None,
    ) -> AlarmDetail:
        """``person_id`` is going there (acknowledging first if nobody has)."""
        return self._act(alarm_id, person_id, note, grids, "on_my_way", note_data)

    def on_site(
        self, alarm_id: int, person_id: str, note: str | None = None, *, grids: set[str] | None = None
    ) -> AlarmDetail:
        """Someone is at the place: the on-site clock and any resumed escalation stop."""
        return self._act(alarm_id, person_id, note, grids, "on_site")

    def resolve(self, alarm_id: int, person_id: str, note: str, *, grids: set[str] | None = None) -> AlarmDetail:
        """Close the alarm with ``note``; raises ``AlarmNotFound``, ``InvalidTransition``, ``NoteRequired``."""
        return self._act(alarm_id, person_id, note, grids, "resolve")

    def _act(
        self,
        alarm_id: int,
        person_id: str,
        note: str | None,
        grids: set[str] | None,
        action: str,
        note_data: dict[str, Any] | None = None,
    ) -> AlarmDetail:
        transitions: list[lifecycle.Transition] = []
        with self.db.session() as session:
            alarm = self._load(session, alarm_id, grids, lock=True)
            if alarm is None:
                raise AlarmNotFound(alarm_id)
            now = self.clock.now()
            was_taken = alarm.state in TAKEN_ON
            transitions.append(_ACTIONS[action](alarm, person_id, note, now, note_data))
            if action == "resolve":
                self.escalation.on_resolved(session, alarm, now)
            else:
                if not was_taken:
                    self.escalation.on_taken(session, alarm, now)
                    transitions += self._take_incident(session, alarm, person_id, now)
                if action == "on_site":
                    self.escalation.on_site(session, alarm, now)
            session.flush()
            detail = self._detail(session, alarm)
            self.changes.announce(session, (t.change for t in transitions))  # other replicas' consoles, at commit
        log.info("alarm %d: %s by %s", alarm_id, action, person_id)
        for transition in transitions:
            self.changes.publish(transition.change)
        return detail

    @staticmethod
    def _take_incident(session: Session, alarm: Alarm, person_id: str, now: datetime) -> list[lifecycle.Transition]:
        """The incident's other alarms nobody has taken on yet go with this one (one stream, one acknowledgement)."""
        if alarm.incident_id is None:
            return []
        others = session.scalars(
            select(Alarm)
            .where(Alarm.incident_id == alarm.incident_id, Alarm.id != alarm.id)
            .where(Alarm.state.in_(ACKNOWLEDGEABLE))
            .with_for_update()
        )
        note = f"随事件 {alarm.incident_id} 一起确认（告警 {alarm.id}）"
        return [lifecycle.acknowledge(other, person_id, note, now) for other in others]

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _load(session: Session, alarm_id: int, grids: set[str] | None, *, lock: bool = False) -> Alarm | None:
        if not 0 < alarm_id <= ROW_ID_MAX:
            return None
        alarm = session.get(Alarm, alarm_id, with_for_update=lock or None)
        if alarm is None or (grids is not None and alarm.grid not in grids):
            return None
        return alarm

    @staticmethod
    def _detail(session: Session, alarm: Alarm) -> AlarmDetail:
        events = session.scalars(
            select(EventRecord)
            .where(EventRecord.alarm_id == alarm.id)
            .order_by(EventRecord.occurred_at, EventRecord.id)
        )
        public = lifecycle.to_public(alarm)
        return AlarmDetail(
            **public.model_dump(),
            history=[HistoryEntry.model_validate(h) for h in alarm.history],
            events=[EventPublic.of(e) for e in events],
            routing=alarm.routing or {},
            assigned=[Assignee(person=a.person_id, role=a.role, reason=a.reason) for a in alarm.assignees],
        )
