"""Device health: per device online / offline / low battery / stuck / noisy / stale, and counts per building and type.

What the hub knows, and nothing it does not: device faults arrive as alarms (``device_offline``, ``low_battery``,
``stuck_value``, ``noisy_signal``) while their condition lasts (open and not cleared by the device: a cleared alarm
waiting to be resolved is history, not the device's state); an edge that said goodbye (its last will: ``offline``)
takes its devices offline with it; and a device whose edge has sent nothing — no reading, event or heartbeat —
within twice its reporting interval (``rules.reading_interval_s`` / ``heartbeat_interval_s``) is *stale*: the
hub cannot vouch for it. A device's own latest event counts as a report too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Final, Literal

from pydantic import BaseModel, Field

from compound.config import Compound
from compound.wire import EdgeState, EventKind
from hub.alarms.schemas import AlarmPublic

__all__ = [
    "PROBLEMS",
    "DeviceHealth",
    "EdgeHealth",
    "EdgeSeen",
    "HealthCount",
    "HealthReport",
    "health_report",
]

Status = Literal["online", "offline", "low_battery", "stuck", "noisy", "stale"]

PROBLEMS: Final[tuple[Status, ...]] = ("offline", "low_battery", "stuck", "noisy", "stale")
"""Problems, worst first: a device's status is its worst problem, or ``online``."""

_FAULT_STATUS: Final[Mapping[str, Status]] = {
    EventKind.DEVICE_OFFLINE.value: "offline",
    EventKind.LOW_BATTERY.value: "low_battery",
    EventKind.STUCK_VALUE.value: "stuck",
    EventKind.NOISY_SIGNAL.value: "noisy",
}

STALE_FACTOR: Final = 2
"""A device is stale past this many reporting intervals without a word from its edge."""


class EdgeSeen(BaseModel):
    """What the hub stored about an edge (``edges`` table) and when a device last sent an event."""

    edge: str
    status: str | None = None
    last_seen_at: datetime | None = None


class EdgeHealth(BaseModel):
    """An edge agent: its last status message, when it was last heard, and whether that is too long ago."""

    edge: str
    names: list[str] = Field(description="Names of the buildings and sites it serves (from compound.yaml).")
    status: str | None = Field(description="'online' or 'offline' (its last will), None if it never said.")
    last_seen_at: datetime | None
    offline: bool = Field(description="It said offline, or nothing heard within the stale window.")


class DeviceHealth(BaseModel):
    """A device's health: its worst problem (``status``), every problem, and the open fault alarms behind them."""

    id: str
    type: str
    edge: str
    building: str
    unit: str | None
    floor: int | None
    flat: str | None
    place: str | None
    grid: str
    battery: bool
    status: Status
    problems: list[Status]
    alarm_ids: list[int] = Field(description="Open fault alarms at the device.")
    value: float | None = Field(description="The latest fault alarm's value (battery percent for low_battery).")
    since: datetime | None = Field(description="When the oldest open fault alarm was raised.")
    last_report_at: datetime | None = Field(description="Last word from the device's edge (or the device).")


class HealthCount(BaseModel):
    """Devices of one type in one building, by status."""

    building: str
    type: str
    total: int
    online: int = 0
    offline: int = 0
    low_battery: int = 0
    stuck: int = 0
    noisy: int = 0
    stale: int = 0


class HealthReport(BaseModel):
    """Every visible device's health, the counts per building and type, and the edges."""

    now: datetime
    stale_after_s: float
    edges: list[EdgeHealth]
    counts: list[HealthCount]
    devices: list[DeviceHealth]


