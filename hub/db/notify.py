"""Notification and escalation rows: written in the same transaction as their cause, so a crash loses none.

- ``NotificationJob``: one message to send (an alarm, a level and repeat, a person or a group, a channel) —
  the hub-side outbox. ``job_key`` is unique: the same step can never write the same job twice.
- ``DeliveryAttempt``: every try of a job, with the platform's code and the latency.
- ``EscalationStep``: a timer as a row (``due_at``), taken by exactly one hub (a conditional update of
  ``state``; ``FOR UPDATE SKIP LOCKED`` on PostgreSQL so replicas do not queue on each other).
- ``Incident``: alarms of one place within a window; the lead alarm carries the escalation.
- ``Silence``: a window in which matching alarms are stored and shown but not pushed (never fire or gas), or,
  marked ``drill``, pushed marked 演练 and kept out of the response metrics.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Float, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub.db.base import Base

__all__ = [
    "AlarmPhoto",
    "DeliveryAttempt",
    "EscalationStep",
    "Incident",
    "JobState",
    "NotificationJob",
    "Silence",
    "StepState",
]


class JobState(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    """Claimed by a dispatcher until ``lease_until``; a crashed dispatcher's claim expires and it is sent again."""
    DELIVERED = "delivered"
    FAILED = "failed"
    """Every attempt failed (or a permanent error): the person's fallback channel got a job."""
    CANCELLED = "cancelled"
    """The alarm was acknowledged or resolved before it went."""


class StepState(StrEnum):
    PENDING = "pending"
    DONE = "done"
    CANCELLED = "cancelled"


class NotificationJob(Base):
    """One message to deliver."""

    __tablename__ = "notification_jobs"
    __table_args__ = (Index("ix_jobs_due", "state", "due_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_key: Mapped[str] = mapped_column(String(200), unique=True)
    alarm_id: Mapped[int] = mapped_column(ForeignKey("alarms.id"), index=True)
    level: Mapped[int] = mapped_column(Integer)
    repeat: Mapped[int] = mapped_column(Integer, default=0)
    purpose: Mapped[str] = mapped_column(String(16))
    """alert (a level's first message), reminder (a repeat), update (an incident grew), fallback."""
    person_id: Mapped[str | None] = mapped_column(String(64), index=True)
    channel: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default=JobState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    due_at: Mapped[datetime]
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    digest_of: Mapped[int | None] = mapped_column(Integer)
    """Sent merged into the digest message of this job id (the channel was over its rate limit)."""
    last_code: Mapped[str | None] = mapped_column(String(32))
    last_detail: Mapped[str | None] = mapped_column(String(300))
    note: Mapped[str | None] = mapped_column(String(300))
    """Why this job exists ("60 秒内无人确认" / "fallback after wecom failed")."""


class DeliveryAttempt(Base):
    """One try of one job."""

    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("notification_jobs.id"), index=True)
    alarm_id: Mapped[int] = mapped_column(Integer, index=True)
    channel: Mapped[str] = mapped_column(String(64))
    person_id: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime]
    latency_ms: Mapped[float] = mapped_column(Float)
    ok: Mapped[bool]
    code: Mapped[str | None] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(String(300))
    digest: Mapped[int] = mapped_column(Integer, default=1)
    """How many alarms the message carried (more than one: a digest)."""
    hub: Mapped[str] = mapped_column(String(64))


class EscalationStep(Base):
    """A timer: at ``due_at``, tell ``level`` (``repeat``), or check that someone is on site."""

    __tablename__ = "escalation_steps"
    __table_args__ = (Index("ix_steps_due", "state", "due_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alarm_id: Mapped[int] = mapped_column(ForeignKey("alarms.id"), index=True)
    action: Mapped[str] = mapped_column(String(16))
    """level: tell a level (or remind it); on_site: check someone is on site."""
    level: Mapped[int] = mapped_column(Integer)
    repeat: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16), default=StepState.PENDING)
    created_at: Mapped[datetime]
    taken_at: Mapped[datetime | None]
    taken_by: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str | None] = mapped_column(String(300))


class Incident(Base):
    """Alarms of one place close in time: one notification stream, its severity raised when detectors agree."""

    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    place_key: Mapped[str] = mapped_column(String(200), index=True)
    lead_alarm_id: Mapped[int] = mapped_column(Integer)
    severity: Mapped[str] = mapped_column(String(16))
    """info < warning < critical < major (two or more detectors agree on a critical hazard)."""
    alarms: Mapped[int] = mapped_column(Integer, default=1)
    opened_at: Mapped[datetime]
    last_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]


class Silence(Base):
    """Matching alarms (device, building/unit, kind; empty: any) are not pushed between ``starts_at`` and
    ``ends_at`` — fire and gas excepted. A drill silence pushes them marked 演练 instead."""

    __tablename__ = "silences"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device: Mapped[str | None] = mapped_column(String(64))
    building: Mapped[str | None] = mapped_column(String(64))
    unit: Mapped[str | None] = mapped_column(String(32))
    kind: Mapped[str | None] = mapped_column(String(32))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(64))
    drill: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime]
    cancelled_at: Mapped[datetime | None]


class AlarmPhoto(Base):
    """A photo taken on site (JPEG or PNG, checked by its bytes, at most ``MAX_PHOTO_BYTES``)."""

    __tablename__ = "alarm_photos"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alarm_id: Mapped[int] = mapped_column(ForeignKey("alarms.id"), index=True)
    person_id: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]
    content_type: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
