"""Supervised links: an edge that goes offline or loses events raises an ``edge_offline`` alarm; a patrol lists
the devices that stopped reporting.

An edge is *offline* for the hub when, among the configured edges it has heard from before:

- its retained status reads ``offline`` (its last will, published by the broker when the link died, or its own
  clean stop): at once, in the batch that carries the status;
- nothing came from it (heartbeat, reading, event, status) for ``edge_offline_after_s`` on the hub clock,
  counted from when this hub was last (re)subscribed if that is later (a hub just back has heard nothing yet);
- a gap in its seqs is still unfilled ``edge_gap_after_s`` after it was detected (resends did not bring the
  events back: they are unaccounted for).

The alarm is the hub's own (no wire event; ``EventKind.EDGE_OFFLINE`` is refused from edges): its device is the
edge id, its place the edge's building, routed by rule ``edge_link`` (maintenance and the manager on duty),
written in one transaction with its notification jobs and escalation steps (``Escalation.on_raise``, the
pipeline's path), and exactly once across replicas (the partial unique index on open alarms per device and
kind; a replica that loses the race rolls back its savepoint). One outage is alarmed once: an alarm raised
since the edge was last heard from (or since the gap was detected) covers it, even if a person resolved it.
It clears (``cleared_at``, device-style: a person still resolves it) when the edge is back: a status
``online`` (and anything heard in time, and no overdue gap); a heartbeat alone does not undo an ``offline``
status (the edge publishes ``online`` first when it reconnects).

While the alarm is open, the edge's device faults join its incident (``Escalation._join_incident``): one
stream, led by ``edge_offline``, instead of a push per dark detector.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from compound import wire
from compound.clock import Clock, ScaledClock
from compound.config import Compound
from compound.config.loader import Device
from hub.alarm_states import AlarmState
from hub.alarms import lifecycle
from hub.db import Alarm, AlarmHistory, DeviceSeen, EdgeRecord, SeqGap, insert_ignore
from hub.ingest.fanout import BatchOutcome
from hub.ingest.settings import IngestSettings
from hub.notify.escalation import Escalation
from hub.routing.router import Router

__all__ = ["ACTOR", "EDGE_OFFLINE", "EdgeSupervisor", "StaleDevice"]

log = logging.getLogger(__name__)

EDGE_OFFLINE: Final = wire.EventKind.EDGE_OFFLINE.value
ACTOR: Final = "hub:supervision"
"""Actor of the raise, clear and re-raise steps in an ``edge_offline`` alarm's history."""
HEARTBEATS_MISSED: Final = 3
"""Default silence bound, in heartbeat intervals."""
SCALED_FLOOR_REAL_S: Final = 15.0
"""On a scaled (simulated) clock the silence bound is at least this many real seconds times the speed."""
SCALED_GAP_FLOOR_REAL_S: Final = 60.0
"""On a scaled clock the gap bound is at least this many real seconds times the speed (resends take real time)."""

_SEEN = DeviceSeen.metadata.tables[DeviceSeen.__tablename__]
_ADVANCE_SEEN = (
    update(_SEEN)
    .where(_SEEN.c.device == bindparam("d"), _SEEN.c.last_at < bindparam("t"))
    .values(last_at=bindparam("t"), edge=bindparam("e"))
)


@dataclass(frozen=True, slots=True)
class StaleDevice:
    """A device the patrol found silent: last heard at ``last_at`` (``None``: never since the hub's data began)."""

    device: str
    edge: str
    last_at: datetime | None


@dataclass(frozen=True, slots=True)
class _Verdict:
    reason: str
    since: datetime
    """When the condition began (the edge last heard from, the gap detected): an alarm raised since covers it."""
    data: dict[str, Any]
    """``reason`` as data (``AlarmHistory.note_data``): the console words it in the reader's language."""


