"""People's marks on camera alarms: *correct*, *false*, or e-bikes the detector *missed* (drawn boxes).

The console's marking buttons post here (``/api/v1/alarms/{id}/marks``). A mark is stored against the alarm's
snapshot event, so it stays tied to the picture that was judged. The newest mark of an alarm counts: a
person who changes their mind marks again. ``compound dataset export`` turns marks into a training set.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import select

from compound.config.models import Person, Role
from hub.alarms.schemas import AlarmPublic
from hub.db import AlarmMark, Database

__all__ = [
    "MARKING_ROLES",
    "MarkBox",
    "MarkPublic",
    "MarkRequest",
    "Verdict",
    "add_mark",
    "latest_marks",
    "marks_of",
    "may_mark",
]

MARKING_ROLES = frozenset({Role.PROPERTY_MANAGER})
"""Roles that may mark any camera alarm they see; others only alarms of the grids they answer for."""


class Verdict(StrEnum):
    """What a person says about a camera alarm's snapshot."""

    CORRECT = "correct"
    FALSE = "false"
    MISSED = "missed"


ClassName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$", description="Detector class, e.g. ebike.")]


class MarkBox(BaseModel):
    """An object the detector missed, drawn on the snapshot: class and box normalized to the image."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cls: ClassName
    box: tuple[float, float, float, float] = Field(description="x1, y1, x2, y2 as fractions of the image.")

    @model_validator(mode="after")
    def _inside(self) -> MarkBox:
        x1, y1, x2, y2 = self.box
        if not all(0.0 <= v <= 1.0 for v in self.box):
            raise ValueError(f"box {self.box} is outside the image: use fractions 0..1")
        if x2 - x1 < 0.005 or y2 - y1 < 0.005:
            raise ValueError(f"box {self.box} is empty or inverted: need x1 < x2 and y1 < y2")
        return self


class MarkRequest(BaseModel):
    """``POST /api/v1/alarms/{id}/marks``."""

    model_config = ConfigDict(extra="forbid")

    verdict: Verdict
    boxes: list[MarkBox] = Field(default_factory=list, max_length=32, description="Missed objects (``missed``).")

    @model_validator(mode="after")
    def _boxes(self) -> MarkRequest:
        if self.verdict is Verdict.MISSED and not self.boxes:
            raise ValueError("a 'missed' mark needs at least one box drawn around the missed object")
        if self.verdict is not Verdict.MISSED and self.boxes:
            raise ValueError(f"a '{self.verdict.value}' mark takes no boxes (boxes are for 'missed')")
        return self


class MarkPublic(BaseModel):
    """A stored mark."""

    id: int
    alarm_id: int
    event_id: str = Field(description="The snapshot's event.")
    device: str
    verdict: Verdict
    boxes: list[MarkBox]
    by: str
    at: datetime


def may_mark(person: Person, alarm: AlarmPublic, own_grids: frozenset[str]) -> bool:
    """Managers mark any alarm they see; grid workers those in (or under) the grids they answer for."""
    return person.role in MARKING_ROLES or alarm.grid in own_grids or person.id in alarm.assignees


def add_mark(db: Database, alarm_id: int, event_id: str, device: str, request: MarkRequest, by: str) -> MarkPublic:
    """Store a mark on the alarm's snapshot event."""
    row = AlarmMark(
        alarm_id=alarm_id,
        event_id=event_id,
        device=device,
        verdict=request.verdict.value,
        boxes=[b.model_dump(mode="json") for b in request.boxes],
        by=by,
        at=datetime.now(UTC),
    )
    with db.session() as session:
        session.add(row)
        session.flush()
        return _public(row)


def marks_of(db: Database, alarm_id: int | None = None) -> list[MarkPublic]:
    """Marks of one alarm (or all), oldest first."""
    stmt = select(AlarmMark).order_by(AlarmMark.id)
    if alarm_id is not None:
        stmt = stmt.where(AlarmMark.alarm_id == alarm_id)
    with db.session() as session:
        return [_public(r) for r in session.scalars(stmt)]


def latest_marks(db: Database) -> list[MarkPublic]:
    """The newest mark of each marked alarm, by alarm id."""
    latest: dict[int, MarkPublic] = {}
    for mark in marks_of(db):
        latest[mark.alarm_id] = mark
    return [latest[k] for k in sorted(latest)]


def _public(row: AlarmMark) -> MarkPublic:
    return MarkPublic(
        id=row.id,
        alarm_id=row.alarm_id,
        event_id=row.event_id,
        device=row.device,
        verdict=Verdict(row.verdict),
        boxes=[MarkBox.model_validate(b) for b in row.boxes or []],
        by=row.by,
        at=row.at,
    )
