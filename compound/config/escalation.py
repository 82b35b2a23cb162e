"""The model of ``escalation.yaml``: who is told, on which channels, and when the next level is told.

A policy matches alarm kinds (and optionally severities) and lists levels up the governance grid: level 0 is
``routed`` (the people the router picked: the micro-grid worker on duty, or the stand-in when they are off
duty); later levels name roles, resolved up the alarm's grid chain (grid leader of its general grid, the
full-time grid worker of the total grid, the property manager on duty). Each level has an acknowledgement
timeout, personal channels, group channels (robots into a duty desk's chat) and repeats. For fire and gas a
policy sets ``on_site_within_s``: acknowledged but nobody marked *on site* in time → escalation resumes.

``plans`` (预案) and ``resources`` go on every alert card; ``incidents`` and ``flapping`` set how alarms are
grouped. The file is optional: without it ``DEFAULT_ESCALATION`` applies (the same policies as the shipped
``configs/escalation.yaml``, so a compound with no such file still escalates a fire).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from compound.config.base import Id, Strict
from compound.config.people import Role

__all__ = [
    "DEFAULT_ESCALATION",
    "EscalationFile",
    "FlapControl",
    "IncidentGrouping",
    "Level",
    "Policy",
    "ResourceList",
]

KindName = str
"""An event kind's wire value ("smoke"); the hub checks it against the wire contract when it loads the channels."""


class Level(Strict):
    """One step up the grid: who, how, how long they have to acknowledge, how often they are reminded."""

    to: Literal["routed"] | list[Role] = Field(
        description="'routed' (the router's pick, level 0) or roles resolved up the alarm's grid chain."
    )
    ack_timeout_s: float = Field(ge=5, le=86400, description="Seconds to acknowledge before the next level.")
    channels: list[Id] = Field(
        default_factory=list, max_length=10, description="Personal channels (ids in channels.yaml), in order."
    )
    groups: list[Id] = Field(
        default_factory=list, max_length=10, description="Group channels (robots into a chat): no personal data."
    )
    repeats: int = Field(default=0, ge=0, le=5, description="Reminders within the level, every repeat_every_s.")
    repeat_every_s: float | None = Field(default=None, ge=5, le=86400)

    @model_validator(mode="after")
    def _repeats_fit(self) -> Level:
        if self.repeats and self.repeat_every_s is None:
            raise ValueError("repeats needs repeat_every_s")
        if (
            self.repeats
            and self.repeat_every_s is not None
            and self.repeats * self.repeat_every_s >= self.ack_timeout_s
        ):
            every, timeout = self.repeat_every_s, self.ack_timeout_s
            raise ValueError(f"{self.repeats} repeats every {every:g} s do not fit in ack_timeout_s {timeout:g}")
        if not self.channels and not self.groups:
            raise ValueError("a level needs at least one channel or group")
        return self

    def role_label(self) -> str:
        return "routed" if self.to == "routed" else "+".join(r.value for r in self.to)


class Policy(Strict):
    """An escalation chain for some alarm kinds (and severities)."""

    id: Id
    kinds: list[KindName] = Field(default_factory=list, description="Kinds it covers; empty: every other kind.")
    severities: list[Literal["info", "warning", "critical"]] = Field(
        default_factory=list, description="Severities it covers; empty: all."
    )
    on_site_within_s: float | None = Field(
        default=None, ge=30, le=86400, description="After acknowledgement, 'on site' is due within this time."
    )
    final_repeat_every_s: float | None = Field(
        default=None, ge=30, le=86400, description="After the last level, tell it again this often until acknowledged."
    )
    levels: list[Level] = Field(min_length=1, max_length=8)

    @model_validator(mode="after")
    def _level_zero_routed(self) -> Policy:
        if self.levels[0].to != "routed":
            raise ValueError("levels[0] must be 'routed' (the people the router picked)")
        if any(level.to == "routed" for level in self.levels[1:]):
            raise ValueError("only levels[0] may be 'routed'")
        return self

    def matches(self, kind: str, severity: str) -> bool:
        return (not self.kinds or kind in self.kinds) and (not self.severities or severity in self.severities)


class ResourceList(Strict):
    """Resources near a place (a building, or a unit of it): extinguishers, hydrants, exits, the micro fire station."""

    building: Id
    unit: Id | None = None
    items: list[str] = Field(min_length=1, max_length=20)


class IncidentGrouping(Strict):
    """Alarms of one place within a window form one incident (one notification stream)."""

    window_s: float = Field(default=600, ge=0, le=86400, description="0 turns grouping off.")


class FlapControl(Strict):
    """A device raising again after clearing this many times within the window is marked flapping."""

    count: int = Field(default=3, ge=2, le=100)
    window_s: float = Field(default=600, ge=10, le=86400)


class EscalationFile(Strict):
    """``escalation.yaml``."""

    policies: list[Policy] = Field(min_length=1, max_length=100)
    plans: dict[KindName, list[str]] = Field(default_factory=dict, description="Response plan (预案) per kind.")
    resources: list[ResourceList] = Field(default_factory=list, max_length=100000)
    incidents: IncidentGrouping = IncidentGrouping()
    flapping: FlapControl = FlapControl()
    never_silenced: list[KindName] = Field(
        default_factory=lambda: ["smoke", "gas", "gas_pre_alarm"],
        description="Kinds no silence or grouping can keep from people (fire and gas).",
    )
    link_ttl_s: float = Field(default=24 * 3600, ge=60, le=7 * 86400, description="Life of a link in a message.")

    def policy_for(self, kind: str, severity: str) -> Policy:
        """The first policy that matches; the last policy with no kinds is the catch-all."""
        for policy in self.policies:
            if policy.kinds and policy.matches(kind, severity):
                return policy
        for policy in self.policies:
            if policy.matches(kind, severity):
                return policy
        return self.policies[-1]

    def resources_for(self, building: str, unit: str | None) -> list[str]:
        found = [r for r in self.resources if r.building == building and r.unit == unit]
        found += [r for r in self.resources if r.building == building and r.unit is None and unit is not None]
        return [item for r in found for item in r.items]


_ROUTED_WEB = ["webpush", "inbox"]

DEFAULT_ESCALATION = EscalationFile(
    policies=[
        Policy(
            id="fire-gas",
            kinds=["smoke", "gas", "gas_pre_alarm"],
            on_site_within_s=180,
            final_repeat_every_s=120,
            levels=[
                Level(to="routed", ack_timeout_s=60, channels=_ROUTED_WEB, repeats=1, repeat_every_s=30),
                Level(to=[Role.GRID_LEADER], ack_timeout_s=60, channels=_ROUTED_WEB),
                Level(to=[Role.FULL_TIME_GRID_WORKER], ack_timeout_s=120, channels=_ROUTED_WEB),
                Level(to=[Role.PROPERTY_MANAGER], ack_timeout_s=120, channels=_ROUTED_WEB),
            ],
        ),
        Policy(
            id="default",
            levels=[
                Level(to="routed", ack_timeout_s=300, channels=_ROUTED_WEB),
                Level(to=[Role.GRID_LEADER], ack_timeout_s=900, channels=_ROUTED_WEB),
                Level(to=[Role.PROPERTY_MANAGER], ack_timeout_s=1800, channels=_ROUTED_WEB),
            ],
        ),
    ]
)
