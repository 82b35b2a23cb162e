"""Public shapes of alarms, their history and events, dead letters and live changes (API and push)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from hub.alarm_states import AlarmState

if TYPE_CHECKING:
    from hub.db import EventRecord

__all__ = [
    "AlarmChange",
    "AlarmDetail",
    "AlarmPublic",
    "AlarmState",
    "Assignee",
    "DeadLetterPublic",
    "EventPublic",
    "HistoryEntry",
    "Location",
]


class _Public(BaseModel):
    model_config = ConfigDict(frozen=True, from_attributes=True)


class Location(_Public):
    """Where the alarm's device is."""

    building: str
    unit: str | None = None
    floor: int | None = None
    flat: str | None = None
    place: str | None = None


class Assignee(_Public):
    """A person the alarm was routed to and why."""

    person: str = Field(description="Person id from the config.")
    role: str = Field(description="Role they were picked for.")
    reason: str = Field(default="", description="Roster match or fallback explanation.")


class AlarmPublic(_Public):
    """An alarm as the console list and the API show it."""

    id: int
    kind: str
    severity: str
    state: AlarmState
    device: str
    location: Location
    grid: str = Field(description="Micro-grid (or dedicated / general grid) responsible for the place.")
    assignees: list[str] = Field(description="Person ids the alarm was routed to.")
    raised_at: datetime
    notified_at: datetime | None = None
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    on_my_way_at: datetime | None = None
    on_site_at: datetime | None = None
    incident_id: int | None = Field(default=None, description="The incident (place and time) the alarm belongs to.")
    escalation_level: int | None = Field(default=None, description="Escalation level reached (0: routed people).")
    policy: str | None = Field(default=None, description="Its escalation policy (None: in an incident, or silenced).")
    next_step_at: datetime | None = Field(default=None, description="When the next escalation step is due.")
    flapping: bool = False
    silenced_by: int | None = Field(default=None, description="The silence that kept it from being pushed.")
    drill: bool = Field(default=False, description="A drill (演练): pushed marked so, kept out of metrics.")
    cleared_at: datetime | None = Field(
        default=None, description="When the device reported the condition gone; the alarm stays open until resolved."
    )
    value: float | None = None
    unit: str | None = None
    threshold: float | None = None
    message: str | None = None
    edge: str
    updated_at: datetime


class HistoryEntry(_Public):
    """One audit-trail step."""

    at: datetime
    actor: str = Field(description="Person id, 'system', or 'edge:<id>' for device-driven steps.")
    action: str = Field(description="raise, notify, update, clear, acknowledge, resolve.")
    from_state: AlarmState | None
    to_state: AlarmState
    note: str | None = None
    note_data: dict[str, Any] | None = Field(
        default=None, description="A system note as data ({'key': …}): the console words it in the reader's language."
    )


class EventPublic(_Public):
    """An event that raised, updated or cleared an alarm."""

    id: str = Field(description="Event id (idempotency key).")
    seq: int
    kind: str | None = Field(default=None, description="The event's kind (the console words its message from it).")
    state: str
    severity: str
    value: float | None = None
    unit: str | None = None
    threshold: float | None = None
    message: str | None = Field(default=None, description="The edge's own text (English): for logs and API users.")
    occurred_at: datetime
    received_at: datetime

    @classmethod
    def of(cls, record: EventRecord) -> EventPublic:
        """The public shape of a stored event row."""
        return cls(
            id=record.event_id,
            seq=record.seq,
            kind=record.kind,
            state=record.state,
            severity=record.severity,
            value=record.value,
            unit=record.unit,
            threshold=record.threshold,
            message=record.message,
            occurred_at=record.occurred_at,
            received_at=record.received_at,
        )


class AlarmDetail(AlarmPublic):
    """An alarm with its audit trail, events and routing decision."""

    history: list[HistoryEntry]
    events: list[EventPublic]
    routing: dict[str, Any] = Field(default_factory=dict, description="The stored routing decision.")
    assigned: list[Assignee] = Field(default_factory=list, description="Assignees with roles and reasons.")


class DeadLetterPublic(_Public):
    """A refused message: why, from which topic, and a printable preview of its first bytes."""

    id: int
    received_at: datetime
    topic: str
    reason: str
    detail: str
    size: int = Field(description="Payload size in bytes.")
    preview: str = Field(description="Printable preview of the payload's first bytes.")


class AlarmChange(_Public):
    """A live change pushed to consoles: the alarm after the change and what happened."""

    alarm: AlarmPublic
    change: str = Field(description="raised, notified, updated, cleared, acknowledged, on_my_way, on_site, resolved.")
