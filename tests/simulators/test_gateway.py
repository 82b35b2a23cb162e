"""The simulated gateway: deterministic physics, scenarios, routines and faults, seen through its samples."""

from __future__ import annotations

import itertools
import statistics
from collections import Counter
from datetime import timedelta

import pytest

from compound.clock import ManualClock
from compound.config import Compound, DoorRole
from compound.drivers import DRIVERS, Quantity, SensorDriver, build_driver
from simulators import SimulatedGateway, gateway_factory, load_scenario, register
from tests.simulators.conftest import run_gateway, scenario, series

FIRE_FLAT_SMOKE = "b2-u1-1502-smoke"


@pytest.fixture(scope="module")
def kitchen_fire(sample_compound: Compound) -> list:  # type: ignore[type-arg]
    """Every b2 sample of the kitchen-fire-night scenario, polled every 10 s."""
    sc = load_scenario("kitchen-fire-night")
    return run_gateway(SimulatedGateway(sample_compound, "b2", scenario=sc), sc.start, sc.duration_s)


def test_gateway_is_a_sensor_driver_for_its_edge_devices(sample_compound: Compound) -> None:
    """Test that the gateway is a SensorDriver listing exactly its edge's smoke, gas and door devices."""
    gateway = SimulatedGateway(sample_compound, "b2")
    assert isinstance(gateway, SensorDriver)
    assert gateway.name == "sim"
    expected = {
        d.id
        for d in sample_compound.devices_of_edge("b2")
        if d.type.value in ("smoke_detector", "gas_detector", "door_contact")
    }
    assert set(gateway.devices()) == expected
    assert "b2-u1-1502-smoke" in expected and "b2-u1-803-door" in expected
    assert not any(d.startswith("b1-") for d in gateway.devices())


def test_unknown_edge_is_refused(sample_compound: Compound) -> None:
    """Test that a gateway for an edge the compound does not have is a clear error."""
    with pytest.raises(ValueError, match="unknown edge 'b9'"):
        SimulatedGateway(sample_compound, "b9")


def test_registered_factory_builds_a_gateway_at_the_scenario_start(sample_compound: Compound) -> None:
    """Test that register() makes 'sim' a driver whose factory takes a scenario name and seed."""
    register()
    assert DRIVERS["sim"] is gateway_factory
    sc = load_scenario("door-forced-night")
    clock = ManualClock(sc.start)
    driver = build_driver("sim", sample_compound, "b2", clock, scenario="door-forced-night", seed=5)
    assert isinstance(driver, SimulatedGateway)
    assert driver.seed == 5 and driver.start == sc.start
    samples = driver.poll(clock.advance(120))
    assert samples and all(sc.start < s.at <= clock.now() for s in samples)
    with pytest.raises(TypeError, match="unknown sim driver option"):
        gateway_factory(sample_compound, "b2", clock, colour="red")


def test_same_seed_same_samples_other_seed_differs(sample_compound: Compound) -> None:
    """Test that a run is reproducible for a seed and that another seed gives other samples."""
    sc = load_scenario("kitchen-fire-night")

    def run(seed: int | None) -> list[tuple[str, float, object, float | None]]:
        gateway = SimulatedGateway(sample_compound, "b2", scenario=sc, seed=seed)
        return [(s.device, s.value, s.at, s.battery) for s in run_gateway(gateway, sc.start, 600)]

    first, second = run(None), run(None)
    assert first == second and len(first) > 1000
    assert run(99) != first


def test_poll_granularity_does_not_change_the_samples(sample_compound: Compound) -> None:
    """Test that polling every 1 s, every 10 s or at irregular times yields the very same samples."""
    sc = load_scenario("kitchen-fire-night")

    def run(every: float | list[float]) -> list[tuple[str, float, object]]:
        gateway = SimulatedGateway(sample_compound, "b2", scenario=sc)
        return [(s.device, s.value, s.at) for s in run_gateway(gateway, sc.start, 900, every)]

    by_second = run(1.0)
    assert by_second == run(10.0)
    assert by_second == run([0.5, 3.3, 7.9, 61.2, 61.2, 299.99, 300.0, 301.7, 640.4, 900.0])


