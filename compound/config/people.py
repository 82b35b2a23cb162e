"""The models of ``people.yaml`` (people, roles, on-duty rosters) and ``households.yaml`` (residents, care flags)."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field

from compound.config.base import Id, Name, Phone, Strict, TimeWindow

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
    contacts: dict[Id, str] = Field(
        default_factory=dict,
        max_length=10,
        description="Channel id (channels.yaml) → this person's address on it (an ntfy topic, a phone); '' when the "
        "channel needs none (Web Push, the in-app inbox).",
    )
    fallback: list[Id] = Field(
        default_factory=list,
        max_length=10,
        description="Channels to try, in order, when a delivery fails for good or a reminder goes unanswered.",
    )


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
