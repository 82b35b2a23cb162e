"""``Backlog``: how many messages this hub process has received and not yet stored, for work that yields to ingest.

Within one process, ingest and the notification dispatcher share the GIL and, on SQLite, the database's single write
lock. A message waits for any dispatcher transaction in progress (on SQLite in stepped busy sleeps of 1, 2, 5, 10 ms
...), and for its Python work. Storing an alarm is what every console and every notification waits for, so the
dispatcher starts each of its transactions when the backlog is clear (``wait_clear``), with a bound on its wait so a
steady stream of readings cannot hold notifications back (``Dispatcher.foreground``). Replicas on PostgreSQL have row
locks, not one write lock, and gain less; the rule is the same.
"""

from __future__ import annotations

import threading

__all__ = ["Backlog"]


class Backlog:
    """A count of messages received and not yet stored; thread-safe."""

    def __init__(self) -> None:
        self._pending = 0
        self._changed = threading.Condition()

    @property
    def pending(self) -> int:
        with self._changed:
            return self._pending

    def arrived(self) -> None:
        """One message received (paho's thread)."""
        with self._changed:
            self._pending += 1

    def done(self, count: int) -> None:
        """``count`` messages stored, dead-lettered or dropped (the ingest worker)."""
        with self._changed:
            self._pending = max(0, self._pending - count)
            if self._pending == 0:
                self._changed.notify_all()

    def wait_clear(self, timeout_s: float) -> bool:
        """Wait until nothing is pending, at most ``timeout_s``; True when clear."""
        with self._changed:
            return self._changed.wait_for(lambda: self._pending == 0, timeout=max(0.0, timeout_s))
