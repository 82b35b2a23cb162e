"""Strict pydantic models of the operator configuration, one model per file in a config directory.

Every model forbids unknown keys, and every field is described and bounded: a typo in a config
is an error at load time, never a silently ignored setting.
"""

from __future__ import annotations

import re
from datetime import time
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler, field_validator, model_validator
from pydantic_core import core_schema

Id = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
        description="Identifier: letters, digits, '-', '_', '.', at most 64 characters.",
    ),
]
Name = Annotated[str, Field(min_length=1, max_length=80, description="Display name.")]
Phone = Annotated[
    str, Field(pattern=r"^\+?[0-9 ()-]{5,24}$", description="Phone number, digits with optional +, spaces, dashes.")
]

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class Strict(BaseModel):
    """Base of every config model: frozen, unknown keys forbidden."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _parse_hhmm(value: object) -> object:
    if isinstance(value, str):
        match = _HHMM.match(value)
        if not match:
            raise ValueError(f"time {value!r} must be HH:MM (24-hour)")
        return time(int(match.group(1)), int(match.group(2)))
    return value


class TimeWindow(Strict):
    """A daily window in compound local time; ``end`` before ``start`` crosses midnight."""

    start: time = Field(description="Start, HH:MM local time.")
    end: time = Field(description="End, HH:MM local time (exclusive).")

    _parse = field_validator("start", "end", mode="before")(_parse_hhmm)

    def contains(self, moment: time) -> bool:
        """True if the local time of day ``moment`` falls inside the window."""
        if self.start <= self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end


# --------------------------------------------------------------------------- compound.yaml


class SmokeRule(Strict):
    """Smoke alarm: obscuration above ``threshold`` held for ``confirm_s``; clears below ``clear_below``."""

    threshold: float = Field(default=0.15, gt=0, le=5, description="Alarm threshold, dB/m obscuration.")
    clear_below: float = Field(default=0.08, ge=0, le=5, description="Clears below this, dB/m (hysteresis).")
    confirm_s: float = Field(default=10, ge=0, le=300, description="Seconds above threshold before raising.")
    clear_s: float = Field(default=30, ge=0, le=3600, description="Seconds below clear level before clearing.")

    @model_validator(mode="after")
    def _band(self) -> SmokeRule:
        if self.clear_below >= self.threshold:
            raise ValueError("clear_below must be lower than threshold (hysteresis band)")
        return self


class GasRule(Strict):
    """Gas: pre-alarm and alarm at two %LEL levels, each with hysteresis."""

    pre_alarm: float = Field(default=10, gt=0, le=100, description="Pre-alarm level, %LEL.")
    alarm: float = Field(default=25, gt=0, le=100, description="Alarm level, %LEL.")
    hysteresis: float = Field(default=3, ge=0, le=20, description="A level clears this many %LEL below it.")
    confirm_s: float = Field(default=5, ge=0, le=300, description="Seconds above a level before raising.")
    clear_s: float = Field(default=30, ge=0, le=3600, description="Seconds below a level before clearing.")

    @model_validator(mode="after")
    def _levels(self) -> GasRule:
        if self.pre_alarm >= self.alarm:
            raise ValueError("pre_alarm must be lower than alarm")
        if self.hysteresis >= self.pre_alarm:
            raise ValueError("hysteresis must be smaller than pre_alarm")
        return self


class DoorRule(Strict):
    """Door rules: fire door held open; entrance opened during night mode."""

    fire_door_open_max_s: float = Field(
        default=120, gt=0, le=86400, description="A fire door open longer than this raises an event."
    )
    night_mode: TimeWindow = Field(
        default=TimeWindow(start=time(23, 30), end=time(5, 30)),
        description="Daily window when an entrance opened without a resident card counts as forced.",
    )
    grant_window_s: float = Field(
        default=10,
        ge=0,
        le=300,
        description="An opening counts as granted if the door's reader accepted a credential (or its exit "
        "button was pressed) at most this many seconds before it.",
    )


class CareRule(Strict):
    """Care households: no door activity for too long."""

    inactive_after_s: float = Field(
        default=12 * 3600, ge=60, le=7 * 86400, description="Default silence before a care event, seconds."
    )


class FaultRule(Strict):
    """Device faults: offline, low battery, stuck value, noisy readings."""

    offline_after_s: float = Field(default=300, ge=5, le=86400, description="No reading for this long: offline.")
    low_battery_pct: float = Field(default=15, ge=1, le=50, description="Battery percent that raises low_battery.")
    battery_clear_pct: float = Field(default=25, ge=2, le=100, description="Battery percent that clears it.")
    stuck_after_s: float = Field(
        default=6 * 3600, ge=60, le=7 * 86400, description="Bit-identical readings for this long: stuck."
    )
    noise_window: int = Field(default=30, ge=5, le=1000, description="Readings in the noise window.")
    noise_stddev: float = Field(
        default=0.05, gt=0, le=100, description="Smoke stddev (dB/m) over the window that means noisy."
    )
    noise_confirm_s: float = Field(
        default=60, ge=0, le=86400, description="Noise above noise_stddev for this long raises noisy_signal."
    )
    noise_clear_s: float = Field(
        default=600, ge=0, le=86400, description="Noise below half of noise_stddev for this long clears it."
    )


class Rules(Strict):
    """Edge rule parameters for the compound."""

    smoke: SmokeRule = Field(default_factory=SmokeRule, description="Smoke detector rule.")
    gas: GasRule = Field(default_factory=GasRule, description="Gas detector rule.")
    door: DoorRule = Field(default_factory=DoorRule, description="Door contact rules.")
    care: CareRule = Field(default_factory=CareRule, description="Care household rule.")
    fault: FaultRule = Field(default_factory=FaultRule, description="Device fault rules.")
    reading_interval_s: float = Field(
        default=60, ge=1, le=3600, description="Seconds between periodic readings published per device."
    )
    heartbeat_interval_s: float = Field(default=30, ge=1, le=3600, description="Seconds between heartbeats.")


class Building(Strict):
    """A residential building: units (entrances) × floors × flats per floor."""

    id: Id
    name: Name
    units: list[Id] = Field(min_length=1, max_length=12, description="Unit (entrance) ids, e.g. [u1, u2].")
    floors: int = Field(ge=1, le=120, description="Number of residential floors, numbered from 1.")
    flats_per_floor: int = Field(ge=1, le=12, description="Flats on each floor of each unit.")
    edge: Id | None = Field(default=None, description="Edge agent serving the building; default: the building id.")

    @field_validator("units")
    @classmethod
    def _unique_units(cls, units: list[str]) -> list[str]:
        if len(set(units)) != len(units):
            raise ValueError("unit ids must be unique within a building")
        return units

    @property
    def edge_id(self) -> str:
        """The edge agent that serves this building."""
        return self.edge or self.id

    def flat_numbers(self, floor: int) -> list[str]:
        """Flat numbers on a floor: floor * 100 + 1..n, e.g. 1501..1504."""
        return [f"{floor * 100 + i}" for i in range(1, self.flats_per_floor + 1)]


class Site(Strict):
    """A special site with its own dedicated grid: kindergarten, clinic, market."""

    id: Id
    name: Name
    kind: Literal["kindergarten", "school", "clinic", "market", "other"] = Field(description="What the site is.")
    edge: Id = Field(description="Edge agent serving the site.")


class CompoundInfo(Strict):
    """Identity and locale of the compound."""

    id: Id = Field(description="Compound id; the <compound> segment of every topic.")
    name: Name
    address: str = Field(default="", max_length=200, description="Street address.")
    timezone: str = Field(default="Asia/Shanghai", max_length=64, description="IANA timezone for rosters, night mode.")
    mqtt_prefix: Id = Field(default="compound", description="First segment of every topic.")


class CompoundFile(Strict):
    """``compound.yaml``: the site, its buildings and rule parameters."""

    compound: CompoundInfo
    buildings: list[Building] = Field(min_length=1, max_length=500)
    sites: list[Site] = Field(default_factory=list, max_length=100)
    rules: Rules = Field(default_factory=Rules)


# --------------------------------------------------------------------------- devices.yaml


class DeviceType(StrEnum):
    """Kinds of sensor an edge reads through its drivers (cameras are ``CameraType``s)."""

    SMOKE_DETECTOR = "smoke_detector"
    GAS_DETECTOR = "gas_detector"
    DOOR_CONTACT = "door_contact"

    @property
    def is_camera(self) -> bool:
        """False: sensors are read through drivers, not vision pipelines."""
        return False


class CameraType(str):
    """A camera device type: ``lift_camera``, ``fire_lane_camera``, any name ending in ``_camera``.

    Why a naming rule and not a list: what a camera type *does* (its vision rule, its options in
    ``vision.yaml``, its local actuation) lives in the edge's camera-type registry
    (``edge/vision/camera_types.py``), and every process loads this config, the hub's too, which must not
    import the edge (nor depend on which plugins an edge loaded). So the config layer only checks the form;
    the edge refuses a camera type no plugin registers when it builds its cameras, and so does
    ``compound check-config``. Adding a camera type therefore needs no change here.
    """

    __slots__ = ()

    PATTERN: ClassVar[str] = r"^[a-z][a-z0-9_]{0,55}_camera$"

    @property
    def value(self) -> str:
        """The type name (as ``DeviceType.value``)."""
        return str.__str__(self)

    @property
    def is_camera(self) -> bool:
        """True: a camera, watched by a vision pipeline."""
        return True

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(
            cls,
            core_schema.str_schema(pattern=cls.PATTERN),
            serialization=core_schema.plain_serializer_function_ser_schema(str),
        )


AnyDeviceType = Annotated[
    DeviceType | CameraType,
    Field(union_mode="left_to_right", description="A sensor type, or a camera type (a name ending in _camera)."),
]


class DoorRole(StrEnum):
    """Which door a contact watches; the rules differ."""

    UNIT_ENTRANCE = "unit_entrance"
    FIRE_DOOR = "fire_door"
    FLAT_DOOR = "flat_door"
    GATE = "gate"


class Placement(StrEnum):
    """Where a device rule puts one device each."""

    FLAT = "flat"
    KITCHEN = "kitchen"
    UNIT_ENTRANCE = "unit_entrance"
    FIRE_DOOR = "fire_door"
    CARE_HOUSEHOLD = "care_household"


class DeviceRule(Strict):
    """Generate devices: e.g. a smoke detector in every flat of buildings b1 and b2."""

    type: DeviceType = Field(description="Device type to place.")
    every: Placement = Field(description="One device per flat / kitchen / unit entrance / fire door / care household.")
    buildings: list[Id] | Literal["all"] = Field(default="all", description="Buildings the rule covers.")
    battery: bool = Field(default=True, description="Battery powered (reports battery percent).")

    @model_validator(mode="after")
    def _door_for_doors(self) -> DeviceRule:
        door_places = {Placement.UNIT_ENTRANCE, Placement.FIRE_DOOR, Placement.CARE_HOUSEHOLD}
        if (self.every in door_places) != (self.type is DeviceType.DOOR_CONTACT):
            raise ValueError(f"a {self.type.value} cannot be placed at every {self.every.value}")
        return self


class DeviceLocation(Strict):
    """Location of an explicitly listed device."""

    building: Id = Field(description="Building or site id.")
    unit: Id | None = Field(default=None, description="Unit id, if inside a unit.")
    floor: int | None = Field(default=None, ge=-5, le=120, description="Floor number.")
    flat: str | None = Field(default=None, pattern=r"^[0-9]{3,5}$", description="Flat number.")
    place: str | None = Field(default=None, max_length=64, description="Named place: 'lift-1', 'gate'.")


class DeviceSpec(Strict):
    """An explicitly listed device (cameras, site doors, anything not generated by a rule)."""

    id: Id
    type: AnyDeviceType
    location: DeviceLocation
    door_role: DoorRole | None = Field(default=None, description="For door contacts: which door.")
    battery: bool = Field(default=False, description="Battery powered.")
    source: str | None = Field(
        default=None, max_length=500, description="Cameras: 'sim:<scene>' or an OpenCV source (file path, rtsp://)."
    )

    @model_validator(mode="after")
    def _door_role(self) -> DeviceSpec:
        if (self.type is DeviceType.DOOR_CONTACT) != (self.door_role is not None):
            raise ValueError("door_role is required for door contacts and only for them")
        return self


class DevicesFile(Strict):
    """``devices.yaml``: generation rules plus explicit devices."""

    rules: list[DeviceRule] = Field(default_factory=list, max_length=100)
    devices: list[DeviceSpec] = Field(default_factory=list, max_length=10000)


# --------------------------------------------------------------------------- grids.yaml


class TotalGrid(Strict):
    """The top grid (总网格) of the compound's street or community."""

    id: Id
    name: Name


