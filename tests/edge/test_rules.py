"""Tests of the edge rules with a manual clock: confirmation, hysteresis, updates, clears, time-based rules."""

from __future__ import annotations

import itertools
from datetime import timedelta

from compound.clock import ManualClock
from compound.config import Compound, DeviceType
from compound.drivers import Quantity, Sample
from compound.wire import EventKind, EventState, Severity
from edge.engine import RuleEngine
from edge.rules import Verdict
from tests.edge.conftest import DAY, NIGHT

SMOKE = "b2-u1-1502-smoke"
GAS = "b2-u1-1502-gas"
FIRE_DOOR = "b2-u1-f15-firedoor"
ENTRANCE = "b2-u1-entrance"
CARE_DOOR = "b2-u1-803-door"


def run(
    engine: RuleEngine,
    clock: ManualClock,
    device: str,
    quantity: Quantity,
    values: list[float],
    step: float = 1.0,
    battery: float | None = None,
) -> list[Verdict]:
    """Feed one sample per step (and a tick), collecting every verdict."""
    out: list[Verdict] = []
    for value in values:
        now = clock.now()
        out += engine.feed([Sample(device, quantity, value, now, battery)])
        out += [v for v in engine.tick(now) if v.kind is not EventKind.DEVICE_OFFLINE]
        clock.advance(step)
    return out


def states(verdicts: list[Verdict], kind: EventKind) -> list[EventState]:
    return [v.state for v in verdicts if v.kind is kind]


def test_smoke_needs_confirmation_then_raises_once_and_clears(compound: Compound) -> None:
    """Test that smoke raises only after confirm_s above threshold, once, and clears after clear_s below clear_below."""
    engine, clock = RuleEngine(compound, "b2"), ManualClock(NIGHT)
    p = compound.rules.smoke
    # A spike shorter than the confirmation time raises nothing.
    short = run(engine, clock, SMOKE, Quantity.SMOKE, [0.2] * int(p.confirm_s) + [0.01])
    assert states(short, EventKind.SMOKE) == []
    held = run(engine, clock, SMOKE, Quantity.SMOKE, [0.2] * int(p.confirm_s + 5))
    raised = [v for v in held if v.kind is EventKind.SMOKE]
    assert [v.state for v in raised] == [EventState.RAISED]
    assert raised[0].severity is Severity.CRITICAL and raised[0].threshold == p.threshold and raised[0].unit == "dB/m"
    # Inside the band (below threshold, above clear level) nothing clears.
    band = run(engine, clock, SMOKE, Quantity.SMOKE, [(p.threshold + p.clear_below) / 2] * 120)
    assert EventState.CLEARED not in states(band, EventKind.SMOKE)
    low = run(engine, clock, SMOKE, Quantity.SMOKE, [0.01] * int(p.clear_s + 2))
    assert states(low, EventKind.SMOKE) == [EventState.CLEARED]


def test_smoke_updates_are_rate_limited(compound: Compound) -> None:
    """Test that a rising raised alarm sends updates, but not more than one per update interval."""
    engine, clock = RuleEngine(compound, "b2"), ManualClock(NIGHT)
    rising = [0.2 + 0.02 * i for i in range(300)]
    out = run(engine, clock, SMOKE, Quantity.SMOKE, rising)
    smoke = [v for v in out if v.kind is EventKind.SMOKE]
    assert smoke[0].state is EventState.RAISED
    updates = [v for v in smoke if v.state is EventState.UPDATED]
    assert updates, "a value rising from 0.2 to 6 dB/m must be reported"
    times = [smoke[0].at] + [u.at for u in updates]
    assert all((b - a).total_seconds() >= 30 for a, b in itertools.pairwise(times))


