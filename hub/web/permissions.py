"""Who may see what, beyond grid visibility: the household of a flat, dead letters, "my" alarms.

Grid visibility itself is ``hub.alarms.access.visible_grids``: a micro-grid worker sees only their
grids, a grid leader their grids and everything under them, everyone else the whole compound.
"""

from __future__ import annotations

from dataclasses import dataclass

from compound.config import Compound
from compound.config.models import Person, Role
from hub.alarms.access import grid_and_descendants, responsible_for_flat, visible_grids
from hub.alarms.schemas import AlarmPublic

__all__ = ["Viewer"]

_DEAD_LETTER_ROLES = frozenset({Role.PROPERTY_MANAGER})


@dataclass(frozen=True, slots=True)
class Viewer:
    """A signed-in person and the grids they see (``None``: every grid)."""

    person: Person
    grids: frozenset[str] | None
    own_grids: frozenset[str] = frozenset()
    """The person's own grids and every grid under them."""

    @classmethod
    def of(cls, person: Person, compound: Compound) -> Viewer:
        """The viewer for ``person`` under the compound's grid tree."""
        grids = visible_grids(person, compound)
        own: set[str] = set()
        for grid in person.grids:
            own |= grid_and_descendants(compound, grid)
        return cls(person, None if grids is None else frozenset(grids), frozenset(own))

    @property
    def grid_set(self) -> set[str] | None:
        """``grids`` as the mutable set the service takes."""
        return None if self.grids is None else set(self.grids)

    def sees(self, alarm: AlarmPublic) -> bool:
        """True if the alarm is in a grid this person sees."""
        return self.grids is None or alarm.grid in self.grids

    def owns(self, alarm: AlarmPublic) -> bool:
        """True for "my" alarms: assigned to this person, or in (or under) one of the grids they answer for."""
        return self.person.id in alarm.assignees or alarm.grid in self.own_grids

    def responsible_for_flat(self, alarm: AlarmPublic, compound: Compound) -> bool:
        """True for the flat's micro-grid workers, its grid leaders and property managers (household data)."""
        return responsible_for_flat(self.person, alarm.grid, compound)

    @property
    def can_read_dead_letters(self) -> bool:
        """Dead letters carry raw device payloads: property managers only."""
        return self.person.role in _DEAD_LETTER_ROLES
