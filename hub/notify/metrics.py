"""Response metrics (issue 10, item 7): how fast people answer alarms, per grid and per worker, over a period.

Which alarms: those *raised* in ``[start, end)`` (``raised_at``, the time the edge saw the condition), in the
grids the caller sees. Drills (``alarm.drill``: raised under a drill silence) are counted in ``drills`` and left
out of every other figure.

The figures of a set of alarms (``ResponseRow``):

- **time to acknowledge / on site / resolve**: ``acknowledged_at``, ``on_site_at``, ``resolved_at`` minus
  ``raised_at``, in seconds, over the alarms that reached that step; p50 and p90 by the *nearest-rank* method
  (the value at rank ``ceil(p × n)`` of the sorted times: always an observed time, exact on small sets).
- **acknowledged within level 1**: acknowledged before escalation went past level 0 (the people the router
  picked), i.e. no notification job of level ≥ 1 was created for the alarm — or for the lead alarm of its
  incident, which carries the incident's escalation — at or before ``acknowledged_at``. Jobs, not
  ``escalation_level``: the level is overwritten when a missed on-site clock resumes escalation after the
  acknowledgement, the jobs keep when each level was told. Over every alarm of the set (one never acknowledged
  is not acknowledged within level 1).
- **on site within the policy**: over the alarms whose escalation policy (``alarm.policy``, else the policy
  ``escalation.yaml`` gives its kind and severity) has ``on_site_within_s`` — fire and gas — the share marked on
  site within that many seconds of the acknowledgement (the clock escalation itself runs, ``Escalation.on_taken``).
- **closed within 24 h**: resolved within 24 h of ``raised_at``, over every alarm of the set.

Per worker: the person who acknowledged the alarm (the actor of its first ``acknowledge`` history step; an
alarm taken on with its incident counts for the person who acknowledged the incident). Alarms nobody
acknowledged appear in the grid rows and the total, not under a worker.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from compound.config import Compound
from hub.db import Alarm, AlarmHistory, Database, Incident, NotificationJob

__all__ = [
    "CLOSED_WITHIN",
    "ResponseReport",
    "ResponseRow",
    "nearest_rank",
    "response_metrics",
]

CLOSED_WITHIN: Final = timedelta(hours=24)
"""An alarm resolved within this long of its raise counts as closed in time."""


def nearest_rank(values: Sequence[float], p: float) -> float | None:
    """The ``p`` quantile (0 < p ≤ 1) of ``values`` by the nearest-rank method; ``None`` for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p * len(ordered)))
    return ordered[rank - 1]


def _share(part: int, whole: int) -> float | None:
    return None if whole == 0 else part / whole


class ResponseRow(BaseModel):
    """The figures of one grid, one worker, or the total."""

    key: str = Field(description="Grid id, person id, or 'total'.")
    name: str = Field(description="The grid's or person's name.")
    alarms: int = Field(description="Alarms raised in the period (drills not counted).")
    drills: int = Field(description="Drill alarms raised in the period, left out of every other figure.")
    acknowledged: int
    on_site: int
    resolved: int
    ack_p50_s: float | None = Field(description="Time to acknowledge, median (s).")
    ack_p90_s: float | None
    on_site_p50_s: float | None = Field(description="Raise to on site, median (s).")
    on_site_p90_s: float | None
    resolve_p50_s: float | None = Field(description="Raise to resolved, median (s).")
    resolve_p90_s: float | None
    ack_level1: int = Field(description="Acknowledged before any level ≥ 1 notification was created.")
    ack_level1_share: float | None = Field(description="ack_level1 / alarms.")
    on_site_policy_alarms: int = Field(description="Alarms whose policy sets on_site_within_s (fire, gas).")
    on_site_in_time: int = Field(description="Of those, on site within on_site_within_s of the acknowledgement.")
    on_site_in_time_share: float | None
    closed_24h: int = Field(description="Resolved within 24 h of the raise.")
    closed_24h_share: float | None = Field(description="closed_24h / alarms.")