def test_engine_gives_updates_and_clears_the_raised_id(compound: Compound) -> None:
    """Test that drafts of updates and clears carry the id of the raising event, and clears forget it."""
    engine, clock = RuleEngine(compound, "b2"), ManualClock(NIGHT)
    ids: list[tuple[EventState, str, str | None]] = []
    for value in [0.2] * 15 + [0.6] * 40 + [0.0] * 40:
        for verdict in engine.feed([Sample(SMOKE, Quantity.SMOKE, value, clock.now())]):
            draft = engine.draft(verdict)
            assert draft is not None
            ids.append((verdict.state, draft.id, draft.raised_id))
        clock.advance(1)
    assert [s for s, _, _ in ids] == [EventState.RAISED, EventState.UPDATED, EventState.CLEARED]
    raised_id = ids[0][1]
    assert ids[0][2] is None and ids[1][2] == raised_id and ids[2][2] == raised_id
    assert len({i for _, i, _ in ids}) == 3
    assert engine.open == {}
    drafted = engine.draft(_raise_smoke(engine, clock))
    assert drafted is not None
    event = drafted.event(7)
    assert event.seq == 7 and event.id == drafted.id and event.raised_id is None
    assert event.location.flat == "1502" and event.location.building == "b2" and event.location.floor == 15


def _raise_smoke(engine: RuleEngine, clock: ManualClock) -> Verdict:
    out: list[Verdict] = []
    for _ in range(20):
        out += engine.feed([Sample(SMOKE, Quantity.SMOKE, 1.0, clock.now())])
        clock.advance(1)
    return out[0]


def test_gas_pre_alarm_and_alarm_levels(compound: Compound) -> None:
    """Test that gas raises a warning pre-alarm and a critical alarm at the two levels, each with hysteresis."""
    engine, clock = RuleEngine(compound, "b2"), ManualClock(NIGHT)
    g = compound.rules.gas
    out = run(engine, clock, GAS, Quantity.GAS, [g.pre_alarm + 1] * 10)
    assert [(v.kind, v.state, v.severity) for v in out] == [
        (EventKind.GAS_PRE_ALARM, EventState.RAISED, Severity.WARNING)
    ]
    out = run(engine, clock, GAS, Quantity.GAS, [g.alarm + 5] * 10)
    assert [(v.kind, v.state) for v in out] == [(EventKind.GAS, EventState.RAISED)]
    assert out[0].severity is Severity.CRITICAL
    # Just under the alarm level but inside its hysteresis: nothing clears.
    out = run(engine, clock, GAS, Quantity.GAS, [g.alarm - g.hysteresis / 2] * 60)
    assert all(v.state is not EventState.CLEARED for v in out)
    out = run(engine, clock, GAS, Quantity.GAS, [g.pre_alarm + 1] * int(g.clear_s + 2))
    transitions = [(v.kind, v.state) for v in out if v.state is not EventState.UPDATED]
    assert transitions == [(EventKind.GAS, EventState.CLEARED)]
    out = run(engine, clock, GAS, Quantity.GAS, [0.0] * int(g.clear_s + 2))
    assert [(v.kind, v.state) for v in out] == [(EventKind.GAS_PRE_ALARM, EventState.CLEARED)]


def test_fire_door_held_open_raises_on_time_alone(compound: Compound) -> None:
    """Test that a fire door opened once raises door_held_open from clock ticks, turns critical, and clears on close."""
    engine, clock = RuleEngine(compound, "b2"), ManualClock(NIGHT)
    limit = compound.rules.door.fire_door_open_max_s
    engine.feed([Sample(FIRE_DOOR, Quantity.DOOR, 1.0, clock.now())])
    verdicts: list[Verdict] = []
    for _ in range(int(limit * 6 / 10)):
        clock.advance(10)
        verdicts += [v for v in engine.tick(clock.now()) if v.kind is EventKind.DOOR_HELD_OPEN]
    assert [(v.state, v.severity) for v in verdicts] == [
        (EventState.RAISED, Severity.WARNING),
        (EventState.UPDATED, Severity.CRITICAL),
    ]
    assert verdicts[0].value is not None and verdicts[0].value >= limit
    out = engine.feed([Sample(FIRE_DOOR, Quantity.DOOR, 0.0, clock.now())])
    assert states(out, EventKind.DOOR_HELD_OPEN) == [EventState.CLEARED]