class GeneralGrid(Strict):
    """A general grid (一般网格) covering some buildings."""

    id: Id
    name: Name
    buildings: list[Id] = Field(min_length=1, description="Buildings inside this general grid.")


class MicroGrid(Strict):
    """A micro-grid (微网格): one building unit."""

    id: Id
    name: Name
    general: Id = Field(description="Parent general grid.")
    building: Id
    unit: Id


class DedicatedGrid(Strict):
    """A dedicated grid (专属网格) for a special site."""

    id: Id
    name: Name
    site: Id = Field(description="The site it covers.")


class GridsFile(Strict):
    """``grids.yaml``: total → general → micro grids, plus dedicated grids."""

    total: TotalGrid
    general: list[GeneralGrid] = Field(min_length=1, max_length=1000)
    micro: list[MicroGrid] = Field(min_length=1, max_length=100000)
    dedicated: list[DedicatedGrid] = Field(default_factory=list, max_length=1000)


# --------------------------------------------------------------------------- people.yaml


class Role(StrEnum):
    """What a person does; routing and permissions key on it."""

    MICRO_GRID_WORKER = "micro_grid_worker"
    GRID_LEADER = "grid_leader"
    FULL_TIME_GRID_WORKER = "full_time_grid_worker"
    PROPERTY_SECURITY = "property_security"
    PROPERTY_MANAGER = "property_manager"
    MAINTENANCE = "maintenance"


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
ALL_DAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Person(Strict):
    """A named person with a role and the grids they answer for."""

    id: Id
    name: Name
    role: Role
    phone: Phone
    grids: list[Id] = Field(default_factory=list, description="Grids this person is responsible for.")


