"""Load a config directory: parse each YAML file strictly, expand device rules, check references.

Every problem becomes a ``ConfigIssue`` naming the file, the key path inside it and what is wrong;
all of them are collected and raised together as one ``ConfigError``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ValidationError

from compound.config.models import (
    ALL_DAYS,
    Building,
    CameraType,
    CompoundFile,
    DevicesFile,
    DeviceType,
    DoorRole,
    GridsFile,
    Household,
    HouseholdsFile,
    PeopleFile,
    Person,
    Placement,
    Role,
    Rules,
)

FILES: dict[str, type[BaseModel]] = {
    "compound.yaml": CompoundFile,
    "devices.yaml": DevicesFile,
    "grids.yaml": GridsFile,
    "people.yaml": PeopleFile,
    "households.yaml": HouseholdsFile,
}
"""The files of a config directory and the model each must satisfy. ``households.yaml`` is optional."""

OPTIONAL_FILES = frozenset({"households.yaml"})

DEFAULT_CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem: which file, where inside it (``buildings[1].floors``), and what is wrong."""

    file: str
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.path}" if self.path else self.file
        return f"{where}: {self.message}"


class ConfigError(Exception):
    """The configuration is invalid; ``issues`` lists every problem found."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = issues
        lines = "\n".join(f"  - {issue}" for issue in issues)
        super().__init__(f"invalid configuration ({len(issues)} problem(s)):\n{lines}")


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


@dataclass(slots=True)
class Compound:
    """The whole, cross-checked configuration with lookup helpers."""

    source: Path
    compound: CompoundFile
    devices_file: DevicesFile
    grids: GridsFile
    people_file: PeopleFile
    households_file: HouseholdsFile
    devices: dict[str, Device] = field(default_factory=dict)

    # ---- identity
    @property
    def id(self) -> str:
        return self.compound.compound.id

    @property
    def name(self) -> str:
        return self.compound.compound.name

    @property
    def prefix(self) -> str:
        return self.compound.compound.mqtt_prefix

    @property
    def rules(self) -> Rules:
        return self.compound.rules

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.compound.compound.timezone)

    # ---- topology
    @property
    def buildings(self) -> list[Building]:
        return self.compound.buildings

    def edges(self) -> list[str]:
        """Every edge id, in config order, buildings first."""
        seen: dict[str, None] = {}
        for building in self.compound.buildings:
            seen[building.edge_id] = None
        for site in self.compound.sites:
            seen[site.edge] = None
        return list(seen)

    def devices_of_edge(self, edge: str) -> list[Device]:
        """Devices read by one edge agent."""
        return [d for d in self.devices.values() if d.edge == edge]

    # ---- people and grids
    @property
    def people(self) -> dict[str, Person]:
        return {p.id: p for p in self.people_file.people}

    def household(self, building: str, unit: str, flat: str) -> Household | None:
        """The household living in a flat, if listed."""
        for household in self.households_file.households:
            if (household.building, household.unit, household.flat) == (building, unit, flat):
                return household
        return None

    def care_households(self) -> list[Household]:
        return [h for h in self.households_file.households if h.care is not None]

    def grid_of(self, device: Device) -> str:
        """The most specific grid responsible for a device's place (micro, dedicated or total)."""
        for micro in self.grids.micro:
            if micro.building == device.building and micro.unit == device.unit:
                return micro.id
        for dedicated in self.grids.dedicated:
            if dedicated.site == device.building:
                return dedicated.id
        for general in self.grids.general:
            if device.building in general.buildings:
                return general.id
        return self.grids.total.id

    def grid_chain(self, grid_id: str) -> list[str]:
        """The grid and its ancestors up to the total grid (escalation path)."""
        for micro in self.grids.micro:
            if micro.id == grid_id:
                return [grid_id, micro.general, self.grids.total.id]
        if grid_id in {g.id for g in self.grids.general} | {g.id for g in self.grids.dedicated}:
            return [grid_id, self.grids.total.id]
        return [self.grids.total.id]

    def on_duty(self, role: Role, grid: str | None, at: datetime) -> list[Person]:
        """People of ``role`` on duty at ``at`` for ``grid`` (rosters for that grid or compound-wide)."""
        local = at.astimezone(self.tz)
        day = ALL_DAYS[local.weekday()]
        people = self.people
        found: dict[str, Person] = {}
        for roster in self.people_file.rosters:
            if roster.role != role or roster.grid not in (grid, None):
                continue
            for shift in roster.shifts:
                moment = local.time()
                # A shift crossing midnight belongs to the day it started on.
                started_day = day
                if shift.window.start > shift.window.end and moment < shift.window.end:
                    started_day = ALL_DAYS[(local.weekday() - 1) % 7]
                if shift.window.contains(moment) and started_day in shift.days:
                    found[shift.person] = people[shift.person]
        return list(found.values())


