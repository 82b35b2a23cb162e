"""The ``compound up`` banner: console URL, click-to-login links for the people on duty, broker, data dir.

The links go to the property manager on duty and a micro-grid worker of the grid the scenario touches
first, at simulated time zero; their tokens are signed with the data dir's key, as the hub's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from compound.config import Compound
from compound.config.models import Person, Role

if TYPE_CHECKING:
    from compound.cli.commands.up import Plan
    from compound.cli.runner import ProcessTree

__all__ = ["LoginLink", "banner", "login_links"]


def focus_grid(plan: Plan) -> str | None:
    """The micro-grid (or other grid) of the first flat or device the scenario touches."""
    if not plan.args.scenario:
        return None
    import simulators
    from simulators.scenario import parse_flat

    compound = plan.compound
    for step in simulators.load_scenario(plan.args.scenario).steps():
        if step.flat is not None:
            building, unit, _ = parse_flat(step.flat)
            for micro in compound.grids.micro:
                if (micro.building, micro.unit) == (building, unit):
                    return micro.id
        if step.device is not None and step.device in compound.devices:
            return compound.grid_of(compound.devices[step.device])
    return None


def on_duty_or_any(compound: Compound, role: Role, grid: str | None, at: datetime) -> tuple[Person | None, bool]:
    """A person of ``role`` on duty at ``at`` for ``grid``, else anyone of that role there; ``(person, on_duty)``."""
    found = compound.on_duty(role, grid, at)
    if found:
        return found[0], True
    people = [p for p in compound.people.values() if p.role == role]
    local = [p for p in people if grid is None or grid in p.grids]
    pick = local or people
    return (pick[0] if pick else None), False


@dataclass(frozen=True, slots=True)
class LoginLink:
    """A click-to-login console link for one person."""

    person: Person
    label: str
    url: str


def login_links(plan: Plan) -> list[LoginLink]:
    """Links for the property manager on duty and a micro-grid worker (of the scenario's grid) at sim start."""
    from hub.web.auth import TokenSigner, load_secret_key, login_url

    assert plan.console_url is not None
    signer = TokenSigner(load_secret_key(plan.data_dir))
    compound = plan.compound
    grid = focus_grid(plan) or (compound.grids.micro[0].id if compound.grids.micro else None)
    links = []
    wanted = [(Role.PROPERTY_MANAGER, None, "property manager"), (Role.MICRO_GRID_WORKER, grid, "micro-grid worker")]
    for role, where, title in wanted:
        person, duty = on_duty_or_any(compound, role, where, plan.sim_start)
        if person is None:
            continue
        label = f"{title}{f' of {where}' if where else ''}{' on duty' if duty else ' (none on duty)'}"
        links.append(LoginLink(person, label, login_url(plan.console_url, signer.issue_login(compound, person.id))))
    return links


def banner(plan: Plan, tree: ProcessTree) -> str:
    """What a user sees once the broker and hub are up: console, logins, broker, data dir, scenario."""
    args = plan.args
    span = f"{args.duration:g} simulated s" if args.duration else "until Ctrl-C"
    lines = [
        f"compound up: {plan.compound.name} ({plan.compound.id})",
        f"  scenario   {args.scenario or '(daily routines only)'}, sim start {plan.sim_start.isoformat()}, "
        f"speed x{args.speed:g}, {span}",
    ]
    if plan.console_url:
        lines.append(f"  console    {plan.console_url}/   (API {plan.console_url}/docs)")
        for link in login_links(plan):
            lines.append(f"  log in as  {link.person.name} ({link.person.id}), {link.label}:")
            lines.append(f"             {link.url}")
    lines.append(f"  broker     {plan.broker}{' (embedded amqtt)' if plan.embedded_broker else ''}")
    lines.append(f"  data dir   {plan.data_dir}")
    lines.append("  processes")
    width = max(len(s.name) for s in tree.specs)
    lines += [f"    {s.name:<{width}}  {s.role:<6} {s.where}" for s in tree.specs]
    if not args.duration:
        lines.append("  Ctrl-C stops everything.")
    return "\n".join(lines)
