"""Devices after rule expansion: the ``Device`` record, and how ``devices.yaml`` rules become devices."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from compound.config.issues import ConfigIssue
from compound.config.models import CameraType, DeviceType, DoorRole, Placement

if TYPE_CHECKING:
    from compound.config.loader import Compound


@dataclass(frozen=True, slots=True)
class Device:
    """A device after rule expansion, with its place and the edge that reads it."""

    id: str
    type: DeviceType | CameraType
    edge: str
    building: str
    unit: str | None = None
    floor: int | None = None
    flat: str | None = None
    place: str | None = None
    door_role: DoorRole | None = None
    battery: bool = False
    source: str | None = None

    @property
    def is_camera(self) -> bool:
        """True for a camera (watched by a vision pipeline), False for a sensor (read through a driver)."""
        return self.type.is_camera

    @property
    def flat_key(self) -> tuple[str, str, str] | None:
        """(building, unit, flat) when the device is in a flat."""
        if self.unit is None or self.flat is None:
            return None
        return (self.building, self.unit, self.flat)


_SUFFIX = {
    DeviceType.SMOKE_DETECTOR: "smoke",
    DeviceType.GAS_DETECTOR: "gas",
}


def expand_devices(c: Compound, issues: list[ConfigIssue]) -> None:
    """Turn device rules into devices (deterministic ids), then add the explicit ones."""
    buildings = {b.id: b for b in c.compound.buildings}
    sites = {s.id: s for s in c.compound.sites}
    devices: dict[str, Device] = {}

    def add(device: Device, file_path: str) -> None:
        if device.id in devices:
            issues.append(ConfigIssue("devices.yaml", file_path, f"device id {device.id!r} defined twice"))
        devices[device.id] = device

    for i, rule in enumerate(c.devices_file.rules):
        covered = list(buildings) if rule.buildings == "all" else rule.buildings
        where = f"rules[{i}]"
        for bid in covered:
            b = buildings[bid]
            for unit in b.units:
                if rule.every in (Placement.FLAT, Placement.KITCHEN):
                    for floor in range(1, b.floors + 1):
                        for flat in b.flat_numbers(floor):
                            place = "kitchen" if rule.every is Placement.KITCHEN else None
                            dev_id = f"{bid}-{unit}-{flat}-{_SUFFIX.get(rule.type, rule.type.value)}"
                            add(
                                Device(
                                    dev_id, rule.type, b.edge_id, bid, unit, floor, flat, place, battery=rule.battery
                                ),
                                where,
                            )
                elif rule.every is Placement.UNIT_ENTRANCE:
                    add(
                        Device(
                            f"{bid}-{unit}-entrance",
                            rule.type,
                            b.edge_id,
                            bid,
                            unit,
                            1,
                            None,
                            "entrance",
                            DoorRole.UNIT_ENTRANCE,
                            rule.battery,
                        ),
                        where,
                    )
                elif rule.every is Placement.FIRE_DOOR:
                    for floor in range(1, b.floors + 1):
                        add(
                            Device(
                                f"{bid}-{unit}-f{floor}-firedoor",
                                rule.type,
                                b.edge_id,
                                bid,
                                unit,
                                floor,
                                None,
                                f"fire-door-{floor}",
                                DoorRole.FIRE_DOOR,
                                rule.battery,
                            ),
                            where,
                        )
            if rule.every is Placement.CARE_HOUSEHOLD:
                for h in c.care_households():
                    if h.building != bid:
                        continue
                    floor = int(h.flat) // 100
                    add(
                        Device(
                            f"{bid}-{h.unit}-{h.flat}-door",
                            rule.type,
                            b.edge_id,
                            bid,
                            h.unit,
                            floor,
                            h.flat,
                            "flat-door",
                            DoorRole.FLAT_DOOR,
                            rule.battery,
                        ),
                        where,
                    )
    for i, spec in enumerate(c.devices_file.devices):
        loc = spec.location
        edge = buildings[loc.building].edge_id if loc.building in buildings else sites[loc.building].edge
        add(
            Device(
                spec.id,
                spec.type,
                edge,
                loc.building,
                loc.unit,
                loc.floor,
                loc.flat,
                loc.place,
                spec.door_role,
                spec.battery,
                spec.source,
            ),
            f"devices[{i}].id",
        )
    c.devices = devices
