"""Rate limiting by sequence range: a range handled within the last ``window_s`` seconds is not handled again.

Used by the hub (do not ask an edge for the same events more than once per window) and by the edge (do not
resend the same events more than once per window, whatever asks). Overlapping requests merge: only the part
not handled recently goes through.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["RecentRanges", "subtract"]

Range = tuple[int, int]


def subtract(lo: int, hi: int, taken: list[Range]) -> list[Range]:
    """The parts of ``lo..hi`` (inclusive) not covered by any of ``taken``, in order."""
    parts: list[Range] = []
    cursor = lo
    for t_lo, t_hi in sorted(taken):
        if t_hi < cursor:
            continue
        if t_lo > hi:
            break
        if t_lo > cursor:
            parts.append((cursor, t_lo - 1))
        cursor = max(cursor, t_hi + 1)
        if cursor > hi:
            break
    if cursor <= hi:
        parts.append((cursor, hi))
    return parts


class RecentRanges:
    """Remembers which ranges of one stream were handled recently; ``take`` passes only the rest."""

    def __init__(
        self, window_s: float, *, clock: Callable[[], float] = time.monotonic, max_entries: int = 1024
    ) -> None:
        self.window_s = window_s
        self._clock = clock
        self._max_entries = max_entries
        self._taken: list[tuple[int, int, float]] = []

    def _prune(self, now: float) -> None:
        self._taken = [t for t in self._taken if now - t[2] < self.window_s][-self._max_entries :]

    def take(self, lo: int, hi: int) -> list[Range]:
        """The parts of ``lo..hi`` not handled within the window; they count as handled from now on."""
        if hi < lo:
            return []
        now = self._clock()
        self._prune(now)
        parts = subtract(lo, hi, [(a, b) for a, b, _ in self._taken])
        self._taken.extend((a, b, now) for a, b in parts)
        return parts

    def forget(self, lo: int, hi: int) -> None:
        """Forget ``lo..hi`` (a request that could not be sent after all); the rest stays remembered."""
        kept: list[tuple[int, int, float]] = []
        for a, b, at in self._taken:
            kept.extend((x, y, at) for x, y in subtract(a, b, [(lo, hi)]))
        self._taken = kept