def test_fire_door_closed_in_time_raises_nothing(compound: Compound) -> None:
    """Test that a fire door closed before the limit raises nothing."""
    engine, clock = RuleEngine(compound, "b2"), ManualClock(NIGHT)
    out = run(engine, clock, FIRE_DOOR, Quantity.DOOR, [1.0] * 100 + [0.0] * 300)
    assert states(out, EventKind.DOOR_HELD_OPEN) == []


def test_entrance_opened_at_night_but_not_by_day(compound: Compound) -> None:
    """Test that an entrance opening during night mode (compound timezone) raises door_forced, and by day nothing."""
    for start, expected in ((NIGHT, [EventState.RAISED, EventState.CLEARED]), (DAY, [])):
        engine, clock = RuleEngine(compound, "b2"), ManualClock(start)
        out = run(engine, clock, ENTRANCE, Quantity.DOOR, [0.0, 1.0, 1.0, 0.0, 0.0])
        assert states(out, EventKind.DOOR_FORCED) == expected


def test_care_household_silence_raises_and_activity_clears(compound: Compound) -> None:
    """Test that a care household with no door activity for the limit raises care_inactive; a door move clears it."""
    engine, clock = RuleEngine(compound, "b2"), ManualClock(DAY)
    limit = compound.rules.care.inactive_after_s
    engine.feed([Sample(CARE_DOOR, Quantity.DOOR, 0.0, clock.now())])
    out: list[Verdict] = []
    for _ in range(int(limit / 600) + 2):
        out += [v for v in engine.tick(clock.now()) if v.kind is EventKind.CARE_INACTIVE]
        clock.advance(600)
    assert [v.state for v in out] == [EventState.RAISED]
    assert out[0].threshold == limit and out[0].at - DAY >= timedelta(seconds=limit)
    cleared = engine.feed([Sample(CARE_DOOR, Quantity.DOOR, 1.0, clock.now())])
    assert states(cleared, EventKind.CARE_INACTIVE) == [EventState.CLEARED]


def test_care_override_per_household(compound: Compound) -> None:
    """Test that a household's inactive_after_s overrides the compound default (b1/u2/1201: 8 h)."""
    engine = RuleEngine(compound, "b1")
    care = next(r for r in engine.rules if r.name == "care")
    assert care.limit("b1-u2-1201-door") == 28800  # type: ignore[attr-defined]


def test_offline_from_silence_and_back(compound: Compound) -> None:
    """Test that a device silent for offline_after_s is reported offline on a tick, and its next sample clears it."""
    engine, clock = RuleEngine(compound, "b2"), ManualClock(NIGHT)
    limit = compound.rules.fault.offline_after_s
    cameras = (DeviceType.LIFT_CAMERA, DeviceType.FIRE_LANE_CAMERA)  # watched by detectors, not by silence
    total = len([d for d in engine.devices.values() if d.type not in cameras])
    engine.tick(clock.now())
    clock.advance(limit - 1)
    assert engine.tick(clock.now()) == []
    clock.advance(1)
    offline = engine.tick(clock.now())
    assert len(offline) == total and {v.kind for v in offline} == {EventKind.DEVICE_OFFLINE}
    assert engine.devices_online() == len(engine.devices) - total  # cameras are never 'offline' here
    back = engine.feed([Sample(SMOKE, Quantity.SMOKE, 0.01, clock.now())])
    assert [(v.device, v.state) for v in back] == [(SMOKE, EventState.CLEARED)]
    assert engine.devices_online() == len(engine.devices) - total + 1


def test_low_battery_with_clear_level(compound: Compound) -> None:
    """Test that low_battery raises at low_battery_pct, stays up until battery_clear_pct, then clears."""
    engine, clock = RuleEngine(compound, "b2"), ManualClock(NIGHT)
    f = compound.rules.fault
    levels = [30, 20, f.low_battery_pct, 10, f.battery_clear_pct - 1, 12, f.battery_clear_pct, 90]
    out: list[Verdict] = []
    for level in levels:
        out += engine.feed([Sample(SMOKE, Quantity.SMOKE, 0.01, clock.now(), battery=level)])
        clock.advance(3600)
    assert [(v.state, v.value) for v in out if v.kind is EventKind.LOW_BATTERY] == [
        (EventState.RAISED, f.low_battery_pct),
        (EventState.CLEARED, f.battery_clear_pct),
    ]