def test_kitchen_fire_raises_smoke_in_that_flat_only_then_it_clears(kitchen_fire: list) -> None:  # type: ignore[type-arg]
    """Test that the fire crosses 0.15 dB/m within minutes in 1502 only, then falls below 0.08 before the end."""
    sc = load_scenario("kitchen-fire-night")
    fire = series(kitchen_fire, FIRE_FLAT_SMOKE, sc.start)
    crossing = next(t for t, v in fire if v >= 0.15)
    assert 60 < crossing < 60 + 300  # ignition at 60 s
    peak_t, peak = max(fire, key=lambda tv: tv[1])
    assert peak > 0.5
    cleared = next(t for t, v in fire if t > peak_t and v < 0.08)
    assert cleared < sc.duration_s - 60  # leaves the edge's 30 s clear time
    assert all(v < 0.08 for t, v in fire if t >= cleared + 30)  # noise may graze 0.08 right at the crossing
    # While elevated the detector reports at least every 5 s.
    elevated = [t for t, v in fire if v > 0.05]
    assert max(b - a for a, b in itertools.pairwise(elevated)) <= 5.0
    others = [s.value for s in kitchen_fire if s.quantity is Quantity.SMOKE and s.device != FIRE_FLAT_SMOKE]
    assert others and max(others) < 0.05


def test_smoke_and_gas_report_at_least_every_interval(kitchen_fire: list) -> None:  # type: ignore[type-arg]
    """Test that every smoke and gas detector reports at least once a minute (the gateway's heartbeat)."""
    sc = load_scenario("kitchen-fire-night")
    by_device: dict[str, list[float]] = {}
    for s in kitchen_fire:
        by_device.setdefault(s.device, []).append((s.at - sc.start).total_seconds())
    for device, times in by_device.items():
        gaps = [b - a for a, b in zip([0.0, *times], [*times, sc.duration_s], strict=True)]
        assert max(gaps) <= 61.0, device


def test_gas_leak_rises_through_both_levels_then_decays_with_ventilation(sample_compound: Compound) -> None:
    """Test that the slow leak passes 10 then 25 %LEL, and that after the valve is shut airing brings it down."""
    sc = load_scenario("slow-gas-leak")
    samples = run_gateway(SimulatedGateway(sample_compound, "b2", scenario=sc), sc.start, sc.duration_s, 60.0)
    gas = series(samples, "b2-u2-1203-gas", sc.start)
    pre = next(t for t, v in gas if v >= 10)
    alarm = next(t for t, v in gas if v >= 25)
    assert 120 < pre < alarm < 3600
    at_stop = max(v for t, v in gas if t <= 3600)
    assert at_stop > 25
    assert gas[-1][1] < 7 and all(v < 7 for t, v in gas if t > 5000)
    others = [s.value for s in samples if s.quantity is Quantity.GAS and s.device != "b2-u2-1203-gas"]
    assert max(others) < 3


def test_ventilation_is_what_clears_the_gas(tiny_compound: Compound) -> None:
    """Test that after a leak stops, gas decays far faster with ventilation than in a closed flat."""
    leak = [
        {"at": 0, "action": "gas_leak", "flat": "t1/u1/101", "rate": 2},
        {"at": 900, "action": "stop_leak", "flat": "t1/u1/101"},
    ]
    closed = scenario(timeline=leak, routines=False)
    aired = scenario(
        timeline=[*leak, {"at": 900, "action": "ventilate", "flat": "t1/u1/101", "ach": 10}], routines=False
    )

    def level_at_end(sc: object) -> float:
        gateway = SimulatedGateway(tiny_compound, "t1", scenario=sc)  # type: ignore[arg-type]
        gas = series(run_gateway(gateway, gateway.start, 2700, 30.0), "t1-u1-101-gas", gateway.start)  # type: ignore[arg-type]
        return gas[-1][1]

    closed_end, aired_end = level_at_end(closed), level_at_end(aired)
    assert closed_end > 20  # 0.5 air changes/h barely dents ~29 %LEL in 30 min
    assert aired_end < 3


