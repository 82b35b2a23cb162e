"""Learning from the compound's own cameras: people's marks on camera alarms, and shadow-model reports.

A mark says whether a camera alarm was right (``correct``), wrong (``false``), or that its snapshot shows
e-bikes the detector missed (``missed``, with boxes drawn by the person). Marks are the dataset that
``compound dataset export`` writes for fine-tuning. A shadow report is one episode of a camera seen by the
live model and a candidate side by side (``compound.wire.ShadowReport``), stored as it arrived.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from hub.db.base import Base

__all__ = ["AlarmMark", "ShadowRecord"]


class AlarmMark(Base):
    """One person's verdict on a camera alarm's snapshot; the newest mark of an alarm is the one that counts."""

    __tablename__ = "alarm_marks"
    __table_args__ = (Index("ix_alarm_marks_alarm", "alarm_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alarm_id: Mapped[int] = mapped_column(Integer)
    event_id: Mapped[str] = mapped_column(String(64))
    """The event whose snapshot was marked (the alarm's snapshot then)."""
    device: Mapped[str] = mapped_column(String(64))
    verdict: Mapped[str] = mapped_column(String(16))
    """``correct``, ``false`` or ``missed``."""
    boxes: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    """Missed objects drawn by the person: ``{"cls", "box": [x1, y1, x2, y2]}`` normalized to the image."""
    by: Mapped[str] = mapped_column(String(80))
    at: Mapped[datetime]


class ShadowRecord(Base):
    """A shadow report from an edge (``compound.wire.ShadowReport``), stored once by its id."""

    __tablename__ = "shadow_reports"
    __table_args__ = (Index("ix_shadow_reports_device", "device", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[str] = mapped_column(String(64), unique=True)
    edge: Mapped[str] = mapped_column(String(64))
    device: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime]
    until: Mapped[datetime]
    live_raised: Mapped[bool] = mapped_column(Boolean)
    shadow_raised: Mapped[bool] = mapped_column(Boolean)
    live_model: Mapped[str] = mapped_column(String(128))
    shadow_model: Mapped[str] = mapped_column(String(128))
    raw: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime]
