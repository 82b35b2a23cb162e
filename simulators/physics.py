"""Air in a flat: smoke obscuration from a t-squared fire and gas from a leak, removed by air exchange.

Both follow a well-mixed single-zone balance, integrated exactly over each fixed step::

    dD/dt = BETA * Q(t)        - lam * D      smoke optical density, dB/m
    dG/dt = rate / 60          - lam * G      gas, %LEL
    lam   = ach / 3600                        air changes per hour -> 1/s

Q(t) = alpha * (t - t_ignition)^2, capped at ``peak_kw``, is the heat release of a t-squared fire; after
``extinguish`` it falls with a short time constant. ``BETA`` (dB/m per kJ released) is chosen so that a
medium fire in a ~40 m^3 kitchen-living room crosses 0.15 dB/m about 2.5 minutes after ignition.
A burnt-toast puff adds a short raised-cosine bump straight to the obscuration (cooker hood draws it
away within seconds). No randomness here: sensor noise belongs to the detectors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

__all__ = ["BASE_ACH", "BETA", "FlatAir"]

BETA = 1.2e-5
"""Smoke optical density produced per kJ of heat released, dB/m per kJ (well-mixed ~40 m^3 room)."""

BASE_ACH = 0.5
"""Air changes per hour of a closed flat (infiltration)."""

EXTINGUISH_TAU_S = 20.0
"""Time constant of the heat release falling after the fire is put out, seconds."""

QUIET_SMOKE = 1e-4
QUIET_GAS = 1e-3
"""Below these (dB/m, %LEL) with no source, a flat's air counts as clean and stops being stepped."""


@dataclass(slots=True)
class Puff:
    """A short smoke puff (burnt toast) added directly to the obscuration."""

    start: float
    peak: float
    duration: float

    def at(self, t: float) -> float:
        """Obscuration contributed at ``t`` (raised cosine over the duration)."""
        x = (t - self.start) / self.duration
        if x <= 0.0 or x >= 1.0:
            return 0.0
        return self.peak * 0.5 * (1.0 - math.cos(2.0 * math.pi * x))


@dataclass(slots=True)
class FlatAir:
    """Smoke and gas state of one flat's air, stepped on simulated seconds."""

    smoke: float = 0.0
    gas: float = 0.0
    ach: float = BASE_ACH
    fire_start: float | None = None
    fire_alpha: float = 0.0
    fire_peak_kw: float = 1000.0
    extinguished_at: float | None = None
    heat_at_extinguish: float = 0.0
    leak_rate: float = 0.0
    puffs: list[Puff] = field(default_factory=list)

    def heat_kw(self, t: float) -> float:
        """Heat release of the fire at ``t``, kW."""
        if self.fire_start is None or t <= self.fire_start:
            return 0.0
        if self.extinguished_at is not None and t >= self.extinguished_at:
            return self.heat_at_extinguish * math.exp(-(t - self.extinguished_at) / EXTINGUISH_TAU_S)
        dt = t - self.fire_start
        return min(self.fire_alpha * dt * dt, self.fire_peak_kw)

    def ignite(self, t: float, alpha: float, peak_kw: float) -> None:
        """A fire starts growing at ``t``."""
        self.fire_start = t
        self.fire_alpha = alpha
        self.fire_peak_kw = peak_kw
        self.extinguished_at = None

    def extinguish(self, t: float) -> None:
        """The fire is put out at ``t``: heat release decays from its current value."""
        if self.fire_start is not None and self.extinguished_at is None:
            self.heat_at_extinguish = self.heat_kw(t)
            self.extinguished_at = t

    def active(self, t: float) -> bool:
        """Whether the air still changes (a source, a puff, or something left to clear)."""
        burning = self.fire_start is not None and (
            self.extinguished_at is None or t - self.extinguished_at < 20 * EXTINGUISH_TAU_S
        )
        return burning or self.leak_rate > 0.0 or bool(self.puffs) or self.smoke > QUIET_SMOKE or self.gas > QUIET_GAS

    def step(self, t0: float, dt: float) -> None:
        """Advance from ``t0`` to ``t0 + dt`` (exact for sources constant over the step, taken at mid-step)."""
        lam = self.ach / 3600.0
        decay = math.exp(-lam * dt)
        gain = (1.0 - decay) / lam
        q = self.heat_kw(t0 + 0.5 * dt)
        self.smoke = self.smoke * decay + BETA * q * gain
        self.gas = min(100.0, self.gas * decay + self.leak_rate / 60.0 * gain)
        t1 = t0 + dt
        if self.puffs:
            self.puffs = [p for p in self.puffs if p.start + p.duration > t1]
        if self.extinguished_at is not None and t1 - self.extinguished_at >= 20 * EXTINGUISH_TAU_S:
            self.fire_start = None
            self.extinguished_at = None
        if self.leak_rate == 0.0 and self.gas <= QUIET_GAS:
            self.gas = 0.0
        if self.fire_start is None and self.smoke <= QUIET_SMOKE:
            self.smoke = 0.0

    def obscuration(self, t: float) -> float:
        """Smoke obscuration seen by a detector at ``t``, dB/m (fire smoke plus any puff)."""
        return self.smoke + sum(p.at(t) for p in self.puffs)
