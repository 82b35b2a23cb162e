"""``/api/v1/siteplan``: the compound's plan, a building's floors and flats, and one flat, within the caller's grids.

The plan itself is ``hub.web.siteplan``; the live markers come from the alarm list and the alarm stream. A
flat's household is attached only for those responsible for the flat (the alarm detail's rule).
"""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import APIRouter, HTTPException, Path, status
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from compound.config import Compound, Device
from hub.alarms import lifecycle
from hub.alarms.access import responsible_for_flat
from hub.alarms.schemas import AlarmPublic
from hub.db import Alarm
from hub.web.deps import CompoundDep, CurrentUser, Service
from hub.web.permissions import Viewer
from hub.web.schemas import HouseholdPublic
from hub.web.siteplan import DeviceState, SitePlan, device_states, site_plan

__all__ = ["BuildingFloors", "FlatView", "router"]

router = APIRouter(prefix="/api/v1/siteplan", tags=["devices"])

OPEN_LIMIT: Final = 5000
"""Open alarms read to colour devices (far more than a compound ever has open at once)."""
HISTORY_LIMIT: Final = 50

_ERRORS: dict[int | str, dict[str, str]] = {
    401: {"description": "No valid token or session."},
    404: {"description": "No such building or flat, or it is outside the caller's grids."},
}

_OK: Final = DeviceState(status="ok")


class DeviceOnPlan(BaseModel):
    """A device and its state (its worst open alarm)."""

    id: str
    type: str
    place: str | None
    floor: int | None
    flat: str | None
    battery: bool
    state: DeviceState


class FlatCell(BaseModel):
    """A flat in a building's floor grid."""

    flat: str
    devices: list[DeviceOnPlan]


class FloorRow(BaseModel):
    """One floor of one unit: its flats, and devices on the floor outside flats (the fire door)."""

    floor: int
    flats: list[FlatCell]
    common: list[DeviceOnPlan]


class UnitFloors(BaseModel):
    """A unit's floors, top floor first (as the building is drawn), and its devices on no floor."""

    id: str
    grid: str
    floors: list[FloorRow]
    other: list[DeviceOnPlan] = Field(description="Entrance door, lift cameras: devices on no floor.")


class BuildingFloors(BaseModel):
    """A building as a stacked grid of flats per unit, within the caller's grids."""

    id: str
    name: str
    floors: int
    flats_per_floor: int
    units: list[UnitFloors]
    other: list[DeviceOnPlan] = Field(description="Devices of the building in no unit (fire-lane cameras).")


class FlatView(BaseModel):
    """A flat: its devices and their state, its household (only for those responsible), its alarm history."""

    building: str
    building_name: str
    unit: str
    floor: int
    flat: str
    grid: str
    devices: list[DeviceOnPlan]
    household: HouseholdPublic | None = Field(
        default=None, description="Present only for the flat's micro-grid workers, grid leaders and property managers."
    )
    history: list[AlarmPublic] = Field(description="The flat's alarms, newest first (at most 50).")


def _on_plan(device: Device, states: dict[str, DeviceState]) -> DeviceOnPlan:
    return DeviceOnPlan(
        id=device.id,
        type=str(device.type.value),
        place=device.place,
        floor=device.floor,
        flat=device.flat,
        battery=device.battery,
        state=states.get(device.id, _OK),
    )


def _states(service: Service, viewer: Viewer) -> dict[str, DeviceState]:
    return device_states(service.list_alarms(state="open", grids=viewer.grid_set, limit=OPEN_LIMIT))


def _visible(grid: str, viewer: Viewer) -> bool:
    return viewer.grids is None or grid in viewer.grids


@router.get("", response_model=SitePlan, responses={401: _ERRORS[401]})
def get_site_plan(user: CurrentUser, compound: CompoundDep) -> SitePlan:
    """Buildings, sites, fire lanes, lift cars and gates laid out from the config, within the caller's grids."""
    return site_plan(compound, Viewer.of(user, compound).grids)