def _utc(at: datetime | None) -> datetime | None:
    if at is None:
        return None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def health_report(
    compound: Compound,
    *,
    now: datetime,
    edges: Iterable[EdgeSeen],
    open_alarms: Iterable[AlarmPublic],
    last_events: Mapping[str, datetime],
    grids: frozenset[str] | None,
    device_seen: Mapping[str, datetime] | None = None,
) -> HealthReport:
    """The health of every device in ``grids`` (``None``: all) at ``now``.

    ``device_seen`` is the supervisor's per-device record (``device_seen``: last reading or event). Where it
    tracks an edge's devices, a sensor is judged by its own reports; elsewhere (a hub without it, cameras) by its
    edge's. An open ``edge_offline`` alarm (the supervisor's) takes the edge and its devices offline too.
    """
    seen_devices = device_seen or {}
    tracked_edges = {compound.devices[d].edge for d in seen_devices if d in compound.devices}
    now = _utc(now) or now
    rules = compound.rules
    stale_after = timedelta(seconds=STALE_FACTOR * max(rules.reading_interval_s, rules.heartbeat_interval_s))
    seen = {e.edge: e for e in edges}
    edge_rows: list[EdgeHealth] = []
    edge_down: dict[str, bool] = {}
    served: dict[str, list[str]] = {}
    for building in compound.compound.buildings:
        served.setdefault(building.edge_id, []).append(building.name)
    for site in compound.compound.sites:
        served.setdefault(site.edge, []).append(site.name)
    for edge in compound.edges():
        record = seen.get(edge)
        last = _utc(record.last_seen_at) if record else None
        said_offline = record is not None and record.status == EdgeState.OFFLINE.value
        down = said_offline or (last is not None and now - last > stale_after)
        edge_down[edge] = said_offline
        edge_rows.append(
            EdgeHealth(
                edge=edge,
                names=served.get(edge, []),
                status=record.status if record else None,
                last_seen_at=last,
                offline=down,
            )
        )
    faults: dict[str, list[AlarmPublic]] = {}
    for alarm in open_alarms:
        if alarm.cleared_at is not None:
            continue  # the condition is gone (the alarm waits to be resolved): not the device's state now
        if alarm.kind == EventKind.EDGE_OFFLINE.value and alarm.device in edge_down:
            edge_down[alarm.device] = True
            for row in edge_rows:
                if row.edge == alarm.device:
                    row.offline = True
        if alarm.kind in _FAULT_STATUS:
            faults.setdefault(alarm.device, []).append(alarm)
    devices: list[DeviceHealth] = []
    counts: dict[tuple[str, str], HealthCount] = {}
    for device in compound.devices.values():
        grid = compound.grid_of(device)
        if grids is not None and grid not in grids:
            continue
        record = seen.get(device.edge)
        own = [t for t in (_utc(seen_devices.get(device.id)), _utc(last_events.get(device.id))) if t]
        if own or (device.edge in tracked_edges and not device.type.is_camera):
            reports = own
        else:
            reports = [t for t in (_utc(record.last_seen_at) if record else None,) if t]
        last_report = max(reports) if reports else None
        found = set()
        mine = sorted(faults.get(device.id, []), key=lambda a: a.id)
        for alarm in mine:
            found.add(_FAULT_STATUS[alarm.kind])
        if edge_down.get(device.edge):
            found.add("offline")
        if last_report is None or now - last_report > stale_after:
            found.add("stale")
        problems = [p for p in PROBLEMS if p in found]
        status: Status = problems[0] if problems else "online"
        type_ = str(device.type.value)
        devices.append(
            DeviceHealth(
                id=device.id,
                type=type_,
                edge=device.edge,
                building=device.building,
                unit=device.unit,
                floor=device.floor,
                flat=device.flat,
                place=device.place,
                grid=grid,
                battery=device.battery,
                status=status,
                problems=problems,
                alarm_ids=[a.id for a in mine],
                value=mine[-1].value if mine else None,
                since=_utc(mine[0].raised_at) if mine else None,
                last_report_at=last_report,
            )
        )
        count = counts.setdefault((device.building, type_), HealthCount(building=device.building, type=type_, total=0))
        count.total += 1
        setattr(count, status, getattr(count, status) + 1)
    return HealthReport(
        now=now,
        stale_after_s=stale_after.total_seconds(),
        edges=edge_rows,
        counts=sorted(counts.values(), key=lambda c: (c.building, c.type)),
        devices=devices,
    )
