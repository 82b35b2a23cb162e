"""The interface between hub ingest and time-series storage.

Ingest hands every validated message to a ``SeriesSink``; the sink must not block the ingest loop
(it buffers and writes in the background). Backends: InfluxDB v2 write API, or the embedded store.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from compound import wire


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    """One time-series value as the query side returns it."""

    at: datetime
    value: float


class SeriesSink(Protocol):
    """Receives validated wire messages from ingest; buffers and writes them without blocking."""

    def reading(self, msg: wire.Reading) -> None:
        """A periodic device reading."""
        ...

    def event(self, msg: wire.Event) -> None:
        """An event (its measured value and state)."""
        ...

    def heartbeat(self, msg: wire.Heartbeat) -> None:
        """An edge's health figures."""
        ...

    def status(self, msg: wire.Status) -> None:
        """An edge going online or offline."""
        ...
