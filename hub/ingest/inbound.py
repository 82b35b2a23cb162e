"""``Inbound``: one message as the transport received it, the unit every later part of ingest works on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["Inbound"]


@dataclass(frozen=True, slots=True)
class Inbound:
    """A message as received: topic, raw bytes, receipt time, and what is needed to ack it."""

    topic: str
    payload: bytes
    received_at: datetime
    """The hub clock's reading at receipt (``Clock.now``): the reference for the timestamp bounds."""
    mid: int = 0
    qos: int = 0
    generation: int = 0
