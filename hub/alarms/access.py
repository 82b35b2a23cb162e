"""Which grids' alarms a person may see and act on."""

from __future__ import annotations

from compound.config import Compound
from compound.config.models import Person, Role

__all__ = ["grid_and_descendants", "responsible_for_flat", "visible_grids"]


def grid_and_descendants(compound: Compound, grid: str) -> set[str]:
    """A grid plus every grid under it (a general grid's micro-grids; everything under the total grid)."""
    grids = compound.grids
    if grid == grids.total.id:
        return (
            {grids.total.id}
            | {g.id for g in grids.general}
            | {g.id for g in grids.micro}
            | {g.id for g in grids.dedicated}
        )
    return {grid} | {m.id for m in grids.micro if m.general == grid}


def visible_grids(person: Person, compound: Compound) -> set[str] | None:
    """Grids whose alarms ``person`` may see; ``None`` means every grid.

    Micro-grid workers see their own grids; grid leaders their grids and everything under them;
    property managers, security, maintenance and full-time grid workers see the whole compound.
    """
    if person.role is Role.MICRO_GRID_WORKER:
        return set(person.grids)
    if person.role is Role.GRID_LEADER:
        if compound.grids.total.id in person.grids:
            return None
        seen: set[str] = set()
        for grid in person.grids:
            seen |= grid_and_descendants(compound, grid)
        return seen
    return None


def responsible_for_flat(person: Person, grid: str, compound: Compound) -> bool:
    """True for a flat's micro-grid workers, its grid leaders and property managers: who may see its household."""
    role = person.role
    if role is Role.PROPERTY_MANAGER:
        return True
    if role is Role.MICRO_GRID_WORKER:
        return grid in person.grids
    if role is Role.GRID_LEADER:
        return any(g in person.grids for g in compound.grid_chain(grid))
    return False