def test_burnt_toast_spike_stays_short(tiny_compound: Compound) -> None:
    """Test that a burnt-toast puff goes above 0.15 dB/m for less than the 10 s smoke confirmation."""
    sc = scenario(timeline=[{"at": 100, "action": "burnt_toast", "flat": "t1/u1/102", "peak": 0.25}], routines=False)
    gateway = SimulatedGateway(tiny_compound, "t1", scenario=sc)
    smoke = series(run_gateway(gateway, sc.start, 400, 1.0), "t1-u1-102-smoke", sc.start)
    above = [t for t, v in smoke if v > 0.15]
    assert above, "the puff should be seen"
    assert max(above) - min(above) < 10
    assert all(v < 0.05 for t, v in smoke if t > 120)


def test_doors_open_far_more_by_day_than_at_night(sample_compound: Compound) -> None:
    """Test that routine door openings follow the day: entrances busy by day, few at night; fire doors rare."""
    sc = load_scenario("quiet-day")
    gateway = SimulatedGateway(sample_compound, "b4", scenario=sc)  # another building, same routines
    samples = run_gateway(gateway, sc.start, 86400, 600.0)
    tz = sample_compound.tz
    openings: Counter[tuple[str, int]] = Counter()
    last: dict[str, float] = {}
    for s in samples:
        if s.quantity is Quantity.DOOR:
            if s.value == 1.0 and last.get(s.device) != 1.0:
                openings[(s.device, s.at.astimezone(tz).hour)] += 1
            last[s.device] = s.value
    entrances = [d for d in gateway.devices() if d.endswith("-entrance")]
    fire_doors = [d for d in gateway.devices() if d.endswith("-firedoor")]
    day = sum(openings[(d, h)] for d in entrances for h in range(8, 20)) / 12
    night = sum(openings[(d, h)] for d in entrances for h in range(0, 5)) / 5
    assert day > 10 * max(night, 0.5), (day, night)
    per_fire_door = sum(n for (d, _), n in openings.items() if d in fire_doors) / len(fire_doors)
    per_entrance = sum(n for (d, _), n in openings.items() if d in entrances) / len(entrances)
    assert per_fire_door < 15 < 100 < per_entrance
    care = sum(n for (d, _), n in openings.items() if d.endswith("-door"))
    assert 2 <= care <= 25  # a few outings a day


def test_door_forced_at_night_is_the_only_opening(sample_compound: Compound) -> None:
    """Test that door-forced-night opens the entrance once at 02:40 for 45 s and nothing else moves."""
    sc = load_scenario("door-forced-night")
    samples = run_gateway(SimulatedGateway(sample_compound, "b2", scenario=sc), sc.start, sc.duration_s, 30.0)
    entrance = series(samples, "b2-u1-entrance", sc.start)
    changes = [(t, v) for (t, v), (_, prev) in zip(entrance[1:], entrance, strict=False) if v != prev]
    assert changes == [(2400.0, 1.0), (2445.0, 0.0)]
    others = [s for s in samples if s.quantity is Quantity.DOOR and s.device != "b2-u1-entrance" and s.value == 1.0]
    assert others == []


def test_residents_badge_before_every_entrance_and_gate_opening(sample_compound: Compound) -> None:
    """Test that each entrance or gate opening follows a grant 1-3 s earlier, and other doors have no reader."""
    sc = load_scenario("quiet-day")
    start = sc.start + timedelta(hours=6, minutes=30)  # the morning rush: doors often open when a resident arrives
    samples = [
        s
        for edge in ("b2", "kg")
        for s in run_gateway(SimulatedGateway(sample_compound, edge, scenario=sc, start=start), start, 7200, 60.0)
    ]
    grants: dict[str, list[float]] = {}
    for s in samples:
        if s.quantity is Quantity.ACCESS:
            assert s.value == 1.0 and s.battery is None
            grants.setdefault(s.device, []).append((s.at - start).total_seconds())
    readers = {d.id for d in sample_compound.devices.values() if d.door_role in (DoorRole.UNIT_ENTRANCE, DoorRole.GATE)}
    assert grants and set(grants) <= readers
    assert "kg-gate" in grants or any(d.startswith("kg-") for d in grants)
    openings = 0
    for device in readers & {s.device for s in samples}:
        door = series(samples, device, start)
        for (_, prev), (t, v) in itertools.pairwise(door):
            if v == 1.0 and prev == 0.0:
                openings += 1
                assert any(1.0 <= t - g <= 3.0 for g in grants.get(device, [])), (device, t)
    assert openings > 50
    assert openings <= sum(len(g) for g in grants.values())  # a door already open needs no badge


