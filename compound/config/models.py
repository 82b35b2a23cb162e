"""Strict pydantic models of the operator configuration, one model per file in a config directory.

Every model forbids unknown keys, and every field is described and bounded: a typo in a config
is an error at load time, never a silently ignored setting. This module holds the topology
(``compound.yaml``'s buildings and sites, ``devices.yaml``, ``grids.yaml``); the rule parameters are in
``rules``, people and households in ``people``, the shared base and field types in ``base``. Every
model is importable from here.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, GetCoreSchemaHandler, field_validator, model_validator
from pydantic_core import core_schema

from compound.config.base import Id, Name, Phone, Strict, TimeWindow
from compound.config.people import (
    ALL_DAYS,
    CareFlag,
    EmergencyContact,
    Household,
    HouseholdsFile,
    PeopleFile,
    Person,
    Resident,
    Role,
    Roster,
    Shift,
    Weekday,
)
from compound.config.rules import CareRule, DoorRule, FaultRule, GasRule, Rules, SmokeRule

__all__ = [
    "ALL_DAYS",
    "AnyDeviceType",
    "Building",
    "BuildingLayout",
    "CameraType",
    "CareFlag",
    "CareRule",
    "CompoundFile",
    "CompoundInfo",
    "DedicatedGrid",
    "DeviceLocation",
    "DeviceRule",
    "DeviceSpec",
    "DeviceType",
    "DevicesFile",
    "DoorRole",
    "DoorRule",
    "EmergencyContact",
    "FaultRule",
    "GasRule",
    "GeneralGrid",
    "GridsFile",
    "Household",
    "HouseholdsFile",
    "Id",
    "MicroGrid",
    "Name",
    "PeopleFile",
    "Person",
    "Phone",
    "Placement",
    "Resident",
    "Role",
    "Roster",
    "Rules",
    "Shift",
    "Site",
    "SmokeRule",
    "Strict",
    "TimeWindow",
    "TotalGrid",
    "Weekday",
]


# --------------------------------------------------------------------------- compound.yaml


class BuildingLayout(Strict):
    """Where a building or site stands on the console's site plan (optional; absent: laid out automatically).

    Coordinates are metres on the plan, x to the east and y to the south of the plan's top-left corner; the
    footprint is the rectangle ``width`` × ``depth`` centred on (x, y), turned by ``rotation``. Only the
    drawing uses it: nothing about alarms or routing depends on it.
    """

    x: float = Field(ge=0, le=5000, description="Centre of the footprint, metres east of the plan's left edge.")
    y: float = Field(ge=0, le=5000, description="Centre of the footprint, metres south of the plan's top edge.")
    width: float = Field(
        default=60, gt=0, le=1000, description="Footprint along the building's front (its units side by side), metres."
    )
    depth: float = Field(default=16, gt=0, le=1000, description="Footprint from front to back, metres.")
    rotation: float = Field(
        default=0, ge=-360, le=360, description="Orientation: degrees clockwise from a front facing south."
    )


class Building(Strict):
    """A residential building: units (entrances) × floors × flats per floor."""

    id: Id
    name: Name
    units: list[Id] = Field(min_length=1, max_length=12, description="Unit (entrance) ids, e.g. [u1, u2].")
    floors: int = Field(ge=1, le=120, description="Number of residential floors, numbered from 1.")
    flats_per_floor: int = Field(ge=1, le=12, description="Flats on each floor of each unit.")
    edge: Id | None = Field(default=None, description="Edge agent serving the building; default: the building id.")
    layout: BuildingLayout | None = Field(
        default=None,
        description="Position, footprint and orientation on the console's site plan; default: an automatic layout.",
    )

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
    layout: BuildingLayout | None = Field(
        default=None,
        description="Position, footprint and orientation on the console's site plan; default: an automatic layout.",
    )


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
