"""The rule engine of one edge: routes samples and ticks to rules and turns verdicts into wire Events."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from compound import wire
from compound.config import Compound, Device
from compound.drivers import Quantity, Sample
from compound.wire import Event, EventKind, EventState, Location, Severity
from edge.rules import DeviceOffline, Rule, Verdict, default_rules

__all__ = ["Draft", "OpenCondition", "RuleEngine"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class OpenCondition:
    """A raised condition that has not been cleared yet (persisted so a restart can clear it)."""

    device: str
    kind: EventKind
    raised_id: str
    severity: Severity


@dataclass(frozen=True, slots=True)
class Draft:
    """An event waiting for its ``seq``: the outbox assigns it in the same transaction that stores it."""

    verdict: Verdict
    id: str
    raised_id: str | None
    compound: str
    edge: str
    location: Location

    def event(self, seq: int) -> Event:
        """The wire Event with its sequence number."""
        return draft_event(self, seq, device=self.verdict.device, at=self.verdict.at)

    @property
    def condition(self) -> OpenCondition | None:
        """The open condition after this event (None once cleared)."""
        if self.verdict.state is EventState.CLEARED:
            return None
        return OpenCondition(self.verdict.device, self.verdict.kind, self.raised_id or self.id, self.verdict.severity)


class _VerdictFields(Protocol):
    @property
    def kind(self) -> EventKind: ...
    @property
    def state(self) -> EventState: ...
    @property
    def severity(self) -> Severity: ...
    @property
    def value(self) -> float | None: ...
    @property
    def unit(self) -> str | None: ...
    @property
    def threshold(self) -> float | None: ...
    @property
    def message(self) -> str | None: ...


class _DraftFields(Protocol):
    @property
    def verdict(self) -> _VerdictFields: ...
    @property
    def id(self) -> str: ...
    @property
    def raised_id(self) -> str | None: ...
    @property
    def compound(self) -> str: ...
    @property
    def edge(self) -> str: ...
    @property
    def location(self) -> Location: ...


def draft_event(
    draft: _DraftFields, seq: int, *, device: str, at: datetime, evidence: wire.Evidence | None = None
) -> Event:
    """The wire Event of a sensor or camera draft: the one place a verdict becomes an Event."""
    v = draft.verdict
    return Event(
        id=draft.id,
        seq=seq,
        compound=draft.compound,
        edge=draft.edge,
        device=device,
        kind=v.kind,
        state=v.state,
        severity=v.severity,
        value=v.value,
        unit=v.unit,
        threshold=v.threshold,
        location=draft.location,
        occurred_at=at,
        raised_id=draft.raised_id,
        message=v.message,
        evidence=evidence,
    )


def location_of(device: Device) -> Location:
    """Wire location of a configured device."""
    return Location(
        building=device.building, unit=device.unit, floor=device.floor, flat=device.flat, place=device.place
    )


def _unusable(sample: Sample) -> str | None:
    """Why a driver's sample cannot be judged, or None when it can."""
    if not isinstance(sample.quantity, Quantity):
        return f"unknown quantity {sample.quantity!r}"
    if isinstance(sample.value, bool) or not isinstance(sample.value, int | float) or not math.isfinite(sample.value):
        return f"value {sample.value!r} is not a finite number"
    if not isinstance(sample.at, datetime) or sample.at.tzinfo is None:
        return f"time {sample.at!r} is not timezone-aware"
    if sample.battery is not None and (not isinstance(sample.battery, int | float) or not 0 <= sample.battery <= 100):
        return f"battery {sample.battery!r} is not a percentage"
    return None


class RuleEngine:
    """Feeds one edge's samples and clock ticks to its rules; drafts events with ids and raised ids."""

    def __init__(self, compound: Compound, edge: str, rules: Sequence[Rule] | None = None) -> None:
        self.compound_id = compound.id
        self.edge = edge
        self.devices: dict[str, Device] = {d.id: d for d in compound.devices_of_edge(edge)}
        if not self.devices:
            raise ValueError(f"edge {edge!r} has no devices in compound {compound.id!r}; edges: {compound.edges()}")
        self.rules: list[Rule] = list(rules) if rules is not None else default_rules(compound)
        self._routes: dict[str, list[Rule]] = {
            dev_id: [rule for rule in self.rules if rule.applies_to(device)] for dev_id, device in self.devices.items()
        }
        self._locations = {dev_id: location_of(d) for dev_id, d in self.devices.items()}
        self.open: dict[tuple[str, EventKind], OpenCondition] = {}
        self.unknown_samples = 0
        self._unknown_logged: set[str] = set()

    # ---- inputs
    def feed(self, samples: Iterable[Sample]) -> list[Verdict]:
        """Apply samples in order; samples of devices this edge does not own are counted and skipped."""
        out: list[Verdict] = []
        for sample in samples:
            device = self.devices.get(sample.device)
            if device is None:
                self.unknown_samples += 1
                if sample.device not in self._unknown_logged:
                    self._unknown_logged.add(sample.device)
                    log.warning("sample from unknown device %r ignored (not on edge %s)", sample.device, self.edge)
                continue
            problem = _unusable(sample)
            if problem:
                self.unknown_samples += 1
                log.warning("sample from %s ignored: %s", sample.device, problem)
                continue
            for rule in self._routes[device.id]:
                out.extend(rule.on_sample(device, sample))
        return out

    def tick(self, now: datetime) -> list[Verdict]:
        """Let time-based rules (offline, care silence, door held open) look at the clock."""
        out: list[Verdict] = []
        for rule in self.rules:
            out.extend(rule.on_tick(now))
        return out

    # ---- outputs
    def draft(self, verdict: Verdict) -> Draft | None:
        """Give a verdict its event id (and, for updates and clears, the raising event's id); track it as open."""
        key = (verdict.device, verdict.kind)
        raised_id: str | None = None
        if verdict.state is not EventState.RAISED:
            current = self.open.get(key)
            if current is None:
                log.warning(
                    "%s %s for %s with no raised event on record; skipped", verdict.state, verdict.kind, verdict.device
                )
                return None
            raised_id = current.raised_id
        draft = Draft(
            verdict, wire.new_event_id(), raised_id, self.compound_id, self.edge, self._locations[verdict.device]
        )
        condition = draft.condition
        if condition is None:
            self.open.pop(key, None)
        else:
            self.open[key] = condition
        return draft

    def restore(self, conditions: Iterable[OpenCondition]) -> int:
        """Re-arm conditions raised before a restart so that they clear with their original id."""
        restored = 0
        for cond in conditions:
            if cond.device not in self.devices:
                continue
            for rule in self._routes[cond.device]:
                if rule.restore(cond.device, cond.kind):
                    self.open[(cond.device, cond.kind)] = cond
                    restored += 1
                    break
        return restored

    def devices_online(self) -> int:
        """Devices not reported offline."""
        for rule in self.rules:
            if isinstance(rule, DeviceOffline):
                return len(self.devices) - rule.offline()
        return len(self.devices)
