"""What the hub stored during one run, as typed figures read from its own store.

``compound up --json`` marks the store before its edges start (``mark``), polls ``events_received`` while
the last events drain, then asks for the ``run_summary`` since the mark: alarms (their public shape),
events, duplicates, dead letters by reason, seq gaps and each edge's tracking. Callers never see a table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from hub.alarms.lifecycle import to_public
from hub.alarms.schemas import AlarmPublic
from hub.db import Alarm, Database, DeadLetter, EdgeRecord, EventRecord, SeqGap
from hub.notify.records import NotificationRecord, notification_record

__all__ = ["EdgeFigures", "GapFigures", "RunSummary", "StoreMark", "events_received", "mark", "run_summary"]


@dataclass(frozen=True, slots=True)
class StoreMark:
    """Where the hub's store stood at one moment (high-water marks), so a summary counts what came after."""

    alarm_id: int = 0
    event_id: int = 0
    dead_letter_id: int = 0
    gap_id: int = 0
    duplicates: Mapping[str, int] = field(default_factory=dict)
    """Duplicates counted per edge so far."""


@dataclass(frozen=True, slots=True)
class GapFigures:
    """A run of seqs the hub still misses from one edge."""

    edge: str
    from_seq: int
    to_seq: int

    @property
    def missing(self) -> int:
        """How many seqs the gap covers."""
        return self.to_seq - self.from_seq + 1


@dataclass(frozen=True, slots=True)
class EdgeFigures:
    """The hub's view of one edge: duplicates since the mark, highest seq seen, last retained status."""

    edge: str
    duplicates: int
    max_seq: int | None
    status: str | None


@dataclass(frozen=True, slots=True)
class RunSummary:
    """What the hub stored since a ``StoreMark``."""

    alarms: list[AlarmPublic]
    """Alarms raised since the mark, or touched by an event since, in id order."""
    events_received: int
    dead_letters: dict[str, int]
    """Refused messages by reason."""
    seq_gaps: list[GapFigures]
    edges: dict[str, EdgeFigures]
    """Every edge the hub knows, by id."""
    notifications: dict[int, NotificationRecord] = field(default_factory=dict)
    """Per alarm: every notification job with its delivery attempts, and the escalation steps."""

    @property
    def duplicates(self) -> int:
        """Duplicate events (same id again) counted since the mark, all edges."""
        return sum(e.duplicates for e in self.edges.values())


def mark(db: Database) -> StoreMark:
    """The store's high-water marks now."""
    with db.session() as session:
        return StoreMark(
            alarm_id=int(session.scalar(select(func.max(Alarm.id))) or 0),
            event_id=int(session.scalar(select(func.max(EventRecord.id))) or 0),
            dead_letter_id=int(session.scalar(select(func.max(DeadLetter.id))) or 0),
            gap_id=int(session.scalar(select(func.max(SeqGap.id))) or 0),
            duplicates={e.edge: e.duplicates for e in session.scalars(select(EdgeRecord))},
        )


def events_received(db: Database, edge: str, after_seq: int, upto_seq: int) -> int:
    """Events stored for ``edge`` with a seq in ``(after_seq, upto_seq]``."""
    stmt = select(func.count()).where(EventRecord.edge == edge, EventRecord.seq > after_seq)
    with db.session() as session:
        return int(session.scalar(stmt.where(EventRecord.seq <= upto_seq)) or 0)


def run_summary(db: Database, since: StoreMark) -> RunSummary:
    """Alarms, events, duplicates, dead letters, seq gaps and edges stored after ``since``."""
    with db.session() as session:
        touched = select(EventRecord.alarm_id).where(EventRecord.id > since.event_id)
        stmt = (
            select(Alarm)
            .options(selectinload(Alarm.assignees))
            .where(or_(Alarm.id > since.alarm_id, Alarm.id.in_(touched)))
            .order_by(Alarm.id)
        )
        alarms = [to_public(a) for a in session.scalars(stmt)]
        received = int(session.scalar(select(func.count()).where(EventRecord.id > since.event_id)) or 0)
        dead = {
            str(reason): int(count)
            for reason, count in session.execute(
                select(DeadLetter.reason, func.count())
                .where(DeadLetter.id > since.dead_letter_id)
                .group_by(DeadLetter.reason)
            )
        }
        gaps = [
            GapFigures(g.edge, g.from_seq, g.to_seq)
            for g in session.scalars(select(SeqGap).where(SeqGap.id > since.gap_id).order_by(SeqGap.id))
        ]
        edges = {
            e.edge: EdgeFigures(e.edge, e.duplicates - since.duplicates.get(e.edge, 0), e.max_seq, e.status)
            for e in session.scalars(select(EdgeRecord))
        }
    notifications = {a.id: notification_record(db, a.id) for a in alarms}
    return RunSummary(alarms, received, dead, gaps, edges, notifications)
