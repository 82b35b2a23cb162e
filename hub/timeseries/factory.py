"""Builds the hub's time series from settings: the embedded store always, InfluxDB when configured.

Query side: the console always reads the embedded store. With an InfluxDB configured every record
is written to both (dual write): the embedded store is the console's recent cache (7 days), the
server holds the long-term series for Grafana. Why not read the server back: the write API is the
one thing InfluxDB 2, InfluxDB 3 and VictoriaMetrics share (their query languages differ: Flux,
SQL/InfluxQL, MetricsQL), and the console keeps its charts through a server outage.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from compound.clock import Clock
from compound.config import Compound
from hub.timeseries.base import RecordWriter, SeriesReader, SeriesSink
from hub.timeseries.embedded import EmbeddedStore
from hub.timeseries.influx import InfluxWriter
from hub.timeseries.schema import DeviceLocation, SeriesMapper
from hub.timeseries.settings import TOKEN_ENV, TimeseriesSettings
from hub.timeseries.sink import MappedSink

__all__ = ["EMBEDDED_FILE", "SPOOL_FILE", "TimeSeries", "mapper_for", "open_timeseries"]

log = logging.getLogger(__name__)

EMBEDDED_FILE = "timeseries.sqlite3"
SPOOL_FILE = "timeseries-spool.sqlite3"


@dataclass(frozen=True, slots=True)
class TimeSeries:
    """What the hub holds: the sink for ingest, the reader for the console, the backends."""

    sink: SeriesSink
    reader: SeriesReader
    store: EmbeddedStore
    influx: InfluxWriter | None

    @property
    def writers(self) -> tuple[RecordWriter, ...]:
        """Every backend the sink writes to."""
        return (self.store,) if self.influx is None else (self.store, self.influx)

    def health(self) -> dict[str, Any]:
        """Summary (spool depth, dropped points, last error) and every backend; not ``ok`` while the server is down."""
        embedded = self.store.health()
        influx = self.influx.health() if self.influx else None
        return {
            "ok": influx is None or bool(influx["reachable"]),
            "backends": ["embedded"] if influx is None else ["embedded", "influx"],
            "spooled_points": influx["spooled_points"] if influx else 0,
            "dropped_points": embedded["dropped_points"] + (influx["dropped_points"] if influx else 0),
            "last_error": influx["last_error"] if influx else None,
            "embedded": embedded,
            "influx": influx,
        }

    def flush(self, timeout: float) -> bool:
        """Wait until every backend stored what it was given; False on timeout."""
        return all(writer.flush(timeout) for writer in self.writers)

    def close(self, timeout: float = 5.0) -> None:
        """Stop every backend; unsent InfluxDB batches stay spooled on disk."""
        for writer in self.writers:
            writer.close(timeout)


def mapper_for(compound: Compound | None) -> SeriesMapper:
    """A mapper that tags readings with their place from the config (when given)."""
    if compound is None:
        return SeriesMapper()
    devices = compound.devices

    def locate(device_id: str) -> DeviceLocation | None:
        device = devices.get(device_id)
        return None if device is None else DeviceLocation(device.building, device.unit, device.flat)

    return SeriesMapper(locate=locate)


def open_timeseries(
    settings: TimeseriesSettings,
    data_dir: Path,
    *,
    compound: Compound | None = None,
    clock: Clock | None = None,
    env: Mapping[str, str] | None = None,
) -> TimeSeries:
    """Open the embedded store in ``data_dir`` and, with ``settings.influx_url``, the InfluxDB writer."""
    store = EmbeddedStore(
        data_dir / EMBEDDED_FILE,
        retention=timedelta(days=settings.retention_days),
        prune_interval_s=settings.prune_interval_s,
        max_pending_points=settings.max_pending_points,
        clock=clock,
    )
    influx = None
    if settings.influx_url is not None:
        token = (os.environ if env is None else env).get(TOKEN_ENV)
        if not token:
            log.info("%s is not set: writing to %s without a token", TOKEN_ENV, settings.influx_url)
        influx = InfluxWriter(settings, data_dir / SPOOL_FILE, token=token)
        log.info("time series: embedded store + %s (bucket %s)", settings.influx_url, settings.influx_bucket)
    else:
        log.info("time series: embedded store only (%s)", store.path)
    sink = MappedSink(mapper_for(compound), (store,) if influx is None else (store, influx))
    return TimeSeries(sink=sink, reader=store, store=store, influx=influx)
