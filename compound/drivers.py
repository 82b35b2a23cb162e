"""The sensor driver interface: what an edge agent reads, whoever produces it.

Simulators implement it; so would a Zigbee/Modbus gateway. Drivers produce raw ``Sample`` values
(obscuration, %LEL, door open/closed, access grants, battery) and know nothing of rules, MQTT or alarms.
The edge agent polls every driver on each tick of its clock.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "DRIVERS",
    "DriverFactory",
    "Quantity",
    "Sample",
    "SensorDriver",
    "build_driver",
    "register_driver",
    "run_options",
]


class Quantity(StrEnum):
    """What a sample measures, with its unit."""

    SMOKE = "smoke"  # obscuration, dB/m
    GAS = "gas"  # %LEL
    DOOR = "door"  # 1.0 open, 0.0 closed
    ACCESS = "access"  # 1.0: the door's reader accepted a credential (card, face, code) or its exit button was pressed

    @property
    def unit(self) -> str:
        return {"smoke": "dB/m", "gas": "%LEL", "door": "open", "access": "grant"}[self.value]

    @property
    def periodic(self) -> bool:
        """Whether the quantity is a level sampled over time (False for ACCESS: an instant, not a state)."""
        return self is not Quantity.ACCESS


@dataclass(frozen=True, slots=True)
class Sample:
    """One raw value from one device at one time. ``battery`` in percent when the device reports it.

    An ``ACCESS`` sample carries the id of the door contact whose reader granted access (value 1.0,
    ``battery`` None): the access controller of a unit entrance or gate reports each accepted
    credential and each press of the exit button, so rules can tell a resident's opening from a forced one
    (a driver may send 0.0 for a refused credential: it is not a grant).
    """

    device: str
    quantity: Quantity
    value: float
    at: datetime
    battery: float | None = None


@runtime_checkable
class SensorDriver(Protocol):
    """A source of samples for a set of devices (a gateway, a bus, a simulator)."""

    name: str

    def devices(self) -> Sequence[str]:
        """Ids of the devices this driver reads (ids from the compound config)."""
        ...

    def poll(self, now: datetime) -> Sequence[Sample]:
        """Samples produced since the last poll, up to ``now``. A silent (offline) device yields none."""
        ...

    def close(self) -> None:
        """Release the driver's resources."""
        ...


DriverFactory = Callable[..., SensorDriver]
"""Builds a driver: ``factory(compound, edge_id, clock, **options)``.

``compound edge --driver NAME`` calls every factory the same way: the run's options (``run_options``:
``start``, and ``scenario`` / ``seed`` when the run has them) and one string option per
``--driver-option KEY=VALUE``. A factory raises ``TypeError`` or ``ValueError`` for an option it cannot
honour (a hardware gateway asked to play a scenario), and the command exits 2 with that message.
"""

DRIVERS: dict[str, DriverFactory] = {}
"""Name-keyed registry of driver factories (``sim`` is registered by the CLI wiring)."""


def run_options(start: datetime, scenario: object | None = None, seed: int | None = None) -> dict[str, Any]:
    """The options every driver factory gets from a run: ``start`` (simulated time the run's clock starts
    at), plus ``scenario`` (a scenario to play) and ``seed`` (a random seed) when the run has them."""
    options: dict[str, Any] = {"start": start}
    if scenario is not None:
        options["scenario"] = scenario
    if seed is not None:
        options["seed"] = seed
    return options


def register_driver(name: str, factory: DriverFactory) -> None:
    """Register a driver factory under ``name`` (replacing any previous one)."""
    DRIVERS[name] = factory


def build_driver(name: str, *args: Any, **kwargs: Any) -> SensorDriver:
    """Instantiate a registered driver; a clear error names the known ones."""
    try:
        factory = DRIVERS[name]
    except KeyError:
        known = ", ".join(sorted(DRIVERS)) or "(none)"
        raise ValueError(f"unknown driver {name!r}; known drivers: {known}") from None
    return factory(*args, **kwargs)
