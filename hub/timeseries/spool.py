"""An on-disk FIFO of line-protocol batches (SQLite), bounded in points and bytes.

A batch enters the spool before it is sent and leaves only once the server acknowledged it, so a
server outage or a hub restart loses nothing. Past the bounds the oldest batches are evicted and
their points counted as dropped.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Spool", "SpooledBatch"]

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    points INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    body BLOB NOT NULL
)
"""


@dataclass(frozen=True, slots=True)
class SpooledBatch:
    """One batch waiting for the server: newline-joined line protocol."""

    id: int
    points: int
    body: bytes


class Spool:
    """Thread-safe SQLite spool; one connection guarded by a lock (operations are short)."""

    def __init__(self, path: Path, *, max_points: int, max_bytes: int) -> None:
        if max_points < 1 or max_bytes < 1:
            raise ValueError(f"spool bounds must be positive (max_points={max_points}, max_bytes={max_bytes})")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_points = max_points
        self.max_bytes = max_bytes
        self.dropped = 0
        self._lock = threading.Lock()
        self._inflight: int | None = None
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)
        row = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(points), 0), COALESCE(SUM(bytes), 0) FROM batches"
        ).fetchone()
        self.batches, self.points, self.bytes = int(row[0]), int(row[1]), int(row[2])
        if self.batches:
            log.info("spool %s holds %d points in %d batches from before", path, self.points, self.batches)

    def append(self, lines: list[str]) -> int:
        """Store a batch; evict the oldest batches past the bounds; return points dropped."""
        body = "\n".join(lines).encode()
        points = len(lines)
        dropped = 0
        with self._lock:
            if points > self.max_points or len(body) > self.max_bytes:
                self.dropped += points
                log.warning("dropped a batch of %d points larger than the spool bounds", points)
                return points
            while self.points + points > self.max_points or self.bytes + len(body) > self.max_bytes:
                victim = self._db.execute(
                    "SELECT id, points, bytes FROM batches WHERE id != ? ORDER BY id LIMIT 1", (self._inflight or -1,)
                ).fetchone()
                if victim is None:
                    break
                self._db.execute("DELETE FROM batches WHERE id = ?", (victim[0],))
                self._forget(int(victim[1]), int(victim[2]))
                dropped += int(victim[1])
            self._db.execute("INSERT INTO batches (points, bytes, body) VALUES (?, ?, ?)", (points, len(body), body))
            self.batches += 1
            self.points += points
            self.bytes += len(body)
            self.dropped += dropped
        if dropped:
            log.warning(
                "spool full (%d points, %d bytes max): dropped %d oldest points, %d dropped in all",
                self.max_points,
                self.max_bytes,
                dropped,
                self.dropped,
            )
        return dropped

    def oldest(self) -> SpooledBatch | None:
        """The oldest batch, marked in flight so that eviction spares it; None when empty."""
        with self._lock:
            row = self._db.execute("SELECT id, points, body FROM batches ORDER BY id LIMIT 1").fetchone()
            if row is None:
                self._inflight = None
                return None
            self._inflight = int(row[0])
            return SpooledBatch(int(row[0]), int(row[1]), bytes(row[2]))

    def remove(self, batch_id: int) -> None:
        """Delete a batch the server acknowledged (or refused for good)."""
        with self._lock:
            row = self._db.execute("DELETE FROM batches WHERE id = ? RETURNING points, bytes", (batch_id,)).fetchone()
            if row is not None:
                self._forget(int(row[0]), int(row[1]))
            if self._inflight == batch_id:
                self._inflight = None

    def _forget(self, points: int, size: int) -> None:
        self.batches -= 1
        self.points -= points
        self.bytes -= size

    def close(self) -> None:
        """Close the database; batches stay on disk for the next start."""
        with self._lock:
            self._db.close()