class Shift(Strict):
    """One person on duty in a daily window on some weekdays."""

    person: Id
    window: TimeWindow = Field(description="Daily on-duty window.")
    days: list[Weekday] = Field(default_factory=lambda: list(ALL_DAYS), min_length=1, description="Weekdays.")


class Roster(Strict):
    """Who is on duty for a role, in a grid or compound-wide."""

    id: Id
    role: Role
    grid: Id | None = Field(default=None, description="Grid covered; none means compound-wide.")
    shifts: list[Shift] = Field(min_length=1, max_length=200)


class PeopleFile(Strict):
    """``people.yaml``: people and on-duty rosters."""

    people: list[Person] = Field(min_length=1, max_length=200000)
    rosters: list[Roster] = Field(default_factory=list, max_length=200000)


# --------------------------------------------------------------------------- households.yaml


class Resident(Strict):
    """A resident of a flat. Personal data: shown only to people responsible for the flat."""

    name: Name
    age: int | None = Field(default=None, ge=0, le=130, description="Age in years.")
    phone: Phone | None = None
    notes: str = Field(default="", max_length=300, description="Mobility, medical notes useful in an emergency.")


class EmergencyContact(Strict):
    """Whom to call for a care household."""

    name: Name
    relation: str = Field(max_length=40, description="Relation to the resident: 'daughter', '儿子'.")
    phone: Phone


class CareFlag(Strict):
    """Why and how a household is watched for inactivity."""

    reason: Literal["elderly_alone", "disabled", "ill", "other"] = Field(description="Why it is flagged.")
    emergency_contact: EmergencyContact
    inactive_after_s: float | None = Field(
        default=None, ge=60, le=7 * 86400, description="Override of the compound's care inactivity time."
    )


class Household(Strict):
    """A household in a flat."""

    building: Id
    unit: Id
    flat: str = Field(pattern=r"^[0-9]{3,5}$", description="Flat number, e.g. '1502'.")
    residents: list[Resident] = Field(min_length=1, max_length=20)
    care: CareFlag | None = Field(default=None, description="Set for households flagged for care.")


class HouseholdsFile(Strict):
    """``households.yaml``: residents and care flags."""

    households: list[Household] = Field(default_factory=list, max_length=200000)
