"""Every shipped scenario through the real edge RuleEngine: exactly the events it must raise, and no false alarm.

The simulated gateway of each edge a scenario touches is polled on simulated time (every 10 s, no broker,
no agent) and its samples fed to ``edge.engine.RuleEngine`` built from the sample compound, as the edge
agent does on each tick. ``EXPECTED`` is the specification of the scenarios: a scenario added without an
entry here fails, and so does any event not listed (a false alarm) or a listed one that is missing or late.
"""

from __future__ import annotations

import copy
import itertools
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
    must_not: frozenset[EventKind] = frozenset()
    """The look-alikes: kinds this scenario is built to tempt and must not raise (on any device). ``check``
    refuses every event not in ``conditions`` anyway; this names what the scenario is a trap for."""


EXPECTED: dict[str, Expected] = {
    # A medium fire lit at 60 s crosses 0.15 dB/m ~2.5 min later; put out at 300 s, ventilated, clear ~7 min later.
    # The night's residents badge in at the entrances: no door_forced.
    "kitchen-fire-night": Expected(
        {(EventKind.SMOKE, "b2-u1-1502-smoke"): [(RAISED, 150, 300), (CLEARED, 330, 1200)]},
        must_not=frozenset({EventKind.DOOR_FORCED, EventKind.GAS_PRE_ALARM}),
    ),
    # A whole ordinary day: no event at all (the 6 s burnt toast is shorter than the smoke confirmation);
    # the kindergarten's gate too.
    "quiet-day": Expected(
        {},
        extra_edges=("kg",),
        must_not=frozenset({EventKind.SMOKE, EventKind.DOOR_FORCED, EventKind.DOOR_HELD_OPEN, EventKind.CARE_INACTIVE}),
    ),
    # Forced at 2400 s (02:40) with no credential, held 45 s.
    "door-forced-night": Expected(
        {(EventKind.DOOR_FORCED, "b2-u1-entrance"): [(RAISED, 2400, 2400), (CLEARED, 2445, 2445)]},
        must_not=frozenset({EventKind.DOOR_HELD_OPEN}),
    ),
    # Last door move at 3006 s; 12 h of silence later (one tick of slack).
    "elderly-inactive": Expected(
        {(EventKind.CARE_INACTIVE, "b2-u1-803-door"): [(RAISED, 3006 + 43200, 3006 + 43200 + POLL_S)]},
        must_not=frozenset({EventKind.DEVICE_OFFLINE, EventKind.STUCK_VALUE}),  # a still door still reports
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
        },
        must_not=frozenset({EventKind.SMOKE}),  # the noisy detector reads above 0.15 dB/m now and then
    ),
    # 30 % at 6 %/h: 15 % after 2.5 h; empty (silent) after 5 h, offline 300 s after its last sample.
    "detector-battery-dying": Expected(
        {
            # Batteries report in 0.5 % steps: 15.0 is reported from 15.25 % on (150 s early).
            (EventKind.LOW_BATTERY, "b2-u2-1801-smoke"): [(RAISED, 9000 - 150 - 60, 9000 + 60)],
            (EventKind.DEVICE_OFFLINE, "b2-u2-1801-smoke"): [(RAISED, 18000 - 60 + 300, 18000 + 300 + POLL_S)],
        },
        must_not=frozenset({EventKind.STUCK_VALUE}),
    ),
    # Wedged at 300 s: warning after 120 s, critical after 5 x 120 s, cleared on release at 1500 s.
    "fire-door-wedged": Expected(
        {(EventKind.DOOR_HELD_OPEN, "b2-u1-f12-firedoor"): [(RAISED, 420, 420 + POLL_S), (CLEARED, 1500, 1500)]},
        updates={(EventKind.DOOR_HELD_OPEN, "b2-u1-f12-firedoor"): 1},
        must_not=frozenset({EventKind.DOOR_FORCED}),  # a fire door opened without a card is not forced
    ),
    # 0.6 %LEL/min from 120 s: 10 %LEL ~18 min later, 25 %LEL ~51 min later; shut at 3600 s and aired.
    "slow-gas-leak": Expected(
        {
            (EventKind.GAS_PRE_ALARM, "b2-u2-1203-gas"): [(RAISED, 900, 1500), (CLEARED, 3600, 5400)],
            (EventKind.GAS, "b2-u2-1203-gas"): [(RAISED, 2700, 3600), (CLEARED, 3600, 5400)],
        },
        must_not=frozenset({EventKind.SMOKE}),
    ),
    # One fire, two detectors in one unit: lit in 1502 at 60 s, spread to 1602 above at 300 s; each put out and
    # aired (1502 at 420/450 s, 1602 at 540/570 s). One raise and one clear per detector; the kitchens' gas
    # detectors stay quiet.
    "fire-spreads-upstairs": Expected(
        {
            (EventKind.SMOKE, "b2-u1-1502-smoke"): [(RAISED, 150, 300), (CLEARED, 450, 1500)],
            (EventKind.SMOKE, "b2-u1-1602-smoke"): [(RAISED, 390, 540), (CLEARED, 570, 1500)],
        },
        must_not=frozenset({EventKind.GAS_PRE_ALARM, EventKind.GAS}),
    ),
    # A smouldering fire with the windows opened and shut every 5 min: the smoke swings across 0.15 dB/m
    # (0.12..0.18) from ~520 s until it is put out at 2400 s. Hysteresis: one raise, one clear, no storm;
    # the one update is the fall after the fire is out.
    "smoke-flapping": Expected(
        {(EventKind.SMOKE, "b2-u2-704-smoke"): [(RAISED, 450, 700), (CLEARED, 2430, 3000)]},
        updates={(EventKind.SMOKE, "b2-u2-704-smoke"): 1},
        must_not=frozenset({EventKind.NOISY_SIGNAL}),  # the swings are the air, not the sensor
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
    assert not expected.must_not & {kind for kind, _ in expected.conditions}, f"{scenario.name}: must and must not"
    tempted = [v for v in verdicts if v.kind in expected.must_not]
    assert not tempted, f"{scenario.name}: raised a look-alike it must not\n{describe(scenario, tempted)}"
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


def test_smoke_flapping_crosses_the_threshold_again_and_again(sample: Compound) -> None:
    """Test that smoke-flapping really flaps: its detector's readings cross 0.15 dB/m at least 6 times while
    the one alarm stays raised (without the hysteresis this would be a storm of raises and clears)."""
    scenario = load_scenario("smoke-flapping")
    threshold = sample.rules.smoke.threshold
    values = [s.value for s in SimulatedGateway(sample, "b2", scenario=scenario).poll(scenario.end)
              if s.device == "b2-u2-704-smoke"]  # fmt: skip
    crossings = sum((a >= threshold) != (b >= threshold) for a, b in itertools.pairwise(values))
    assert crossings >= 6, crossings