def test_scripted_opening_with_a_grant(sample_compound: Compound) -> None:
    """Test that open_door with grant: true reports the grant at the step and the opening 2 s later."""
    sc = load_scenario("door-forced-night")
    data = sc.model_dump(exclude_none=True)
    data["timeline"] = [{**step, "grant": True} for step in data["timeline"]]
    granted = type(sc).model_validate(data)
    samples = run_gateway(SimulatedGateway(sample_compound, "b2", scenario=granted), sc.start, sc.duration_s, 30.0)
    assert series(samples, "b2-u1-entrance", sc.start, Quantity.ACCESS) == [(2400.0, 1.0)]
    entrance = series(samples, "b2-u1-entrance", sc.start)
    changes = [(t, v) for (_, prev), (t, v) in itertools.pairwise(entrance) if v != prev]
    assert changes == [(2402.0, 1.0), (2447.0, 0.0)]
    forced = run_gateway(SimulatedGateway(sample_compound, "b2", scenario=sc), sc.start, sc.duration_s, 30.0)
    assert [s for s in forced if s.quantity is Quantity.ACCESS] == []  # the shipped scenario: no credential


def test_wedged_fire_door_stays_open_until_released(sample_compound: Compound) -> None:
    """Test that a wedged fire door reads open from the wedge to the release, longer than 120 s, then closed."""
    sc = load_scenario("fire-door-wedged")
    samples = run_gateway(SimulatedGateway(sample_compound, "b2", scenario=sc), sc.start, sc.duration_s, 30.0)
    door = series(samples, "b2-u1-f12-firedoor", sc.start)
    assert all(v == 1.0 for t, v in door if 300 <= t < 1500)
    assert len([1 for t, _ in door if 300 <= t < 1500]) >= 20  # heartbeats while open
    assert (1500.0, 0.0) in door
    assert all(v == 0.0 for t, v in door if t >= 1500)


def test_care_household_door_goes_silent_but_keeps_reporting(sample_compound: Compound) -> None:
    """Test that after resident_inactive the care door makes no transition for > 12 h, yet still heartbeats."""
    sc = load_scenario("elderly-inactive")
    gateway = SimulatedGateway(sample_compound, "b2", scenario=sc)
    door = series(run_gateway(gateway, sc.start, sc.duration_s, 3600.0), "b2-u1-803-door", sc.start)
    transitions = [t for (t, v), (_, prev) in zip(door[1:], door, strict=False) if v != prev]
    assert transitions == [1800.0, 1808.0, 3000.0, 3006.0]
    assert sc.duration_s - transitions[-1] > 12 * 3600
    assert max(b - a for (a, _), (b, _) in itertools.pairwise(door)) <= 61


def test_offline_device_sends_nothing_then_announces_itself(sample_compound: Compound) -> None:
    """Test that an offline device yields no samples at all until it comes back, then reports at once."""
    sc = load_scenario("detector-faults")
    samples = run_gateway(SimulatedGateway(sample_compound, "b2", scenario=sc), sc.start, 3600, 60.0)
    gas = [t for t, _ in series(samples, "b2-u1-1001-gas", sc.start)]
    assert [t for t in gas if 600 <= t < 3000] == []
    assert any(t < 600 for t in gas) and 3000.0 in gas


def test_stuck_device_repeats_a_bit_identical_value(sample_compound: Compound) -> None:
    """Test that a stuck detector repeats exactly its last value forever while healthy ones vary."""
    sc = load_scenario("detector-faults")
    samples = run_gateway(SimulatedGateway(sample_compound, "b2", scenario=sc), sc.start, 7200, 300.0)
    stuck = series(samples, "b2-u2-1803-smoke", sc.start)
    before = [v for t, v in stuck if t < 300]
    after = [v for t, v in stuck if t >= 300]
    assert len(after) > 100 and len({v.hex() for v in after}) == 1
    assert after[0] == before[-1]
    healthy = [v for _, v in series(samples, "b2-u2-1802-smoke", sc.start)]
    assert len(set(healthy)) > 3


