"""Device faults: offline (silence), low battery, stuck value, noisy readings."""

from __future__ import annotations

import itertools
import math
import statistics
from collections import deque
from collections.abc import Sequence
from datetime import datetime

from compound.config import Device, DeviceType
from compound.config.models import FaultRule
from compound.drivers import Quantity, Sample
from compound.wire import EventKind, EventState, Severity
from edge.rules.base import Latch, Transition, Verdict, location_text

__all__ = ["BatteryLow", "DeviceOffline", "NoisySignal", "StuckValue", "noise_level"]


class DeviceOffline:
    """``device_offline`` when a device sends nothing for ``offline_after_s``; its next sample clears it.

    Silence is counted from the device's last sample, or from the agent's first tick for a device
    never heard from.
    """

    name = "offline"

    def __init__(self, params: FaultRule) -> None:
        self.params = params
        self._devices: dict[str, Device] = {}
        self._last_seen: dict[str, datetime] = {}
        self._raised: set[str] = set()
        self._started: datetime | None = None

    def applies_to(self, device: Device) -> bool:
        if device.type in (DeviceType.LIFT_CAMERA, DeviceType.FIRE_LANE_CAMERA):
            return False  # cameras are watched by the detector pipeline, not by sample silence
        self._devices[device.id] = device
        return True

    def offline(self) -> int:
        """Devices currently reported offline."""
        return len(self._raised)

    def on_sample(self, device: Device, sample: Sample) -> Sequence[Verdict]:
        last = self._last_seen.get(device.id)
        if last is None or sample.at > last:
            self._last_seen[device.id] = sample.at
        if device.id not in self._raised:
            return ()
        self._raised.discard(device.id)
        text = f"{device.id} at {location_text(device)} reporting again"
        return (
            Verdict(
                device.id,
                EventKind.DEVICE_OFFLINE,
                EventState.CLEARED,
                Severity.INFO,
                sample.at,
                None,
                "s",
                self.params.offline_after_s,
                text,
            ),
        )

    def on_tick(self, now: datetime) -> Sequence[Verdict]:
        if self._started is None:
            self._started = now
        limit = self.params.offline_after_s
        out: list[Verdict] = []
        for device_id, device in self._devices.items():
            if device_id in self._raised:
                continue
            silent = (now - self._last_seen.get(device_id, self._started)).total_seconds()
            if silent >= limit:
                self._raised.add(device_id)
                text = f"{device_id} at {location_text(device)} silent for {silent:.0f} s"
                out.append(
                    Verdict(
                        device_id,
                        EventKind.DEVICE_OFFLINE,
                        EventState.RAISED,
                        Severity.WARNING,
                        now,
                        silent,
                        "s",
                        limit,
                        text,
                    )
                )
        return out

    def restore(self, device: str, kind: EventKind) -> bool:
        if kind is not EventKind.DEVICE_OFFLINE:
            return False
        self._raised.add(device)
        return True


class BatteryLow:
    """``low_battery`` at or below ``low_battery_pct``; clears at or above ``battery_clear_pct``."""

    name = "battery"

    def __init__(self, params: FaultRule) -> None:
        self.params = params
        self._latches: dict[str, Latch] = {}

    def applies_to(self, device: Device) -> bool:
        return device.battery

    def on_sample(self, device: Device, sample: Sample) -> Sequence[Verdict]:
        if sample.battery is None:
            return ()
        latch = self._latches.setdefault(device.id, Latch(0.0, 0.0))
        p, level = self.params, sample.battery
        transition = latch.step(sample.at, trigger=level <= p.low_battery_pct, release=level >= p.battery_clear_pct)
        where = location_text(device)
        if transition is Transition.RAISE:
            text = f"battery of {device.id} at {where} low: {level:.0f} %"
            return (
                Verdict(
                    device.id,
                    EventKind.LOW_BATTERY,
                    EventState.RAISED,
                    Severity.WARNING,
                    sample.at,
                    level,
                    "%",
                    p.low_battery_pct,
                    text,
                ),
            )
        if transition is Transition.CLEAR:
            text = f"battery of {device.id} at {where} replaced: {level:.0f} %"
            return (
                Verdict(
                    device.id,
                    EventKind.LOW_BATTERY,
                    EventState.CLEARED,
                    Severity.INFO,
                    sample.at,
                    level,
                    "%",
                    p.battery_clear_pct,
                    text,
                ),
            )
        return ()

    def on_tick(self, now: datetime) -> Sequence[Verdict]:
        return ()

    def restore(self, device: str, kind: EventKind) -> bool:
        if kind is not EventKind.LOW_BATTERY:
            return False
        self._latches.setdefault(device, Latch(0.0, 0.0)).force_raised()
        return True


