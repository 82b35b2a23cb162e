"""Tests of the edge rules with a manual clock: confirmation, hysteresis, updates, clears, time-based rules."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

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


def test_entrance_forced_at_night_but_not_by_day(compound: Compound) -> None:
    """Test that an entrance opened with no grant in night mode (compound timezone) raises door_forced; by day not."""
    for start, expected in ((NIGHT, [EventState.RAISED, EventState.CLEARED]), (DAY, [])):
        engine, clock = RuleEngine(compound, "b2"), ManualClock(start)
        out = run(engine, clock, ENTRANCE, Quantity.DOOR, [0.0, 1.0, 1.0, 0.0, 0.0])
        assert states(out, EventKind.DOOR_FORCED) == expected


def door_forced_after_grant(compound: Compound, grant_at: float | None, opened_at: float) -> list[EventState]:
    """door_forced states of a night entrance opened at ``opened_at`` s (held 5 s) after a grant at ``grant_at`` s."""
    engine = RuleEngine(compound, "b2")
    samples = [Sample(ENTRANCE, Quantity.DOOR, 0.0, NIGHT)]
    if grant_at is not None:
        samples.append(Sample(ENTRANCE, Quantity.ACCESS, 1.0, NIGHT + timedelta(seconds=grant_at)))
    samples.append(Sample(ENTRANCE, Quantity.DOOR, 1.0, NIGHT + timedelta(seconds=opened_at)))
    samples.append(Sample(ENTRANCE, Quantity.DOOR, 0.0, NIGHT + timedelta(seconds=opened_at + 5)))
    samples.sort(key=lambda s: s.at)
    return states(engine.feed(samples), EventKind.DOOR_FORCED)


def test_a_granted_night_opening_is_not_forced(compound: Compound) -> None:
    """Test that a card (or exit button) at most grant_window_s before a night opening keeps door_forced quiet."""
    window = compound.rules.door.grant_window_s
    forced = [EventState.RAISED, EventState.CLEARED]
    assert door_forced_after_grant(compound, 100.0, 102.0) == []
    assert door_forced_after_grant(compound, 100.0, 100.0) == []  # same instant
    assert door_forced_after_grant(compound, 100.0, 100.0 + window) == []  # edge of the window
    assert door_forced_after_grant(compound, 100.0, 100.0 + window + 1) == forced  # grant too old
    assert door_forced_after_grant(compound, 103.0, 100.0) == forced  # the grant came after the opening
    assert door_forced_after_grant(compound, None, 100.0) == forced


def test_one_grant_covers_a_reopening_inside_the_window_only(compound: Compound) -> None:
    """Test that a door reopened while the lock is still released is not forced, but a later reopening is."""
    engine = RuleEngine(compound, "b2")
    window = compound.rules.door.grant_window_s

    def at(seconds: float) -> datetime:
        return NIGHT + timedelta(seconds=seconds)

    samples = [
        Sample(ENTRANCE, Quantity.ACCESS, 1.0, at(0)),
        Sample(ENTRANCE, Quantity.DOOR, 1.0, at(1)),
        Sample(ENTRANCE, Quantity.DOOR, 0.0, at(3)),
        Sample(ENTRANCE, Quantity.DOOR, 1.0, at(window - 1)),  # pushed open again: lock still released
        Sample(ENTRANCE, Quantity.DOOR, 0.0, at(window + 2)),
        Sample(ENTRANCE, Quantity.DOOR, 1.0, at(window + 20)),  # no new grant: forced
        Sample(ENTRANCE, Quantity.DOOR, 1.0, at(window + 80)),  # heartbeat while open: still one event
        Sample(ENTRANCE, Quantity.DOOR, 0.0, at(window + 90)),
    ]
    out = engine.feed(samples)
    forced = [(v.state, v.at) for v in out if v.kind is EventKind.DOOR_FORCED]
    assert forced == [(EventState.RAISED, at(window + 20)), (EventState.CLEARED, at(window + 90))]
    assert all(v.kind is EventKind.DOOR_FORCED for v in out)


def test_grants_at_fire_doors_and_smoke_detectors_change_nothing(compound: Compound) -> None:
    """Test that ACCESS samples only matter to the night-entrance rule: other devices and rules ignore them."""
    engine, clock = RuleEngine(compound, "b2"), ManualClock(NIGHT)
    out = run(engine, clock, SMOKE, Quantity.ACCESS, [1.0] * 50)
    out += run(engine, clock, FIRE_DOOR, Quantity.ACCESS, [1.0] * 50)
    assert out == []
    # A grant at a fire door does not excuse a fire door held open.
    engine.feed([Sample(FIRE_DOOR, Quantity.DOOR, 1.0, clock.now())])
    clock.advance(compound.rules.door.fire_door_open_max_s + 1)
    assert states(engine.tick(clock.now()), EventKind.DOOR_HELD_OPEN) == [EventState.RAISED]


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
    """Test that a household's inactive_after_s overrides the compound default (b1/u2/1201: 11.5 h, not 12 h)."""
    engine = RuleEngine(compound, "b1")
    care = next(r for r in engine.rules if r.name == "care")
    household = compound.household("b1", "u2", "1201")
    assert household is not None and household.care is not None
    assert household.care.inactive_after_s is not None
    assert household.care.inactive_after_s != compound.rules.care.inactive_after_s
    assert care.limit("b1-u2-1201-door") == household.care.inactive_after_s  # type: ignore[attr-defined]


