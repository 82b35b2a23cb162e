"""The site plan: where buildings, sites, fire lanes, lift cars and gates are drawn, and each device's state.

Drawn from ``configs/`` alone: a building or site with a ``layout:`` block stands where it says; the others
are laid out automatically in rows below and beside them (units side by side along a building's front, a fire
lane along its north side when a fire-lane camera watches it). Coordinates are metres on the plan; the console
draws them as SVG. Device states come from the open alarms: the worst open alarm at a device decides.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Final, Literal

from pydantic import BaseModel, Field

from compound.config import Compound, Device
from compound.config.models import Building, BuildingLayout, DoorRole, Site
from compound.wire import EventKind
from hub.alarms.schemas import AlarmPublic

__all__ = [
    "BuildingPlan",
    "DeviceState",
    "FeaturePlan",
    "SitePlan",
    "UnitPlan",
    "device_states",
    "site_plan",
]

UNIT_WIDTH: Final = 24.0
"""Metres of front per unit in the automatic layout."""
AUTO_DEPTH: Final = 16.0
GAP_X: Final = 30.0
GAP_Y: Final = 40.0
MARGIN: Final = 30.0
SITE_SIZE: Final = (44.0, 30.0)
LANE_DEPTH: Final = 6.0

_SEVERITY_RANK: Final = {"critical": 0, "warning": 1, "info": 2}

DeviceStatus = Literal["ok", "alarm", "fault"]


class UnitPlan(BaseModel):
    """A unit (entrance) of a building: its grid and its slice of the front, as fractions of the width."""

    id: str
    grid: str
    start: float = Field(description="Where the unit's slice begins along the front, 0..1.")
    end: float = Field(description="Where it ends, 0..1.")


class FeaturePlan(BaseModel):
    """Something drawn on or beside a footprint: a fire lane, a lift car, a gate (a device watches it)."""

    device: str
    kind: Literal["fire_lane", "lift", "gate", "camera"]
    type: str
    unit: str | None
    place: str | None
    grid: str
    dx: float = Field(description="Offset from the footprint's centre along its front, metres (before rotation).")
    dy: float = Field(description="Offset towards its back (positive) or front, metres (before rotation).")
    width: float
    depth: float


class BuildingPlan(BaseModel):
    """A building or site as drawn: footprint centred on (x, y), turned by ``rotation`` degrees clockwise."""

    id: str
    name: str
    kind: str = Field(description="'building', or the site's kind ('kindergarten'...).")
    x: float
    y: float
    width: float
    depth: float
    rotation: float
    auto: bool = Field(description="True when laid out automatically (no layout: block in the config).")
    floors: int | None
    flats_per_floor: int | None
    edge: str
    grid: str = Field(description="The building's general grid, or the site's dedicated grid.")
    units: list[UnitPlan]
    features: list[FeaturePlan]


class SitePlan(BaseModel):
    """Everything the caller may see, laid out on a plan of ``width`` × ``height`` metres."""

    compound: str
    name: str
    width: float
    height: float
    buildings: list[BuildingPlan]


class DeviceState(BaseModel):
    """A device's state on the plan: its worst open alarm, if any."""

    status: DeviceStatus
    alarm_id: int | None = None
    kind: str | None = None
    severity: str | None = None
    state: str | None = None


def _auto_size(building: Building | None) -> tuple[float, float]:
    if building is None:
        return SITE_SIZE
    return max(40.0, UNIT_WIDTH * len(building.units)), AUTO_DEPTH


def _placements(
    items: list[tuple[str, BuildingLayout | None, tuple[float, float]]],
) -> dict[str, tuple[BuildingLayout, bool]]:
    """Each item's layout: its own, or a place in the automatic grid below every explicit footprint."""
    placed: dict[str, tuple[BuildingLayout, bool]] = {}
    bottom = 0.0
    for key, layout, _ in items:
        if layout is not None:
            placed[key] = (layout, False)
            bottom = max(bottom, layout.y + max(layout.width, layout.depth) / 2)
    auto = [(key, size) for key, layout, size in items if layout is None]
    if not auto:
        return placed
    columns = max(1, min(3, math.ceil(math.sqrt(len(auto)))))
    cell_w = max(w for _, (w, _) in auto) + GAP_X
    cell_h = max(d for _, (_, d) in auto) + GAP_Y
    top = (bottom + GAP_Y) if placed else MARGIN
    for i, (key, (w, d)) in enumerate(auto):
        row, col = divmod(i, columns)
        x = MARGIN + col * cell_w + w / 2
        y = top + LANE_DEPTH + 4 + row * cell_h + d / 2
        placed[key] = (BuildingLayout(x=x, y=y, width=w, depth=d, rotation=0), True)
    return placed


