"""Simulated devices: how they report (``Reporting``), their random generators and their state (``SimDevice``).

Reporting follows Zigbee attribute reporting: a smoke or gas detector reports when its sensed value
moved more than a deadband since its last report (no sooner than ``min_interval_s``), or when
``report_interval_s`` has passed (``fast_interval_s`` while the value is elevated). A door contact
reports every transition (1.0 open, 0.0 closed) and its state every ``report_interval_s``; a door with an
access reader (unit entrance, gate) also reports each accepted credential or exit-button press as an
``ACCESS`` sample, a second or two before the resident opens it.
Battery devices put their battery percent on each sample.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from compound.config import Device
from compound.drivers import Quantity
from simulators.physics import FlatAir
from simulators.routines import DoorProfile

__all__ = ["Reporting", "SimDevice", "device_rng"]


@dataclass(frozen=True, slots=True)
class Reporting:
    """How devices report and how noisy they are; defaults mimic common Zigbee detectors."""

    step_s: float = 1.0
    report_interval_s: float = 60.0
    fast_interval_s: float = 5.0
    min_interval_s: float = 2.0
    smoke_deadband: float = 0.02
    gas_deadband: float = 1.0
    smoke_elevated: float = 0.05
    gas_elevated: float = 2.0
    smoke_noise: float = 0.002
    gas_noise: float = 0.15
    smoke_resolution: float = 0.001
    gas_resolution: float = 0.1
    noisy_smoke_stddev: float = 0.1
    noisy_gas_stddev: float = 5.0


def device_rng(seed: int, device_id: str) -> np.random.Generator:
    """The device's own generator: seeded by the run's seed and a stable hash of its id."""
    digest = int.from_bytes(hashlib.blake2b(device_id.encode("utf-8"), digest_size=8).digest(), "big")
    return np.random.default_rng([seed, digest])


@dataclass(slots=True, eq=False)
class SimDevice:
    """Simulated state of one device: its air or door, its faults, its last report."""

    device: Device
    quantity: Quantity
    rng: np.random.Generator
    air: FlatAir | None = None
    profile: DoorProfile | None = None
    baseline: float = 0.0
    battery: float | None = None
    battery_rate: float = 0.0  # percent per second
    battery_t0: float = 0.0
    offline: bool = False
    dead: bool = False
    stuck: float | None = None
    noise_sd: float = 0.0
    last_t: float = 0.0
    last_sensed: float = 0.0
    last_value: float | None = None
    evaluated_at: float = -1.0
    is_open: bool = False
    close_at: float = -1.0
    wedged: bool = False
    inactive: bool = False
    habit_day: int = 0

    @property
    def id(self) -> str:
        return self.device.id

    def battery_at(self, t: float) -> float | None:
        """Battery percent at ``t``, or None for mains-powered devices."""
        if self.battery is None:
            return None
        return max(0.0, self.battery - self.battery_rate * (t - self.battery_t0))

    def door_value(self) -> float:
        """What a door contact reports now: 1.0 open, 0.0 closed (or the value it is stuck at)."""
        if self.stuck is not None:
            return self.stuck
        return 1.0 if self.is_open else 0.0

    def frozen_value(self, rep: Reporting) -> float:
        """The value a device freezes at when it sticks: its last report, bit for bit."""
        if self.last_value is not None:
            return self.last_value
        resolution = rep.smoke_resolution if self.quantity is Quantity.SMOKE else rep.gas_resolution
        return round(round(self.last_sensed / resolution) * resolution, 6)

    def sensed(self, t: float) -> float:
        """The smoke or gas level the sensor sees at ``t``: its clean-air offset, the air, any noise fault."""
        if self.stuck is not None:
            return self.stuck
        assert self.air is not None
        physical = self.baseline + (self.air.obscuration(t) if self.quantity is Quantity.SMOKE else self.air.gas)
        if self.noise_sd:
            physical += float(self.rng.normal(0.0, self.noise_sd))
        return physical

    def reading(self, t: float, rep: Reporting) -> float | None:
        """The value a smoke or gas device reports at ``t``, or None when no report is due.

        A report is due past the deadband (no sooner than ``min_interval_s``) or at the fast or periodic
        interval; a silent device (offline, battery empty) senses but reports nothing.
        """
        sensed = self.sensed(t)
        if self.offline or self.dead:
            return None
        smoke = self.quantity is Quantity.SMOKE
        elevated = sensed > (rep.smoke_elevated if smoke else rep.gas_elevated)
        elapsed = t - self.last_t
        limit = rep.fast_interval_s if elevated else rep.report_interval_s
        moved = abs(sensed - self.last_sensed) > (rep.smoke_deadband if smoke else rep.gas_deadband)
        if not (elapsed >= limit - 1e-9 or (moved and elapsed >= rep.min_interval_s - 1e-9)):
            return None
        self.last_sensed = sensed
        if self.stuck is not None:
            return self.stuck
        noise = rep.smoke_noise if smoke else rep.gas_noise
        resolution = rep.smoke_resolution if smoke else rep.gas_resolution
        value = round((sensed + float(self.rng.normal(0.0, noise))) / resolution) * resolution
        return round(min(max(value, 0.0), 100.0), 6)
