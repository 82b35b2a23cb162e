"""Reads and writes around notifications for the API: an alarm's jobs, attempts and steps; silences; photos."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import select

from hub.db import AlarmPhoto, Database, DeliveryAttempt, EscalationStep, NotificationJob, Silence

__all__ = [
    "MAX_SILENCE_S",
    "AttemptPublic",
    "JobPublic",
    "NotificationRecord",
    "SilenceCreate",
    "SilencePublic",
    "StepPublic",
    "add_photo",
    "cancel_silence",
    "create_silence",
    "list_silences",
    "notification_record",
    "photo_type",
    "start_drill",
]

MAX_SILENCE_S: Final = 7 * 86400
"""Longest silence: a week (a longer one is a config change, not a silence)."""


class _Public(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class AttemptPublic(_Public):
    at: datetime
    latency_ms: float
    ok: bool
    code: str | None
    detail: str | None
    digest: int = Field(description="Alarms the message carried (more than one: a digest).")
    hub: str


class JobPublic(_Public):
    id: int
    level: int
    repeat: int
    purpose: str = Field(description="alert, reminder, update or fallback.")
    person_id: str | None = Field(description="None for a group channel.")
    channel: str
    state: str = Field(description="pending, sending, delivered, failed, cancelled.")
    attempts: int
    created_at: datetime
    delivered_at: datetime | None
    last_code: str | None
    note: str | None
    tries: list[AttemptPublic] = Field(default_factory=list)


class StepPublic(_Public):
    action: str = Field(description="level (tell a level) or on_site (check someone is there).")
    level: int
    repeat: int
    due_at: datetime
    state: str
    taken_at: datetime | None
    taken_by: str | None
    outcome: str | None


class NotificationRecord(BaseModel):
    """Everything sent and scheduled for one alarm."""

    alarm_id: int
    jobs: list[JobPublic]
    steps: list[StepPublic]


def notification_record(db: Database, alarm_id: int) -> NotificationRecord:
    with db.session() as session:
        jobs = list(
            session.scalars(
                select(NotificationJob).where(NotificationJob.alarm_id == alarm_id).order_by(NotificationJob.id)
            )
        )
        attempts = list(
            session.scalars(
                select(DeliveryAttempt).where(DeliveryAttempt.alarm_id == alarm_id).order_by(DeliveryAttempt.id)
            )
        )
        steps = list(
            session.scalars(
                select(EscalationStep).where(EscalationStep.alarm_id == alarm_id).order_by(EscalationStep.id)
            )
        )
        by_job: dict[int, list[AttemptPublic]] = {}
        for attempt in attempts:
            by_job.setdefault(attempt.job_id, []).append(AttemptPublic.model_validate(attempt))
        out = []
        for job in jobs:
            public = JobPublic.model_validate(job)
            public.tries = by_job.get(job.id, [])
            out.append(public)
        return NotificationRecord(alarm_id=alarm_id, jobs=out, steps=[StepPublic.model_validate(s) for s in steps])


class SilenceCreate(BaseModel):
    """A silence: what it matches (empty fields match anything), when, why."""

    model_config = ConfigDict(extra="forbid")

    device: str | None = Field(default=None, max_length=64)
    building: str | None = Field(default=None, max_length=64)
    unit: str | None = Field(default=None, max_length=32)
    kind: str | None = Field(default=None, max_length=32)
    starts_at: datetime
    ends_at: datetime
    reason: str = Field(min_length=1, max_length=500)
    drill: bool = Field(default=False, description="A drill: alarms are pushed marked 演练, kept out of metrics.")

    @model_validator(mode="after")
    def _window(self) -> SilenceCreate:
        if self.starts_at.tzinfo is None or self.ends_at.tzinfo is None:
            raise ValueError("starts_at and ends_at need a time zone")
        span = (self.ends_at - self.starts_at).total_seconds()
        if span <= 0:
            raise ValueError("ends_at must be after starts_at")
        if span > MAX_SILENCE_S:
            raise ValueError(f"a silence may last at most {MAX_SILENCE_S // 86400} days")
        if not (self.device or self.building or self.kind) and not self.drill:
            raise ValueError("a silence must name a device, a building or a kind (a drill may cover everything)")
        return self


class SilencePublic(_Public):
    id: int
    device: str | None
    building: str | None
    unit: str | None
    kind: str | None
    starts_at: datetime
    ends_at: datetime
    reason: str
    author: str
    drill: bool
    created_at: datetime
    cancelled_at: datetime | None


def create_silence(db: Database, body: SilenceCreate, author: str, now: datetime) -> SilencePublic:
    with db.session() as session:
        silence = Silence(**body.model_dump(), author=author, created_at=now)
        session.add(silence)
        session.flush()
        return SilencePublic.model_validate(silence)


def start_drill(db: Database, reason: str, now: datetime) -> SilencePublic:
    """A drill over the whole compound from ``now`` for the longest silence allowed (``compound hub --drill``)."""
    body = SilenceCreate(starts_at=now, ends_at=now + timedelta(seconds=MAX_SILENCE_S), reason=reason, drill=True)
    return create_silence(db, body, "system", now)


def list_silences(db: Database, *, active_at: datetime | None = None) -> list[SilencePublic]:
    with db.session() as session:
        stmt = select(Silence).order_by(Silence.id.desc()).limit(500)
        if active_at is not None:
            stmt = stmt.where(
                Silence.starts_at <= active_at, Silence.ends_at > active_at, Silence.cancelled_at.is_(None)
            )
        return [SilencePublic.model_validate(s) for s in session.scalars(stmt)]


def cancel_silence(db: Database, silence_id: int, now: datetime) -> SilencePublic | None:
    with db.session() as session:
        silence = session.get(Silence, silence_id) if 0 < silence_id < 2**63 else None
        if silence is None:
            return None
        if silence.cancelled_at is None:
            silence.cancelled_at = now
        session.flush()
        return SilencePublic.model_validate(silence)


def photo_type(data: bytes) -> str | None:
    """``image/jpeg`` or ``image/png`` from the bytes themselves; ``None`` for anything else."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    return None


def add_photo(db: Database, alarm_id: int, person_id: str, data: bytes, content_type: str, now: datetime) -> int:
    with db.session() as session:
        photo = AlarmPhoto(
            alarm_id=alarm_id, person_id=person_id, at=now, content_type=content_type, size=len(data), data=data
        )
        session.add(photo)
        session.flush()
        return photo.id
