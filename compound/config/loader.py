"""Load a config directory: parse each YAML file strictly, expand device rules, check references.

Every problem becomes a ``ConfigIssue`` naming the file, the key path inside it and what is wrong;
all of them are collected and raised together as one ``ConfigError``. The checks across files live
in ``references``, the expansion of device rules in ``devices``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ValidationError

from compound.config.devices import Device, expand_devices
from compound.config.escalation import DEFAULT_ESCALATION, EscalationFile
from compound.config.issues import ConfigError, ConfigIssue
from compound.config.models import (
    ALL_DAYS,
    Building,
    CompoundFile,
    DevicesFile,
    GridsFile,
    Household,
    HouseholdsFile,
    PeopleFile,
    Person,
    Role,
    Rules,
)
from compound.config.references import check_references

__all__ = [
    "DEFAULT_CONFIG_DIR",
    "Compound",
    "ConfigError",
    "ConfigIssue",
    "Device",
    "load_config",
    "read_yaml",
    "validation_issues",
]

FILES: dict[str, type[BaseModel]] = {
    "compound.yaml": CompoundFile,
    "devices.yaml": DevicesFile,
    "grids.yaml": GridsFile,
    "people.yaml": PeopleFile,
    "households.yaml": HouseholdsFile,
    "escalation.yaml": EscalationFile,
}
"""The files of a config directory and the model each must satisfy; ``OPTIONAL_FILES`` may be absent."""

OPTIONAL_FILES = frozenset({"households.yaml", "escalation.yaml"})
_ABSENT_DEFAULTS: dict[str, BaseModel] = {"escalation.yaml": DEFAULT_ESCALATION}

DEFAULT_CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"

M = TypeVar("M", bound=BaseModel)

_YAML_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader when PyYAML was built with it (about 10× faster on a 10 000-household file)."""


@dataclass(slots=True)
class Compound:
    """The whole, cross-checked configuration with lookup helpers."""

    source: Path
    compound: CompoundFile
    devices_file: DevicesFile
    grids: GridsFile
    people_file: PeopleFile
    households_file: HouseholdsFile
    escalation: EscalationFile = DEFAULT_ESCALATION
    devices: dict[str, Device] = field(default_factory=dict)
    _people: dict[str, Person] | None = field(default=None, repr=False, compare=False)
    _households: dict[tuple[str, str, str], Household] | None = field(default=None, repr=False, compare=False)

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
        """People by id (built once: the config is frozen; escalation reads it for every job)."""
        if self._people is None:
            self._people = {p.id: p for p in self.people_file.people}
        return self._people

    def household(self, building: str, unit: str, flat: str) -> Household | None:
        """The household living in a flat, if listed (an index built once: 10 000 households, one card each)."""
        if self._households is None:
            self._households = {(h.building, h.unit, h.flat): h for h in self.households_file.households}
        return self._households.get((building, unit, flat))

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
    except UnicodeDecodeError as exc:
        line = exc.object[: exc.start].count(b"\n") + 1
        issues.append(
            ConfigIssue(path.name, f"line {line}", f"not UTF-8 text: byte {exc.start} is 0x{exc.object[exc.start]:02x}")
        )
        return None
    try:
        return yaml.load(text, Loader=_YAML_LOADER)  # a safe loader (libyaml's when installed)
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
                parsed[name] = _ABSENT_DEFAULTS.get(name) or model()
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
        escalation=_as(parsed["escalation.yaml"], EscalationFile),
    )
    check_references(compound, issues)
    if not issues:
        expand_devices(compound, issues)
    if issues:
        raise ConfigError(issues)
    return compound


def _as(value: BaseModel | None, model: type[M]) -> M:
    assert isinstance(value, model)
    return value