def test_noisy_device_reports_large_noise_then_recovers(sample_compound: Compound) -> None:
    """Test that a noisy detector's readings scatter widely (and often), and calm down after recover."""
    sc = load_scenario("detector-faults")
    samples = run_gateway(SimulatedGateway(sample_compound, "b2", scenario=sc), sc.start, 10800, 300.0)
    noisy = series(samples, "b2-u1-2204-smoke", sc.start)
    during = [v for t, v in noisy if 600 < t < 7800]
    after = [v for t, v in noisy if t > 7900]
    assert statistics.pstdev(during) > 0.05 and len(during) > 500
    assert statistics.pstdev(after) < 0.01
    assert min(during) >= 0.0


def test_battery_drains_to_low_then_the_device_dies(sample_compound: Compound) -> None:
    """Test that the draining detector's battery falls past 15 % and, empty, it sends nothing more."""
    sc = load_scenario("detector-battery-dying")
    samples = run_gateway(SimulatedGateway(sample_compound, "b2", scenario=sc), sc.start, sc.duration_s, 600.0)
    mine = [s for s in samples if s.device == "b2-u2-1801-smoke"]
    levels = [s.battery for s in mine]
    assert all(b is not None for b in levels)
    assert levels == sorted(levels, reverse=True)  # type: ignore[type-var]
    low = next(s for s in mine if s.battery is not None and s.battery < 15)
    assert timedelta(hours=2) < low.at - sc.start < timedelta(hours=3)
    assert mine[-1].at - sc.start < timedelta(hours=5, minutes=1)
    other = [s.battery for s in samples if s.device == "b2-u2-1802-smoke"]
    assert min(other) == max(other)  # type: ignore[type-var]


def test_mains_powered_devices_carry_no_battery(sample_compound: Compound) -> None:
    """Test that entrance door contacts (mains) report no battery and battery detectors always do."""
    sc = load_scenario("kitchen-fire-night")
    samples = run_gateway(SimulatedGateway(sample_compound, "b2", scenario=sc), sc.start, 300, 60.0)
    assert all(s.battery is None for s in samples if s.device.endswith("-entrance"))
    assert all(s.battery is not None for s in samples if s.quantity is Quantity.SMOKE)


def test_poll_before_start_and_naive_time(sample_compound: Compound) -> None:
    """Test that polling before the scenario start yields nothing and a naive time is refused."""
    sc = load_scenario("kitchen-fire-night")
    gateway = SimulatedGateway(sample_compound, "b2", scenario=sc)
    assert gateway.poll(sc.start - timedelta(hours=1)) == []
    with pytest.raises(ValueError, match="timezone-aware"):
        gateway.poll(sc.start.replace(tzinfo=None))


def test_without_start_the_first_poll_starts_the_clock(tiny_compound: Compound) -> None:
    """Test that a gateway with no scenario or start begins at its first poll and then reports."""
    clock = ManualClock(load_scenario("quiet-day").start)
    gateway = SimulatedGateway(tiny_compound, "t1")
    assert gateway.poll(clock.now()) == []
    assert gateway.start == clock.now()
    samples = gateway.poll(clock.advance(61))
    assert {s.device for s in samples} == set(gateway.devices())


def test_a_normal_care_household_is_never_silent_for_12_hours(tiny_compound: Compound) -> None:
    """Test that over a normal week a care household's door always moves again within 11 h (no false care alarm)."""
    sc = load_scenario("quiet-day")
    gateway = SimulatedGateway(tiny_compound, "t1", scenario=scenario(start=sc.start.isoformat()), seed=3)
    door = series(run_gateway(gateway, sc.start, 7 * 86400, 3600.0), "t1-u1-201-door", sc.start)
    transitions = [t for (t, v), (_, prev) in itertools.pairwise(door) if v != prev]
    assert len(transitions) > 2 * 7 * 5  # several outings a day
    assert max(b - a for a, b in itertools.pairwise(transitions)) < 11 * 3600 + 60
