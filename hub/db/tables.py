"""The alarm tables: events (dedup by event id), alarms and their history, dead letters, edges, seq gaps, snapshots."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from compound import wire
from hub.alarm_states import AlarmState

if TYPE_CHECKING:
    from compound.config.loader import Device
from hub.db.base import ALARM_STATE, Base

__all__ = [
    "Alarm",
    "AlarmAssignee",
    "AlarmHistory",
    "DeadLetter",
    "DeviceSeen",
    "EdgeRecord",
    "EventRecord",
    "SeqGap",
    "Snapshot",
    "event_row",
]


class EventRecord(Base):
    """One accepted event message, stored once (unique ``event_id``)."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_edge_seq", "edge", "seq"), Index("ix_events_device_kind", "device", "kind"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    compound: Mapped[str] = mapped_column(String(64))
    edge: Mapped[str] = mapped_column(String(64))
    device: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str] = mapped_column(String(16))
    value: Mapped[float | None] = mapped_column(Float)
    unit: Mapped[str | None] = mapped_column(String(16))
    threshold: Mapped[float | None] = mapped_column(Float)
    message: Mapped[str | None] = mapped_column(String(500))
    occurred_at: Mapped[datetime]
    received_at: Mapped[datetime]
    alarm_id: Mapped[int | None] = mapped_column(ForeignKey("alarms.id"), index=True)
    raw: Mapped[dict[str, Any]]


def event_row(msg: wire.Event, received_at: datetime, sent_at: datetime | None = None) -> dict[str, Any]:
    """The ``events`` row of a wire event, every column but ``id``: the one place event fields are copied.

    ``alarm_id`` starts empty (ingest links the row once the lifecycle has placed the event); ``raw`` keeps the
    message as sent, so a field the row has no column for is never lost: with ``sent_at``, the edge's own stamp
    of a message the hub restamped (``occurred_at`` is then the hub's receipt time).
    """
    return {
        "event_id": msg.id,
        "seq": msg.seq,
        "compound": msg.compound,
        "edge": msg.edge,
        "device": msg.device,
        "kind": msg.kind.value,
        "state": msg.state.value,
        "severity": msg.severity.value,
        "value": msg.value,
        "unit": msg.unit,
        "threshold": msg.threshold,
        "message": msg.message,
        "occurred_at": msg.occurred_at.astimezone(UTC),
        "received_at": received_at,
        "alarm_id": None,
        "raw": msg.model_dump(mode="json", by_alias=True, exclude_none=True)
        | ({} if sent_at is None else {"occurred_at": sent_at.isoformat()}),
    }


