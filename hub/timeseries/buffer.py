"""A bounded in-memory hand-off between the ingest thread and a background writer thread."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable
from typing import Generic, TypeVar

__all__ = ["HandOff"]

T = TypeVar("T")


class HandOff(Generic[T]):
    """Producer side never blocks: ``put`` appends or, past ``capacity``, drops and counts."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self.dropped = 0
        self._items: deque[T] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._woken = False
        self.in_transit = 0

    def put(self, items: Iterable[T], *, wake_at: int) -> int:
        """Append items; return how many were dropped because the hand-off was full or closed."""
        dropped = 0
        with self._cond:
            for item in items:
                if self._closed or len(self._items) >= self.capacity:
                    dropped += 1
                else:
                    self._items.append(item)
            self.dropped += dropped
            if len(self._items) >= wake_at:
                self._cond.notify()
        return dropped

    def take(self, limit: int, wait_s: float, *, min_items: int = 1) -> list[T]:
        """Up to ``limit`` items, waiting at most ``wait_s`` for ``min_items`` (or close)."""
        with self._cond:
            if len(self._items) < min_items and not self._closed and not self._woken:
                self._cond.wait_for(
                    lambda: len(self._items) >= min_items or self._closed or self._woken, timeout=wait_s
                )
            self._woken = False
            count = min(limit, len(self._items))
            self.in_transit = count
            return [self._items.popleft() for _ in range(count)]

    def done(self) -> None:
        """The consumer finished with what it last took (``in_transit`` back to 0)."""
        with self._cond:
            self.in_transit = 0

    def wake(self) -> None:
        """Make the next or current ``take`` return what there is at once (an explicit flush)."""
        with self._cond:
            self._woken = True
            self._cond.notify_all()

    def close(self) -> None:
        """Refuse further items and wake the consumer."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        """True once ``close`` was called."""
        return self._closed

    def __len__(self) -> int:
        return len(self._items)
