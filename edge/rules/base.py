"""Building blocks shared by every rule family: verdicts, the rule protocol and a confirm/clear latch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from compound.config import Device
from compound.drivers import Sample
from compound.wire import EventKind, EventState, Severity

__all__ = ["Latch", "Rule", "Transition", "Verdict", "location_text"]


@dataclass(frozen=True, slots=True)
class Verdict:
    """A rule's decision about one condition of one device; the engine turns it into a wire Event."""

    device: str
    kind: EventKind
    state: EventState
    severity: Severity
    at: datetime
    value: float | None = None
    unit: str | None = None
    threshold: float | None = None
    message: str | None = None


class Transition(StrEnum):
    """What a latch step did."""

    RAISE = "raise"
    CLEAR = "clear"


class Latch:
    """Confirmation and hysteresis for one condition.

    ``step(at, trigger, release)``: the condition raises once ``trigger`` has been observed on every
    step for ``confirm_s`` (a step without trigger restarts the count), and clears once ``release``
    has held for ``clear_s``. Values between the two (neither trigger nor release) keep the current
    state: that band is the hysteresis that prevents flapping.
    """

    __slots__ = ("clear_s", "clearing_since", "confirm_s", "pending_since", "raised")

    def __init__(self, confirm_s: float, clear_s: float) -> None:
        self.confirm_s = confirm_s
        self.clear_s = clear_s
        self.raised = False
        self.pending_since: datetime | None = None
        self.clearing_since: datetime | None = None

    def step(self, at: datetime, trigger: bool, release: bool) -> Transition | None:
        """Feed one observation; return the transition it causes, if any."""
        if not self.raised:
            if not trigger:
                self.pending_since = None
                return None
            if self.pending_since is None or at < self.pending_since:
                self.pending_since = at
            if (at - self.pending_since).total_seconds() >= self.confirm_s:
                self.raised, self.pending_since, self.clearing_since = True, None, None
                return Transition.RAISE
            return None
        if not release:
            self.clearing_since = None
            return None
        if self.clearing_since is None or at < self.clearing_since:
            self.clearing_since = at
        if (at - self.clearing_since).total_seconds() >= self.clear_s:
            self.raised, self.pending_since, self.clearing_since = False, None, None
            return Transition.CLEAR
        return None

    def force_raised(self) -> None:
        """Restore a condition that was raised before a restart (it still needs a clear)."""
        self.raised, self.pending_since, self.clearing_since = True, None, None


class Rule(Protocol):
    """One rule family: consumes samples and clock ticks, returns verdicts."""

    name: str

    def applies_to(self, device: Device) -> bool:
        """Whether this rule watches ``device``."""
        ...

    def on_sample(self, device: Device, sample: Sample) -> Sequence[Verdict]:
        """React to one sample of a device this rule watches."""
        ...

    def on_tick(self, now: datetime) -> Sequence[Verdict]:
        """React to time passing (conditions that arise from silence or duration)."""
        ...

    def restore(self, device: str, kind: EventKind) -> bool:
        """Mark a condition raised before a restart as raised again; False if not this rule's."""
        ...


def location_text(device: Device) -> str:
    """Human place of a device for event messages: 'b2/u1/1502' or 'b2/u1 fire-door-15'."""
    parts = [device.building]
    if device.unit:
        parts.append(device.unit)
    if device.flat:
        parts.append(device.flat)
    text = "/".join(parts)
    return f"{text} {device.place}" if device.place and not device.flat else text


class UpdateGate:
    """Decides when a raised condition deserves an ``updated`` event: a notable move or a severity change.

    A value move counts when it differs from the last reported value by ``rel`` of it (and at least
    ``floor``), and only ``min_interval_s`` after the previous report; a severity change always counts.
    """

    __slots__ = ("floor", "last_at", "last_severity", "last_value", "min_interval_s", "rel")

    def __init__(self, *, rel: float = 0.25, floor: float = 0.0, min_interval_s: float = 30.0) -> None:
        self.rel = rel
        self.floor = floor
        self.min_interval_s = min_interval_s
        self.last_value: float | None = None
        self.last_severity: Severity | None = None
        self.last_at: datetime | None = None

    def reset(self, at: datetime, value: float | None, severity: Severity) -> None:
        """Remember what was just reported (on raise and on each update)."""
        self.last_at, self.last_value, self.last_severity = at, value, severity

    def due(self, at: datetime, value: float | None, severity: Severity) -> bool:
        """Whether an update should be sent now; remembers it when it is."""
        if severity != self.last_severity:
            self.reset(at, value, severity)
            return True
        if value is None:
            return False
        if self.last_value is None or self.last_at is None:
            self.reset(at, value, severity)  # first value after a restore: a baseline, not news
            return False
        if (at - self.last_at).total_seconds() < self.min_interval_s:
            return False
        if abs(value - self.last_value) < max(self.rel * abs(self.last_value), self.floor):
            return False
        self.reset(at, value, severity)
        return True
