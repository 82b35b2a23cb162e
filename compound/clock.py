"""Clocks: wall time, a scaled simulated clock shared by a process tree, and a manual test clock.

Rules and simulators take a ``Clock`` so that a scenario can run faster than real time and a
test can step time by hand (like Home Assistant's ``async_fire_time_changed``).
"""

from __future__ import annotations

import asyncio
import time as _time
from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = ["Clock", "ManualClock", "ScaledClock", "WallClock"]


class Clock(Protocol):
    """Source of (possibly simulated) time."""

    def now(self) -> datetime:
        """Current time, aware UTC."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Sleep ``seconds`` of this clock's time."""
        ...

    async def started(self) -> None:
        """Return once this clock's time has begun: at once, except for a simulated clock before its start.

        Before its start a simulated timeline has not begun: simulators produce nothing, so a watcher of
        silence that looked at the clock then would count silence from a moment no device lived in.
        """
        ...

    def monotonic(self) -> float:
        """Seconds on a steady counter, for periods of the process's own work (retries, sweeps).

        Real seconds even on a scaled clock: brokers and databases do not run faster with the scenario.
        """
        ...


class WallClock:
    """Real time."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    async def started(self) -> None:
        return None

    def monotonic(self) -> float:
        return _time.monotonic()


class ScaledClock:
    """Simulated time: ``start + (real elapsed) * speed``.

    ``real_start`` is a Unix timestamp; processes given the same ``start``, ``speed`` and
    ``real_start`` agree on the simulated time, so a process tree shares one timeline.
    """

    def __init__(self, start: datetime, speed: float = 1.0, real_start: float | None = None) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        self.start = start.astimezone(UTC)
        self.speed = speed
        self.real_start = _time.time() if real_start is None else real_start

    def now(self) -> datetime:
        return self.start + timedelta(seconds=(_time.time() - self.real_start) * self.speed)

    def elapsed(self) -> float:
        """Simulated seconds since ``start``."""
        return (_time.time() - self.real_start) * self.speed

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.speed)

    async def started(self) -> None:
        """Sleep until simulated time zero (``real_start``); a process tree starts its processes before it."""
        while (ahead := self.real_start - _time.time()) > 0:  # asyncio sleeps on another counter than now()
            await asyncio.sleep(ahead)

    def monotonic(self) -> float:
        return _time.monotonic()


class ManualClock:
    """A clock that moves only when told to; ``sleep`` advances it (for deterministic tests)."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        self._now = start.astimezone(UTC)
        self._elapsed = 0.0

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        """Seconds advanced since creation."""
        return self._elapsed

    def advance(self, seconds: float) -> datetime:
        """Move time forward and return the new now."""
        self._now += timedelta(seconds=seconds)
        self._elapsed += seconds
        return self._now

    async def sleep(self, seconds: float) -> None:
        self.advance(max(0.0, seconds))
        await asyncio.sleep(0)

    async def started(self) -> None:
        return None
