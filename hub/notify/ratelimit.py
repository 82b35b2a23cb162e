"""Token buckets at a platform's documented limit, with the platform's own cool-down after "too fast".

Kept in memory per hub process: a limit is a courtesy to the platform, not a durability guarantee (a hub
restart may send a burst of at most one bucket; the platform's own "too fast" answer then throttles us
through ``penalise``). Time is the caller's monotonic clock, so tests drive it.
"""

from __future__ import annotations

from collections import deque

from hub.notify.channels.base import RateLimit

__all__ = ["TokenBucket"]


class TokenBucket:
    """Sliding-window limits (per minute and per second) plus a block until a time (the platform's cool-down)."""

    def __init__(self, limit: RateLimit) -> None:
        self.limit = limit
        self._sent: deque[float] = deque()
        self._blocked_until = float("-inf")

    def _trim(self, now: float) -> None:
        while self._sent and self._sent[0] <= now - 60.0:
            self._sent.popleft()

    def next_at(self, now: float) -> float:
        """The earliest monotonic time a message may go (``now`` when one may go now)."""
        self._trim(now)
        at = max(now, self._blocked_until)
        if self.limit.per_minute is not None and len(self._sent) >= self.limit.per_minute:
            at = max(at, self._sent[-self.limit.per_minute] + 60.0)
        if self.limit.per_second is not None:
            recent = [t for t in self._sent if t > now - 1.0]
            if len(recent) >= self.limit.per_second:
                at = max(at, recent[-self.limit.per_second] + 1.0)
        return at

    def available(self, now: float) -> int:
        """How many messages may go right now (a large number when unlimited)."""
        self._trim(now)
        if self._blocked_until > now:
            return 0
        free = 1_000_000
        if self.limit.per_minute is not None:
            free = min(free, self.limit.per_minute - len(self._sent))
        if self.limit.per_second is not None:
            free = min(free, self.limit.per_second - sum(1 for t in self._sent if t > now - 1.0))
        return max(0, free)

    def take(self, now: float) -> bool:
        """Spend one token if one is free now."""
        if self.next_at(now) > now:
            return False
        self._sent.append(now)
        return True

    def penalise(self, now: float, seconds: float | None = None) -> None:
        """The platform answered "too fast": send nothing before ``now + seconds`` (default: its cool-down)."""
        self._blocked_until = max(self._blocked_until, now + (self.limit.cooldown_s if seconds is None else seconds))
