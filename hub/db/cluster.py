"""``Leadership``: which cluster-wide jobs this hub replica leads, so that each runs once however many replicas.

On PostgreSQL a job is led by whichever replica holds its session-level advisory lock, taken with
``pg_try_advisory_lock`` on one connection kept for the purpose: when that replica dies its connection closes,
PostgreSQL releases the lock, and the next replica that asks takes it over (at its next round). On SQLite there
is one hub process: it leads everything.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import Connection, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

__all__ = ["Leadership"]

log = logging.getLogger(__name__)

_TRY_LOCK = text("SELECT pg_try_advisory_lock(hashtextextended(:name, 0))")


class Leadership:
    """Advisory-lock leadership per job name; ``leads(job)`` is cheap to call before every round."""

    def __init__(self, engine: Engine, *, prefix: str = "compound-hub") -> None:
        self.engine = engine
        self.prefix = prefix
        self._connection: Connection | None = None
        self._held: set[str] = set()
        self._lock = threading.Lock()

    @property
    def held(self) -> frozenset[str]:
        """The jobs this replica leads now."""
        with self._lock:
            return frozenset(self._held)

    def leads(self, job: str) -> bool:
        """Whether this replica runs ``job`` now: it holds the job's lock, or has just taken it."""
        if self.engine.dialect.name != "postgresql":
            return True
        with self._lock:
            try:
                if self._connection is None:
                    self._connection = self.engine.connect()
                    self._held.clear()
                if job in self._held:
                    self._connection.execute(text("SELECT 1"))  # still connected, so still holding it
                else:
                    name = f"{self.prefix}:{job}"
                    if self._connection.execute(_TRY_LOCK, {"name": name}).scalar():
                        self._held.add(job)
                        log.info("this hub replica now leads %s", job)
                self._connection.commit()  # session-level locks outlive the transaction
                return job in self._held
            except DBAPIError as exc:
                log.warning("leadership of %s unknown (database: %s); not running it this round", job, exc)
                self._drop()
                return False

    def _drop(self) -> None:
        """Close the DBAPI connection itself (``invalidate``): PostgreSQL ends the session and its locks."""
        if self._connection is not None:
            try:
                self._connection.invalidate()
                self._connection.close()
            except DBAPIError:
                pass
        self._connection = None
        self._held.clear()

    def close(self) -> None:
        """Give every job up: the connection is closed for good, not returned to the pool (a pooled connection
        would keep holding the locks)."""
        with self._lock:
            self._drop()