class StuckValue:
    """``stuck_value`` when a smoke or gas sensor repeats the bit-identical value for ``stuck_after_s``.

    Real analogue sensors always carry some noise; a value that never moves is a frozen ADC or firmware.
    Door contacts are exempt (a closed door legitimately reads 0 for days). Any change clears it.
    """

    name = "stuck"

    def __init__(self, params: FaultRule) -> None:
        self.params = params
        self._value: dict[str, float] = {}
        self._since: dict[str, datetime] = {}
        self._raised: set[str] = set()

    def applies_to(self, device: Device) -> bool:
        return device.type in (DeviceType.SMOKE_DETECTOR, DeviceType.GAS_DETECTOR)

    def on_sample(self, device: Device, sample: Sample) -> Sequence[Verdict]:
        if sample.quantity not in (Quantity.SMOKE, Quantity.GAS):
            return ()
        unit = sample.quantity.unit
        if self._value.get(device.id) != sample.value:
            self._value[device.id] = sample.value
            self._since[device.id] = sample.at
            if device.id in self._raised:
                self._raised.discard(device.id)
                text = f"{device.id} at {location_text(device)} moving again"
                return (
                    Verdict(
                        device.id,
                        EventKind.STUCK_VALUE,
                        EventState.CLEARED,
                        Severity.INFO,
                        sample.at,
                        sample.value,
                        unit,
                        None,
                        text,
                    ),
                )
            return ()
        held = (sample.at - self._since[device.id]).total_seconds()
        if device.id in self._raised or held < self.params.stuck_after_s:
            return ()
        self._raised.add(device.id)
        text = f"{device.id} at {location_text(device)} stuck at {sample.value:g} {unit} for {held / 3600:.1f} h"
        return (
            Verdict(
                device.id,
                EventKind.STUCK_VALUE,
                EventState.RAISED,
                Severity.WARNING,
                sample.at,
                sample.value,
                unit,
                None,
                text,
            ),
        )

    def on_tick(self, now: datetime) -> Sequence[Verdict]:
        return ()

    def restore(self, device: str, kind: EventKind) -> bool:
        if kind is not EventKind.STUCK_VALUE:
            return False
        self._raised.add(device)
        return True


def noise_level(values: Sequence[float]) -> float:
    """Noise estimate robust to trends and steps, in the values' unit.

    Successive differences remove a smooth trend (a steadily growing fire); the median absolute
    deviation of those differences from their mean ignores a single jump. White noise of stddev s
    gives about s (differences have stddev s*sqrt(2); MAD = 0.6745 stddev for a normal law).
    """
    if len(values) < 3:
        return 0.0
    diffs = [b - a for a, b in itertools.pairwise(values)]
    mean = sum(diffs) / len(diffs)
    return statistics.median(abs(d - mean) for d in diffs) / (0.6745 * math.sqrt(2.0))


class NoisySignal:
    """``noisy_signal`` when a smoke sensor's noise over ``noise_window`` samples exceeds ``noise_stddev``.

    Clears when the noise falls below half of it (hysteresis). Needs a full window before judging.
    """

    name = "noise"

    def __init__(self, params: FaultRule) -> None:
        self.params = params
        self._windows: dict[str, deque[float]] = {}
        self._latches: dict[str, Latch] = {}

    def applies_to(self, device: Device) -> bool:
        return device.type is DeviceType.SMOKE_DETECTOR

    def on_sample(self, device: Device, sample: Sample) -> Sequence[Verdict]:
        if sample.quantity is not Quantity.SMOKE:
            return ()
        p = self.params
        window = self._windows.setdefault(device.id, deque(maxlen=p.noise_window))
        window.append(sample.value)
        if len(window) < p.noise_window:
            return ()
        level = noise_level(window)
        latch = self._latches.setdefault(device.id, Latch(0.0, 0.0))
        transition = latch.step(sample.at, trigger=level > p.noise_stddev, release=level < p.noise_stddev / 2)
        where = location_text(device)
        if transition is Transition.RAISE:
            text = f"{device.id} at {where} noisy: {level:.3f} dB/m over {p.noise_window} samples"
            return (
                Verdict(
                    device.id,
                    EventKind.NOISY_SIGNAL,
                    EventState.RAISED,
                    Severity.WARNING,
                    sample.at,
                    level,
                    "dB/m",
                    p.noise_stddev,
                    text,
                ),
            )
        if transition is Transition.CLEAR:
            text = f"{device.id} at {where} quiet again: {level:.3f} dB/m"
            return (
                Verdict(
                    device.id,
                    EventKind.NOISY_SIGNAL,
                    EventState.CLEARED,
                    Severity.INFO,
                    sample.at,
                    level,
                    "dB/m",
                    p.noise_stddev / 2,
                    text,
                ),
            )
        return ()

    def on_tick(self, now: datetime) -> Sequence[Verdict]:
        return ()

    def restore(self, device: str, kind: EventKind) -> bool:
        if kind is not EventKind.NOISY_SIGNAL:
            return False
        self._latches.setdefault(device, Latch(0.0, 0.0)).force_raised()
        return True
