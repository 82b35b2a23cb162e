"""Which roles an alarm kind goes to: the routing table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from compound.config.models import Role
from compound.wire import EventKind

__all__ = ["ROUTES", "Route", "route_for"]


@dataclass(frozen=True, slots=True)
class Route:
    """A named routing rule: the roles an alarm must reach, in order of responsibility."""

    name: str
    roles: tuple[Role, ...]


_FIRE_GAS = Route("fire_gas", (Role.MICRO_GRID_WORKER, Role.PROPERTY_SECURITY))
_GRID = Route("grid_worker", (Role.MICRO_GRID_WORKER,))
_FAULT = Route("device_fault", (Role.MAINTENANCE,))
_SECURITY = Route("security", (Role.PROPERTY_SECURITY,))
_FIRE_LANE = Route("fire_lane", (Role.PROPERTY_SECURITY, Role.MICRO_GRID_WORKER))
_THROWN = Route("thrown_object", (Role.MICRO_GRID_WORKER, Role.PROPERTY_SECURITY))
"""高空抛物: the micro-grid worker of the estimated flat's unit (to talk to the household) and security (to the spot
below, to keep people away and keep the evidence)."""
_EDGE_LINK = Route("edge_link", (Role.MAINTENANCE, Role.PROPERTY_MANAGER))
"""A building's edge gone dark: maintenance to fix it and the manager on duty (the building is unwatched)."""

ROUTES: Final[dict[EventKind, Route]] = {
    EventKind.SMOKE: _FIRE_GAS,
    EventKind.GAS: _FIRE_GAS,
    EventKind.GAS_PRE_ALARM: _FIRE_GAS,
    EventKind.DOOR_HELD_OPEN: _GRID,
    EventKind.DOOR_FORCED: _GRID,
    EventKind.CARE_INACTIVE: _GRID,
    EventKind.EBIKE_IN_LIFT: _SECURITY,
    EventKind.FIRE_LANE_BLOCKED: _FIRE_LANE,
    EventKind.THROWN_OBJECT: _THROWN,
    **{kind: _FAULT for kind in EventKind if kind.is_fault},
    EventKind.EDGE_OFFLINE: _EDGE_LINK,
}


def route_for(kind: EventKind) -> Route:
    """The routing rule for a kind; a kind added to the wire contract later goes to grid workers."""
    return ROUTES.get(kind, _GRID)
