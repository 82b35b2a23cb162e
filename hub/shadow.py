"""Shadow mode, hub side: store the edges' shadow reports and sum them up per camera.

An edge running a candidate model beside the live one (``shadow_model:`` in vision.yaml) publishes one
``compound.wire.ShadowReport`` per episode. Ingest stores each once (``store_shadow``); ``shadow_summary``
counts, per camera and candidate, the episodes both models raised (agreements), only the candidate raised
(shadow-only: it would have held/alarmed where the live one did not) and only the live one raised
(live-only: the candidate would have missed it). Nothing here acts on a shadow verdict.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from compound import wire
from hub.db import Database, ShadowRecord, insert_ignore

__all__ = ["ShadowCameraSummary", "ShadowEpisode", "recent_episodes", "shadow_summary", "store_shadow"]


def store_shadow(session: Session, report: wire.ShadowReport, received_at: datetime) -> None:
    """Store a shadow report once (by its id)."""
    session.execute(
        insert_ignore(session, ShadowRecord).values(
            report_id=report.id,
            edge=report.edge,
            device=report.device,
            kind=report.kind.value,
            at=report.at,
            until=report.until,
            live_raised=report.live_raised,
            shadow_raised=report.shadow_raised,
            live_model=report.live_model,
            shadow_model=report.shadow_model,
            raw=report.model_dump(mode="json", by_alias=True),
            received_at=received_at,
        )
    )


class ShadowCameraSummary(BaseModel):
    """One camera's episodes under one candidate: how often the candidate agreed with the live model."""

    device: str
    shadow_model: str = Field(description="The candidate (file name and short SHA-256).")
    live_model: str = Field(description="The live model of the newest episode.")
    episodes: int
    agreements: int = Field(description="Both raised.")
    shadow_only: int = Field(description="Only the candidate would have raised (a hold/alarm the live one did not).")
    live_only: int = Field(description="Only the live model raised (the candidate would have missed it).")
    last_at: datetime


class ShadowEpisode(BaseModel):
    """One stored episode, for the console's list."""

    device: str
    kind: str
    at: datetime
    until: datetime
    live_raised: bool
    shadow_raised: bool
    shadow_model: str
    shadow_detections: list[wire.Detection] = Field(default_factory=list)


def shadow_summary(db: Database, devices: set[str] | None = None) -> list[ShadowCameraSummary]:
    """Per camera and candidate: episodes, agreements, shadow-only, live-only (``devices``: only those)."""
    stmt = select(
        ShadowRecord.device,
        ShadowRecord.shadow_model,
        ShadowRecord.live_model,
        ShadowRecord.live_raised,
        ShadowRecord.shadow_raised,
        ShadowRecord.at,
    ).order_by(ShadowRecord.at)
    if devices is not None:
        stmt = stmt.where(ShadowRecord.device.in_(sorted(devices)))
    out: dict[tuple[str, str], ShadowCameraSummary] = {}
    with db.session() as session:
        for device, shadow, live, live_raised, shadow_raised, at in session.execute(stmt):
            row = out.setdefault(
                (device, shadow),
                ShadowCameraSummary(
                    device=device,
                    shadow_model=shadow,
                    live_model=live,
                    episodes=0,
                    agreements=0,
                    shadow_only=0,
                    live_only=0,
                    last_at=at,
                ),
            )
            row.episodes += 1
            row.agreements += int(live_raised and shadow_raised)
            row.shadow_only += int(shadow_raised and not live_raised)
            row.live_only += int(live_raised and not shadow_raised)
            row.live_model, row.last_at = live, at
    return [out[k] for k in sorted(out)]


def recent_episodes(db: Database, devices: set[str] | None = None, limit: int = 50) -> list[ShadowEpisode]:
    """The newest episodes first."""
    stmt = select(ShadowRecord).order_by(ShadowRecord.at.desc()).limit(limit)
    if devices is not None:
        stmt = stmt.where(ShadowRecord.device.in_(sorted(devices)))
    with db.session() as session:
        return [
            ShadowEpisode(
                device=r.device,
                kind=r.kind,
                at=r.at,
                until=r.until,
                live_raised=r.live_raised,
                shadow_raised=r.shadow_raised,
                shadow_model=r.shadow_model,
                shadow_detections=[wire.Detection(**d) for d in r.raw.get("shadow_detections", [])],
            )
            for r in session.scalars(stmt)
        ]
