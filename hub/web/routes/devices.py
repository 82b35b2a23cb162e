"""``GET /api/v1/devices/{device_id}`` and ``.../series``: a device and its recent curve, within the caller's grids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, status
from pydantic import BaseModel, Field

from compound.config import Compound, Device
from hub.timeseries.base import SeriesReader
from hub.web.deps import CompoundDep, CurrentUser, Service
from hub.web.permissions import Viewer

__all__ = ["MAX_WINDOW", "DevicePublic", "DeviceSeries", "SeriesPointPublic", "attach_series", "router"]

router = APIRouter(prefix="/api/v1/devices", tags=["devices"])

MAX_WINDOW = timedelta(days=31)
"""Longest window one request may ask for (the embedded store keeps 7 days by default)."""

DEFAULT_WINDOW = timedelta(minutes=30)


class SeriesPointPublic(BaseModel):
    """One point of a curve."""

    at: datetime
    value: float


class DeviceSeries(BaseModel):
    """A device's curve over a window; downsampled (min/max per bucket) past ``max_points``."""

    device: str
    quantity: str | None = Field(description="The quantity charted; None when the device has reported nothing.")
    quantities: list[str] = Field(description="Every quantity the device reported, most recent first.")
    start: datetime = Field(serialization_alias="from")
    end: datetime = Field(serialization_alias="to")
    points: list[SeriesPointPublic]


class DevicePublic(BaseModel):
    """A configured device: what it is, where, which edge reads it, which grid it belongs to."""

    id: str
    type: str = Field(description="'smoke_detector', 'gas_detector', 'door_contact', 'camera'...")
    edge: str
    building: str
    unit: str | None
    floor: int | None
    flat: str | None
    place: str | None
    grid: str | None = Field(description="The micro-grid (or wider grid) the device belongs to.")
    battery: bool
    quantities: list[str] = Field(description="Quantities it reported (time series), most recent first.")
    now: datetime = Field(description="The hub's clock (possibly simulated): the end of 'the last 24 h'.")


def attach_series(app: FastAPI, reader: SeriesReader) -> None:
    """Give the app the time-series reader this route serves from (``open_timeseries(...).reader``)."""
    app.state.series = reader


def _reader(request: Request) -> SeriesReader:
    reader: SeriesReader | None = getattr(request.app.state, "series", None)
    if reader is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "this hub keeps no time series")
    return reader


Reader = Annotated[SeriesReader, Depends(_reader)]


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _visible_device(device_id: str, user: CurrentUser, compound: Compound) -> Device:
    """The device when the caller may see it; 404 when it is unknown or outside the caller's grids."""
    device = compound.devices.get(device_id)
    viewer = Viewer.of(user, compound)
    if device is None or (viewer.grids is not None and compound.grid_of(device) not in viewer.grids):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"device {device_id} not found")
    return device


_DEVICE_ERRORS: dict[int | str, dict[str, str]] = {
    401: {"description": "No valid token or session."},
    404: {"description": "No such device, or it is outside the caller's grids (existence is not revealed)."},
}


@router.get("/{device_id}", response_model=DevicePublic, responses=_DEVICE_ERRORS)
def get_device(
    device_id: str, user: CurrentUser, compound: CompoundDep, service: Service, request: Request
) -> DevicePublic:
    """A device of the compound, for the device page (its quantities are empty without a time-series store)."""
    device = _visible_device(device_id, user, compound)
    reader: SeriesReader | None = getattr(request.app.state, "series", None)
    return DevicePublic(
        id=device.id,
        type=str(device.type.value),
        edge=device.edge,
        building=device.building,
        unit=device.unit,
        floor=device.floor,
        flat=device.flat,
        place=device.place,
        grid=compound.grid_of(device),
        battery=device.battery,
        quantities=reader.quantities(device_id) if reader is not None else [],
        now=_utc(service.clock.now()),
    )


@router.get(
    "/{device_id}/series",
    response_model=DeviceSeries,
    response_model_by_alias=True,
    responses={
        **_DEVICE_ERRORS,
        422: {"description": "A bad window: 'to' not after 'from', or longer than 31 days."},
        503: {"description": "The hub was started without a time-series store."},
    },
)
def device_series(
    device_id: str,
    user: CurrentUser,
    compound: CompoundDep,
    service: Service,
    reader: Reader,
    start: Annotated[
        datetime | None,
        Query(alias="from", description="Window start, ISO 8601 (default: 'span' or 30 minutes before 'to')"),
    ] = None,
    end: Annotated[
        datetime | None, Query(alias="to", description="Window end, ISO 8601 (default: now on the hub's clock)")
    ] = None,
    span: Annotated[
        float | None, Query(gt=0, description="Window length in seconds ending at 'to', instead of 'from'")
    ] = None,
    quantity: Annotated[
        str | None, Query(max_length=32, description="'smoke', 'gas', 'battery'...; default: the device's main one")
    ] = None,
    max_points: Annotated[int, Query(ge=2, le=5000, description="Downsample past this many points")] = 500,
) -> DeviceSeries:
    """The device's readings over [from, to], for the alarm detail's curve and the device page.

    "Now" is the hub's clock, the one alarms are stamped with (simulated when the hub runs a scenario).
    """
    _visible_device(device_id, user, compound)
    if start is not None and span is not None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "give 'from' or 'span', not both")
    try:
        to = _utc(end) if end is not None else _utc(service.clock.now())
        if span is not None:
            if span > MAX_WINDOW.total_seconds():
                raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"window longer than {MAX_WINDOW.days} days")
            frm = to - timedelta(seconds=span)
        else:
            frm = _utc(start) if start is not None else to - DEFAULT_WINDOW
    except OverflowError:  # found by fuzzing: 'to' of 0001-01-01 (or 9999-12-31 west of UTC) has no window
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "'from'/'to' out of range: the window must lie within years 1-9999 UTC",
        ) from None
    if to <= frm:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "'to' must be after 'from'")
    if to - frm > MAX_WINDOW:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"window longer than {MAX_WINDOW.days} days")
    known = reader.quantities(device_id)
    chosen = quantity or next((q for q in known if q != "battery"), known[0] if known else None)
    points = [] if chosen is None else reader.series(device_id, chosen, frm, to, max_points)
    return DeviceSeries(
        device=device_id,
        quantity=chosen,
        quantities=known,
        start=frm,
        end=to,
        points=[SeriesPointPublic(at=p.at, value=p.value) for p in points],
    )
