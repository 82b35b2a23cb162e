"""The embedded time-series store: recent readings in SQLite, pruned to a bounded retention.

It serves the console's charts whether or not an InfluxDB is configured (it is the console's
recent cache; the long-term series live in InfluxDB/VictoriaMetrics for Grafana). Writes go
through a background thread, so ``submit`` never blocks ingest. One row per
(device, quantity, millisecond): a message delivered twice is stored once.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from compound.clock import Clock, WallClock
from hub.timeseries.base import SeriesPoint
from hub.timeseries.buffer import HandOff
from hub.timeseries.schema import READING, SeriesRecord

__all__ = ["EmbeddedStore"]

log = logging.getLogger(__name__)

_SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS samples (
        device TEXT NOT NULL,
        quantity TEXT NOT NULL,
        at_ms INTEGER NOT NULL,
        value REAL NOT NULL,
        PRIMARY KEY (device, quantity, at_ms)
    ) WITHOUT ROWID
    """,
    "CREATE INDEX IF NOT EXISTS samples_at ON samples (at_ms)",
)

_BATCH = 2000


def _ms(at: datetime) -> int:
    """Unix milliseconds (naive means UTC)."""
    aware = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    return int((aware - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(milliseconds=1))


def _at(ms: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)


class EmbeddedStore:
    """SQLite store of readings with a non-blocking writer and a ``SeriesReader`` query side."""

    def __init__(
        self,
        path: Path,
        *,
        retention: timedelta = timedelta(days=7),
        prune_interval_s: float = 300.0,
        max_pending_points: int = 200_000,
        flush_interval_s: float = 0.5,
        clock: Clock | None = None,
    ) -> None:
        if retention <= timedelta(0):
            raise ValueError(f"retention must be positive, got {retention}")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.retention = retention
        self.prune_interval_s = prune_interval_s
        self.flush_interval_s = flush_interval_s
        self.clock: Clock = clock or WallClock()
        self.stored = 0
        self.pruned = 0
        self._handoff: HandOff[tuple[str, str, int, float]] = HandOff(max_pending_points)
        self._db_lock = threading.Lock()
        self._db = self._connect()
        for statement in _SCHEMA:
            self._db.execute(statement)
        self._thread = threading.Thread(target=self._run, name="timeseries-embedded", daemon=True)
        self._thread.start()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=10)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        return db

    # -- write side -------------------------------------------------------------------------

    def submit(self, records: Sequence[SeriesRecord]) -> None:
        """Queue the readings among ``records``; returns at once."""
        rows = [
            (r.tags["device"], r.tags["quantity"], r.at_ms, float(r.fields["value"]))
            for r in records
            if r.measurement == READING and "device" in r.tags and "quantity" in r.tags and "value" in r.fields
        ]
        if rows and self._handoff.put(rows, wake_at=_BATCH):
            log.warning("embedded time-series hand-off full: %d points dropped in all", self._handoff.dropped)

    def _run(self) -> None:
        next_prune = time.monotonic()
        while True:
            rows = self._handoff.take(_BATCH, self.flush_interval_s, min_items=_BATCH)
            try:
                if rows:
                    self._store(rows)
                if time.monotonic() >= next_prune:
                    self.prune()
                    next_prune = time.monotonic() + self.prune_interval_s
            except sqlite3.Error:
                log.exception("embedded time-series store failed to write %d points", len(rows))
            finally:
                self._handoff.done()
            if not rows and self._handoff.closed:
                return

    def _store(self, rows: list[tuple[str, str, int, float]]) -> None:
        with self._db_lock:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO samples VALUES (?, ?, ?, ?)", rows)
            self._db.execute("COMMIT")
        self.stored += len(rows)

    def prune(self, now: datetime | None = None) -> int:
        """Delete samples older than the retention (relative to the clock); return how many."""
        cutoff = _ms((now or self.clock.now()) - self.retention)
        with self._db_lock:
            deleted = self._db.execute("DELETE FROM samples WHERE at_ms < ?", (cutoff,)).rowcount
        if deleted:
            self.pruned += deleted
            log.info("embedded time-series store pruned %d samples older than %s", deleted, _at(cutoff).isoformat())
        return deleted

    def flush(self, timeout: float) -> bool:
        """Wait until everything submitted so far is stored; False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self._handoff) == 0 and self._handoff.in_transit == 0:
                return True
            self._handoff.wake()
            time.sleep(0.01)
        return False

    def health(self) -> dict[str, Any]:
        """Figures for the health endpoint."""
        return {
            "backend": "embedded",
            "path": str(self.path),
            "retention_days": self.retention / timedelta(days=1),
            "pending_points": len(self._handoff),
            "stored_points": self.stored,
            "pruned_points": self.pruned,
            "dropped_points": self._handoff.dropped,
        }

    def close(self, timeout: float = 5.0) -> None:
        """Store what is pending, then stop."""
        self._handoff.close()
        self._thread.join(timeout=timeout)
        with self._db_lock:
            self._db.close()

    # -- query side (SeriesReader) ----------------------------------------------------------

    def quantities(self, device: str) -> list[str]:
        """Quantities recorded for a device, most recently reported first."""
        with self._db_lock:
            rows = self._db.execute(
                "SELECT quantity FROM samples WHERE device = ? GROUP BY quantity ORDER BY MAX(at_ms) DESC", (device,)
            ).fetchall()
        return [str(r[0]) for r in rows]

    def series(
        self,
        device: str,
        quantity: str | None,
        start: datetime,
        end: datetime,
        max_points: int = 500,
    ) -> list[SeriesPoint]:
        """Points of one device's quantity in [start, end], min/max-downsampled to ``max_points``.

        ``quantity`` None picks the device's main quantity (its most recent one other than battery).
        Downsampling keeps each bucket's lowest and highest sample at their own times, so a short
        spike stays visible however long the window.
        """
        if end <= start:
            raise ValueError(f"end ({end.isoformat()}) must be after start ({start.isoformat()})")
        if max_points < 2:
            raise ValueError(f"max_points must be at least 2, got {max_points}")
        if quantity is None:
            known = self.quantities(device)
            main = [q for q in known if q != "battery"] or known
            if not main:
                return []
            quantity = main[0]
        lo, hi = _ms(start), _ms(end)
        key = (device, quantity, lo, hi)
        window = "FROM samples WHERE device = ? AND quantity = ? AND at_ms BETWEEN ? AND ?"
        with self._db_lock:
            count = int(self._db.execute(f"SELECT COUNT(*) {window}", key).fetchone()[0])
            if count <= max_points:
                rows = self._db.execute(f"SELECT at_ms, value {window} ORDER BY at_ms", key).fetchall()
            else:
                buckets = max_points // 2
                width = -(-(hi - lo + 1) // buckets)
                # SQLite: with one MIN()/MAX() aggregate, the bare column comes from that row.
                rows = []
                for agg in ("MIN", "MAX"):
                    rows += self._db.execute(
                        f"SELECT at_ms, {agg}(value) {window} GROUP BY (at_ms - ?) / ?", (*key, lo, width)
                    ).fetchall()
        points = sorted({int(at): float(value) for at, value in rows}.items())
        return [SeriesPoint(_at(at), value) for at, value in points]
