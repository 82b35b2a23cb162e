"""Route an alarm: device → place → grid → the people of the right roles on duty at that moment.

"On duty at that moment" uses the event's ``occurred_at``, not the hub's wall clock: simulated
compounds run on a shared scaled clock (a 02:00 kitchen fire must reach the night crew whatever
the wall time), and in production the edge clock is wall time, so the two agree except for an
outbox replayed after an outage, where the people on duty when it happened are the ones asked.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from compound.config import Compound
from compound.config.loader import Device
from compound.config.models import ALL_DAYS, Person, Role
from compound.wire import EventKind
from hub.routing.rules import route_for

__all__ = ["RoutedPerson", "Router", "RoutingDecision"]

log = logging.getLogger(__name__)

_GRID_FALLBACK = (Role.GRID_LEADER, Role.FULL_TIME_GRID_WORKER)
"""Who covers a grid when its own people are off duty, tried at each level of the grid chain."""

_COMPOUND_WIDE = frozenset({Role.PROPERTY_SECURITY, Role.MAINTENANCE, Role.PROPERTY_MANAGER})
"""Roles rostered for the whole compound rather than per grid."""


Why = dict[str, str]
"""A reason as data for the console to put in words in its language: ``{"key": "on_duty", "role": …, "grid": …,
"day": "fri", "at": "02:00"}`` (keys ``on_duty``, ``manager_fallback``, ``grid_fallback``, ``nobody``); the English
sentence is kept beside it for logs and API users."""


@dataclass(frozen=True, slots=True)
class RoutedPerson:
    """One person picked, for which role, at which grid level, and why."""

    person: str
    role: str
    grid: str | None
    via: str
    reason: str
    why: Why = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "person": self.person,
            "role": self.role,
            "grid": self.grid,
            "via": self.via,
            "reason": self.reason,
            "why": self.why,
        }


@dataclass(slots=True)
class RoutingDecision:
    """Where an alarm went and why; stored as JSON with the alarm."""

    rule: str
    kind: str
    grid: str
    grid_chain: list[str]
    at: datetime
    people: list[RoutedPerson] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    whys: list[Why] = field(default_factory=list)
    """``reasons`` as data, one for one (the console's words in Chinese or English)."""

    @property
    def person_ids(self) -> list[str]:
        return [p.person for p in self.people]

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "kind": self.kind,
            "grid": self.grid,
            "grid_chain": self.grid_chain,
            "at": self.at.isoformat(),
            "people": [p.as_dict() for p in self.people],
            "reasons": self.reasons,
            "whys": self.whys,
        }

    def note(self, reason: str, why: Why) -> None:
        """Add a reason, in English and as data."""
        self.reasons.append(reason)
        self.whys.append(why)


class Router:
    """Decides who an alarm goes to from the compound config (grids, people, rosters)."""

    def __init__(self, compound: Compound) -> None:
        self.compound = compound
        self._people = compound.people
        rostered = {shift.person for roster in compound.people_file.rosters for shift in roster.shifts}
        # People on no roster at all (grid leaders, typically) answer for their grids at any hour.
        self._always_on_call = [p for p in compound.people_file.people if p.id not in rostered]
        # Who is rostered for which role in which grid: outside those shifts they are off duty for that grid.
        self._rostered_for = {
            (shift.person, roster.role, roster.grid)
            for roster in compound.people_file.rosters
            for shift in roster.shifts
        }

    def route(self, kind: EventKind, device: Device, at: datetime) -> RoutingDecision:
        """The people to alert for ``kind`` at ``device`` when it happened (``at``)."""
        grid = self.compound.grid_of(device)
        rule = route_for(kind)
        decision = RoutingDecision(rule.name, kind.value, grid, self.compound.grid_chain(grid), at)
        moment = at.astimezone(self.compound.tz)
        local = moment.strftime("%a %H:%M")
        when = {"day": ALL_DAYS[moment.weekday()], "at": moment.strftime("%H:%M")}
        for role in rule.roles:
            found = self._on_duty(role, grid, at)
            if found:
                why = {"key": "on_duty", "role": role.value, "grid": grid, **when}
                for person in found:
                    reason = f"{role.value} on duty for {grid} at {local}"
                    self._add(decision, person, role, grid, "roster", reason, why)
                decision.note(f"{role.value}: {', '.join(p.id for p in found)} on duty at {local}", why)
                continue
            missing = f"no {role.value} on duty for {grid} at {local}"
            if not self._fallback(decision, role, grid, at, local, missing, when):
                decision.note(
                    f"{missing}; nobody to fall back to", {"key": "nobody", "role": role.value, "grid": grid, **when}
                )
                log.warning("alarm routing: %s and no fallback found", missing)
        return decision

    def responsible(self, role: Role, grid: str, at: datetime) -> tuple[list[Person], str | None]:
        """People of ``role`` answering for ``grid`` at ``at`` (an escalation level), and at which grid they were found.

        Grid roles walk up the grid chain (on duty there, or on no roster and responsible for it); compound-wide
        roles (manager, security, maintenance) are whoever is on duty, or on no roster at all.
        """
        if role in _COMPOUND_WIDE:
            found = self._on_duty(role, None, at) or [p for p in self._always_on_call if p.role is role]
            return found, None
        for level in self.compound.grid_chain(grid):
            found = self._on_duty(role, level, at) or [
                p
                for p in self.compound.people_file.people
                if p.role is role and level in p.grids and (p.id, role, level) not in self._rostered_for
            ]
            if found:
                return list({p.id: p for p in found}.values()), level
        return [], None

    def _on_duty(self, role: Role, grid: str | None, at: datetime) -> list[Person]:
        return self.compound.on_duty(role, grid, at)

    def _fallback(
        self, decision: RoutingDecision, role: Role, grid: str, at: datetime, local: str, why: str, when: Why
    ) -> bool:
        """Walk up: compound-wide roles fall back to the manager on duty, then the grid chain."""
        missing = {"role": role.value, "grid": grid, **when}
        if role in _COMPOUND_WIDE and role is not Role.PROPERTY_MANAGER:
            managers = self._on_duty(Role.PROPERTY_MANAGER, None, at)
            if managers:
                data = {"key": "manager_fallback", **missing}
                for person in managers:
                    self._add(
                        decision, person, Role.PROPERTY_MANAGER, None, "fallback", f"{why}: manager on duty", data
                    )
                decision.note(f"{why}; fell back to property_manager {', '.join(p.id for p in managers)}", data)
                return True
        for level in decision.grid_chain:
            for fallback_role in _GRID_FALLBACK:
                found = self._on_duty(fallback_role, level, at) + [
                    p for p in self._always_on_call if p.role is fallback_role and level in p.grids
                ]
                if found:
                    data = {"key": "grid_fallback", **missing, "by_role": fallback_role.value, "by_grid": level}
                    for person in found:
                        self._add(decision, person, fallback_role, level, "fallback", f"{why}: covers {level}", data)
                    decision.note(
                        f"{why}; fell back to {fallback_role.value} of {level}: {', '.join(p.id for p in found)}", data
                    )
                    return True
        return False

    @staticmethod
    def _add(
        decision: RoutingDecision, person: Person, role: Role, grid: str | None, via: str, reason: str, why: Why
    ) -> None:
        if person.id not in decision.person_ids:
            decision.people.append(RoutedPerson(person.id, role.value, grid, via, reason, why))
