"""Gas: a pre-alarm and an alarm at two %LEL levels, each confirmed and each with its own hysteresis."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from compound.config import Device, DeviceType
from compound.config.models import GasRule
from compound.drivers import Quantity, Sample
from compound.wire import EventKind, EventState, Severity
from edge.rules.base import Latch, Transition, UpdateGate, Verdict, location_text

__all__ = ["GasAlarm"]

UNIT = "%LEL"


class GasAlarm:
    """``gas_pre_alarm`` (warning) at ``pre_alarm`` %LEL and ``gas`` (critical) at ``alarm`` %LEL.

    Each level raises after ``confirm_s`` at or above it and clears after ``clear_s`` below
    ``level - hysteresis``. Both can be raised at once: the pre-alarm stays up under an alarm.
    """

    name = "gas"

    def __init__(self, params: GasRule, *, update_min_s: float = 30.0) -> None:
        self.params = params
        self.update_min_s = update_min_s
        self._latches: dict[tuple[str, EventKind], Latch] = {}
        self._gates: dict[tuple[str, EventKind], UpdateGate] = {}
        self._levels = self.levels()

    def levels(self) -> tuple[tuple[EventKind, float, Severity], ...]:
        """(kind, level, severity) of each alarm level, lowest first."""
        p = self.params
        return ((EventKind.GAS_PRE_ALARM, p.pre_alarm, Severity.WARNING), (EventKind.GAS, p.alarm, Severity.CRITICAL))

    def applies_to(self, device: Device) -> bool:
        return device.type is DeviceType.GAS_DETECTOR

    def _latch(self, key: tuple[str, EventKind]) -> Latch:
        latch = self._latches.get(key)
        if latch is None:
            latch = self._latches[key] = Latch(self.params.confirm_s, self.params.clear_s)
            self._gates[key] = UpdateGate(rel=0.25, floor=2.0, min_interval_s=self.update_min_s)
        return latch

    def is_raised(self, device: str, kind: EventKind) -> bool:
        """Whether level ``kind`` of ``device`` is raised now."""
        latch = self._latches.get((device, kind))
        return latch is not None and latch.raised

    def on_sample(self, device: Device, sample: Sample) -> Sequence[Verdict]:
        if sample.quantity is not Quantity.GAS:
            return ()
        out: list[Verdict] = []
        value, at = sample.value, sample.at
        for kind, level, severity in self._levels:
            key = (device.id, kind)
            latch = self._latch(key)
            gate = self._gates[key]
            was_raised = latch.raised
            release_below = level - self.params.hysteresis
            release = value < release_below
            transition = latch.step(at, trigger=value >= level, release=release)
            label = "gas pre-alarm" if kind is EventKind.GAS_PRE_ALARM else "gas alarm"
            if transition is Transition.RAISE:
                gate.reset(at, value, severity)
                where = location_text(device)
                text = f"{label}: {value:.1f} %LEL at {where}, >= {level:g} %LEL for {self.params.confirm_s:g} s"
                out.append(Verdict(device.id, kind, EventState.RAISED, severity, at, value, UNIT, level, text))
            elif transition is Transition.CLEAR:
                where = location_text(device)
                text = f"{label} cleared at {where}: below {release_below:g} %LEL for {self.params.clear_s:g} s"
                out.append(Verdict(device.id, kind, EventState.CLEARED, Severity.INFO, at, value, UNIT, level, text))
            elif was_raised and latch.raised and not release and gate.due(at, value, severity):
                text = f"{label} at {location_text(device)}: now {value:.1f} %LEL"
                out.append(Verdict(device.id, kind, EventState.UPDATED, severity, at, value, UNIT, level, text))
        return out

    def on_tick(self, now: datetime) -> Sequence[Verdict]:
        return ()

    def restore(self, device: str, kind: EventKind) -> bool:
        if kind not in (EventKind.GAS, EventKind.GAS_PRE_ALARM):
            return False
        key = (device, kind)
        self._latch(key).force_raised()
        self._gates[key].last_severity = Severity.CRITICAL if kind is EventKind.GAS else Severity.WARNING
        return True