def test_stuck_value_and_noisy_signal(compound: Compound) -> None:
    """Test that a frozen smoke value raises stuck_value and a jittery one raises noisy_signal; both clear."""
    engine, clock = RuleEngine(compound, "b2"), ManualClock(NIGHT)
    f = compound.rules.fault
    frozen = run(engine, clock, SMOKE, Quantity.SMOKE, [0.0123] * int(f.stuck_after_s / 600 + 2), step=600)
    assert states(frozen, EventKind.STUCK_VALUE) == [EventState.RAISED]
    moving = run(engine, clock, SMOKE, Quantity.SMOKE, [0.011, 0.012])
    assert states(moving, EventKind.STUCK_VALUE) == [EventState.CLEARED]
    jitter = [0.02 + (0.12 if i % 2 else 0.0) for i in range(f.noise_window * 2)]
    noisy = run(engine, clock, SMOKE, Quantity.SMOKE, jitter)
    assert states(noisy, EventKind.NOISY_SIGNAL) == [EventState.RAISED]
    calm = run(engine, clock, SMOKE, Quantity.SMOKE, [0.02 + 0.001 * (i % 3) for i in range(f.noise_window * 2)])
    assert states(calm, EventKind.NOISY_SIGNAL) == [EventState.CLEARED]


def test_a_slow_clean_rise_is_not_noise(compound: Compound) -> None:
    """Test that a smoothly growing fire is not mistaken for a noisy sensor."""
    engine, clock = RuleEngine(compound, "b2"), ManualClock(NIGHT)
    out = run(engine, clock, SMOKE, Quantity.SMOKE, [0.01 * i for i in range(200)])
    assert states(out, EventKind.NOISY_SIGNAL) == []


def test_restore_lets_a_restarted_engine_clear_with_the_original_id(compound: Compound) -> None:
    """Test that an engine restored with an open condition clears it (no new raise) with its raised id."""
    from edge.engine import OpenCondition

    engine, clock = RuleEngine(compound, "b2"), ManualClock(NIGHT)
    assert engine.restore([OpenCondition(SMOKE, EventKind.SMOKE, "abcdef0123456789", Severity.CRITICAL)]) == 1
    out = run(engine, clock, SMOKE, Quantity.SMOKE, [0.5] * 5 + [0.0] * 40)
    smoke = [v for v in out if v.kind is EventKind.SMOKE]
    assert [v.state for v in smoke] == [EventState.CLEARED]
    draft = engine.draft(smoke[0])
    assert draft is not None and draft.raised_id == "abcdef0123456789"


def test_samples_of_unknown_devices_are_counted_not_fatal(compound: Compound) -> None:
    """Test that a sample for a device of another edge is skipped and counted."""
    engine, clock = RuleEngine(compound, "b2"), ManualClock(NIGHT)
    assert engine.feed([Sample("b1-u1-101-smoke", Quantity.SMOKE, 5.0, clock.now())]) == []
    assert engine.unknown_samples == 1


def test_malformed_samples_are_skipped_not_fatal(compound: Compound) -> None:
    """Test that samples with NaN, a naive time or an impossible battery are counted and skipped."""
    from datetime import datetime

    engine, clock = RuleEngine(compound, "b2"), ManualClock(NIGHT)
    bad = [
        Sample(SMOKE, Quantity.SMOKE, float("nan"), clock.now()),
        Sample(SMOKE, Quantity.SMOKE, 0.5, datetime(2026, 1, 1)),
        Sample(SMOKE, Quantity.SMOKE, 0.5, clock.now(), battery=250.0),
    ]
    assert engine.feed(bad) == []
    assert engine.unknown_samples == 3