def _feature(device: Device, grid: str, width: float, depth: float, units: list[UnitPlan]) -> FeaturePlan | None:
    type_ = str(device.type.value)
    unit = next((u for u in units if u.id == device.unit), None)
    unit_dx = ((unit.start + unit.end) / 2 - 0.5) * width if unit is not None else 0.0
    common = {"device": device.id, "type": type_, "unit": device.unit, "place": device.place, "grid": grid}
    if type_ == "fire_lane_camera":
        return FeaturePlan(
            kind="fire_lane", dx=0, dy=-(depth / 2 + LANE_DEPTH / 2 + 2), width=width, depth=LANE_DEPTH, **common
        )
    if type_ == "lift_camera":
        return FeaturePlan(kind="lift", dx=unit_dx, dy=-depth / 4, width=4, depth=4, **common)
    if device.door_role is DoorRole.GATE:
        return FeaturePlan(kind="gate", dx=unit_dx, dy=depth / 2, width=8, depth=2, **common)
    if device.type.is_camera:
        return FeaturePlan(kind="camera", dx=unit_dx, dy=0, width=3, depth=3, **common)
    return None


def site_plan(compound: Compound, grids: frozenset[str] | None) -> SitePlan:
    """The plan of what a person seeing ``grids`` (``None``: everything) may see."""
    cfg = compound.compound
    micro = {(m.building, m.unit): m.id for m in compound.grids.micro}
    general = {b: g.id for g in compound.grids.general for b in g.buildings}
    dedicated = {d.site: d.id for d in compound.grids.dedicated}
    total = compound.grids.total.id
    entries: list[Building | Site] = [*cfg.buildings, *cfg.sites]
    placements = _placements([(e.id, e.layout, _auto_size(e if isinstance(e, Building) else None)) for e in entries])

    def visible(grid: str) -> bool:
        return grids is None or grid in grids

    by_building: dict[str, list[Device]] = {}
    for device in compound.devices.values():
        by_building.setdefault(device.building, []).append(device)

    plans: list[BuildingPlan] = []
    for entry in entries:
        layout, auto = placements[entry.id]
        if isinstance(entry, Building):
            n = len(entry.units)
            units = [
                UnitPlan(
                    id=u, grid=micro.get((entry.id, u), general.get(entry.id, total)), start=i / n, end=(i + 1) / n
                )
                for i, u in enumerate(entry.units)
            ]
            units = [u for u in units if visible(u.grid)]
            own_grid = general.get(entry.id, total)
            if not units and not visible(own_grid):
                continue
            kind, floors, flats, edge = "building", entry.floors, entry.flats_per_floor, entry.edge_id
        else:
            own_grid = dedicated.get(entry.id, total)
            if not visible(own_grid):
                continue
            units, kind, floors, flats, edge = [], entry.kind, None, None, entry.edge
        features = []
        for device in by_building.get(entry.id, []):
            grid = compound.grid_of(device)
            if not visible(grid):
                continue
            feature = _feature(device, grid, layout.width, layout.depth, units)
            if feature is not None:
                features.append(feature)
        plans.append(
            BuildingPlan(
                id=entry.id,
                name=entry.name,
                kind=kind,
                x=layout.x,
                y=layout.y,
                width=layout.width,
                depth=layout.depth,
                rotation=layout.rotation,
                auto=auto,
                floors=floors,
                flats_per_floor=flats,
                edge=edge,
                grid=own_grid,
                units=units,
                features=features,
            )
        )
    width = max((p.x + math.hypot(p.width, p.depth) / 2 for p in plans), default=0.0) + MARGIN
    height = max((p.y + math.hypot(p.width, p.depth) / 2 for p in plans), default=0.0) + MARGIN
    return SitePlan(compound=cfg.compound.id, name=cfg.compound.name, width=width, height=height, buildings=plans)


def _rank(alarm: AlarmPublic) -> tuple[int, int]:
    return (_SEVERITY_RANK.get(alarm.severity, 3), -alarm.id)


def device_states(open_alarms: Iterable[AlarmPublic]) -> dict[str, DeviceState]:
    """Each device's worst open alarm: ``alarm`` for a safety alarm, ``fault`` for a device fault."""
    worst: dict[str, AlarmPublic] = {}
    for alarm in open_alarms:
        known = worst.get(alarm.device)
        if known is None or _rank(alarm) < _rank(known):
            worst[alarm.device] = alarm
    states: dict[str, DeviceState] = {}
    for device, alarm in worst.items():
        fault = alarm.kind in {k.value for k in EventKind if k.is_fault}
        states[device] = DeviceState(
            status="fault" if fault else "alarm",
            alarm_id=alarm.id,
            kind=alarm.kind,
            severity=alarm.severity,
            state=str(alarm.state.value),
        )
    return states