class Alarm(Base):
    """An alarm: one hazard or fault at one device, from raise to a person's resolve."""

    __tablename__ = "alarms"
    __table_args__ = (
        # At most one open alarm per device and kind, even with several hub replicas writing.
        Index(
            "uq_alarms_open_device_kind",
            "device",
            "kind",
            unique=True,
            sqlite_where=text("state != 'resolved'"),
            postgresql_where=text("state != 'resolved'"),
        ),
        Index("ix_alarms_state", "state"),
        Index("ix_alarms_grid", "grid"),
        # The history search (GET /api/v1/history/alarms) by place; a flat's alarms on the site plan.
        Index("ix_alarms_place", "building", "unit", "flat"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    state: Mapped[AlarmState] = mapped_column(ALARM_STATE)
    compound: Mapped[str] = mapped_column(String(64))
    edge: Mapped[str] = mapped_column(String(64))
    device: Mapped[str] = mapped_column(String(64))
    building: Mapped[str] = mapped_column(String(64))
    unit: Mapped[str | None] = mapped_column(String(32))
    floor: Mapped[int | None] = mapped_column(Integer)
    flat: Mapped[str | None] = mapped_column(String(32))
    place: Mapped[str | None] = mapped_column(String(64))
    grid: Mapped[str] = mapped_column(String(64))
    value: Mapped[float | None] = mapped_column(Float)
    value_unit: Mapped[str | None] = mapped_column(String(16))
    threshold: Mapped[float | None] = mapped_column(Float)
    message: Mapped[str | None] = mapped_column(String(500))
    raised_event_id: Mapped[str] = mapped_column(String(64))
    raised_at: Mapped[datetime]
    notified_at: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    cleared_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]
    routing: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    on_my_way_at: Mapped[datetime | None]
    on_site_at: Mapped[datetime | None]
    incident_id: Mapped[int | None] = mapped_column(Integer, index=True)
    policy: Mapped[str | None] = mapped_column(String(64))
    """The escalation policy it follows (``None`` when it joined another alarm's incident or was silenced)."""
    escalation_level: Mapped[int | None] = mapped_column(Integer)
    next_step_at: Mapped[datetime | None]
    flapping: Mapped[bool] = mapped_column(default=False)
    reraised: Mapped[list[str] | None] = mapped_column(JSON)
    """When the condition came back after a clear (ISO times, the last few): flap detection."""
    silenced_by: Mapped[int | None] = mapped_column(Integer)
    drill: Mapped[bool] = mapped_column(default=False)

    assignees: Mapped[list[AlarmAssignee]] = relationship(
        back_populates="alarm", cascade="all, delete-orphan", order_by="AlarmAssignee.position"
    )
    history: Mapped[list[AlarmHistory]] = relationship(
        back_populates="alarm", cascade="all, delete-orphan", order_by="AlarmHistory.id"
    )

    @classmethod
    def from_event(cls, msg: wire.Event, device: Device, grid: str, now: datetime) -> Alarm:
        """A new ``raised`` alarm for ``msg``: what it reports, where ``device`` is, and ``grid``; no history yet."""
        return cls(
            kind=msg.kind.value,
            severity=msg.severity.value,
            state=AlarmState.RAISED,
            compound=msg.compound,
            edge=msg.edge,
            device=msg.device,
            building=device.building,
            unit=device.unit,
            floor=device.floor,
            flat=device.flat,
            place=device.place,
            grid=grid,
            value=msg.value,
            value_unit=msg.unit,
            threshold=msg.threshold,
            message=msg.message,
            raised_event_id=msg.id,
            raised_at=msg.occurred_at.astimezone(UTC),
            updated_at=now,
        )


class AlarmAssignee(Base):
    """A person an alarm was routed to, with the role they were picked for."""

    __tablename__ = "alarm_assignees"

    alarm_id: Mapped[int] = mapped_column(ForeignKey("alarms.id"), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    role: Mapped[str] = mapped_column(String(32))
    position: Mapped[int] = mapped_column(Integer, default=0)
    reason: Mapped[str] = mapped_column(String(300), default="")

    alarm: Mapped[Alarm] = relationship(back_populates="assignees")


class AlarmHistory(Base):
    """One step of an alarm's audit trail: who, when, from which state to which, and why."""

    __tablename__ = "alarm_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alarm_id: Mapped[int] = mapped_column(ForeignKey("alarms.id"), index=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[AlarmState | None] = mapped_column(ALARM_STATE)
    to_state: Mapped[AlarmState] = mapped_column(ALARM_STATE)
    note: Mapped[str | None] = mapped_column(Text)
    note_data: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """A system note as data (``{"key": "routed", ...}``) for the console to word in the reader's language; ``note``
    keeps the sentence for logs and API users. ``None`` for a person's own note."""

    alarm: Mapped[Alarm] = relationship(back_populates="history")


class DeadLetter(Base):
    """A message the hub refused, with a specific reason and a bounded excerpt of the raw bytes."""

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    received_at: Mapped[datetime] = mapped_column(index=True)
    topic: Mapped[str] = mapped_column(String(256))
    reason: Mapped[str] = mapped_column(String(32), index=True)
    detail: Mapped[str] = mapped_column(String(1000))
    size: Mapped[int] = mapped_column(Integer)
    excerpt: Mapped[bytes] = mapped_column(LargeBinary)
    preview: Mapped[str] = mapped_column(String(400))


class EdgeRecord(Base):
    """Per-edge counters, sequence tracking and liveness."""

    __tablename__ = "edges"

    edge: Mapped[str] = mapped_column(String(64), primary_key=True)
    events: Mapped[int] = mapped_column(BigInteger, default=0)
    readings: Mapped[int] = mapped_column(BigInteger, default=0)
    heartbeats: Mapped[int] = mapped_column(BigInteger, default=0)
    duplicates: Mapped[int] = mapped_column(BigInteger, default=0)
    seq_anomalies: Mapped[int] = mapped_column(BigInteger, default=0)
    min_seq: Mapped[int | None] = mapped_column(BigInteger)
    max_seq: Mapped[int | None] = mapped_column(BigInteger)
    last_seen_at: Mapped[datetime | None]
    status: Mapped[str | None] = mapped_column(String(16))
    status_at: Mapped[datetime | None]
    version: Mapped[str | None] = mapped_column(String(32))
    heartbeat: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class SeqGap(Base):
    """A run of sequence numbers an edge skipped; late arrivals shrink or split it."""

    __tablename__ = "seq_gaps"
    __table_args__ = (Index("ix_seq_gaps_edge", "edge", "from_seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    edge: Mapped[str] = mapped_column(String(64))
    from_seq: Mapped[int] = mapped_column(BigInteger)
    to_seq: Mapped[int] = mapped_column(BigInteger)
    detected_at: Mapped[datetime]


class Snapshot(Base):
    """A camera event's JPEG evidence, keyed by its event id (it may arrive before or after the event)."""

    __tablename__ = "snapshots"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    edge: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime]
    size: Mapped[int] = mapped_column(Integer)
    jpeg: Mapped[bytes] = mapped_column(LargeBinary)


class DeviceSeen(Base):
    """When the hub last heard from a device (a reading or an event): the patrol's stale-device list.

    Written once per supervision round from what ingest saw since (not per message); replicas each write what
    they saw, and a later time never goes back."""

    __tablename__ = "device_seen"

    device: Mapped[str] = mapped_column(String(64), primary_key=True)
    edge: Mapped[str] = mapped_column(String(64))
    last_at: Mapped[datetime]
