"""Cross-file checks of a parsed config: every reference resolves, ids are unique, every unit has a micro-grid."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from compound.config.issues import ConfigIssue
from compound.config.models import Building

if TYPE_CHECKING:
    from compound.config.loader import Compound


def _duplicates(ids: Iterable[str]) -> Iterator[tuple[int, str]]:
    seen: set[str] = set()
    for index, value in enumerate(ids):
        if value in seen:
            yield index, value
        seen.add(value)


def check_references(c: Compound, issues: list[ConfigIssue]) -> None:
    """Cross-file checks: every reference resolves, ids are unique, every unit has one micro-grid."""
    buildings = {b.id: b for b in c.compound.buildings}
    sites = {s.id for s in c.compound.sites}
    for i, dup in _duplicates([b.id for b in c.compound.buildings] + [s.id for s in c.compound.sites]):
        issues.append(ConfigIssue("compound.yaml", f"buildings/sites[{i}].id", f"duplicate id {dup!r}"))

    grid_ids = [c.grids.total.id] + [g.id for g in c.grids.general] + [g.id for g in c.grids.micro]
    grid_ids += [g.id for g in c.grids.dedicated]
    for _, dup in _duplicates(grid_ids):
        issues.append(ConfigIssue("grids.yaml", "", f"duplicate grid id {dup!r}"))
    general_ids = {g.id for g in c.grids.general}
    for i, general in enumerate(c.grids.general):
        for j, bid in enumerate(general.buildings):
            if bid not in buildings:
                issues.append(ConfigIssue("grids.yaml", f"general[{i}].buildings[{j}]", f"unknown building {bid!r}"))
    units_seen: dict[tuple[str, str], str] = {}
    for i, micro in enumerate(c.grids.micro):
        if micro.general not in general_ids:
            issues.append(ConfigIssue("grids.yaml", f"micro[{i}].general", f"unknown general grid {micro.general!r}"))
        building = buildings.get(micro.building)
        if building is None:
            issues.append(ConfigIssue("grids.yaml", f"micro[{i}].building", f"unknown building {micro.building!r}"))
            continue
        if micro.unit not in building.units:
            issues.append(
                ConfigIssue("grids.yaml", f"micro[{i}].unit", f"building {building.id!r} has no unit {micro.unit!r}")
            )
        key = (micro.building, micro.unit)
        if key in units_seen:
            issues.append(
                ConfigIssue("grids.yaml", f"micro[{i}]", f"unit {key[0]}/{key[1]} already in {units_seen[key]!r}")
            )
        units_seen[key] = micro.id
    for bld in c.compound.buildings:
        for u in bld.units:
            if (bld.id, u) not in units_seen:
                issues.append(ConfigIssue("grids.yaml", "micro", f"unit {bld.id}/{u} belongs to no micro-grid"))
    for i, dedicated in enumerate(c.grids.dedicated):
        if dedicated.site not in sites:
            issues.append(ConfigIssue("grids.yaml", f"dedicated[{i}].site", f"unknown site {dedicated.site!r}"))

    all_grids = set(grid_ids)
    people = {p.id for p in c.people_file.people}
    for i, dup in _duplicates(p.id for p in c.people_file.people):
        issues.append(ConfigIssue("people.yaml", f"people[{i}].id", f"duplicate person id {dup!r}"))
    for i, person in enumerate(c.people_file.people):
        for j, g in enumerate(person.grids):
            if g not in all_grids:
                issues.append(ConfigIssue("people.yaml", f"people[{i}].grids[{j}]", f"unknown grid {g!r}"))
    roles = {p.id: p.role for p in c.people_file.people}
    for i, roster in enumerate(c.people_file.rosters):
        if roster.grid is not None and roster.grid not in all_grids:
            issues.append(ConfigIssue("people.yaml", f"rosters[{i}].grid", f"unknown grid {roster.grid!r}"))
        for j, shift in enumerate(roster.shifts):
            where = f"rosters[{i}].shifts[{j}].person"
            if shift.person not in people:
                issues.append(ConfigIssue("people.yaml", where, f"unknown person {shift.person!r}"))
            elif roles[shift.person] != roster.role:
                issues.append(
                    ConfigIssue(
                        "people.yaml",
                        where,
                        f"person {shift.person!r} is a {roles[shift.person].value}, roster is for {roster.role.value}",
                    )
                )

    for i, household in enumerate(c.households_file.households):
        building = buildings.get(household.building)
        where = f"households[{i}]"
        if building is None:
            issues.append(
                ConfigIssue("households.yaml", f"{where}.building", f"unknown building {household.building!r}")
            )
            continue
        if household.unit not in building.units:
            issues.append(ConfigIssue("households.yaml", f"{where}.unit", f"unknown unit {household.unit!r}"))
        if not flat_exists(building, household.flat):
            issues.append(
                ConfigIssue(
                    "households.yaml", f"{where}.flat", f"building {building.id!r} has no flat {household.flat!r}"
                )
            )
    for i, dup in _duplicates(f"{h.building}/{h.unit}/{h.flat}" for h in c.households_file.households):
        issues.append(ConfigIssue("households.yaml", f"households[{i}]", f"flat {dup} listed twice"))

    try:
        ZoneInfo(c.compound.compound.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        issues.append(
            ConfigIssue("compound.yaml", "compound.timezone", f"unknown timezone {c.compound.compound.timezone!r}")
        )

    for i, rule in enumerate(c.devices_file.rules):
        if rule.buildings != "all":
            for j, bid in enumerate(rule.buildings):
                if bid not in buildings:
                    issues.append(
                        ConfigIssue("devices.yaml", f"rules[{i}].buildings[{j}]", f"unknown building {bid!r}")
                    )
    for i, spec in enumerate(c.devices_file.devices):
        loc = spec.location
        if loc.building not in buildings and loc.building not in sites:
            issues.append(
                ConfigIssue(
                    "devices.yaml", f"devices[{i}].location.building", f"unknown building or site {loc.building!r}"
                )
            )
        elif loc.building in buildings:
            site_building = buildings[loc.building]
            if loc.unit is not None and loc.unit not in site_building.units:
                issues.append(ConfigIssue("devices.yaml", f"devices[{i}].location.unit", f"unknown unit {loc.unit!r}"))
            if loc.flat is not None and not flat_exists(site_building, loc.flat):
                issues.append(ConfigIssue("devices.yaml", f"devices[{i}].location.flat", f"no flat {loc.flat!r}"))


def flat_exists(building: Building, flat: str) -> bool:
    number = int(flat)
    floor, index = divmod(number, 100)
    return 1 <= floor <= building.floors and 1 <= index <= building.flats_per_floor
