"""Property-based tests of the simulated gateway on random timelines (hypothesis)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compound.config import Compound
from compound.drivers import Quantity
from simulators import SimulatedGateway
from tests.simulators.conftest import run_gateway, scenario

FLATS = ["t1/u1/101", "t1/u1/102", "t1/u1/201", "t1/u1/202"]
DETECTORS = ["t1-u1-101-smoke", "t1-u1-202-smoke", "t1-u1-102-gas"]
DOORS = ["t1-u1-entrance", "t1-u1-f1-firedoor", "t1-u1-f2-firedoor", "t1-u1-201-door"]
HORIZON = 2400.0

at = st.integers(min_value=0, max_value=1800)
flat_steps = st.one_of(
    st.builds(
        lambda f, g: {"action": "fire", "flat": f, "growth": g},
        st.sampled_from(FLATS),
        st.sampled_from(["slow", "medium", "fast", "ultrafast"]),
    ),
    st.builds(lambda f: {"action": "extinguish", "flat": f}, st.sampled_from(FLATS)),
    st.builds(
        lambda f, a: {"action": "ventilate", "flat": f, "ach": a},
        st.sampled_from(FLATS),
        st.floats(min_value=0.5, max_value=30),
    ),
    st.builds(
        lambda f, r: {"action": "gas_leak", "flat": f, "rate": r},
        st.sampled_from(FLATS),
        st.floats(min_value=0.1, max_value=20),
    ),
    st.builds(lambda f: {"action": "stop_leak", "flat": f}, st.sampled_from(FLATS)),
    st.builds(
        lambda f, p: {"action": "burnt_toast", "flat": f, "peak": p},
        st.sampled_from(FLATS),
        st.floats(min_value=0.01, max_value=1),
    ),
    st.builds(lambda a: {"action": a, "flat": "t1/u1/201"}, st.sampled_from(["resident_inactive", "resident_active"])),
)
device_steps = st.one_of(
    st.builds(
        lambda d, a: {"action": a, "device": d},
        st.sampled_from(DETECTORS + DOORS),
        st.sampled_from(["go_offline", "come_online", "stuck", "recover"]),
    ),
    st.builds(lambda d: {"action": "noisy", "device": d}, st.sampled_from(DETECTORS)),
    st.builds(
        lambda d, r: {"action": "battery_drain", "device": d, "rate": r, "level": 50},
        st.sampled_from(["t1-u1-101-smoke", "t1-u1-f1-firedoor"]),
        st.floats(min_value=1, max_value=60),
    ),
    st.builds(
        lambda d, a: {"action": a, "device": d}, st.sampled_from(DOORS), st.sampled_from(["wedge_door", "release_door"])
    ),
    st.builds(
        lambda d, h: {"action": "open_door", "device": d, "hold_s": h},
        st.sampled_from(DOORS),
        st.floats(min_value=1, max_value=600),
    ),
)
timelines = st.lists(st.builds(lambda t, s: {"at": t, **s}, at, st.one_of(flat_steps, device_steps)), max_size=12)

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _run(compound: Compound, timeline: list[dict[str, Any]], seed: int, polls: float | list[float]) -> list[Any]:
    sc = scenario(timeline=timeline, seed=seed, duration_s=HORIZON)
    return run_gateway(SimulatedGateway(compound, "t1", scenario=sc), sc.start, HORIZON, polls)


@FAST
@given(timeline=timelines, seed=st.integers(min_value=0, max_value=2**32))
def test_values_stay_physical(tiny_compound: Compound, timeline: list[dict[str, Any]], seed: int) -> None:
    """Test that smoke is never negative, gas stays within 0..100 %LEL, doors read 0 or 1, time never goes back."""
    samples = _run(tiny_compound, timeline, seed, 60.0)
    last: dict[str, Any] = {}
    for s in samples:
        if s.quantity is Quantity.SMOKE:
            assert s.value >= 0.0
        elif s.quantity is Quantity.GAS:
            assert 0.0 <= s.value <= 100.0
        else:
            assert s.value in (0.0, 1.0)
        assert s.battery is None or 0.0 <= s.battery <= 100.0
        assert last.get(s.device, s.at) <= s.at
        last[s.device] = s.at


@FAST
@given(
    timeline=timelines,
    seed=st.integers(min_value=0, max_value=2**32),
    polls=st.lists(st.floats(min_value=0, max_value=HORIZON), max_size=30),
)
def test_poll_schedule_never_changes_the_samples(
    tiny_compound: Compound, timeline: list[dict[str, Any]], seed: int, polls: list[float]
) -> None:
    """Test that any poll schedule yields exactly the samples of polling once a second."""
    reference = [(s.device, s.value, s.at, s.battery) for s in _run(tiny_compound, timeline, seed, 1.0)]
    schedule = [*sorted(polls), HORIZON]
    assert [(s.device, s.value, s.at, s.battery) for s in _run(tiny_compound, timeline, seed, schedule)] == reference


@FAST
@given(
    # A wedged, stuck, offline or dead contact may legitimately show a door open for long.
    timeline=timelines.filter(
        lambda tl: not any(s["action"] in ("wedge_door", "stuck", "go_offline", "battery_drain") for s in tl)
    ),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_door_samples_alternate_and_doors_close(
    tiny_compound: Compound, timeline: list[dict[str, Any]], seed: int
) -> None:
    """Test that door transitions alternate open/closed and, unwedged, no door stays open past its longest hold."""
    samples = _run(tiny_compound, timeline, seed, 120.0)
    longest_hold = max([s.get("hold_s", 0.0) for s in timeline if s["action"] == "open_door"] + [0.0])
    for door in DOORS:
        mine = [(s.at, s.value) for s in samples if s.device == door]
        opened_at = None
        for when, value in mine:
            if value == 1.0 and opened_at is None:
                opened_at = when
            elif value == 0.0 and opened_at is not None:
                # Arrivals while open may extend it, but never by hours: entrances merge a few visits at most.
                assert (when - opened_at).total_seconds() <= longest_hold + 120
                opened_at = None


@FAST
@given(
    growth=st.sampled_from(["slow", "medium", "fast", "ultrafast"]),
    burn_s=st.integers(min_value=30, max_value=600),
    ach=st.floats(min_value=10, max_value=30),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_every_fire_put_out_and_aired_clears(
    tiny_compound: Compound, growth: str, burn_s: int, ach: float, seed: int
) -> None:
    """Test that any fire, once put out and ventilated, brings the smoke back below the 0.08 dB/m clear level."""
    timeline = [
        {"at": 0, "action": "fire", "flat": "t1/u1/101", "growth": growth},
        {"at": burn_s, "action": "extinguish", "flat": "t1/u1/101"},
        {"at": burn_s, "action": "ventilate", "flat": "t1/u1/101", "ach": ach},
    ]
    sc = scenario(timeline=timeline, seed=seed, duration_s=HORIZON, routines=False)
    samples = run_gateway(SimulatedGateway(tiny_compound, "t1", scenario=sc), sc.start, 7200, 600.0)
    smoke = [(s.at - sc.start).total_seconds() for s in samples if s.device == "t1-u1-101-smoke" and s.value >= 0.08]
    assert not smoke or max(smoke) < 7200 - 600
