"""Smoke alarm: obscuration above the threshold held for the confirmation time; hysteresis to clear."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from compound.config import Device, DeviceType
from compound.config.models import SmokeRule
from compound.drivers import Quantity, Sample
from compound.wire import EventKind, EventState, Severity
from edge.rules.base import Latch, Transition, UpdateGate, Verdict, location_text

__all__ = ["SmokeAlarm"]

UNIT = "dB/m"


class SmokeAlarm:
    """Raises ``smoke`` when obscuration stays >= threshold for ``confirm_s``; clears below ``clear_below``.

    While raised, an ``updated`` event follows a notable move of the value (25 %, at least 0.05 dB/m),
    at most once per ``update_min_s`` simulated seconds; values already below the clear level send none.
    """

    name = "smoke"

    def __init__(self, params: SmokeRule, *, update_min_s: float = 30.0) -> None:
        self.params = params
        self.update_min_s = update_min_s
        self._latches: dict[str, Latch] = {}
        self._gates: dict[str, UpdateGate] = {}

    def applies_to(self, device: Device) -> bool:
        return device.type is DeviceType.SMOKE_DETECTOR

    def _latch(self, device: str) -> Latch:
        latch = self._latches.get(device)
        if latch is None:
            latch = self._latches[device] = Latch(self.params.confirm_s, self.params.clear_s)
            self._gates[device] = UpdateGate(rel=0.25, floor=0.05, min_interval_s=self.update_min_s)
        return latch

    def is_raised(self, device: str) -> bool:
        """Whether the alarm of ``device`` is raised now."""
        latch = self._latches.get(device)
        return latch is not None and latch.raised

    def on_sample(self, device: Device, sample: Sample) -> Sequence[Verdict]:
        if sample.quantity is not Quantity.SMOKE:
            return ()
        p, value, at = self.params, sample.value, sample.at
        latch = self._latch(device.id)
        gate = self._gates[device.id]
        was_raised = latch.raised
        release = value < p.clear_below
        transition = latch.step(at, trigger=value >= p.threshold, release=release)
        where = location_text(device)
        if transition is Transition.RAISE:
            gate.reset(at, value, Severity.CRITICAL)
            text = f"smoke {value:.3f} dB/m at {where}, above {p.threshold} dB/m for {p.confirm_s:g} s"
            return (self._verdict(device, EventState.RAISED, Severity.CRITICAL, sample, p.threshold, text),)
        if transition is Transition.CLEAR:
            text = f"smoke at {where} below {p.clear_below} dB/m for {p.clear_s:g} s"
            return (self._verdict(device, EventState.CLEARED, Severity.INFO, sample, p.clear_below, text),)
        if was_raised and latch.raised and not release and gate.due(at, value, Severity.CRITICAL):
            text = f"smoke at {where} now {value:.3f} dB/m"
            return (self._verdict(device, EventState.UPDATED, Severity.CRITICAL, sample, p.threshold, text),)
        return ()

    @staticmethod
    def _verdict(
        device: Device, state: EventState, severity: Severity, sample: Sample, threshold: float, text: str
    ) -> Verdict:
        return Verdict(device.id, EventKind.SMOKE, state, severity, sample.at, sample.value, UNIT, threshold, text)

    def on_tick(self, now: datetime) -> Sequence[Verdict]:
        return ()

    def restore(self, device: str, kind: EventKind) -> bool:
        if kind is not EventKind.SMOKE:
            return False
        self._latch(device).force_raised()
        self._gates[device].last_severity = Severity.CRITICAL
        return True
