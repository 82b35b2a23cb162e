"""Device faults: offline (silence), low battery, stuck value, noisy readings."""

from __future__ import annotations

import functools
import math
import statistics
from collections import deque
from collections.abc import Sequence
from datetime import datetime, timedelta

from compound.config import Device, DeviceType
from compound.config.models import FaultRule
from compound.drivers import Quantity, Sample
from compound.wire import EventKind, EventState, Severity
from edge.rules.base import Latch, Transition, Verdict, location_text

__all__ = ["BatteryLow", "DeviceOffline", "NoisySignal", "StuckValue", "noise_bound", "noise_level"]


class DeviceOffline:
    """``device_offline`` when a device sends nothing for ``offline_after_s``; its next sample clears it.

    Silence is counted from the device's last sample, or from the agent's first tick for a device
    never heard from. Any sample counts, an access grant included (the reader and the contact share
    one controller).
    """

    name = "offline"

    def __init__(self, params: FaultRule) -> None:
        self.params = params
        self._devices: dict[str, Device] = {}
        self._last_seen: dict[str, datetime] = {}
        self._raised: set[str] = set()
        self._started: datetime | None = None
        # No device can go silent before this moment: ticks before it skip the scan of every device.
        self._next_check: datetime | None = None

    def applies_to(self, device: Device) -> bool:
        if device.is_camera:
            return False  # cameras are watched by the detector pipeline, not by sample silence
        self._devices[device.id] = device
        self._next_check = None
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
        due = self._last_seen[device.id] + timedelta(seconds=self.params.offline_after_s)
        if self._next_check is not None and due < self._next_check:
            self._next_check = due
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
        if self._next_check is not None and now < self._next_check:
            return ()
        limit = self.params.offline_after_s
        out: list[Verdict] = []
        earliest: datetime | None = None
        for device_id, device in self._devices.items():
            if device_id in self._raised:
                continue
            last = self._last_seen.get(device_id, self._started)
            silent = (now - last).total_seconds()
            if silent < limit:
                if earliest is None or last < earliest:
                    earliest = last
                continue
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
        # Samples only move a device's last-seen time later, so this stays a safe lower bound.
        self._next_check = None if earliest is None else earliest + timedelta(seconds=limit)
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
        latch = self._latches.get(device.id)
        if latch is None:
            latch = self._latches[device.id] = Latch(0.0, 0.0)
        p, level = self.params, sample.battery
        transition = latch.step(sample.at, trigger=level <= p.low_battery_pct, release=level >= p.battery_clear_pct)
        if transition is None:
            return ()
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


TRIM = 0.1
"""Share of the largest second differences a noise estimate ignores (a step or a fire's turn, not noise)."""


@functools.lru_cache(maxsize=64)
def _trimmed_scale(kept: int, total: int) -> float:
    """Stddev of a standard normal law restricted to its central ``kept / total`` share (consistency factor)."""
    share = kept / total
    q = statistics.NormalDist().inv_cdf((1.0 + share) / 2.0)
    density = math.exp(-q * q / 2.0) / math.sqrt(2.0 * math.pi)
    return math.sqrt(max(1.0 - 2.0 * q * density / share, 1e-12))


def noise_level(values: Sequence[float]) -> float:
    """Noise estimate robust to trends, steps and a fire's rise and fall, in the values' unit.

    Second differences ``v[i+2] - 2 v[i+1] + v[i]`` cancel a level and a steady slope (a growing fire
    reported on a deadband rises in near-equal steps); the largest ``TRIM`` of them (a single jump,
    the turn of a fire's peak) are dropped, and the root mean square of the rest is scaled so that
    white noise of stddev s gives about s (second differences have stddev s*sqrt(6)). Unlike a median,
    it is not fooled by a noisy detector clipped at zero (a run of identical zeros).
    """
    if len(values) < 4:
        return 0.0
    v = list(values)
    second = sorted(abs(c - 2.0 * b + a) for a, b, c in zip(v, v[1:], v[2:], strict=False))
    kept = len(second) - int(len(second) * TRIM)
    mean_square = sum(e * e for e in second[:kept]) / kept
    return math.sqrt(mean_square / 6.0) / _trimmed_scale(kept, len(second))


def noise_bound(values: Sequence[float]) -> float:
    """A cheap upper bound of ``noise_level`` from the values' range (each second difference is within 2 ranges)."""
    if len(values) < 4:
        return 0.0
    n = len(values) - 2
    kept = n - int(n * TRIM)
    return 2.0 * (max(values) - min(values)) / math.sqrt(6.0) / _trimmed_scale(kept, n)


class NoisySignal:
    """``noisy_signal`` when a smoke sensor's noise over ``noise_window`` samples exceeds ``noise_stddev``.

    Real hysteresis: it raises once the noise has stayed above ``noise_stddev`` for ``noise_confirm_s``
    and clears once it has stayed below half of it for ``noise_clear_s``; a noisy detector whose estimate
    wanders (noise is noisy) raises once and clears once, after it is serviced. Needs a full window.
    """

    name = "noise"

    def __init__(self, params: FaultRule) -> None:
        self.params = params
        self._windows: dict[str, deque[float]] = {}
        self._latches: dict[str, Latch] = {}

    def applies_to(self, device: Device) -> bool:
        return device.type is DeviceType.SMOKE_DETECTOR

    def _latch(self, device: str) -> Latch:
        latch = self._latches.get(device)
        if latch is None:
            latch = self._latches[device] = Latch(self.params.noise_confirm_s, self.params.noise_clear_s)
        return latch

    def on_sample(self, device: Device, sample: Sample) -> Sequence[Verdict]:
        if sample.quantity is not Quantity.SMOKE:
            return ()
        p = self.params
        window = self._windows.get(device.id)
        if window is None:
            window = self._windows[device.id] = deque(maxlen=p.noise_window)
        window.append(sample.value)
        if len(window) < p.noise_window:
            return ()
        release_below = p.noise_stddev / 2
        # Clean air: the range alone proves the noise is low, without the full estimate.
        level = noise_bound(window)
        if level >= release_below:
            level = noise_level(window)
        transition = self._latch(device.id).step(
            sample.at, trigger=level > p.noise_stddev, release=level < release_below
        )
        if transition is None:
            return ()
        level = noise_level(window)
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
                release_below,
                text,
            ),
        )

    def on_tick(self, now: datetime) -> Sequence[Verdict]:
        return ()

    def restore(self, device: str, kind: EventKind) -> bool:
        if kind is not EventKind.NOISY_SIGNAL:
            return False
        self._latch(device).force_raised()
        return True
