"""Request and response shapes that belong to the web layer (the alarm shapes live in ``hub.alarms``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from compound.config.models import Household
from hub.alarms.schemas import AlarmDetail

__all__ = [
    "AcknowledgeRequest",
    "AlarmDetailView",
    "CompoundPublic",
    "Directory",
    "HealthPublic",
    "HouseholdPublic",
    "MePublic",
    "PersonPublic",
    "ResolveRequest",
]

Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]


class AcknowledgeRequest(BaseModel):
    """Body of ``POST /alarms/{id}/acknowledge``; the note is optional."""

    model_config = ConfigDict(extra="forbid")

    note: Note | None = Field(default=None, description="Optional note, e.g. 'on my way'.")


class ResolveRequest(BaseModel):
    """Body of ``POST /alarms/{id}/resolve``: what was found and done."""

    model_config = ConfigDict(extra="forbid")

    note: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)] = Field(
        description="Required: what was found and what was done."
    )


class ResidentPublic(BaseModel):
    """A resident as shown to the people responsible for the flat."""

    name: str
    age: int | None = None
    phone: str | None = None
    notes: str = ""


class EmergencyContactPublic(BaseModel):
    """Whom to call for a care household."""

    name: str
    relation: str
    phone: str


class CarePublic(BaseModel):
    """Why the household is watched, and its emergency contact."""

    reason: str
    emergency_contact: EmergencyContactPublic


class HouseholdPublic(BaseModel):
    """Who lives in the alarm's flat. Personal data: only for people responsible for the flat."""

    building: str
    unit: str
    flat: str
    residents: list[ResidentPublic]
    care: CarePublic | None = None

    @classmethod
    def of(cls, household: Household) -> HouseholdPublic:
        """The public view of a configured household."""
        return cls.model_validate(household.model_dump(exclude={"care": {"inactive_after_s"}}))


class AlarmDetailView(AlarmDetail):
    """An alarm with history, events, routing, and the household when the caller is responsible for the flat."""

    household: HouseholdPublic | None = Field(
        default=None,
        description="Residents, care flag and emergency contact; present only for the flat's micro-grid "
        "workers, its grid leader and property managers.",
    )
    plan: list[str] = Field(default_factory=list, description="The response plan (预案) for this kind, in order.")
    resources: list[str] = Field(default_factory=list, description="Nearest extinguishers, hydrants, exits.")


class PersonPublic(BaseModel):
    """A person as the directory shows them (no phone numbers)."""

    id: str
    name: str
    role: str
    grids: list[str] = Field(default_factory=list)


class GridPublic(BaseModel):
    """A grid's name, level and parents."""

    id: str
    name: str
    level: Literal["total", "general", "micro", "dedicated"]
    parents: list[str] = Field(default_factory=list, description="Enclosing grids, nearest first.")


class Directory(BaseModel):
    """Names for ids the alarms carry: people, grids, buildings."""

    people: dict[str, PersonPublic]
    grids: dict[str, GridPublic]
    buildings: dict[str, str]


class CompoundPublic(BaseModel):
    """The compound's identity and timezone (the console shows times in it)."""

    id: str
    name: str
    timezone: str


class MePublic(BaseModel):
    """The signed-in person, what they may do, and the names the console needs."""

    person: PersonPublic
    compound: CompoundPublic
    visible_grids: list[str] = Field(description="Grids whose alarms this person sees.")
    all_grids: bool = Field(description="True when the person sees every grid of the compound.")
    can_read_dead_letters: bool
    directory: Directory


class HealthPublic(BaseModel):
    """``/healthz``: ok or degraded, with the database and each background part."""

    status: Literal["ok", "degraded"]
    database: str
    parts: dict[str, Any] = Field(default_factory=dict)