class ResponseReport(BaseModel):
    """``GET /api/v1/metrics/response``: the period, the total, and the rows per grid and per worker."""

    start: datetime = Field(serialization_alias="from", description="Alarms raised at or after this time...")
    end: datetime = Field(serialization_alias="to", description="...and before this one.")
    grid: str | None = Field(description="The grid asked for (with the grids under it), or every visible grid.")
    total: ResponseRow
    grids: list[ResponseRow]
    workers: list[ResponseRow]


@dataclass(slots=True)
class _Facts:
    """What the figures need of one alarm."""

    grid: str
    drill: bool
    ack_s: float | None = None
    on_site_s: float | None = None
    resolve_s: float | None = None
    worker: str | None = None
    ack_level1: bool = False
    on_site_limit_s: float | None = None
    on_site_in_time: bool = False


@dataclass(slots=True)
class _Bucket:
    facts: list[_Facts] = field(default_factory=list)

    def row(self, key: str, name: str) -> ResponseRow:
        real = [f for f in self.facts if not f.drill]
        ack = [f.ack_s for f in real if f.ack_s is not None]
        site = [f.on_site_s for f in real if f.on_site_s is not None]
        res = [f.resolve_s for f in real if f.resolve_s is not None]
        level1 = sum(1 for f in real if f.ack_level1)
        policy = [f for f in real if f.on_site_limit_s is not None]
        in_time = sum(1 for f in policy if f.on_site_in_time)
        closed = sum(1 for s in res if s <= CLOSED_WITHIN.total_seconds())
        return ResponseRow(
            key=key,
            name=name,
            alarms=len(real),
            drills=len(self.facts) - len(real),
            acknowledged=len(ack),
            on_site=len(site),
            resolved=len(res),
            ack_p50_s=nearest_rank(ack, 0.5),
            ack_p90_s=nearest_rank(ack, 0.9),
            on_site_p50_s=nearest_rank(site, 0.5),
            on_site_p90_s=nearest_rank(site, 0.9),
            resolve_p50_s=nearest_rank(res, 0.5),
            resolve_p90_s=nearest_rank(res, 0.9),
            ack_level1=level1,
            ack_level1_share=_share(level1, len(real)),
            on_site_policy_alarms=len(policy),
            on_site_in_time=in_time,
            on_site_in_time_share=_share(in_time, len(policy)),
            closed_24h=closed,
            closed_24h_share=_share(closed, len(real)),
        )


def _seconds(later: datetime | None, earlier: datetime) -> float | None:
    return None if later is None else (later - earlier).total_seconds()


def _first_acknowledgers(session: Session, ids: Iterable[int]) -> dict[int, str]:
    found: dict[int, str] = {}
    stmt = (
        select(AlarmHistory.alarm_id, AlarmHistory.actor)
        .where(AlarmHistory.alarm_id.in_(list(ids)), AlarmHistory.action == "acknowledge")
        .order_by(AlarmHistory.id)
    )
    for alarm_id, actor in session.execute(stmt):
        found.setdefault(alarm_id, actor)
    return found


def _first_escalations(session: Session, ids: Iterable[int]) -> dict[int, datetime]:
    """When each alarm's first notification job of level ≥ 1 was created."""
    stmt = (
        select(NotificationJob.alarm_id, func.min(NotificationJob.created_at))
        .where(NotificationJob.alarm_id.in_(list(ids)), NotificationJob.level >= 1)
        .group_by(NotificationJob.alarm_id)
    )
    return {alarm_id: at for alarm_id, at in session.execute(stmt)}


def _chunks(ids: list[int], size: int = 900) -> Iterable[list[int]]:
    """Keep ``IN`` lists under SQLite's bound-parameter limits."""
    for i in range(0, len(ids), size):
        yield ids[i : i + size]


_COLUMNS: Final = (
    Alarm.id,
    Alarm.grid,
    Alarm.drill,
    Alarm.kind,
    Alarm.severity,
    Alarm.policy,
    Alarm.incident_id,
    Alarm.raised_at,
    Alarm.acknowledged_at,
    Alarm.on_site_at,
    Alarm.resolved_at,
)
"""What the figures read of an alarm: only these columns are loaded (a year of alarms is one query)."""


