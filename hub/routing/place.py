"""Where an alarm happened when the edge estimated it: a thrown object's window, checked against the building.

Most alarms happen where their device is. A façade camera's ``thrown_object`` happens at the window the object
came from, which the edge estimates and sends as the event's location (``EventKind.located_by_event``). The hub
never trusts input: the estimate is used only when it names a place in the camera's own building that exists
in the config (a unit of that building, a floor it has, a flat number of that floor); otherwise the alarm stays
at the camera's place, and the reason is logged.
"""

from __future__ import annotations

import dataclasses
import logging

from compound import wire
from compound.config import Compound
from compound.config.loader import Device

__all__ = ["alarm_place"]

log = logging.getLogger(__name__)


def alarm_place(compound: Compound, device: Device, event: wire.Event) -> Device:
    """The device as placed for this event's alarm: at the event's estimated flat when its kind is located by the
    event and the estimate is a real flat of the device's building; else the device itself."""
    if not event.kind.located_by_event:
        return device
    loc = event.location
    problem = _problem(compound, device, loc)
    if problem is not None:
        log.warning(
            "event %s: estimated place %s not used (%s); the alarm stays at %s",
            event.id,
            loc.model_dump(exclude_none=True),
            problem,
            device.id,
        )
        return device
    return dataclasses.replace(device, unit=loc.unit, floor=loc.floor, flat=loc.flat, place=loc.place or device.place)


def _problem(compound: Compound, device: Device, loc: wire.Location) -> str | None:
    building = next((b for b in compound.compound.buildings if b.id == device.building), None)
    if building is None:
        return f"the camera's place {device.building} is not a residential building"
    if loc.building != device.building:
        return f"building {loc.building} is not the camera's building {device.building}"
    if loc.unit is None or loc.unit not in building.units:
        return f"unit {loc.unit} is not a unit of {building.id} ({', '.join(building.units)})"
    if loc.floor is None or not 1 <= loc.floor <= building.floors:
        return f"floor {loc.floor} is not a floor of {building.id} (1..{building.floors})"
    if loc.flat not in building.flat_numbers(loc.floor):
        return f"flat {loc.flat} is not a flat of floor {loc.floor}"
    return None