def test_no_care_limit_is_shorter_than_a_normal_night(compound: Compound) -> None:
    """Test that every care household's silence limit exceeds the longest normal silence (11 h of night)."""
    for household in compound.care_households():
        assert household.care is not None
        limit = household.care.inactive_after_s or compound.rules.care.inactive_after_s
        assert limit > 11 * 3600, f"{household.building}/{household.unit}/{household.flat}: {limit} s"


def test_offline_from_silence_and_back(compound: Compound) -> None:
    """Test that a device silent for offline_after_s is reported offline on a tick, and its next sample clears it."""
    engine, clock = RuleEngine(compound, "b2"), ManualClock(NIGHT)
    limit = compound.rules.fault.offline_after_s
    total = len([d for d in engine.devices.values() if not d.is_camera])  # cameras: watched by detectors, not silence
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
    jitter = [0.02 + (0.12 if i % 2 else 0.0) for i in range(f.noise_window + int(f.noise_confirm_s) + 2)]
    noisy = run(engine, clock, SMOKE, Quantity.SMOKE, jitter)
    assert states(noisy, EventKind.NOISY_SIGNAL) == [EventState.RAISED]
    quiet = [0.02 + 0.001 * (i % 3) for i in range(f.noise_window + int(f.noise_clear_s) + 2)]
    calm = run(engine, clock, SMOKE, Quantity.SMOKE, quiet)
    assert states(calm, EventKind.NOISY_SIGNAL) == [EventState.CLEARED]


def test_stuck_value_watches_smoke_and_gas_not_door_heartbeats(compound: Compound) -> None:
    """Test that a door repeating its closed state for days raises nothing, while a frozen gas value is stuck."""
    engine, clock = RuleEngine(compound, "b2"), ManualClock(DAY)
    f = compound.rules.fault
    hours = int(2 * f.stuck_after_s / 3600) + 1
    for device in (FIRE_DOOR, ENTRANCE):
        out = run(engine, ManualClock(DAY), device, Quantity.DOOR, [0.0] * hours, step=3600)
        assert states(out, EventKind.STUCK_VALUE) == []
    frozen = run(engine, clock, GAS, Quantity.GAS, [0.7] * hours, step=3600)
    assert states(frozen, EventKind.STUCK_VALUE) == [EventState.RAISED]


def test_noisy_signal_does_not_flap_while_its_noise_wanders(compound: Compound) -> None:
    """Test that a noisy detector, clipped at zero, with brief quieter spells, raises once and clears once."""
    import numpy as np

    engine, clock = RuleEngine(compound, "b2"), ManualClock(NIGHT)
    f = compound.rules.fault
    rng = np.random.default_rng(3)
    values: list[float] = []
    for _ in range(6):  # 6 noisy bursts of 10 min, each followed by a quiet spell shorter than noise_clear_s
        values += [max(0.0, 0.008 + float(rng.normal(0.0, 0.1))) for _ in range(300)]
        values += [0.008 + 0.001 * (i % 2) for i in range(int(f.noise_clear_s / 2 / 2))]
    values += [0.008 + 0.001 * (i % 3) for i in range(f.noise_window + int(f.noise_clear_s / 2) + 5)]
    out = run(engine, clock, SMOKE, Quantity.SMOKE, values, step=2.0)
    assert states(out, EventKind.NOISY_SIGNAL) == [EventState.RAISED, EventState.CLEARED]
    assert states(out, EventKind.SMOKE) == []  # single readings above 0.15 dB/m never hold for confirm_s


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


def test_offline_is_raised_on_time_for_each_device_whatever_the_others_do(compound: Compound) -> None:
    """Test that a silent device is raised at the first tick past the limit, again after it fell silent anew."""
    engine = RuleEngine(compound, "b2")
    limit = compound.rules.fault.offline_after_s
    quantity = {DeviceType.SMOKE_DETECTOR: Quantity.SMOKE, DeviceType.GAS_DETECTOR: Quantity.GAS}
    others = [
        (d.id, quantity.get(d.type, Quantity.DOOR))
        for d in engine.devices.values()
        if d.id != SMOKE and not d.is_camera
    ]
    seen: list[tuple[EventState, float]] = []
    for second in range(0, int(4 * limit), 10):
        now = NIGHT + timedelta(seconds=second)
        samples = [Sample(d, q, 0.0, now) for d, q in others]  # every other device keeps reporting
        if second in (0, int(2 * limit)):  # SMOKE reports twice, falling silent after each
            samples.append(Sample(SMOKE, Quantity.SMOKE, 0.01, now))
        verdicts = engine.feed(samples) + engine.tick(now)
        assert all(v.device == SMOKE for v in verdicts if v.kind is EventKind.DEVICE_OFFLINE)
        seen += [(v.state, second) for v in verdicts if v.kind is EventKind.DEVICE_OFFLINE]
    assert seen == [(EventState.RAISED, limit), (EventState.CLEARED, 2 * limit), (EventState.RAISED, 3 * limit)]
