"""Writer to a server speaking the InfluxDB v2 write API, batched, retried, spooled on disk.

Ingest hands records to ``submit`` (never blocks). A spooler thread encodes them to line
protocol in batches and appends each batch to the on-disk spool; a sender thread posts the
oldest spooled batch through ``influxdb-client`` and deletes it only after a 2xx. A failed
write backs off exponentially (with jitter) up to ``retry_max_s`` and is retried, so an
outage costs nothing but spool space; a batch the server refuses as malformed (400, 413, 422)
is dropped, counted and logged, since sending it again would fail again.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from influxdb_client.client.influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException

from hub.timeseries.buffer import HandOff
from hub.timeseries.schema import PRECISION, SeriesRecord, to_line
from hub.timeseries.settings import TimeseriesSettings
from hub.timeseries.spool import Spool

__all__ = ["InfluxWriter"]

log = logging.getLogger(__name__)

_REFUSED: Final = frozenset({400, 413, 422})
"""Statuses meaning 'this batch will never be accepted': retrying would block the spool forever."""


class InfluxWriter:
    """Non-blocking writer of records to an InfluxDB-v2-write-API server."""

    def __init__(self, settings: TimeseriesSettings, spool_path: Path, *, token: str | None = None) -> None:
        if settings.influx_url is None:
            raise ValueError("InfluxWriter needs settings.influx_url")
        self.settings = settings
        self.url = settings.influx_url
        self._handoff: HandOff[SeriesRecord] = HandOff(settings.max_pending_points)
        self._spool = Spool(spool_path, max_points=settings.spool_max_points, max_bytes=settings.spool_max_bytes)
        self._client = InfluxDBClient(
            url=self.url,
            token=token or "",
            org=settings.influx_org,
            timeout=int(settings.request_timeout_s * 1000),
            retries=False,
        )
        self._write_api = self._client.write_api(write_options=SYNCHRONOUS)
        self._spooled = threading.Event()
        self._stop = threading.Event()
        self._spooler_done = threading.Event()
        self._lock = threading.Lock()
        self.written = 0
        self.refused = 0
        self.failures = 0
        self.last_error: str | None = None
        self.last_success: datetime | None = None
        self._down_since: float | None = None
        self._spooler = threading.Thread(target=self._spool_loop, name="timeseries-spooler", daemon=True)
        self._sender = threading.Thread(target=self._send_loop, name="timeseries-sender", daemon=True)
        self._spooler.start()
        self._sender.start()
        if self._spool.batches:
            self._spooled.set()

    def submit(self, records: Sequence[SeriesRecord]) -> None:
        """Queue records for writing; returns at once (drops and counts past the in-memory bound)."""
        if self._handoff.put(records, wake_at=self.settings.batch_size):
            log.warning("time-series hand-off full or closed: %d points dropped in all", self._handoff.dropped)

    def _spool_loop(self) -> None:
        """Move records from memory to the spool in encoded batches."""
        size = self.settings.batch_size
        try:
            while True:
                records = self._handoff.take(size, self.settings.flush_interval_s, min_items=size)
                if records:
                    lines = [line for line in map(to_line, records) if line]
                    if len(lines) < len(records):  # a record without fields encodes to nothing
                        with self._lock:
                            self.refused += len(records) - len(lines)
                    if lines:
                        self._spool.append(lines)
                    self._handoff.done()
                    self._spooled.set()
                elif self._handoff.closed:
                    return
        except Exception:  # a bug here must not die silently: the hub would stop writing
            log.exception("time-series spooler stopped")
        finally:
            self._spooler_done.set()
            self._spooled.set()

    def _send_loop(self) -> None:
        """Post spooled batches oldest first; back off while the server fails."""
        backoff = self.settings.retry_min_s
        while not self._stop.is_set():
            batch = self._spool.oldest()
            if batch is None:
                self._spooled.wait(timeout=0.5)
                self._spooled.clear()
                if self._spooler_done.is_set() and self._spool.batches == 0:
                    return
                continue
            try:
                self._write_api.write(
                    bucket=self.settings.influx_bucket,
                    org=self.settings.influx_org,
                    record=batch.body,
                    write_precision=PRECISION,
                )
            except ApiException as exc:
                if exc.status in _REFUSED:
                    self._spool.remove(batch.id)
                    with self._lock:
                        self.refused += batch.points
                    log.error(
                        "%s refused a batch of %d points (HTTP %s: %s); dropped",
                        self.url,
                        batch.points,
                        exc.status,
                        (exc.body or exc.reason or "")[:300],
                    )
                    continue
                backoff = self._failed(f"HTTP {exc.status}: {exc.reason}", backoff)
            except Exception as exc:  # connection refused, timeouts: the server is away
                backoff = self._failed(f"{type(exc).__name__}: {exc}", backoff)
            else:
                self._spool.remove(batch.id)
                with self._lock:
                    self.written += batch.points
                    self.last_success = datetime.now(UTC)
                if self._down_since is not None:
                    log.info("%s reachable again after %.1f s", self.url, time.monotonic() - self._down_since)
                    self._down_since = None
                backoff = self.settings.retry_min_s

    def _failed(self, error: str, backoff: float) -> float:
        """Record a failed attempt, wait out the back-off, return the next one."""
        with self._lock:
            self.failures += 1
            self.last_error = error
        if self._down_since is None:
            self._down_since = time.monotonic()
            log.warning("%s write failed (%s); spooling and retrying", self.url, error[:300])
        else:
            log.debug("%s write failed again (%s)", self.url, error[:300])
        self._stop.wait(backoff * random.uniform(0.8, 1.2))
        return min(backoff * 2, self.settings.retry_max_s)

    def health(self) -> dict[str, Any]:
        """Figures for the health endpoint and logs."""
        with self._lock:
            return {
                "backend": "influx",
                "url": self.url,
                "bucket": self.settings.influx_bucket,
                "reachable": self._down_since is None,
                "pending_points": len(self._handoff),
                "spooled_points": self._spool.points,
                "spooled_batches": self._spool.batches,
                "spooled_bytes": self._spool.bytes,
                "written_points": self.written,
                "dropped_points": self._handoff.dropped + self._spool.dropped + self.refused,
                "refused_points": self.refused,
                "failed_writes": self.failures,
                "last_error": self.last_error,
                "last_success": self.last_success.isoformat() if self.last_success else None,
            }

    def flush(self, timeout: float) -> bool:
        """Wait until everything submitted so far was acknowledged; False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self._handoff) == 0 and self._spool.batches == 0 and not self._spooler_busy():
                return True
            self._handoff.wake()
            time.sleep(0.02)
        return False

    def _spooler_busy(self) -> bool:
        """True while the spooler holds records taken from memory but not yet spooled."""
        return self._handoff.in_transit > 0

    def close(self, timeout: float = 5.0) -> None:
        """Stop accepting, spool what is in memory, try to send for ``timeout`` s; the rest stays on disk."""
        self._handoff.close()
        self._spooler.join(timeout=max(timeout, 1.0))
        deadline = time.monotonic() + timeout
        while self._spool.batches and time.monotonic() < deadline and self._sender.is_alive():
            time.sleep(0.05)
        self._stop.set()
        self._spooled.set()
        self._sender.join(timeout=self.settings.request_timeout_s + 1)
        if self._spool.batches:
            log.warning("%d points stay spooled in %s for the next start", self._spool.points, self._spool.path)
        self._client.close()  # type: ignore[no-untyped-call]
        self._spool.close()
