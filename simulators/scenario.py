"""Scenarios: YAML timelines of what happens to a compound (fires, leaks, wedged doors, faults).

A scenario file lives in ``configs/scenarios/<name>.yaml``. It is validated strictly (unknown keys
are errors, every field is described and bounded); a mistake is a ``ConfigError`` naming the file,
the key path inside it and the problem, like the compound config loader. References to flats and
devices are checked against a compound config by ``check_scenario``.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

from compound.config import DEFAULT_CONFIG_DIR, Compound, ConfigError, ConfigIssue, DeviceType, DoorRole
from compound.config.loader import read_yaml, validation_issues

__all__ = [
    "SCENARIO_DIR",
    "Action",
    "Growth",
    "Scenario",
    "Step",
    "check_scenario",
    "edges_of",
    "list_scenarios",
    "load_scenario",
    "parse_flat",
]

SCENARIO_DIR = DEFAULT_CONFIG_DIR / "scenarios"
"""Default folder of scenario files."""

FlatRef = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}/[A-Za-z0-9][A-Za-z0-9_.-]{0,63}/[0-9]{3,5}$",
        description="A flat as building/unit/flat, e.g. b2/u1/1502.",
    ),
]
DeviceRef = Annotated[
    str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", description="A device id from the compound config.")
]
At = Annotated[float, Field(ge=0, le=30 * 86400, description="Simulated seconds from the scenario start.")]


class Growth(StrEnum):
    """t-squared fire growth classes (NFPA 72 / SFPE): heat release Q = alpha * t^2."""

    SLOW = "slow"
    MEDIUM = "medium"
    FAST = "fast"
    ULTRAFAST = "ultrafast"

    @property
    def alpha(self) -> float:
        """Growth coefficient alpha in kW/s^2."""
        return {"slow": 0.00293, "medium": 0.01172, "fast": 0.0469, "ultrafast": 0.1876}[self.value]


class Action(StrEnum):
    """What a timeline step does."""

    FIRE = "fire"
    BURNT_TOAST = "burnt_toast"
    EXTINGUISH = "extinguish"
    VENTILATE = "ventilate"
    GAS_LEAK = "gas_leak"
    STOP_LEAK = "stop_leak"
    WEDGE_DOOR = "wedge_door"
    RELEASE_DOOR = "release_door"
    OPEN_DOOR = "open_door"
    RESIDENT_INACTIVE = "resident_inactive"
    RESIDENT_ACTIVE = "resident_active"
    BATTERY_DRAIN = "battery_drain"
    GO_OFFLINE = "go_offline"
    COME_ONLINE = "come_online"
    STUCK = "stuck"
    NOISY = "noisy"
    RECOVER = "recover"


FLAT_ACTIONS = frozenset(
    {
        Action.FIRE,
        Action.BURNT_TOAST,
        Action.EXTINGUISH,
        Action.VENTILATE,
        Action.GAS_LEAK,
        Action.STOP_LEAK,
        Action.RESIDENT_INACTIVE,
        Action.RESIDENT_ACTIVE,
    }
)
"""Actions that take ``flat``; every other action takes ``device``."""

PARAMS: dict[Action, frozenset[str]] = {
    Action.FIRE: frozenset({"growth", "peak_kw"}),
    Action.BURNT_TOAST: frozenset({"peak", "duration_s"}),
    Action.VENTILATE: frozenset({"ach"}),
    Action.GAS_LEAK: frozenset({"rate"}),
    Action.OPEN_DOOR: frozenset({"hold_s", "grant"}),
    Action.BATTERY_DRAIN: frozenset({"rate", "level"}),
    Action.NOISY: frozenset({"stddev"}),
}
"""Optional parameters each action accepts (others are refused)."""

REQUIRED_PARAMS: dict[Action, frozenset[str]] = {
    Action.GAS_LEAK: frozenset({"rate"}),
    Action.BATTERY_DRAIN: frozenset({"rate"}),
}


class Step(BaseModel):
    """One timeline step: at ``at`` seconds, do ``action`` to a ``flat`` or a ``device``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    at: At
    action: Action = Field(description="What happens.")
    flat: FlatRef | None = Field(default=None, description="Target flat (fire, leak, ventilation, residents).")
    device: DeviceRef | None = Field(default=None, description="Target device (doors, faults).")
    growth: Growth | None = Field(default=None, description="fire: t-squared growth class (default medium).")
    peak_kw: float | None = Field(default=None, gt=0, le=20000, description="fire: heat release cap, kW (1000).")
    peak: float | None = Field(default=None, gt=0, le=2, description="burnt_toast: peak obscuration, dB/m (0.25).")
    duration_s: float | None = Field(
        default=None, gt=0, le=60, description="burnt_toast: how long the puff lasts, seconds (8)."
    )
    ach: float | None = Field(
        default=None, gt=0, le=60, description="ventilate: air changes per hour after ventilating (12)."
    )
    rate: float | None = Field(
        default=None, gt=0, le=100, description="gas_leak: %LEL per minute; battery_drain: percent per hour."
    )
    level: float | None = Field(
        default=None, ge=0, le=100, description="battery_drain: battery percent to start draining from."
    )
    hold_s: float | None = Field(default=None, gt=0, le=86400, description="open_door: seconds held open (30).")
    grant: bool | None = Field(
        default=None,
        description="open_door: a resident's card (or the exit button) is accepted by the door's reader first, "
        "and the door opens 2 s later (default false: opened with no credential, i.e. forced).",
    )
    stddev: float | None = Field(
        default=None, gt=0, le=100, description="noisy: noise stddev in the device's unit (smoke 0.1, gas 5)."
    )

    @field_validator("action", mode="before")
    @classmethod
    def _known_action(cls, value: Any) -> Any:
        if isinstance(value, str) and value not in {a.value for a in Action}:
            raise ValueError(f"unknown action {value!r}; known: {', '.join(a.value for a in Action)}")
        return value

    def problems(self) -> list[tuple[str, str]]:
        """Shape problems of this step as (field, message): target and parameters fit the action."""
        found: list[tuple[str, str]] = []
        wants_flat = self.action in FLAT_ACTIONS
        if wants_flat and self.flat is None:
            found.append(("flat", f"action {self.action.value} needs a flat (building/unit/flat)"))
        if not wants_flat and self.device is None:
            found.append(("device", f"action {self.action.value} needs a device id"))
        if wants_flat and self.device is not None:
            found.append(("device", f"action {self.action.value} takes a flat, not a device"))
        if not wants_flat and self.flat is not None:
            found.append(("flat", f"action {self.action.value} takes a device, not a flat"))
        allowed = PARAMS.get(self.action, frozenset())
        for name in ("growth", "peak_kw", "peak", "duration_s", "ach", "rate", "level", "hold_s", "grant", "stddev"):
            if getattr(self, name) is not None and name not in allowed:
                found.append((name, f"not a parameter of action {self.action.value}"))
        for name in REQUIRED_PARAMS.get(self.action, frozenset()):
            if getattr(self, name) is None:
                found.append((name, f"action {self.action.value} needs {name}"))
        return found