def _facts(session: Session, compound: Compound, alarms: Sequence[Any]) -> list[_Facts]:
    """The facts of each alarm row (``_COLUMNS``, read by name)."""
    ids = [a.id for a in alarms]
    incidents = {a.incident_id for a in alarms if a.incident_id is not None}
    leads: dict[int, int] = {}
    acks: dict[int, str] = {}
    escalated: dict[int, datetime] = {}
    for chunk in _chunks(sorted(incidents)):
        rows = session.execute(select(Incident.id, Incident.lead_alarm_id).where(Incident.id.in_(chunk)))
        leads.update((incident_id, lead_id) for incident_id, lead_id in rows)
    for chunk in _chunks(ids):
        acks.update(_first_acknowledgers(session, chunk))
    for chunk in _chunks(sorted(set(ids) | set(leads.values()))):
        escalated.update(_first_escalations(session, chunk))
    policies = {p.id: p for p in compound.escalation.policies}
    out: list[_Facts] = []
    for alarm in alarms:
        facts = _Facts(grid=alarm.grid, drill=bool(alarm.drill))
        out.append(facts)
        facts.ack_s = _seconds(alarm.acknowledged_at, alarm.raised_at)
        facts.on_site_s = _seconds(alarm.on_site_at, alarm.raised_at)
        facts.resolve_s = _seconds(alarm.resolved_at, alarm.raised_at)
        facts.worker = acks.get(alarm.id)
        if alarm.acknowledged_at is not None:
            lead = leads.get(alarm.incident_id) if alarm.incident_id is not None else None
            firsts = [escalated[i] for i in (alarm.id, lead) if i is not None and i in escalated]
            facts.ack_level1 = not any(at <= alarm.acknowledged_at for at in firsts)
        policy = policies.get(alarm.policy or "") or compound.escalation.policy_for(alarm.kind, alarm.severity)
        if policy.on_site_within_s is not None:
            facts.on_site_limit_s = policy.on_site_within_s
            if alarm.on_site_at is not None and alarm.acknowledged_at is not None:
                took = (alarm.on_site_at - alarm.acknowledged_at).total_seconds()
                facts.on_site_in_time = took <= policy.on_site_within_s
    return out


def _grid_names(compound: Compound) -> dict[str, str]:
    grids = compound.grids
    names = {grids.total.id: grids.total.name}
    for group in (grids.general, grids.micro, grids.dedicated):
        names.update({g.id: g.name for g in group})
    return names


def response_metrics(
    db: Database,
    compound: Compound,
    start: datetime,
    end: datetime,
    *,
    grids: set[str] | None = None,
    grid: str | None = None,
) -> ResponseReport:
    """The response figures of the alarms raised in ``[start, end)`` within ``grids`` (``None``: all)."""
    stmt = select(*_COLUMNS).where(Alarm.raised_at >= start, Alarm.raised_at < end).order_by(Alarm.id)
    if grids is not None:
        stmt = stmt.where(Alarm.grid.in_(sorted(grids)))
    with db.session() as session:
        alarms = session.execute(stmt).all()
        facts = _facts(session, compound, alarms)
    total = _Bucket()
    by_grid: dict[str, _Bucket] = {}
    by_worker: dict[str, _Bucket] = {}
    for f in facts:
        total.facts.append(f)
        by_grid.setdefault(f.grid, _Bucket()).facts.append(f)
        if f.worker is not None:
            by_worker.setdefault(f.worker, _Bucket()).facts.append(f)
    grid_names = _grid_names(compound)
    people = compound.people
    return ResponseReport(
        start=start,
        end=end,
        grid=grid,
        total=total.row("total", "合计"),
        grids=[by_grid[g].row(g, grid_names.get(g, g)) for g in sorted(by_grid)],
        workers=[by_worker[p].row(p, people[p].name if p in people else p) for p in sorted(by_worker)],
    )