class EdgeSupervisor:
    """Decides, in the caller's transaction, whether each edge is offline, and raises or clears its alarm."""

    def __init__(
        self,
        compound: Compound,
        router: Router,
        escalation: Escalation,
        clock: Clock,
        settings: IngestSettings,
    ) -> None:
        self.compound = compound
        self.router = router
        self.escalation = escalation
        self.clock = clock
        self.settings = settings
        rules = compound.rules
        bound = settings.edge_offline_after_s or HEARTBEATS_MISSED * rules.heartbeat_interval_s
        gap_bound = settings.edge_gap_after_s
        if isinstance(clock, ScaledClock):  # edges tick and resends are asked for in real seconds
            bound = max(bound, SCALED_FLOOR_REAL_S * clock.speed)
            gap_bound = max(gap_bound, SCALED_GAP_FLOOR_REAL_S * clock.speed)
        self.offline_after = timedelta(seconds=bound)
        self.gap_after = timedelta(seconds=gap_bound)
        self.stale_after = timedelta(seconds=settings.device_stale_after_s or rules.fault.offline_after_s)
        self._places = {edge: place for edge in compound.edges() if (place := self._place(edge)) is not None}
        self._seen: dict[str, datetime] = {}
        self.offline: tuple[str, ...] = ()
        """Edges with an open, uncleared ``edge_offline`` alarm at the last round (``/healthz``)."""
        self.stale: tuple[StaleDevice, ...] = ()
        """The patrol's list at the last round (``/healthz``)."""

    def _place(self, edge: str) -> Device | None:
        """Where an edge's alarm is: its building (a site's edge: the site), placed like one of its devices."""
        devices = self.compound.devices_of_edge(edge)
        if not devices:
            return None
        return replace(devices[0], id=edge, unit=None, floor=None, flat=None, place=None, door_role=None)

    # ------------------------------------------------------------------ what ingest saw

    def saw(self, device: str, at: datetime) -> None:
        """A reading or event from ``device`` was received at ``at`` (kept until the next round writes it)."""
        last = self._seen.get(device)
        if last is None or at > last:
            self._seen[device] = at

    def observe(self, session: Session, edges: Iterable[EdgeRecord], now: datetime, outcome: BatchOutcome) -> None:
        """A batch carried a status or heartbeat of ``edges``: judge them now (a last will raises at once)."""
        for edge in edges:
            if edge.edge in self._places:
                self._judge(session, edge, now, None, outcome)

    # ------------------------------------------------------------------ the round

    def check(self, session: Session, now: datetime, outcome: BatchOutcome, *, heard_since: datetime | None) -> None:
        """One round: every configured edge heard from before, judged; then the patrol.

        ``heard_since``: when this hub's subscription began (silence is counted from it if later), ``None``: from
        the edge's last message only."""
        records = {r.edge: r for r in session.scalars(select(EdgeRecord).where(EdgeRecord.edge.in_(self._places)))}
        for edge in self._places:
            record = records.get(edge)
            if record is not None:
                self._judge(session, record, now, heard_since, outcome)
        session.flush()
        self.offline = tuple(
            session.scalars(
                select(Alarm.device)
                .where(Alarm.kind == EDGE_OFFLINE, Alarm.state != AlarmState.RESOLVED, Alarm.cleared_at.is_(None))
                .order_by(Alarm.device)
            )
        )
        self.patrol(session, now)

    def patrol(self, session: Session, now: datetime) -> None:
        """Write what ingest saw since the last round, then list the stale devices (``stale``)."""
        self._write_seen(session)
        self.stale = tuple(self.stale_devices(session, now))

    def verdict(
        self, session: Session, edge: EdgeRecord, now: datetime, heard_since: datetime | None
    ) -> _Verdict | None:
        """Why ``edge`` counts as offline now, or ``None``."""
        if edge.last_seen_at is None:
            return None  # never heard from: not supervised yet (an edge not deployed must not page anyone)
        if edge.status == wire.EdgeState.OFFLINE.value:
            # Since the status's own time, not its receipt: the broker hands the retained will to every new
            # subscription again, and a hub restarted must not page anyone twice for one resolved outage.
            return _Verdict(
                "边缘网关报告离线（遗嘱消息或停止运行）",
                edge.status_at or edge.last_seen_at,
                {"key": "edge_said_offline"},
            )
        heard = max(edge.last_seen_at, heard_since) if heard_since is not None else edge.last_seen_at
        silent = now - heard
        if silent > self.offline_after:
            return _Verdict(
                f"边缘网关 {silent.total_seconds():.0f} 秒无任何消息（上限 {self.offline_after.total_seconds():g} 秒）",
                edge.last_seen_at,
                {
                    "key": "edge_silent",
                    "silent": round(silent.total_seconds()),
                    "limit": self.offline_after.total_seconds(),
                },
            )
        cutoff = now - self.settings.resend_gap_max_age
        accepted = session.scalar(  # gaps a resolved alarm already covered: a person took that loss in hand
            select(func.max(Alarm.raised_at)).where(
                Alarm.device == edge.edge, Alarm.kind == EDGE_OFFLINE, Alarm.state == AlarmState.RESOLVED
            )
        )
        if accepted is not None and accepted > cutoff:
            cutoff = accepted + timedelta(microseconds=1)
        gap = session.scalars(
            select(SeqGap)
            .where(SeqGap.edge == edge.edge, SeqGap.detected_at < now - self.gap_after, SeqGap.detected_at >= cutoff)
            .order_by(SeqGap.detected_at)
            .limit(1)
        ).first()
        if gap is not None:
            waited = (now - gap.detected_at).total_seconds()
            bound = self.gap_after.total_seconds()
            return _Verdict(
                f"序号 {gap.from_seq}–{gap.to_seq} 的事件 {waited:.0f} 秒未补齐（上限 {bound:g} 秒）",
                gap.detected_at,
                {"key": "edge_gap", "from": gap.from_seq, "to": gap.to_seq, "waited": round(waited), "limit": bound},
            )
        return None

    def _judge(
        self, session: Session, edge: EdgeRecord, now: datetime, heard_since: datetime | None, outcome: BatchOutcome
    ) -> None:
        found = self.verdict(session, edge, now, heard_since)
        alarm = lifecycle.open_alarm(session, edge.edge, EDGE_OFFLINE)
        if found is None:
            if alarm is not None and alarm.cleared_at is None:
                outcome.transitions.append(
                    lifecycle.clear(alarm, ACTOR, "边缘网关已恢复在线", now, {"key": "edge_back"})
                )
                log.info("edge %s back: edge_offline alarm %d cleared", edge.edge, alarm.id)
            return
        if alarm is not None:
            if alarm.cleared_at is not None:
                transition = lifecycle.reraise(alarm, ACTOR, found.reason, now, found.data)
                alarm.updated_at = now
                self.escalation.on_reraise(session, alarm, now)
                outcome.transitions.append(transition)
            return
        covered = session.scalar(
            select(Alarm.id)
            .where(Alarm.device == edge.edge, Alarm.kind == EDGE_OFFLINE, Alarm.raised_at >= found.since)
            .limit(1)
        )
        if covered is None:
            self._raise(session, edge.edge, found.reason, now, outcome, found.data)

    def _raise(
        self,
        session: Session,
        edge: str,
        reason: str,
        now: datetime,
        outcome: BatchOutcome,
        data: dict[str, Any] | None = None,
    ) -> None:
        place = self._places[edge]
        decision = self.router.route(wire.EventKind.EDGE_OFFLINE, place, now)
        alarm = Alarm(
            kind=EDGE_OFFLINE,
            severity=wire.Severity.CRITICAL.value,
            state=AlarmState.RAISED,
            compound=self.compound.id,
            edge=edge,
            device=edge,
            building=place.building,
            grid=decision.grid,
            message=f"{edge}：{reason}"[:500],
            raised_event_id=f"hub-{edge}-{int(now.timestamp())}"[:64],
            raised_at=now.astimezone(UTC),
            updated_at=now,
        )
        alarm.history.append(
            AlarmHistory(
                at=now,
                actor=ACTOR,
                action="raise",
                from_state=None,
                to_state=AlarmState.RAISED,
                note=reason,
                note_data=data,
            )
        )
        try:
            with session.begin_nested():
                transition = lifecycle.raise_routed(session, alarm, decision, now, f"hub supervision: {reason}")
                self.escalation.on_raise(session, alarm, now)
        except IntegrityError:  # another replica raised it first: its alarm stands
            log.info("edge_offline for %s raised by another hub replica", edge)
            return
        log.warning("edge %s offline: %s (alarm %d)", edge, reason, alarm.id)
        outcome.transitions.append(transition)

    # ------------------------------------------------------------------ patrol

    def _write_seen(self, session: Session) -> None:
        if not self._seen:
            return
        edges = {d.id: d.edge for d in self.compound.devices.values()}
        rows = [{"d": d, "t": t, "e": edges.get(d, "")} for d, t in self._seen.items()]
        session.execute(
            insert_ignore(session, DeviceSeen),
            [{"device": r["d"], "edge": r["e"], "last_at": r["t"]} for r in rows],
        )
        session.connection().execute(_ADVANCE_SEEN, rows)
        self._seen.clear()

    def stale_devices(self, session: Session, now: datetime) -> list[StaleDevice]:
        """Sensors with no reading or event within ``stale_after`` (cameras report through their edge's
        ``device_offline`` instead), in config order."""
        last = {device: at for device, at in session.execute(select(DeviceSeen.device, DeviceSeen.last_at))}
        limit = now - self.stale_after
        return [
            StaleDevice(d.id, d.edge, last.get(d.id))
            for d in self.compound.devices.values()
            if not d.is_camera and (last.get(d.id) is None or last[d.id] < limit)
        ]