class Scenario(BaseModel):
    """A named timeline of steps over a simulated period."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$", description="Scenario name, the file's stem.")
    description: str = Field(min_length=1, max_length=500, description="What happens, in one or two sentences.")
    start: AwareDatetime = Field(description="Simulated start, ISO 8601 with offset, e.g. 2026-11-24T02:00:00+08:00.")
    duration_s: float = Field(gt=0, le=30 * 86400, description="Simulated length of the scenario, seconds.")
    seed: int = Field(default=0, ge=0, le=2**63 - 1, description="Random seed: same seed, same samples.")
    routines: bool = Field(default=True, description="Residents open and close doors by their daily routines.")
    drill: bool = Field(
        default=False,
        description="A drill (演练): `compound up` has the hub push its alarms marked as drills, kept out of metrics.",
    )
    timeline: list[Step] = Field(default_factory=list, max_length=10000, description="Steps, in any order.")
    source: str | None = Field(default=None, exclude=True, description="File the scenario was read from.")

    def steps(self) -> list[Step]:
        """Steps sorted by time (stable: same-time steps keep file order)."""
        return sorted(self.timeline, key=lambda s: s.at)

    @property
    def end(self) -> datetime:
        """Simulated end time."""
        return self.start + timedelta(seconds=self.duration_s)


def parse_flat(ref: str) -> tuple[str, str, str]:
    """``b2/u1/1502`` -> ("b2", "u1", "1502")."""
    building, unit, flat = ref.split("/")
    return building, unit, flat


def _resolve(name_or_path: str | os.PathLike[str], directory: Path | None) -> Path:
    text = os.fspath(name_or_path)
    path = Path(text)
    if path.suffix in (".yaml", ".yml") or os.sep in text or path.exists():
        return path
    return (directory or SCENARIO_DIR) / f"{text}.yaml"


def load_scenario(name_or_path: str | os.PathLike[str], directory: Path | None = None) -> Scenario:
    """Load a scenario by name (from ``configs/scenarios/``) or by path; ``ConfigError`` on any mistake."""
    path = _resolve(name_or_path, directory)
    file = path.name
    if not path.is_file():
        known = ", ".join(p.stem for p in sorted((directory or SCENARIO_DIR).glob("*.yaml")))
        raise ConfigError([ConfigIssue(file, "", f"no such scenario file {str(path)!r} (known: {known or 'none'})")])
    read_issues: list[ConfigIssue] = []
    data = read_yaml(path, read_issues)
    if read_issues:
        raise ConfigError(read_issues)
    if not isinstance(data, dict):
        raise ConfigError([ConfigIssue(file, "", f"top level must be a mapping, not {type(data).__name__}")])
    if "source" in data:
        raise ConfigError([ConfigIssue(file, "source", "unknown key (not allowed here)")])
    issues: list[ConfigIssue] = []
    try:
        scenario = Scenario.model_validate({**data, "source": str(path)})
    except ValidationError as exc:
        raise ConfigError(validation_issues(exc, file)) from exc
    for i, step in enumerate(scenario.timeline):
        for key, message in step.problems():
            issues.append(ConfigIssue(file, f"timeline[{i}].{key}", message))
        if step.at > scenario.duration_s:
            issues.append(
                ConfigIssue(
                    file, f"timeline[{i}].at", f"{step.at:g} s is after the end (duration_s {scenario.duration_s:g})"
                )
            )
    if scenario.name != path.stem:
        issues.append(ConfigIssue(file, "name", f"name {scenario.name!r} must match the file name {path.stem!r}"))
    if issues:
        raise ConfigError(issues)
    return scenario


def list_scenarios(directory: Path | None = None) -> list[Scenario]:
    """Every scenario in a folder (default ``configs/scenarios/``), sorted by name; ``ConfigError`` if one is bad."""
    folder = directory or SCENARIO_DIR
    return [load_scenario(path, folder) for path in sorted(folder.glob("*.yaml"))]


_KINDS: dict[Action, tuple[DeviceType, ...]] = {
    Action.WEDGE_DOOR: (DeviceType.DOOR_CONTACT,),
    Action.RELEASE_DOOR: (DeviceType.DOOR_CONTACT,),
    Action.OPEN_DOOR: (DeviceType.DOOR_CONTACT,),
    Action.NOISY: (DeviceType.SMOKE_DETECTOR, DeviceType.GAS_DETECTOR),
}
SIMULATED_TYPES = (DeviceType.SMOKE_DETECTOR, DeviceType.GAS_DETECTOR, DeviceType.DOOR_CONTACT)
READER_DOORS = (DoorRole.UNIT_ENTRANCE, DoorRole.GATE, None)
"""Door roles with an access reader (a contact with no role is simulated as a unit entrance)."""
"""Device types the gateway simulates (cameras have their own simulator)."""


def check_scenario(scenario: Scenario, compound: Compound) -> None:
    """Check every flat and device a scenario names against a compound; ``ConfigError`` naming each bad one."""
    file = Path(scenario.source).name if scenario.source else f"{scenario.name}.yaml"
    issues: list[ConfigIssue] = []
    buildings = {b.id: b for b in compound.buildings}
    for i, step in enumerate(scenario.timeline):
        for key, message in step.problems():
            issues.append(ConfigIssue(file, f"timeline[{i}].{key}", message))
        if step.flat is not None:
            b, u, f = parse_flat(step.flat)
            where = f"timeline[{i}].flat"
            building = buildings.get(b)
            if building is None:
                issues.append(ConfigIssue(file, where, f"unknown building {b!r} in compound {compound.id!r}"))
                continue
            if u not in building.units:
                issues.append(ConfigIssue(file, where, f"building {b!r} has no unit {u!r}"))
                continue
            floor, index = divmod(int(f), 100)
            if not (1 <= floor <= building.floors and 1 <= index <= building.flats_per_floor):
                issues.append(ConfigIssue(file, where, f"building {b!r} has no flat {f!r}"))
                continue
            if step.action in (Action.RESIDENT_INACTIVE, Action.RESIDENT_ACTIVE):
                household = compound.household(b, u, f)
                if household is None or household.care is None:
                    issues.append(ConfigIssue(file, where, f"flat {step.flat} is not a care household"))
                elif not any(
                    d.flat_key == (b, u, f) and d.door_role is DoorRole.FLAT_DOOR for d in compound.devices.values()
                ):
                    issues.append(ConfigIssue(file, where, f"care household {step.flat} has no flat door contact"))
        if step.device is not None:
            where = f"timeline[{i}].device"
            device = compound.devices.get(step.device)
            if device is None:
                issues.append(ConfigIssue(file, where, f"unknown device {step.device!r} in compound {compound.id!r}"))
                continue
            kinds = _KINDS.get(step.action, SIMULATED_TYPES)
            if device.type not in kinds:
                wanted = " or ".join(k.value for k in kinds)
                issues.append(
                    ConfigIssue(
                        file,
                        where,
                        f"action {step.action.value} needs a {wanted}, {step.device} is a {device.type.value}",
                    )
                )
            elif step.action is Action.BATTERY_DRAIN and not device.battery:
                issues.append(ConfigIssue(file, where, f"device {step.device} is mains powered (no battery)"))
            elif step.grant and device.door_role not in READER_DOORS:
                issues.append(
                    ConfigIssue(
                        file,
                        f"timeline[{i}].grant",
                        f"door {step.device} has no access reader (only unit entrances and gates have one)",
                    )
                )
    if issues:
        raise ConfigError(issues)


def edges_of(scenario: Scenario, compound: Compound) -> list[str]:
    """Edges whose devices or flats the scenario's steps name, in the compound's edge order."""
    touched: set[str] = set()
    edge_of_building = {b.id: b.edge_id for b in compound.buildings}
    for step in scenario.timeline:
        if step.device is not None and step.device in compound.devices:
            touched.add(compound.devices[step.device].edge)
        if step.flat is not None:
            edge = edge_of_building.get(parse_flat(step.flat)[0])
            if edge is not None:
                touched.add(edge)
    return [e for e in compound.edges() if e in touched]


ScenarioLike = Scenario | str | os.PathLike[str]
"""A scenario, or the name or path of one."""


def as_scenario(value: ScenarioLike | None) -> Scenario | None:
    """A Scenario from a scenario, name or path (None stays None)."""
    if value is None or isinstance(value, Scenario):
        return value
    return load_scenario(value)
