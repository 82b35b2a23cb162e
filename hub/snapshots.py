"""Camera evidence of an alarm: the JPEG snapshot and the detections of the events that raised or updated it.

Ingest stores a snapshot under its event id (table ``snapshots``) whether the event is there yet or not;
an alarm finds its snapshot through its events, so the order of arrival does not matter.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import select

from hub.db import Database, EventRecord, Snapshot

__all__ = ["DetectionView", "EvidenceView", "SnapshotInfo", "evidence", "latest_snapshot"]


class DetectionView(BaseModel):
    """One detection that made the edge raise or update the alarm."""

    cls: str = Field(description="Object class, e.g. ebike.")
    score: float = Field(description="Detector score 0..1.")
    box: tuple[float, float, float, float] = Field(description="Normalized x1, y1, x2, y2.")
    track_id: int | None = None
    event_id: str = Field(description="The event that carried it.")


class SnapshotInfo(BaseModel):
    """Where the alarm's JPEG is and what it is."""

    event_id: str
    url: str
    size: int
    received_at: datetime


class EvidenceView(BaseModel):
    """An alarm's camera evidence; both parts empty for sensor alarms (or before the JPEG arrived)."""

    snapshot: SnapshotInfo | None = None
    detections: list[DetectionView] = Field(default_factory=list)


def latest_snapshot(db: Database, event_ids: Sequence[str]) -> Snapshot | None:
    """The newest snapshot belonging to any of ``event_ids``."""
    if not event_ids:
        return None
    stmt = select(Snapshot).where(Snapshot.event_id.in_(list(event_ids))).order_by(Snapshot.received_at.desc())
    with db.session() as session:
        return session.scalars(stmt.limit(1)).first()


def evidence(db: Database, alarm_id: int, event_ids: Sequence[str]) -> EvidenceView:
    """The snapshot (metadata) and the detections of the alarm's newest event that has either."""
    if not event_ids:
        return EvidenceView()
    stmt = (
        select(Snapshot.event_id, Snapshot.size, Snapshot.received_at)
        .where(Snapshot.event_id.in_(list(event_ids)))
        .order_by(Snapshot.received_at.desc())
        .limit(1)
    )
    events = select(EventRecord.event_id, EventRecord.raw).where(EventRecord.event_id.in_(list(event_ids)))
    with db.session() as session:
        snap = session.execute(stmt).first()
        raws = {event_id: raw for event_id, raw in session.execute(events.order_by(EventRecord.occurred_at.desc()))}
    info = None
    if snap is not None:
        info = SnapshotInfo(
            event_id=snap.event_id,
            url=f"/api/v1/alarms/{alarm_id}/snapshot",
            size=snap.size,
            received_at=snap.received_at,
        )
    # The detections of the snapshot's event when it is stored, else of the newest event that has some.
    order = ([info.event_id] if info is not None else []) + list(raws)
    for event_id in order:
        dets = _detections(raws.get(event_id), event_id)
        if dets:
            return EvidenceView(snapshot=info, detections=dets)
    return EvidenceView(snapshot=info)


def _detections(raw: dict[str, Any] | None, event_id: str) -> list[DetectionView]:
    found = ((raw or {}).get("evidence") or {}).get("detections") or []
    return [DetectionView(event_id=event_id, **d) for d in found if isinstance(d, dict)]
