"""Routing: kind → roles, place → grid, roster → the people on duty when it happened, with fallbacks."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from compound.config import Compound, load_config
from compound.wire import EventKind
from hub.alarms.access import visible_grids
from hub.routing import Router
from tests.conftest import ROOT
from tests.hub.helpers import DAY, NIGHT

KITCHEN_SMOKE = "b2-u1-1502-smoke"
EVENING = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)  # Friday 20:00 in Asia/Shanghai


def people(router: Router, compound: Compound, kind: EventKind, device: str, at: datetime) -> list[str]:
    return router.route(kind, compound.devices[device], at).person_ids


def test_kitchen_fire_at_night_goes_to_night_worker_and_night_security(compound: Compound) -> None:
    """Test that a 02:00 kitchen fire in b2/u1/1502 goes to p-li-qiang (night micro-grid worker of mg-b2-u1)
    and p-song-kai (security 00:00-08:00), and the decision says why."""
    decision = Router(compound).route(EventKind.SMOKE, compound.devices[KITCHEN_SMOKE], NIGHT)
    assert decision.grid == "mg-b2-u1"
    assert decision.rule == "fire_gas"
    assert decision.person_ids == ["p-li-qiang", "p-song-kai"]
    assert [p.role for p in decision.people] == ["micro_grid_worker", "property_security"]
    assert all(p.via == "roster" for p in decision.people)
    stored = decision.as_dict()
    assert stored["grid_chain"] == ["mg-b2-u1", "g-north", "g-total"]
    assert stored["at"] == NIGHT.isoformat()


def test_kitchen_fire_by_day_goes_to_day_crew(compound: Compound) -> None:
    """Test that the same fire at 14:00 goes to the day worker p-wang-li and day security p-guo-peng."""
    assert people(Router(compound), compound, EventKind.SMOKE, KITCHEN_SMOKE, DAY) == ["p-wang-li", "p-guo-peng"]


@pytest.mark.parametrize(
    ("kind", "device", "at", "expected"),
    [
        (EventKind.GAS, "b2-u1-1502-gas", NIGHT, ["p-li-qiang", "p-song-kai"]),
        (EventKind.GAS_PRE_ALARM, "b2-u1-1502-gas", DAY, ["p-wang-li", "p-guo-peng"]),
        (EventKind.DOOR_HELD_OPEN, "b2-u1-f15-firedoor", DAY, ["p-wang-li"]),
        (EventKind.DOOR_FORCED, "b1-u2-entrance", NIGHT, ["p-zhao-gang"]),
        (EventKind.LOW_BATTERY, KITCHEN_SMOKE, DAY, ["p-deng-hao"]),
        (EventKind.DEVICE_OFFLINE, KITCHEN_SMOKE, NIGHT, ["p-cao-lei"]),
        (EventKind.EBIKE_IN_LIFT, "b2-u1-entrance", EVENING, ["p-luo-bin"]),
        (EventKind.FIRE_LANE_BLOCKED, "b4-u3-entrance", NIGHT, ["p-song-kai", "p-he-jun"]),
    ],
)
def test_routing_table(compound: Compound, kind: EventKind, device: str, at: datetime, expected: list[str]) -> None:
    """Test each row of the routing table: hazards, doors, faults, lift e-bikes and fire lanes."""
    assert people(Router(compound), compound, kind, device, at) == expected


def test_kindergarten_out_of_hours_falls_back_to_full_time_grid_worker(compound: Compound) -> None:
    """Test that with the kindergarten's worker off duty (Friday 20:00), the alarm falls back to the full-time
    grid worker rostered for the dedicated grid, and the reason is recorded."""
    decision = Router(compound).route(EventKind.SMOKE, compound.devices["kg-kitchen-smoke"], EVENING)
    assert decision.grid == "dg-kindergarten"
    assert decision.person_ids == ["p-xu-hong", "p-luo-bin"]
    assert decision.people[0].via == "fallback" and decision.people[0].role == "full_time_grid_worker"
    assert any("no micro_grid_worker on duty for dg-kindergarten" in r for r in decision.reasons)


@pytest.fixture
def holes_in_rosters(tmp_path: Path) -> Compound:
    """The sample compound with no night worker for mg-b2-u1 and no night security."""
    root = tmp_path / "configs"
    shutil.copytree(ROOT / "configs", root)
    people = root / "people.yaml"
    text = people.read_text(encoding="utf-8")
    for line in (
        '      - {person: p-li-qiang, window: {start: "20:00", end: "08:00"}}\n  - id: r-mg-b2-u2',
        '      - {person: p-song-kai, window: {start: "00:00", end: "08:00"}}\n',
    ):
        assert line in text
    text = text.replace(
        '      - {person: p-li-qiang, window: {start: "20:00", end: "08:00"}}\n  - id: r-mg-b2-u2', "  - id: r-mg-b2-u2"
    )
    text = text.replace('      - {person: p-song-kai, window: {start: "00:00", end: "08:00"}}\n', "")
    people.write_text(text, encoding="utf-8")
    return load_config(root)


def test_fallback_up_the_grid_chain_and_to_the_manager(holes_in_rosters: Compound) -> None:
    """Test that with nobody rostered, the micro-grid's alarm goes to the general grid's leader and the missing
    security to the property manager on duty, each with the reason recorded."""
    decision = Router(holes_in_rosters).route(EventKind.SMOKE, holes_in_rosters.devices[KITCHEN_SMOKE], NIGHT)
    assert decision.person_ids == ["p-gao-ming", "p-feng-yu"]
    assert [(p.role, p.grid, p.via) for p in decision.people] == [
        ("grid_leader", "g-north", "fallback"),
        ("property_manager", None, "fallback"),
    ]
    assert len(decision.reasons) == 2 and all("fell back" in r for r in decision.reasons)


def test_visible_grids(compound: Compound) -> None:
    """Test grid visibility: a worker sees their micro-grids, a leader their general grid and its micro-grids,
    managers, security and maintenance see everything."""
    people = compound.people
    assert visible_grids(people["p-li-qiang"], compound) == {"mg-b2-u1", "mg-b2-u2"}
    assert visible_grids(people["p-gao-ming"], compound) == {"g-north", "mg-b1-u1", "mg-b1-u2", "mg-b2-u1", "mg-b2-u2"}
    for everyone in ("p-han-mei", "p-song-kai", "p-deng-hao", "p-xu-hong"):
        assert visible_grids(people[everyone], compound) is None
