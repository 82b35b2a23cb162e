"""Every shipped scenario through the real edge RuleEngine: exactly the events it must raise, and no false alarm.

The simulated gateway of each edge a scenario touches is polled on simulated time (every 10 s, no broker,
no agent) and its samples fed to ``edge.engine.RuleEngine`` built from the sample compound, as the edge
agent does on each tick. ``EXPECTED`` is the specification of the scenarios: a scenario added without an
entry here fails, and so does any event not listed (a false alarm) or a listed one that is missing or late.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from compound.config import Compound, load_config
from compound.wire import EventKind, EventState
from edge.engine import RuleEngine
from edge.rules import Verdict
from simulators import Scenario, SimulatedGateway, edges_of, list_scenarios, load_scenario
from tests.conftest import ROOT
from tests.simulators.conftest import TINY

RAISED, CLEARED, UPDATED = EventState.RAISED, EventState.CLEARED, EventState.UPDATED
POLL_S = 10.0
"""Simulated seconds between two polls and ticks (an agent at speed 10 with a 1 s tick)."""

Window = tuple[EventState, float, float]
"""A raise or a clear expected between two moments, simulated seconds from the scenario start."""


@dataclass(frozen=True)
class Expected:
    """The events a scenario must produce: per (kind, device), its raises and clears in order, each in a window."""

    conditions: dict[tuple[EventKind, str], list[Window]] = field(default_factory=dict)
    extra_edges: tuple[str, ...] = ()
    updates: dict[tuple[EventKind, str], int] = field(default_factory=dict)
    """Exact number of ``updated`` events where it matters (other raised conditions may update freely)."""


EXPECTED: dict[str, Expected] = {
    # A medium fire lit at 60 s crosses 0.15 dB/m ~2.5 min later; put out at 300 s, ventilated, clear ~7 min later.
    # The night's residents badge in at the entrances: no door_forced.
    "kitchen-fire-night": Expected({(EventKind.SMOKE, "b2-u1-1502-smoke"): [(RAISED, 150, 300), (CLEARED, 330, 1200)]}),
    # A whole ordinary day: no event at all (the 6 s burnt toast is shorter than the smoke confirmation);
    # the kindergarten's gate too.
    "quiet-day": Expected({}, extra_edges=("kg",)),
    # Forced at 2400 s (02:40) with no credential, held 45 s.
    "door-forced-night": Expected(
        {(EventKind.DOOR_FORCED, "b2-u1-entrance"): [(RAISED, 2400, 2400), (CLEARED, 2445, 2445)]}
    ),
    # Last door move at 3006 s; 12 h of silence later (one tick of slack).
    "elderly-inactive": Expected(
        {(EventKind.CARE_INACTIVE, "b2-u1-803-door"): [(RAISED, 3006 + 43200, 3006 + 43200 + POLL_S)]}
    ),
    # Offline 600..3000 s; stuck from 300 s (> 6 h later, never recovered); noisy 600..7800 s, then serviced.
    "detector-faults": Expected(
        {
            (EventKind.DEVICE_OFFLINE, "b2-u1-1001-gas"): [
                (RAISED, 600 + 240, 600 + 300 + POLL_S),
                (CLEARED, 3000, 3001),
            ],
            (EventKind.STUCK_VALUE, "b2-u2-1803-smoke"): [(RAISED, 240 + 21600, 300 + 21600 + 60)],
            (EventKind.NOISY_SIGNAL, "b2-u1-2204-smoke"): [(RAISED, 600, 900), (CLEARED, 7800 + 600, 7800 + 3600)],
        }
    ),
    # 30 % at 6 %/h: 15 % after 2.5 h; empty (silent) after 5 h, offline 300 s after its last sample.
    "detector-battery-dying": Expected(
        {
            # Batteries report in 0.5 % steps: 15.0 is reported from 15.25 % on (150 s early).
            (EventKind.LOW_BATTERY, "b2-u2-1801-smoke"): [(RAISED, 9000 - 150 - 60, 9000 + 60)],
            (EventKind.DEVICE_OFFLINE, "b2-u2-1801-smoke"): [(RAISED, 18000 - 60 + 300, 18000 + 300 + POLL_S)],
        }
    ),
    # Wedged at 300 s: warning after 120 s, critical after 5 x 120 s, cleared on release at 1500 s.
    "fire-door-wedged": Expected(
        {(EventKind.DOOR_HELD_OPEN, "b2-u1-f12-firedoor"): [(RAISED, 420, 420 + POLL_S), (CLEARED, 1500, 1500)]},
        updates={(EventKind.DOOR_HELD_OPEN, "b2-u1-f12-firedoor"): 1},
    ),
    # 0.6 %LEL/min from 120 s: 10 %LEL ~18 min later, 25 %LEL ~51 min later; shut at 3600 s and aired.
    "slow-gas-leak": Expected(
        {
            (EventKind.GAS_PRE_ALARM, "b2-u2-1203-gas"): [(RAISED, 900, 1500), (CLEARED, 3600, 5400)],
            (EventKind.GAS, "b2-u2-1203-gas"): [(RAISED, 2700, 3600), (CLEARED, 3600, 5400)],
        }
    ),
}


@pytest.fixture(scope="module")
def sample() -> Compound:
    """The repo's sample compound (its rules, households and devices)."""
    return load_config(ROOT / "configs")


