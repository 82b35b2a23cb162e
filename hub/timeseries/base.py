"""The interface between hub ingest and time-series storage.

Ingest hands every validated message to a ``SeriesSink``; the sink must not block the ingest loop
(it buffers and writes in the background). Backends: InfluxDB v2 write API, or the embedded store.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from compound import wire

if TYPE_CHECKING:
    from hub.timeseries.schema import SeriesRecord


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


class SeriesReader(Protocol):
    """The query side the console uses, whatever stores the long-term series."""

    def quantities(self, device: str) -> list[str]:
        """Quantities recorded for a device, most recently reported first."""
        ...

    def series(
        self,
        device: str,
        quantity: str | None,
        start: datetime,
        end: datetime,
        max_points: int = 500,
    ) -> list[SeriesPoint]:
        """Points of one device's quantity (None: its main one) in [start, end], downsampled to ``max_points``."""
        ...


class RecordWriter(Protocol):
    """A storage backend behind the sink: takes mapped records without blocking."""

    def submit(self, records: Sequence[SeriesRecord]) -> None:
        """Queue records; return at once."""
        ...

    def health(self) -> dict[str, Any]:
        """Figures for the health endpoint (pending, written, dropped...)."""
        ...

    def flush(self, timeout: float) -> bool:
        """Wait until everything submitted was stored; False on timeout."""
        ...

    def close(self, timeout: float = 5.0) -> None:
        """Write what can be written within ``timeout`` and stop."""
        ...