def _loc_path(loc: Iterable[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def read_yaml(path: Path, issues: list[ConfigIssue]) -> Any:
    """Parse one YAML file; on failure append an issue naming the file (and line, column) and return None."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        issues.append(ConfigIssue(path.name, "", f"cannot read file: {exc.strerror}"))
        return None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        issues.append(ConfigIssue(path.name, where, f"not valid YAML: {problem}"))
        return None


def validation_issues(exc: ValidationError, file: str) -> list[ConfigIssue]:
    """One ``ConfigIssue`` per pydantic error: file, key path (``buildings[1].floors``) and a plain message."""
    issues = []
    for err in exc.errors():
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (not allowed here)"
        elif err["type"] == "missing":
            msg = "required key is missing"
        loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-after"))]
        issues.append(ConfigIssue(file, _loc_path(loc), msg))
    return issues


def _validate(model: type[M], data: Any, file: str, issues: list[ConfigIssue]) -> M | None:
    try:
        return model.model_validate({} if data is None else data)
    except ValidationError as exc:
        issues.extend(validation_issues(exc, file))
        return None


def load_config(path: str | os.PathLike[str] | None = None) -> Compound:
    """Load and cross-check a config directory (default: the repo's ``configs/``)."""
    root = Path(path) if path is not None else Path(os.environ.get("COMPOUND_CONFIG", DEFAULT_CONFIG_DIR))
    if root.is_file():
        root = root.parent
    if not root.is_dir():
        raise ConfigError([ConfigIssue(str(root), "", "config directory does not exist")])
    issues: list[ConfigIssue] = []
    parsed: dict[str, BaseModel | None] = {}
    for name, model in FILES.items():
        file = root / name
        if not file.exists():
            if name in OPTIONAL_FILES:
                parsed[name] = model()
                continue
            issues.append(ConfigIssue(name, "", f"file is missing from {root}"))
            parsed[name] = None
            continue
        data = read_yaml(file, issues)
        if data is not None and not isinstance(data, Mapping):
            issues.append(ConfigIssue(name, "", f"top level must be a mapping, not {type(data).__name__}"))
            parsed[name] = None
            continue
        parsed[name] = _validate(model, data, name, issues)
    if issues:
        raise ConfigError(issues)
    compound = Compound(
        source=root,
        compound=_as(parsed["compound.yaml"], CompoundFile),
        devices_file=_as(parsed["devices.yaml"], DevicesFile),
        grids=_as(parsed["grids.yaml"], GridsFile),
        people_file=_as(parsed["people.yaml"], PeopleFile),
        households_file=_as(parsed["households.yaml"], HouseholdsFile),
    )
    _check_references(compound, issues)
    if not issues:
        _expand_devices(compound, issues)
    if issues:
        raise ConfigError(issues)
    return compound


def _as(value: BaseModel | None, model: type[M]) -> M:
    assert isinstance(value, model)
    return value


def _duplicates(ids: Iterable[str]) -> Iterator[tuple[int, str]]:
    seen: set[str] = set()
    for index, value in enumerate(ids):
        if value in seen:
            yield index, value
        seen.add(value)


def _check_references(c: Compound, issues: list[ConfigIssue]) -> None:
    """Cross-file checks: every reference resolves, ids are unique, every unit has one micro-grid."""
    buildings = {b.id: b for b in c.compound.buildings}
    sites = {s.id for s in c.compound.sites}
    for i, dup in _duplicates([b.id for b in c.compound.buildings] + [s.id for s in c.compound.sites]):
        issues.append(ConfigIssue("compound.yaml", f"buildings/sites[{i}].id", f"duplicate id {dup!r}"))

    grid_ids = [c.grids.total.id] + [g.id for g in c.grids.general] + [g.id for g in c.grids.micro]
    grid_ids += [g.id for g in c.grids.dedicated]
    for _, dup in _duplicates(grid_ids):
        issues.append(ConfigIssue("grids.yaml", "", f"duplicate grid id {dup!r}"))
    general_ids = {g.id for g in c.grids.general}
    for i, general in enumerate(c.grids.general):
        for j, bid in enumerate(general.buildings):
            if bid not in buildings:
                issues.append(ConfigIssue("grids.yaml", f"general[{i}].buildings[{j}]", f"unknown building {bid!r}"))
    units_seen: dict[tuple[str, str], str] = {}
    for i, micro in enumerate(c.grids.micro):
        if micro.general not in general_ids:
            issues.append(ConfigIssue("grids.yaml", f"micro[{i}].general", f"unknown general grid {micro.general!r}"))
        building = buildings.get(micro.building)
        if building is None:
            issues.append(ConfigIssue("grids.yaml", f"micro[{i}].building", f"unknown building {micro.building!r}"))
            continue
        if micro.unit not in building.units:
            issues.append(
                ConfigIssue("grids.yaml", f"micro[{i}].unit", f"building {building.id!r} has no unit {micro.unit!r}")
            )
        key = (micro.building, micro.unit)
        if key in units_seen:
            issues.append(
                ConfigIssue("grids.yaml", f"micro[{i}]", f"unit {key[0]}/{key[1]} already in {units_seen[key]!r}")
            )
        units_seen[key] = micro.id
    for bld in c.compound.buildings:
        for u in bld.units:
            if (bld.id, u) not in units_seen:
                issues.append(ConfigIssue("grids.yaml", "micro", f"unit {bld.id}/{u} belongs to no micro-grid"))
    for i, dedicated in enumerate(c.grids.dedicated):
        if dedicated.site not in sites:
            issues.append(ConfigIssue("grids.yaml", f"dedicated[{i}].site", f"unknown site {dedicated.site!r}"))

    all_grids = set(grid_ids)
    people = {p.id for p in c.people_file.people}
    for i, dup in _duplicates(p.id for p in c.people_file.people):
        issues.append(ConfigIssue("people.yaml", f"people[{i}].id", f"duplicate person id {dup!r}"))
    for i, person in enumerate(c.people_file.people):
        for j, g in enumerate(person.grids):
            if g not in all_grids:
                issues.append(ConfigIssue("people.yaml", f"people[{i}].grids[{j}]", f"unknown grid {g!r}"))
    roles = {p.id: p.role for p in c.people_file.people}
    for i, roster in enumerate(c.people_file.rosters):
        if roster.grid is not None and roster.grid not in all_grids:
            issues.append(ConfigIssue("people.yaml", f"rosters[{i}].grid", f"unknown grid {roster.grid!r}"))
        for j, shift in enumerate(roster.shifts):
            where = f"rosters[{i}].shifts[{j}].person"
            if shift.person not in people:
                issues.append(ConfigIssue("people.yaml", where, f"unknown person {shift.person!r}"))
            elif roles[shift.person] != roster.role:
                issues.append(
                    ConfigIssue(
                        "people.yaml",
                        where,
                        f"person {shift.person!r} is a {roles[shift.person].value}, roster is for {roster.role.value}",
                    )
                )

    for i, household in enumerate(c.households_file.households):
        building = buildings.get(household.building)
        where = f"households[{i}]"
        if building is None:
            issues.append(
                ConfigIssue("households.yaml", f"{where}.building", f"unknown building {household.building!r}")
            )
            continue
        if household.unit not in building.units:
            issues.append(ConfigIssue("households.yaml", f"{where}.unit", f"unknown unit {household.unit!r}"))
        if not _flat_exists(building, household.flat):
            issues.append(
                ConfigIssue(
                    "households.yaml", f"{where}.flat", f"building {building.id!r} has no flat {household.flat!r}"
                )
            )
    for i, dup in _duplicates(f"{h.building}/{h.unit}/{h.flat}" for h in c.households_file.households):
        issues.append(ConfigIssue("households.yaml", f"households[{i}]", f"flat {dup} listed twice"))

    try:
        ZoneInfo(c.compound.compound.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        issues.append(
            ConfigIssue("compound.yaml", "compound.timezone", f"unknown timezone {c.compound.compound.timezone!r}")
        )

    for i, rule in enumerate(c.devices_file.rules):
        if rule.buildings != "all":
            for j, bid in enumerate(rule.buildings):
                if bid not in buildings:
                    issues.append(
                        ConfigIssue("devices.yaml", f"rules[{i}].buildings[{j}]", f"unknown building {bid!r}")
                    )
    for i, spec in enumerate(c.devices_file.devices):
        loc = spec.location
        if loc.building not in buildings and loc.building not in sites:
            issues.append(
                ConfigIssue(
                    "devices.yaml", f"devices[{i}].location.building", f"unknown building or site {loc.building!r}"
                )
            )
        elif loc.building in buildings:
            site_building = buildings[loc.building]
            if loc.unit is not None and loc.unit not in site_building.units:
                issues.append(ConfigIssue("devices.yaml", f"devices[{i}].location.unit", f"unknown unit {loc.unit!r}"))
            if loc.flat is not None and not _flat_exists(site_building, loc.flat):
                issues.append(ConfigIssue("devices.yaml", f"devices[{i}].location.flat", f"no flat {loc.flat!r}"))


def _flat_exists(building: Building, flat: str) -> bool:
    number = int(flat)
    floor, index = divmod(number, 100)
    return 1 <= floor <= building.floors and 1 <= index <= building.flats_per_floor


_SUFFIX = {
    DeviceType.SMOKE_DETECTOR: "smoke",
    DeviceType.GAS_DETECTOR: "gas",
}


def _expand_devices(c: Compound, issues: list[ConfigIssue]) -> None:
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