def run_rules(compound: Compound, edge: str, scenario: Scenario, until_s: float | None = None) -> list[Verdict]:
    """Feed one edge's simulated samples to a fresh RuleEngine, tick by tick; every verdict drafted like the agent."""
    gateway = SimulatedGateway(compound, edge, scenario=scenario)
    engine = RuleEngine(compound, edge)
    end = scenario.start + timedelta(seconds=until_s if until_s is not None else scenario.duration_s)
    now = scenario.start
    verdicts = list(engine.tick(now))
    while now < end:
        now = min(now + timedelta(seconds=POLL_S), end)
        verdicts += engine.feed(gateway.poll(now))
        verdicts += engine.tick(now)
    for verdict in verdicts:
        assert engine.draft(verdict) is not None, f"{verdict.state} with nothing raised: {verdict}"
    return verdicts


def offset(scenario: Scenario, at: datetime) -> float:
    """Simulated seconds from the scenario start."""
    return (at - scenario.start).total_seconds()


def describe(scenario: Scenario, verdicts: Iterable[Verdict]) -> str:
    """Readable list of verdicts for assertion messages."""
    return "\n".join(
        f"  {offset(scenario, v.at):8.0f} s  {v.kind.value} {v.state.value} {v.device}: {v.message}" for v in verdicts
    )


def check(scenario: Scenario, verdicts: list[Verdict], expected: Expected) -> None:
    """Assert that ``verdicts`` are exactly the expected raises and clears, in their windows, plus allowed updates."""
    transitions: dict[tuple[EventKind, str], list[Verdict]] = {}
    updates: dict[tuple[EventKind, str], list[Verdict]] = {}
    for verdict in verdicts:
        bucket = updates if verdict.state is UPDATED else transitions
        bucket.setdefault((verdict.kind, verdict.device), []).append(verdict)
    unexpected = [v for key, vs in {**transitions, **updates}.items() if key not in expected.conditions for v in vs]
    assert not unexpected, f"{scenario.name}: false alarms\n{describe(scenario, unexpected)}"
    for key, windows in expected.conditions.items():
        got = transitions.get(key, [])
        shape = [(v.state, offset(scenario, v.at)) for v in got]
        assert [v.state for v in got] == [w[0] for w in windows], f"{scenario.name} {key}: got {shape}"
        for verdict, (_, lo, hi) in zip(got, windows, strict=True):
            assert lo <= offset(scenario, verdict.at) <= hi, f"{scenario.name} {key}: {shape} outside {windows}"
        raised_at = got[0].at
        cleared_at = got[1].at if len(got) > 1 else scenario.end
        assert all(raised_at < u.at <= cleared_at for u in updates.get(key, [])), f"{scenario.name} {key}: update"
        if key in expected.updates:
            assert len(updates.get(key, [])) == expected.updates[key], f"{scenario.name} {key}: updates"


def test_every_scenario_has_an_expectation() -> None:
    """Test that each scenario in configs/scenarios/ is specified here, and nothing here names a missing one."""
    assert {s.name for s in list_scenarios()} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_scenario_raises_exactly_its_events(sample: Compound, name: str) -> None:
    """Test that the scenario's edges raise (and clear) exactly the expected events in time, and nothing else."""
    scenario = load_scenario(name)
    expected = EXPECTED[name]
    edges = edges_of(scenario, sample) + [e for e in expected.extra_edges if e not in edges_of(scenario, sample)]
    assert edges, f"{name} touches no edge"
    verdicts = [v for edge in edges for v in run_rules(sample, edge, scenario)]
    check(scenario, verdicts, expected)


def test_door_forced_night_with_residents_coming_home_raises_only_the_forced_door(sample: Compound) -> None:
    """Test that with routines on, residents badging in at night raise nothing: only the forced opening counts."""
    scenario = load_scenario("door-forced-night").model_copy(update={"routines": True})
    verdicts = run_rules(sample, "b2", scenario)
    gateway = SimulatedGateway(sample, "b2", scenario=scenario)
    night_openings = [
        s
        for s in gateway.poll(scenario.end)
        if s.device.endswith("-entrance") and s.quantity.value == "door" and s.value == 1.0
    ]
    assert len({s.at for s in night_openings}) > 1, "routines should open the entrances at night too"
    check(scenario, verdicts, EXPECTED["door-forced-night"])


def test_a_resident_with_a_card_at_night_raises_nothing(sample: Compound) -> None:
    """Test that the same 02:40 opening, preceded by an accepted card, raises no door_forced."""
    data = load_scenario("door-forced-night").model_dump()
    data["timeline"] = [{**step, "grant": True} for step in data["timeline"]]
    scenario = Scenario.model_validate({k: v for k, v in data.items() if v is not None})
    verdicts = run_rules(sample, "b2", scenario)
    check(scenario, verdicts, Expected({}))


def test_care_households_of_the_sample_never_alarm_over_a_week(tmp_path: Path, sample: Compound) -> None:
    """Test that the shortest care limit of the sample compound raises nothing in 7 normal days and nights."""
    limits = [h.care.inactive_after_s or sample.rules.care.inactive_after_s for h in sample.care_households() if h.care]
    files: dict[str, Any] = copy.deepcopy(TINY)
    files["households.yaml"]["households"][0]["care"]["inactive_after_s"] = min(limits)
    for name, content in files.items():
        (tmp_path / name).write_text(yaml.safe_dump(content, allow_unicode=True), encoding="utf-8")
    tiny = load_config(tmp_path)
    scenario = Scenario.model_validate(
        {
            "name": "a-week",
            "description": "Routines only.",
            "start": "2026-11-24T00:00:00+08:00",
            "duration_s": 7 * 86400,
            "seed": 11,
        }
    )
    verdicts = run_rules(tiny, "t1", scenario)
    care = [v for v in verdicts if v.kind is EventKind.CARE_INACTIVE]
    assert not care, describe(scenario, care)
    assert not verdicts, describe(scenario, verdicts)
