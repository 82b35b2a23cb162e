"""The ``SeriesSink`` ingest calls: maps each message once and hands the records to every backend."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TypeVar

from compound import wire
from hub.timeseries.base import RecordWriter
from hub.timeseries.schema import SeriesMapper, SeriesRecord

__all__ = ["MappedSink"]

log = logging.getLogger(__name__)

M = TypeVar("M", wire.Reading, wire.Event, wire.Heartbeat, wire.Status)


class MappedSink:
    """Implements ``SeriesSink``: never raises into ingest, never blocks (backends queue)."""

    def __init__(self, mapper: SeriesMapper, writers: Sequence[RecordWriter]) -> None:
        self.mapper = mapper
        self.writers = tuple(writers)

    def _write(self, mapping: Callable[[M], list[SeriesRecord]], msg: M) -> None:
        try:
            records = mapping(msg)
        except Exception:  # a mapping bug must not take the ingest loop down
            event_id = getattr(msg, "id", None)
            log.exception("could not map %s from %s to time series", msg.type, msg.edge, extra={"event_id": event_id})
            return
        for writer in self.writers:
            try:
                writer.submit(records)
            except Exception:
                log.exception("time-series backend %s refused %d records", type(writer).__name__, len(records))

    def reading(self, msg: wire.Reading) -> None:
        """A periodic device reading."""
        self._write(self.mapper.reading, msg)

    def event(self, msg: wire.Event) -> None:
        """An event (its measured value and state)."""
        self._write(self.mapper.event, msg)

    def heartbeat(self, msg: wire.Heartbeat) -> None:
        """An edge's health figures."""
        self._write(self.mapper.heartbeat, msg)

    def status(self, msg: wire.Status) -> None:
        """An edge going online or offline."""
        self._write(self.mapper.status, msg)