def _building(compound: Compound, building_id: str) -> tuple[str, int, int, list[str]]:
    for b in compound.compound.buildings:
        if b.id == building_id:
            return b.name, b.floors, b.flats_per_floor, b.units
    raise HTTPException(status.HTTP_404_NOT_FOUND, f"building {building_id} not found")


_ID = Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")


@router.get("/buildings/{building_id}", response_model=BuildingFloors, responses=_ERRORS)
def get_building(
    building_id: Annotated[str, _ID], user: CurrentUser, compound: CompoundDep, service: Service
) -> BuildingFloors:
    """A building's floors as a grid of flats per unit, each with its devices and their state."""
    name, floors, flats_per_floor, unit_ids = _building(compound, building_id)
    viewer = Viewer.of(user, compound)
    states = _states(service, viewer)
    devices = [d for d in compound.devices.values() if d.building == building_id]
    units: list[UnitFloors] = []
    for unit_id in unit_ids:
        in_unit = [d for d in devices if d.unit == unit_id]
        grid = compound.grid_of(in_unit[0]) if in_unit else ""
        if not in_unit or not _visible(grid, viewer):
            continue
        rows: list[FloorRow] = []
        for floor in range(floors, 0, -1):
            on_floor = [d for d in in_unit if d.floor == floor]
            flats = [
                FlatCell(flat=f, devices=[_on_plan(d, states) for d in on_floor if d.flat == f])
                for f in (str(floor * 100 + i) for i in range(1, flats_per_floor + 1))
            ]
            common = [_on_plan(d, states) for d in on_floor if d.flat is None]
            rows.append(FloorRow(floor=floor, flats=flats, common=common))
        other = [_on_plan(d, states) for d in in_unit if d.floor is None]
        units.append(UnitFloors(id=unit_id, grid=grid, floors=rows, other=other))
    other = [_on_plan(d, states) for d in devices if d.unit is None and _visible(compound.grid_of(d), viewer)]
    if not units and not other:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"building {building_id} not found")
    return BuildingFloors(
        id=building_id, name=name, floors=floors, flats_per_floor=flats_per_floor, units=units, other=other
    )


@router.get("/flats/{building_id}/{unit_id}/{flat}", response_model=FlatView, responses=_ERRORS)
def get_flat(
    building_id: Annotated[str, _ID],
    unit_id: Annotated[str, _ID],
    flat: Annotated[str, Path(pattern=r"^[0-9]{3,5}$")],
    user: CurrentUser,
    compound: CompoundDep,
    service: Service,
) -> FlatView:
    """A flat's devices and state, its household (for those responsible for it) and its alarms, newest first."""
    name, floors, flats_per_floor, unit_ids = _building(compound, building_id)
    floor, index = divmod(int(flat), 100)
    if unit_id not in unit_ids or not (1 <= floor <= floors and 1 <= index <= flats_per_floor):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"flat {building_id}-{unit_id}-{flat} not found")
    in_unit = [d for d in compound.devices.values() if d.building == building_id and d.unit == unit_id]
    grid = compound.grid_of(in_unit[0]) if in_unit else compound.grids.total.id
    viewer = Viewer.of(user, compound)
    if not _visible(grid, viewer):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"flat {building_id}-{unit_id}-{flat} not found")
    states = _states(service, viewer)
    household = None
    if responsible_for_flat(user, grid, compound):
        found = compound.household(building_id, unit_id, flat)
        household = HouseholdPublic.of(found) if found is not None else None
    stmt = (
        select(Alarm)
        .options(selectinload(Alarm.assignees))
        .where(Alarm.building == building_id, Alarm.unit == unit_id, Alarm.flat == flat)
        .order_by(Alarm.id.desc())
        .limit(HISTORY_LIMIT)
    )
    with service.db.session() as session:
        history = [lifecycle.to_public(a) for a in session.scalars(stmt)]
    return FlatView(
        building=building_id,
        building_name=name,
        unit=unit_id,
        floor=floor,
        flat=flat,
        grid=grid,
        devices=[_on_plan(d, states) for d in in_unit if d.flat == flat],
        household=household,
        history=history,
    )
