"""Edge rules, one module per family; ``default_rules`` builds them from the compound's rule parameters."""

from __future__ import annotations

from compound.config import Compound
from edge.rules.base import Latch, Rule, Transition, UpdateGate, Verdict, location_text
from edge.rules.care import CareInactivity
from edge.rules.doors import FireDoorHeldOpen, NightEntrance
from edge.rules.faults import BatteryLow, DeviceOffline, NoisySignal, StuckValue, noise_level
from edge.rules.gas import GasAlarm
from edge.rules.smoke import SmokeAlarm

__all__ = [
    "BatteryLow",
    "CareInactivity",
    "DeviceOffline",
    "FireDoorHeldOpen",
    "GasAlarm",
    "Latch",
    "NightEntrance",
    "NoisySignal",
    "Rule",
    "SmokeAlarm",
    "StuckValue",
    "Transition",
    "UpdateGate",
    "Verdict",
    "default_rules",
    "location_text",
    "noise_level",
]


def default_rules(compound: Compound) -> list[Rule]:
    """Every rule family, parameterised from ``compound.rules`` (configs/compound.yaml)."""
    r = compound.rules
    return [
        SmokeAlarm(r.smoke),
        GasAlarm(r.gas),
        FireDoorHeldOpen(r.door),
        NightEntrance(r.door, compound.tz),
        CareInactivity(compound),
        DeviceOffline(r.fault),
        BatteryLow(r.fault),
        StuckValue(r.fault),
        NoisySignal(r.fault),
    ]
