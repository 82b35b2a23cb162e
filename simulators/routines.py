"""Residents' daily door routines: openings as an inhomogeneous Poisson process by local hour of day.

Rates are openings per hour for each hour 00..23 of the compound's local time. Arrivals are drawn by
thinning (Lewis & Shedler): candidates at the peak rate, each kept with probability rate(t) / peak.
Each opening keeps the door open for a random time before its closer shuts it; an arrival while the
door is open keeps it open longer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from compound.config import DoorRole

__all__ = ["PROFILES", "DoorProfile", "LocalHour", "habit_times", "next_arrival"]


@dataclass(frozen=True, slots=True)
class DoorProfile:
    """Hourly opening rates of a kind of door, how long it stays open, and daily fixed habits.

    ``habits`` are local-hour windows (start, end): each day the door opens once at a uniformly drawn
    moment inside each window (the morning walk, the evening rubbish run), on top of the Poisson visits.
    ``badge_s`` is set for a locked door with an access reader: a resident who finds it closed presents
    a card, face or code (or presses the exit button on the way out) and opens the door that many
    seconds later (drawn in the range); None for a door without a reader.
    """

    hourly: tuple[float, ...]
    open_s: tuple[float, float]
    habits: tuple[tuple[float, float], ...] = ()
    badge_s: tuple[float, float] | None = None

    @property
    def peak(self) -> float:
        """Highest hourly rate (the thinning envelope)."""
        return max(self.hourly)


# fmt: off
PROFILES: dict[DoorRole, DoorProfile] = {
    # A unit entrance of ~100 flats: busy morning and evening, a few late arrivals at night. Locked, with a
    # card/face reader outside and an exit button inside: every resident is granted access before opening.
    DoorRole.UNIT_ENTRANCE: DoorProfile(
        (1.0, 0.5, 0.3, 0.2, 0.3, 1.0, 6, 25, 35, 18, 12, 12, 15, 12, 10, 12, 15, 25, 35, 28, 20, 14, 8, 3),
        (4.0, 12.0),
        badge_s=(1.0, 3.0),
    ),
    # A stairwell fire door: rarely used (lift users), almost never at night.
    DoorRole.FIRE_DOOR: DoorProfile(
        (0.01, 0.01, 0.01, 0.01, 0.01, 0.02, 0.2, 0.5, 0.4, 0.2, 0.15, 0.15,
         0.2, 0.15, 0.15, 0.15, 0.2, 0.4, 0.4, 0.3, 0.2, 0.1, 0.05, 0.02),
        (3.0, 15.0),
    ),
    # A care household's flat door: three daily habits (morning walk 06:00-07:30, lunch errand 11:00-13:00,
    # evening rubbish run 20:30-22:00) plus a few visits by day: ~8 openings a day, and no normal silence
    # (night included) lasts more than 11 h, under the 12 h care threshold.
    DoorRole.FLAT_DOOR: DoorProfile(
        (0.01, 0.01, 0.01, 0.01, 0.01, 0.05, 0.3, 0.4, 0.4, 0.4, 0.3, 0.3,
         0.3, 0.3, 0.3, 0.4, 0.5, 0.5, 0.4, 0.3, 0.3, 0.2, 0.05, 0.01),
        (3.0, 10.0),
        habits=((6.0, 7.5), (11.0, 13.0), (20.5, 22.0)),
    ),
    # A kindergarten gate: drop-off and pick-up peaks; staff and parents badge in, like at an entrance.
    DoorRole.GATE: DoorProfile(
        (0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.5, 10, 20, 5, 2, 2, 2, 2, 2, 3, 15, 12, 3, 0.5, 0.2, 0.2, 0.1, 0.05),
        (5.0, 20.0),
        badge_s=(1.0, 3.0),
    ),
}
# fmt: on


class LocalHour:
    """Local hour of day for simulated seconds since a start, with a cache per UTC hour."""

    def __init__(self, start: datetime, tz: ZoneInfo) -> None:
        self._start = start
        self._tz = tz
        self._cache: dict[int, int] = {}

    def __call__(self, t: float) -> int:
        moment = self._start + timedelta(seconds=t)
        key = int(moment.timestamp() // 900)  # offsets change on quarter hours at most
        hour = self._cache.get(key)
        if hour is None:
            hour = moment.astimezone(self._tz).hour
            if len(self._cache) > 4096:
                self._cache.clear()
            self._cache[key] = hour
        return hour


def habit_times(
    day: int, start: datetime, tz: ZoneInfo, profile: DoorProfile, rng: np.random.Generator
) -> tuple[list[float], float]:
    """The habitual openings of local day ``day`` (0 = the start's date) and when the next day begins.

    Times are simulated seconds since ``start``; the second value is the next local midnight.
    """
    first = start.astimezone(tz).date() + timedelta(days=day)
    midnight = datetime.combine(first, time(0), tzinfo=tz)
    times = [
        (midnight + timedelta(hours=float(rng.uniform(h0, h1))) - start).total_seconds() for h0, h1 in profile.habits
    ]
    following = datetime.combine(first + timedelta(days=1), time(0), tzinfo=tz)
    return times, (following - start).total_seconds()


def next_arrival(t: float, profile: DoorProfile, hour_of: LocalHour, rng: np.random.Generator) -> float:
    """Time of the next opening after ``t`` (seconds), by thinning the hourly rates."""
    peak_per_s = profile.peak / 3600.0
    while True:
        t += float(rng.exponential(1.0 / peak_per_s))
        if rng.random() * profile.peak < profile.hourly[hour_of(t)]:
            return t
